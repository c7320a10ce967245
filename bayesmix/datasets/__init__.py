"""Small real data sets shipped with bayesmix, with their provenance.

Each loader returns an :class:`astropy.table.Table`; the README next to each
file (``<name>.README.md``) records where the data came from.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["load_candels_cosmos", "load_hogg2010", "load_rave_apogee", "path"]


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


def load_candels_cosmos():
    """Load HST luptitudes of 4,830 CANDELS COSMOS galaxies with spectroscopic redshifts.

    Real data: the photometric-redshift training sample of the gpz_pype tutorial, used to
    test the GPz training-set tools in :mod:`bayesmix.gpz`.

    Returns
    -------
    astropy.table.Table
        4,830 rows sorted by ``id``.  Columns: ``id`` (CANDELS ID), ``RA``,
        ``DEC`` (deg), ``CLASS_STAR``, ``FLAGS``, ``EBV`` (mag), ``z_spec``
        (0.0024 to 6.009), ``lupt_F606W, lupterr_F606W, lupt_F814W,
        lupterr_F814W, lupt_F125W, lupterr_F125W, lupt_F160W, lupterr_F160W``
        (asinh magnitudes, "luptitudes", and their standard deviations) and
        ``gpz_split_simple`` (``train``/``test``, the split of the tutorial's
        simple run).  The gpz_pype guide's mixture features are
        ``lupt_F606W - lupt_F814W``, ``lupt_F814W - lupt_F125W`` and
        ``lupt_F160W``.

    Notes
    -----
    Source: GitHub ``dunkenj/gpz_pype`` (K. J. Duncan; Unlicense, public
    domain) at commit b1748567e878457405fb9eeac6c07e1e8cc676e8, files
    ``docs/Notebooks/test_dir/candels_cosmos_train.txt`` (3,864 rows) and
    ``candels_cosmos_test.txt`` (966 rows), merged and sorted by ``id``.  The
    luptitudes were computed by ``gpz_pype.utilities.flux_to_lupt`` with a
    global softening per filter.  The photometry is the CANDELS COSMOS
    F160W-selected catalogue.  The full photometric population (objects
    without spectroscopic redshifts) is not included; see
    ``candels_cosmos_specz_hst_luptitudes.README.md``.

    References
    ----------
    Nayyeri, H. et al. 2017, ApJS 228, 7 (CANDELS COSMOS multi-wavelength
    catalogue).  Almosallam, I. A., Jarvis, M. J. & Roberts, S. J. 2016,
    MNRAS 462, 726 (GPz).  Duncan, K. J., gpz_pype,
    https://github.com/dunkenj/gpz_pype.
    """
    return _read_csv("candels_cosmos_specz_hst_luptitudes.csv")
