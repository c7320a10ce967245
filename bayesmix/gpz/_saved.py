"""Checks of a saved GPzAugment's metadata and mixtures (used by ``GPzAugment.load``)."""

from __future__ import annotations

from bayesmix.em import COVARIANCE_TYPES, GaussianMixture, XDGaussianMixture

__all__ = ["check_mixture", "saved_state"]


def saved_state(meta) -> tuple[dict, dict]:
    """Return the checked constructor arguments and fitted values of a saved GPzAugment."""
    p = meta.section("params")
    p.check_keys(("covariance_type", "n_components", "n_init", "rng", "scale", "threshold", "tol"))
    params = {
        "n_components": p.integer("n_components", minimum=1),
        "threshold": p.number("threshold", above=0.0, below=1.0),
        "n_init": p.integer("n_init", minimum=1),
        "tol": p.number("tol", minimum=0.0),
        "rng": p.integer("rng", minimum=0, optional=True),
        "scale": p.flag("scale"),
        "covariance_type": p.choice("covariance_type", COVARIANCE_TYPES),
    }
    f = meta.section("fitted")
    f.check_keys(("has_Y_train", "has_pop", "has_train", "n_features_in", "seed", "uses_errors"))
    fitted = {
        "seed": f.integer("seed", minimum=0, maximum=2**31 - 1),
        "uses_errors": f.flag("uses_errors"),
        "n_features_in": f.integer("n_features_in", minimum=1, optional=True),
        "has_pop": f.flag("has_pop"),
        "has_train": f.flag("has_train"),
        "has_Y_train": f.flag("has_Y_train"),
    }
    if fitted["has_pop"] != (fitted["n_features_in"] is not None):
        raise f.fail("n_features_in", "must be given exactly when has_pop is true")
    if fitted["has_train"] and not fitted["has_pop"]:
        raise f.fail("has_train", "cannot be true without the population mixture (has_pop)")
    return params, fitted


def check_mixture(saved, gm, aug) -> None:
    """Raise FormatError if a loaded mixture does not belong to the GPzAugment ``aug``."""
    want = XDGaussianMixture if aug.uses_errors_ else GaussianMixture
    checks = [
        ("class", type(gm).__name__, want.__name__),
        ("n_components", gm.n_components, aug.n_components),
        ("covariance_type", gm.covariance_type, aug.covariance_type),
        ("n_features_in", gm.n_features_in_, aug.n_features_in_),
        ("rng", gm.rng, aug.seed_),
    ]
    for name, got, expect in checks:
        if got != expect:
            raise saved.fail(
                "meta", f"holds {name} {got!r}; this GPzAugment needs {expect!r} (from its meta)"
            )
