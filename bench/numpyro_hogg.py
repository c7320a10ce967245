"""NumPyro script for the Hogg, Bovy & Lang (2010) line + outlier model (issue 14, fixed costs).

The model of ``models/hogg2010_line_outliers.toml`` written as a NumPyro user would, to time a
fresh process end to end against ``bayesmix run models/hogg2010_line_outliers.toml``: read
Table 1 (the CSV bundled with bayesmix, read with numpy), sample 4 chains x (1000 tune + 1000
draws) with NUTS (target acceptance 0.95, ``chain_method="parallel"`` over 4 XLA host
devices), compute each point's outlier probability (mean over draws of the responsibility),
and write a membership CSV and the posterior as netCDF (xarray).  No figures (the bayesmix
run also draws 3; see bench/RESULTS.md for what that costs).

Priors, the same as ``bayesmix.builders.line_outlier`` gives for Table 1 (its
``spec["priors"]``): slope ~ N(0, 18.185), intercept ~ N(419.45, 4146.39) placed on the
intercept at the pivot x = 173.15 (flat, plus the intercept prior as a factor, as bayesmix
samples it), weights ~ Dirichlet(1, 1), outlier_mean ~ N(419.45, 997.65), outlier_sigma ~
HalfNormal(997.65).

Usage::

    /usr/bin/time -f "%e s" .venv/bin/python bench/numpyro_hogg.py --out /tmp/hogg_numpyro
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TABLE = Path(__file__).resolve().parents[1] / "bayesmix" / "datasets" / "hogg2010_table1.csv"
PIVOT = 173.15


def main(argv=None) -> int:
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2010)
    args = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import xarray as xr
    from numpyro.infer import MCMC, NUTS

    tab = np.genfromtxt(TABLE, delimiter=",", names=True)
    x, y, sy = (jnp.asarray(tab[c]) for c in ("x", "y", "sigma_y"))

    def model(x, y, sy):
        slope = numpyro.sample("slope", dist.Normal(0.0, 18.18504793292318))
        pivot = numpyro.sample(
            "intercept_at_pivot", dist.ImproperUniform(dist.constraints.real, (), ())
        )
        intercept = numpyro.deterministic("intercept", pivot - slope * PIVOT)
        numpyro.factor(
            "intercept_prior", dist.Normal(419.45, 4146.390662425747).log_prob(intercept)
        )
        w = numpyro.sample("weights", dist.Dirichlet(jnp.ones(2)))
        om = numpyro.sample("outlier_mean", dist.Normal(419.45, 997.6496128400993))
        osd = numpyro.sample("outlier_sigma", dist.HalfNormal(997.6496128400993))
        lin = dist.Normal(slope * x + intercept, sy).log_prob(y)
        out = dist.Normal(om, jnp.sqrt(osd**2 + sy**2)).log_prob(y)
        numpyro.deterministic(
            "log_resp_outlier",
            jnp.log(w[1]) + out - jnp.logaddexp(jnp.log(w[0]) + lin, jnp.log(w[1]) + out),
        )
        numpyro.factor("loglik", jnp.sum(jnp.logaddexp(jnp.log(w[0]) + lin, jnp.log(w[1]) + out)))

    from numpyro.infer import init_to_value

    mcmc = MCMC(
        NUTS(
            model,
            target_accept_prob=0.95,
            init_strategy=init_to_value(values={"intercept_at_pivot": 409.0}),
        ),
        num_warmup=1000,
        num_samples=1000,
        num_chains=4,
        chain_method="parallel",
        progress_bar=False,
    )
    t1 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(args.seed), x, y, sy)
    s = mcmc.get_samples(group_by_chain=True)
    t_sample = time.perf_counter() - t1
    p_out = np.exp(np.asarray(s["log_resp_outlier"])).mean(axis=(0, 1))
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "membership.csv", "w") as fh:
        fh.write("ID,x,y,sigma_y,p_inlier,p_outlier\n")
        for i in range(len(tab)):
            fh.write(
                f"{int(tab['ID'][i])},{tab['x'][i]},{tab['y'][i]},{tab['sigma_y'][i]},"
                f"{1 - p_out[i]:.6f},{p_out[i]:.6f}\n"
            )
    post = xr.Dataset(
        {
            k: (("chain", "draw") + tuple(f"{k}_dim{i}" for i in range(v.ndim - 2)), np.asarray(v))
            for k, v in s.items()
            if k != "log_resp_outlier"
        }
    )
    post.to_netcdf(args.out / "posterior.nc", engine="h5netcdf")
    print(
        f"slope {float(s['slope'].mean()):.3f}, intercept {float(s['intercept'].mean()):.2f}; "
        f"sampling (incl. JIT) {t_sample:.2f} s; script after interpreter start "
        f"{time.perf_counter() - t0:.2f} s; {math.fsum(p_out > 0.5):.0f} points p_out > 0.5"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
