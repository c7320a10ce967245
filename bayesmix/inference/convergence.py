r"""Convergence diagnostics of MCMC draws: rank-normalised split R-hat, bulk and tail ESS.

numpy (and :func:`scipy.special.ndtri`) implementations of the diagnostics of Vehtari et al.
(2021), computed as :mod:`arviz_stats` 1.x computes them (``arviz_stats.rhat`` with
``method="rank"``, ``arviz_stats.ess`` with ``method="bulk"`` and ``method="tail"``): equal to
it to 1e-12 relative (tested; ~1e-15 measured), vectorised over every element of every
variable, without importing :mod:`arviz_stats` (and through it :mod:`xarray_einstats`,
:mod:`scipy.stats` and ArviZ's configuration).

The array functions take draws of shape ``(chain, draw, ...)`` and return one value per
element, of shape ``...``; :func:`posterior_diagnostics` applies them to every variable of a
posterior :class:`xarray.Dataset` or :class:`xarray.DataTree`.

Notes
-----
With :math:`C` chains of :math:`n` draws, each element is computed as follows.

- *Split chains*: each chain is cut into its first and last :math:`\lfloor n/2 \rfloor`
  draws (the middle draw of an odd :math:`n` is dropped), giving :math:`2C` chains.
- *Rank normalisation*: the :math:`S` split draws get their average ranks :math:`r` over all
  chains together, and :math:`z = \Phi^{-1}((r - 3/8) / (S + 1/4))` (Blom 1958).
- *R-hat* of :math:`M` chains of :math:`N` draws:
  :math:`\sqrt{(B/W + N - 1)/N}` with :math:`B = N \operatorname{var}(\bar z_m)` and
  :math:`W` the mean within-chain variance (both with ``ddof=1``).  The rank R-hat is the
  larger of the R-hat of :math:`z` (bulk) and of the rank-normalised folded draws
  :math:`|x - \operatorname{median}(x)|` (tail).  It needs at least 2 chains.
- *ESS* of :math:`M` chains of :math:`N` draws: FFT autocovariances :math:`\gamma_t` per
  chain, autocorrelations :math:`\hat\rho_t = 1 - (W - \bar\gamma_t) / \hat V^+`
  (:math:`\hat V^+` the pooled variance estimate),
  Geyer's initial positive sequence of pair sums truncated at the first non-positive pair,
  made monotone (running minimum), :math:`\hat\tau = -1 + 2\sum_t \hat\rho_t` (plus the
  last positive even lag), at least :math:`1/\log_{10}(MN)`, and :math:`\mathrm{ESS} =
  MN/\hat\tau`.  Bulk ESS is the ESS of the rank-normalised split draws; tail ESS is the
  smaller ESS of the split indicators :math:`I(x \le q_p)` at the two quantiles
  :data:`TAIL_PROB`.  Elements whose transformed draws are constant get ESS :math:`MN`.
- Elements with any NaN draw, or fewer than 4 draws per chain, give NaN (R-hat also with one
  chain); an element constant over all draws gives R-hat NaN (0/0), as ArviZ.

Tail ESS uses the 5 % and 95 % quantiles of Vehtari et al. (2021), Stan and the R package
*posterior*.  ``arviz_stats.ess(..., method="tail")`` without ``prob`` uses
``rcParams["stats.ci_prob"]`` instead (0.89 by default in arviz_base 1.3, i.e. the 11 % and
89 % quantiles, and whatever an ``arvizrc`` file sets); ``ess_tail(x, prob=0.89)`` reproduces
that value.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. 2021, Bayesian Analysis
16, 667 (rank-normalised R-hat, bulk and tail ESS).
Geyer, C. J. 1992, Statistical Science 7, 473 (initial monotone sequence).
Blom, G. 1958, Statistical Estimates and Transformed Beta-Variables (Wiley).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MIN_DRAWS", "TAIL_PROB", "ess_bulk", "ess_tail", "posterior_diagnostics", "rhat"]

#: Quantiles of the tail ESS (Vehtari et al. 2021).
TAIL_PROB = (0.05, 0.95)
#: Fewer draws per chain than this give NaN diagnostics (as ArviZ).
MIN_DRAWS = 4
#: Elements per vectorised block: bounds the FFT work arrays to ~64 MB.
_BLOCK_BYTES = 64 * 2**20


def _fast_len(target: int) -> int:
    """Smallest 2**a * 3**b * 5**c >= target (scipy.fftpack.next_fast_len)."""
    best = 1 << max(target - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            n = p35
            while n < target:
                n *= 2
            best = min(best, n)
            p35 *= 3
        p5 *= 5
    return best


def _as_draws(ary: ArrayLike, name: str) -> tuple[NDArray[np.float64], tuple[int, ...]]:
    """Return draws (chain, draw, ...) as (element, chain, draw) float64, and the element shape."""
    x = np.asarray(ary)
    if x.ndim < 2:
        raise ValueError(
            f"'{name}' must have shape (chain, draw, ...); got an array of shape {x.shape}"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"'{name}' must hold numbers; got dtype {x.dtype}")
    shape = x.shape[2:]
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], x.shape[1], -1)
    return np.ascontiguousarray(np.moveaxis(x, 2, 0)), shape


def _split(x: NDArray) -> NDArray:
    """Split chains: first and last floor(n/2) draws of every chain, (m, 2c, n//2)."""
    half = x.shape[2] // 2
    return np.concatenate((x[:, :, :half], x[:, :, x.shape[2] - half :]), axis=1)


def _average_ranks(x: NDArray) -> NDArray[np.float64]:
    """Average ranks (1-based, ties averaged) of each row of a 2-D array (scipy's rankdata)."""
    m, s = x.shape
    order = np.argsort(x, axis=1)  # any order within ties: they share their mean rank
    xs = np.take_along_axis(x, order, axis=1)
    new = np.ones((m, s), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    flat = new.ravel()
    starts = np.flatnonzero(flat)  # every row starts a group: groups never cross rows
    counts = np.diff(np.append(starts, flat.size))
    first = starts % s
    mean_rank = 0.5 * (first + (first + counts) + 1)  # as scipy: .5 * (end + start + 1)
    ranks = np.empty((m, s))
    np.put_along_axis(ranks, order, mean_rank[np.cumsum(flat) - 1].reshape(m, s), axis=1)
    return ranks


def _z_scale(x: NDArray) -> NDArray[np.float64]:
    """Rank-normalise every element over all its chains and draws (Blom's offset 3/8)."""
    from scipy.special import ndtri

    m, c, n = x.shape
    ranks = _average_ranks(x.reshape(m, c * n))
    return ndtri((ranks - 3 / 8) / (c * n - 2 * (3 / 8) + 1)).reshape(m, c, n)


def _rhat(x: NDArray) -> NDArray[np.float64]:
    """Potential scale reduction of (m, chains, draws) arrays, one per element."""
    n = x.shape[2]
    chain_mean = x.mean(axis=2)
    within = x.var(axis=2, ddof=1).mean(axis=1)
    between = n * chain_mean.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _autocov(x: NDArray) -> NDArray[np.float64]:
    """Autocovariance at every lag of every chain (FFT, biased: divided by n), same shape."""
    n = x.shape[-1]
    size = _fast_len(2 * n)
    spec = np.fft.rfft(x - x.mean(axis=-1, keepdims=True), n=size, axis=-1)
    spec *= np.conjugate(spec)
    return np.fft.irfft(spec, n=size, axis=-1)[..., :n] / n


def _ess(x: NDArray) -> NDArray[np.float64]:
    """Effective sample size of (m, chains, draws) arrays, one per element (Geyer's IMSE)."""
    m, c, n = x.shape
    size = c * n
    out = np.full(m, float(size))
    varying = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) >= np.finfo(float).resolution
    if not varying.any():
        return out
    x = x[varying]
    acov = _autocov(x)
    mean_var = acov[:, :, 0].mean(axis=1) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + x.mean(axis=2).var(axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0
    # pairs (rho_2k, rho_2k+1), k = 0..n_pairs; Geyer's loop reaches lag 2k + 1 <= n - 2
    n_pairs = max((n - 3) // 2, 0)
    pairs = rho[:, 0 : 2 * n_pairs + 1 : 2] + rho[:, 1 : 2 * n_pairs + 2 : 2]
    # initial positive sequence: pairs before the first non-positive one (or all computed)
    stop = pairs <= 0.0
    kept = np.where(stop.any(axis=1), stop.argmax(axis=1), n_pairs)
    # initial monotone sequence: running minimum of the kept pair sums
    mono = np.minimum.accumulate(pairs, axis=1)
    body = np.where(np.arange(n_pairs + 1) < kept[:, None], mono, 0.0).sum(axis=1)
    # the even lag after the kept pairs counts once when positive (or stored with its pair)
    rows = np.arange(x.shape[0])
    even = rho[rows, 2 * kept]
    last_pair = pairs[rows, kept]
    tail = np.where((even > 0.0) | (last_pair >= 0.0), even, 0.0)
    tail = np.where(kept == 0, 1.0, tail)
    tau = np.maximum(-1.0 + 2.0 * body + tail, 1.0 / np.log10(size))
    out[varying] = size / tau
    return out


def _blocked(
    fn: Callable[[NDArray], NDArray], x: NDArray, *, min_chains: int = 1, rows: int = 0
) -> NDArray[np.float64]:
    """Apply ``fn`` to blocks of elements of (m, chain, draw) draws; NaN where ArviZ gives NaN.

    ``fn`` returns one value per element, or ``rows`` values per element as (rows, m) when
    ``rows`` is positive.
    """
    m, c, n = x.shape
    out = np.full((rows, m) if rows else m, np.nan)
    if n < MIN_DRAWS or c < min_chains or m == 0:
        return out
    ok = ~np.isnan(x).any(axis=(1, 2))
    idx = np.flatnonzero(ok)
    step = max(1, _BLOCK_BYTES // (16 * c * _fast_len(2 * n)))
    for i in range(0, idx.size, step):
        sel = idx[i : i + step]
        out[..., sel] = fn(x[sel])
    return out


def _rank_rhat(x: NDArray, z: NDArray | None = None) -> NDArray[np.float64]:
    """Rank R-hat of (m, chain, draw) draws; ``z``: their rank-normalised split draws if known."""
    split = _split(x)
    bulk = _rhat(_z_scale(split) if z is None else z)
    med = np.median(split.reshape(split.shape[0], -1), axis=1)
    tail = _rhat(_z_scale(np.abs(split - med[:, None, None])))
    return np.where(tail > bulk, tail, bulk)  # Python's max(bulk, tail), NaN included


def _bulk_ess(x: NDArray) -> NDArray[np.float64]:
    return _ess(_z_scale(_split(x)))


def _quantile_ess(x: NDArray, prob: float) -> NDArray[np.float64]:
    q = np.quantile(x.reshape(x.shape[0], -1), prob, axis=1)
    return _ess(_split((x <= q[:, None, None]).astype(np.float64)))


def _tail_probs(prob: float | tuple[float, float]) -> tuple[float, float]:
    """``prob`` as (low, high) quantile levels, as ArviZ: a float p means (1 - p, p) sorted."""
    if np.ndim(prob) == 0:
        p = float(prob)  # type: ignore[arg-type]
        low, high = sorted((p, 1 - p))
    else:
        if len(prob) != 2:  # type: ignore[arg-type]
            raise ValueError(f"'prob' must be a float or two floats; got {prob!r}")
        low, high = (float(v) for v in prob)  # type: ignore[union-attr]
    for v in (low, high):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"'prob' must lie in [0, 1]; got {prob!r}")
    return low, high


def _tail_ess(x: NDArray, prob: tuple[float, float]) -> NDArray[np.float64]:
    low = _quantile_ess(x, prob[0])
    high = _quantile_ess(x, prob[1])
    return np.where(high < low, high, low)  # Python's min(low, high)


def rhat(ary: ArrayLike) -> NDArray[np.float64]:
    """Rank-normalised split R-hat of every element (Vehtari et al. 2021).

    Parameters
    ----------
    ary : array-like of shape (chain, draw, ...)
        MCMC draws.

    Returns
    -------
    numpy.ndarray of shape ``ary.shape[2:]``
        The larger of the bulk and the folded (tail) rank-normalised split R-hat; NaN with
        fewer than 2 chains or 4 draws, any NaN draw, or an element constant over all draws.

    See Also
    --------
    ess_bulk, ess_tail, posterior_diagnostics

    Notes
    -----
    Equal to ``arviz_stats.rhat(ary, chain_axis=0, draw_axis=1)`` (``method="rank"``); the
    formulas are in the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(1).normal(size=(4, 1000))
    >>> bool(abs(float(rhat(draws)) - 1) < 0.01)
    True
    """
    x, shape = _as_draws(ary, "ary")
    return _blocked(_rank_rhat, x, min_chains=2).reshape(shape)


def ess_bulk(ary: ArrayLike) -> NDArray[np.float64]:
    """Bulk effective sample size of every element (Vehtari et al. 2021).

    Parameters
    ----------
    ary : array-like of shape (chain, draw, ...)
        MCMC draws (one chain is allowed: it is split in two).

    Returns
    -------
    numpy.ndarray of shape ``ary.shape[2:]``
        ESS of the rank-normalised split chains; NaN with fewer than 4 draws or any NaN draw.

    See Also
    --------
    rhat, ess_tail, posterior_diagnostics

    Notes
    -----
    Equal to ``arviz_stats.ess(ary, method="bulk", chain_axis=0, draw_axis=1)``.
    """
    x, shape = _as_draws(ary, "ary")
    return _blocked(_bulk_ess, x).reshape(shape)


def ess_tail(
    ary: ArrayLike, *, prob: float | tuple[float, float] = TAIL_PROB
) -> NDArray[np.float64]:
    """Tail effective sample size of every element (Vehtari et al. 2021).

    Parameters
    ----------
    ary : array-like of shape (chain, draw, ...)
        MCMC draws (one chain is allowed: it is split in two).
    prob : float or (float, float), default :data:`TAIL_PROB` = (0.05, 0.95)
        Quantile levels; a single ``p`` means ``(1 - p, p)``.

    Returns
    -------
    numpy.ndarray of shape ``ary.shape[2:]``
        The smaller ESS of the split-chain indicators ``x <= q`` at the two quantiles; NaN
        with fewer than 4 draws or any NaN draw.

    See Also
    --------
    rhat, ess_bulk, posterior_diagnostics

    Notes
    -----
    Equal to ``arviz_stats.ess(ary, method="tail", prob=prob, chain_axis=0, draw_axis=1)``;
    arviz_stats's own default ``prob`` is ``rcParams["stats.ci_prob"]`` (see the module
    docstring).
    """
    probs = _tail_probs(prob)
    x, shape = _as_draws(ary, "ary")
    return _blocked(lambda b: _tail_ess(b, probs), x).reshape(shape)


def _posterior_dataset(data: Any, group: str) -> Any:
    """Return the Dataset of ``group`` of a results tree, of a tree node, or a Dataset itself."""
    import xarray as xr

    if isinstance(data, xr.DataTree):
        if group in data.children:
            data = data[group]
        return data.to_dataset()
    if isinstance(data, xr.Dataset):
        return data
    raise TypeError(
        f"'data' must be an xarray Dataset or DataTree with a '{group}' group; "
        f"got {type(data).__name__}"
    )


def posterior_diagnostics(
    data: Any,
    *,
    group: str = "posterior",
    prob: float | tuple[float, float] = TAIL_PROB,
) -> dict[str, dict[str, NDArray[np.float64]]]:
    """R-hat, bulk ESS and tail ESS of every element of every variable of a posterior.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataTree
        Draws with dimensions ``chain`` and ``draw``: a posterior Dataset, a DataTree node, or
        a results tree whose ``group`` is used.
    group : str, default "posterior"
        Group of a results tree (ignored for a Dataset or a node without that child).
    prob : float or (float, float), default :data:`TAIL_PROB`
        Quantile levels of the tail ESS (see :func:`ess_tail`).

    Returns
    -------
    dict
        ``variable name -> {"r_hat", "ess_bulk", "ess_tail"}``, each a float array over the
        variable's other dimensions in their order in the variable
        (``data[name].transpose("chain", "draw", ...)``); a scalar variable gives 0-d arrays.

    Raises
    ------
    ValueError
        When a variable lacks the ``chain`` or ``draw`` dimension.

    Notes
    -----
    All elements of all variables are computed together (vectorised), equal to
    ``arviz_stats.rhat(ds)``, ``arviz_stats.ess(ds, method="bulk")`` and
    ``arviz_stats.ess(ds, method="tail", prob=prob)`` variable by variable.
    """
    probs = _tail_probs(prob)
    ds = _posterior_dataset(data, group)
    blocks, layout = [], []
    for name, da in ds.data_vars.items():
        missing = [d for d in ("chain", "draw") if d not in da.dims]
        if missing:
            raise ValueError(
                f"variable '{name}' of the {group} has no '{missing[0]}' dimension "
                f"(dims {tuple(da.dims)}); diagnostics need draws over (chain, draw)"
            )
        x, shape = _as_draws(da.transpose("chain", "draw", ...).values, str(name))
        blocks.append(x)
        layout.append((str(name), shape, x.shape[0]))
    if not blocks:
        return {}
    sizes = {b.shape[1:] for b in blocks}
    if len(sizes) > 1:  # variables always share chain and draw in a Dataset
        raise ValueError(f"variables of the {group} have different (chain, draw) sizes: {sizes}")
    x = np.concatenate(blocks, axis=0)
    n_chains = x.shape[1]

    def all_three(b: NDArray) -> NDArray[np.float64]:
        z = _z_scale(_split(b))  # shared by the bulk R-hat and the bulk ESS
        rh = _rank_rhat(b, z) if n_chains >= 2 else np.full(b.shape[0], np.nan)
        return np.stack([rh, _ess(z), _tail_ess(b, probs)])

    three = _blocked(all_three, x, rows=3)
    values = {"r_hat": three[0], "ess_bulk": three[1], "ess_tail": three[2]}
    out: dict[str, dict[str, NDArray[np.float64]]] = {}
    start = 0
    for name, shape, size in layout:
        out[name] = {k: v[start : start + size].reshape(shape) for k, v in values.items()}
        start += size
    return out
