"""GPz training-set augmentation: cost-sensitive weights, mixture divides, KL scores.

Photometric-redshift codes such as GPz (Almosallam et al. 2016) learn from a
spectroscopic training sample that is biased (brighter, bluer) with respect to
the photometric population the redshifts are wanted for.  Two remedies, from
gpz_pype's ``GMMbasic`` (K. J. Duncan) and Hatfield et al. (2020), both built on
Gaussian mixtures fitted in feature space (colours, magnitudes):

- **cost-sensitive weights**: each training object gets the density ratio
  ``w(x) = p_pop(x) / p_train(x)`` of a mixture fitted to the population and one
  fitted to the training sample, so that the weighted training sample follows
  the population;
- **divide**: objects are split into "mixture samples" by their membership
  probability in the population mixture's components, and a separate GPz model
  is trained per mixture sample.

:class:`GPzAugment` reproduces gpz_pype's semantics on bayesmix's EM engine
and fixes its defects: restarts are ``n_init`` (gpz_pype passed its ``niter``
on as 100 restarts); weights are density ratios that help by default -- a
classifier estimate clipped where held-out weights match the population best
(:mod:`~bayesmix.gpz.ratio`; the exact mixture ratio and gpz_pype's softened
``(p_pop + eta) / (p_train + eta)``, evaluated stably, are options), with
diagnostics that flag weights which do not help; extreme deconvolution works
when measurement errors are given; objects that land in no mixture sample are
flagged and counted, and ``assign="best"`` puts every object in at least its
best component; models are saved as ``.npz`` + JSON, never pickle.

Modules: :mod:`~bayesmix.gpz.augment` (:class:`GPzAugment`),
:mod:`~bayesmix.gpz.weights` (clipped density-ratio weights, options, diagnostics),
:mod:`~bayesmix.gpz.ratio` (the classifier ratio and the held-out clip),
:mod:`~bayesmix.gpz.divide` (the one divide rule, also used by
:func:`bayesmix.scale.gpz_divide`), :mod:`~bayesmix.gpz.kl` (KL scores) and
:mod:`~bayesmix.gpz.tables` (feature expressions on astropy Tables, the
table-level functions that ``bayesmix gpz weights|divide`` call, the divide CSV).

References
----------
Almosallam, I. A., Jarvis, M. J. & Roberts, S. J. 2016, "GPZ: non-stationary
sparse Gaussian processes for heteroscedastic uncertainty estimation in
photometric redshifts", MNRAS 462, 726.
Almosallam, I. A., Lindsay, S. N., Jarvis, M. J. & Roberts, S. J. 2016, "A
sparse Gaussian process framework for photometric redshift estimation",
MNRAS 455, 2387 (cost-sensitive learning).
Hatfield, P. W. et al. 2020, "Augmenting machine learning photometric redshifts
with Gaussian mixture models", MNRAS 498, 5498.
Duncan, K. J., gpz_pype, https://github.com/dunkenj/gpz_pype (``gpz_pype/gmm.py``:
``GMMbasic``, ``kl_score``).
Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, "Extreme deconvolution", Ann. Appl.
Stat. 5, 1657.
"""

from __future__ import annotations

from bayesmix.gpz.augment import GPzAugment
from bayesmix.gpz.divide import ASSIGN_RULES, DivideWarning
from bayesmix.gpz.kl import kl_score, kl_score_mixture
from bayesmix.gpz.tables import (
    feature_matrix,
    gpz_divide_table,
    gpz_weights_table,
    parse_feature,
    read_divide_csv,
    write_divide_csv,
)
from bayesmix.gpz.weights import WeightWarning, weight_diagnostics

__all__ = [
    "ASSIGN_RULES",
    "DivideWarning",
    "GPzAugment",
    "WeightWarning",
    "feature_matrix",
    "gpz_divide_table",
    "gpz_weights_table",
    "kl_score",
    "kl_score_mixture",
    "parse_feature",
    "read_divide_csv",
    "weight_diagnostics",
    "write_divide_csv",
]
