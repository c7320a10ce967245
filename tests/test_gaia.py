import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bayesmix.exceptions import DataError
from bayesmix.gaia import (
    GaiaColumnWarning,
    correlation_column,
    gaia_arrays,
)


def _table(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return Table(
        {
            "source_id": np.arange(100, 100 + n),
            "ra": rng.uniform(0, 1, n),
            "dec": rng.uniform(0, 1, n),
            "ra_error": np.full(n, 0.1),
            "dec_error": np.full(n, 0.2),
            "parallax": rng.normal(1, 0.3, n),
            "parallax_error": np.full(n, 0.05),
            "pmra": rng.normal(5, 2, n),
            "pmra_error": rng.uniform(0.1, 0.3, n),
            "pmdec": rng.normal(-3, 2, n),
            "pmdec_error": rng.uniform(0.1, 0.3, n),
            "pmra_pmdec_corr": rng.uniform(-0.5, 0.5, n),
            "parallax_pmra_corr": rng.uniform(-0.3, 0.3, n),
            "parallax_pmdec_corr": rng.uniform(-0.3, 0.3, n),
        }
    )


def test_correlation_names_follow_gaia_order():
    assert correlation_column("pmdec", "pmra") == "pmra_pmdec_corr"
    assert correlation_column("pmra", "parallax") == "parallax_pmra_corr"
    assert correlation_column("ra", "dec") == "ra_dec_corr"
    assert correlation_column("pmra", "radial_velocity") is None


def test_covariance_from_errors_and_correlations():
    t = _table()
    g = gaia_arrays(t, ("parallax", "pmra", "pmdec"))
    n = 2
    s = np.array([t["parallax_error"][n], t["pmra_error"][n], t["pmdec_error"][n]])
    rho = np.eye(3)
    rho[0, 1] = rho[1, 0] = t["parallax_pmra_corr"][n]
    rho[0, 2] = rho[2, 0] = t["parallax_pmdec_corr"][n]
    rho[1, 2] = rho[2, 1] = t["pmra_pmdec_corr"][n]
    np.testing.assert_allclose(g.X_cov[n], rho * np.outer(s, s), rtol=1e-14)
    np.testing.assert_array_equal(g.ids, t["source_id"])
    np.testing.assert_allclose(g.X[:, 1], t["pmra"])


def test_position_errors_converted_from_mas_to_deg():
    g = gaia_arrays(_table(), ("ra", "dec"), correlations=False)
    np.testing.assert_allclose(np.sqrt(g.X_cov[0, 0, 0]), 0.1 / 3.6e6, rtol=1e-14)


def test_missing_correlation_warns_with_its_name_and_is_zero():
    t = _table()
    del t["pmra_pmdec_corr"]
    with pytest.warns(GaiaColumnWarning, match="pmra_pmdec_corr"):
        g = gaia_arrays(t, ("pmra", "pmdec"))
    assert (g.X_cov[:, 0, 1] == 0).all()
    assert g.missing_correlations == ("pmra_pmdec_corr",)


def test_missing_values_excluded_with_reason():
    t = _table()
    t["pmra"] = MaskedColumn(t["pmra"], mask=[False, True, False, False, False, False])
    t["pmdec_error"][4] = np.nan
    g = gaia_arrays(t, ("pmra", "pmdec"))
    assert g.n_excluded == 2 and g.n_rows == 6
    assert g.reasons[1] == "missing pmra" and g.reasons[4] == "missing pmdec_error"
    assert g.reasons[0] == ""
    np.testing.assert_array_equal(g.ids, [100, 102, 103, 105])
    with pytest.warns(FutureWarning, match="renamed GaiaData.reasons"):
        assert g.reason is g.reasons


def test_merge_membership_moved_to_analysis():
    # it needs bayesmix.membership, a higher layer than gaia (tests/test_layout.py)
    import bayesmix.analysis
    import bayesmix.gaia

    with pytest.warns(FutureWarning, match="moved; use bayesmix.analysis.merge_membership"):
        assert bayesmix.gaia.merge_membership is bayesmix.analysis.merge_membership
    assert "merge_membership" not in bayesmix.gaia.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        bayesmix.gaia.nothing  # noqa: B018


def test_column_mapping_and_pandas_input():
    pd = pytest.importorskip("pandas")
    t = _table().to_pandas().rename(columns={"pmra": "PMRA", "pmra_error": "e_PMRA"})
    g = gaia_arrays(t, ("pmra", "pmdec"), columns={"pmra": "PMRA", "pmra_error": "e_PMRA"})
    assert g.X.shape == (6, 2)
    assert isinstance(t, pd.DataFrame)


def test_bad_inputs_named():
    t = _table()
    with pytest.raises(DataError, match="no column 'pmra_error'.*available"):
        tt = t.copy()
        del tt["pmra_error"]
        gaia_arrays(tt, ("pmra",))
    tt = t.copy()
    tt["pmdec_error"][3] = -1.0
    with pytest.raises(DataError, match=r"pmdec_error.*row 3 \(id 103\)"):
        gaia_arrays(tt, ("pmra", "pmdec"))
    tt = t.copy()
    tt["pmra_pmdec_corr"][2] = 1.5
    with pytest.raises(DataError, match=r"\[-1, 1\].*row 2"):
        gaia_arrays(tt, ("pmra", "pmdec"))
    with pytest.raises(DataError, match="unknown feature 'bp_rp'"):
        gaia_arrays(t, ("bp_rp",))


def test_gaia_does_not_import_pymc():
    import subprocess
    import sys

    code = "import sys, bayesmix.gaia; assert 'pymc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
