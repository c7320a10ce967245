"""Small real data sets shipped with bayesmix, with their provenance.

Each loader returns an :class:`astropy.table.Table`; the README next to each
file (``<name>.README.md``) records where the data came from.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["load_hogg2010", "load_rave_apogee", "path"]


def path(filename: str) -> str:
    """Return the filesystem path of a bundled data file."""
    p = resources.files("bayesmix.datasets").joinpath(filename)
    if not p.is_file():
        raise FileNotFoundError(f"bayesmix has no bundled data file {filename!r}")
    return str(p)


def _read_csv(filename: str):
    from astropy.table import Table

    return Table.read(path(filename), format="ascii.csv")


def load_hogg2010():
    """Load Table 1 of Hogg, Bovy & Lang (2010): 20 points for straight-line fitting.

    Returns
    -------
    astropy.table.Table
        Columns ``ID`` (1..20), ``x``, ``y``, ``sigma_y``, ``sigma_x`` and
        ``rho_xy`` (correlation of the x and y errors).  Points 1-4 are the
        outliers of the paper's exercises; exercise 1 uses points 5-20 and
        ``sigma_y`` only.

    Notes
    -----
    Source: the Python package astroML 1.0.2.post1 (BSD licence),
    ``astroML/datasets/hogg2010test.py``, where column 3 is sigma_y and column
    4 is sigma_x (the paper lists sigma_y before sigma_x).

    References
    ----------
    Hogg, D. W., Bovy, J. & Lang, D. 2010, "Data analysis recipes: Fitting a
    model to data", arXiv:1008.4686.
    """
    return _read_csv("hogg2010_table1.csv")


def load_rave_apogee():
    """Load [Fe/H] and [Mg/Fe] for 3,904 RAVE stars with APOGEE DR16 labels (real data).

    Returns
    -------
    astropy.table.Table
        Columns ``RAVE_OBS_ID, Teff, logg, MH, FeH, alphaM, SiFe, AlFe, MgFe,
        NiFe, parallax, phot_g_mean_mag, phot_bp_mean_mag, phot_rp_mean_mag,
        Jmag_2MASS, Hmag_2MASS, Kmag_2MASS, wise1, wise2, av50``.  There are no
        per-star abundance uncertainties and no published thin/thick labels.

    Notes
    -----
    Source: GitHub ``emilyhunt/MWGaia-DN-machine-learning-course``,
    ``supervised-ml/data/training_sample_labels.csv`` and
    ``training_sample_parameters.csv`` joined row by row, commit
    444e9a131bddea3c25a06bf280c5484ddca21cb4 (MIT licence).  The data are the
    training sample of Guiglion et al. 2020, A&A 644, A168: RAVE DR6 stars
    with APOGEE DR16 ASPCAP labels.  This local sample shows the high- and
    low-[Mg/Fe] sequences (thick and thin disc) used in the ANU ASTR4004
    Gaussian-mixture exercise.
    """
    return _read_csv("rave_apogee_dr16_labels.csv.gz")
