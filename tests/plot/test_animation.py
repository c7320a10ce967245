"""animate_em / save_animation: frames and a valid GIF (Agg backend, no pixels)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Polygon
from PIL import Image

from bayesmix.em import GaussianMixture
from bayesmix.em.trace import em_trace
from bayesmix.exceptions import DataError
from bayesmix.plot.animation import animate_em, save_animation


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def X(rng):
    return np.concatenate([rng.normal(-2, 1, (80, 3)), rng.normal(2, 1.5, (80, 3))])


def test_frames_and_gif_from_history(X, tmp_path):
    trace = em_trace(GaussianMixture(2, rng=0), X, 4)
    _, ax = plt.subplots()
    anim = animate_em(X, trace, dims=(0, 2), levels=(0.5, 0.9, 0.99), ax=ax, interval=100)
    assert anim.bayesmix_ax is ax
    assert anim.bayesmix_n_frames == 5
    assert len(list(anim.new_frame_seq())) == 5
    patches = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(patches) == 2 * 3
    assert "iteration 0" in ax.get_title()
    out = save_animation(anim, tmp_path / "em.gif")
    assert out == str(tmp_path / "em.gif")
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == 5
    assert "iteration 4" in ax.get_title()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["em.gif"]  # no temporary left


def test_estimator_is_traced_for_its_iterations(X, tmp_path):
    gm = GaussianMixture(2, rng=1).fit(X)
    anim = animate_em(X, gm)
    assert anim.bayesmix_n_frames == gm.n_iter_ + 1
    np.testing.assert_allclose(anim.bayesmix_trace[-1]["means"], gm.means_, rtol=1e-12, atol=1e-12)
    save_animation(anim, tmp_path / "a.gif", fps=5)
    with pytest.raises(FileExistsError):
        save_animation(anim, tmp_path / "a.gif")
    save_animation(anim, tmp_path / "a.gif", overwrite=True)


def test_bad_arguments(X, tmp_path):
    trace = em_trace(GaussianMixture(2, rng=0), X, 1)
    with pytest.raises(DataError, match="dims"):
        animate_em(X, trace, dims=(0, 5))
    with pytest.raises(DataError, match="model_or_history"):
        animate_em(X, [1, 2])
    anim = animate_em(X, trace)
    with pytest.raises(DataError, match=r"\.gif"):
        save_animation(anim, tmp_path / "a.mp4")
    save_animation(anim, tmp_path / "ok.gif")  # render, so the animation is not unused
