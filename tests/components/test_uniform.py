import numpy as np
from scipy import stats

from bayesmix.components import Uniform
from bayesmix.testing import assert_backends_agree


def test_uniform_matches_scipy():
    y = np.array([-1.0, 0.0, 0.5, 2.0, 2.5])
    got = Uniform().logp(y, {"lower": 0.0, "upper": 2.0})
    np.testing.assert_allclose(got, stats.uniform(0, 2).logpdf(y), rtol=1e-10)


def test_uniform_box_2d():
    X = np.array([[0.5, 0.5], [0.5, 3.0]])
    got = Uniform(2).logp(X, {"lower": np.array([0.0, 0.0]), "upper": np.array([1.0, 2.0])})
    np.testing.assert_allclose(got, [-np.log(2.0), -np.inf])


def test_uniform_backends_agree():
    y = np.array([-1.0, 0.2, 1.5, 3.0])
    assert_backends_agree(Uniform(), y, {"lower": np.array(0.0), "upper": np.array(2.0)})
