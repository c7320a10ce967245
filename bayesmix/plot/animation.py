"""Animation of EM iterations: component ellipses moving over the data."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from matplotlib.animation import Animation, FuncAnimation, PillowWriter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from numpy.typing import ArrayLike

from bayesmix._files import atomic_write
from bayesmix._geometry import covariance_ellipse, marginal_2d
from bayesmix._validate import check_matrix
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["animate_em", "save_animation"]

_LINESTYLES = ("-", "--", ":", "-.")


def _as_trace(X, model_or_history, X_err, X_cov, sample_weight) -> list[dict[str, Any]]:
    """Return the per-iteration states: a given history, or em_trace of an estimator."""
    from bayesmix.em import GaussianMixture, XDGaussianMixture
    from bayesmix.em.trace import em_trace

    if isinstance(model_or_history, (GaussianMixture, XDGaussianMixture)):
        m = model_or_history
        n_iter = getattr(m, "n_iter_", None)
        n_iter = m.max_iter if n_iter is None else n_iter
        return em_trace(m, X, n_iter, X_err=X_err, X_cov=X_cov, sample_weight=sample_weight)
    history = list(model_or_history)
    if not history or not all(isinstance(s, dict) and "means" in s for s in history):
        raise DataError(
            "'model_or_history' must be a GaussianMixture/XDGaussianMixture or the list of "
            "states from bayesmix.em.trace.em_trace",
            argument="model_or_history",
        )
    return history


def animate_em(
    X: ArrayLike,
    model_or_history,
    *,
    dims: tuple[int, int] = (0, 1),
    levels: Sequence[float] = (0.68, 0.95),
    interval: int = 300,
    ax: Axes | None = None,
    colors: Sequence | None = None,
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    n_points: int = 100,
    scatter_style: dict | None = None,
) -> FuncAnimation:
    """Animate EM: the components' confidence ellipses moving over the data, iteration by iteration.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features)
        The data the mixture is fitted to (drawn as a grey scatter).
    model_or_history : GaussianMixture, XDGaussianMixture or list of dict
        The per-iteration states from :func:`bayesmix.em.trace.em_trace`, or an
        estimator, which is traced here from its own starting point for its
        ``n_iter_`` iterations if fitted (``max_iter`` otherwise); with an
        integer ``rng`` this replays its fit (first restart).
    dims : tuple of two ints, default (0, 1)
        Features on the x and y axes.
    levels : sequence of float, default (0.68, 0.95)
        Enclosed probabilities of the 2-D marginal ellipses (solid, dashed, ...).
    interval : int, default 300
        Delay between frames in milliseconds.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    colors : sequence of colours, optional
        One per component; default ``C0, C1, ...``.
    X_err, X_cov, sample_weight : array-like, optional
        Passed to :func:`~bayesmix.em.trace.em_trace` when an estimator is given.
    n_points : int, default 100
        Points per ellipse.
    scatter_style : dict, optional
        Passed to :meth:`matplotlib.axes.Axes.scatter` for the data.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        One frame per state (iteration 0 = the initialisation).  The Axes is
        ``anim.bayesmix_ax``, the states ``anim.bayesmix_trace``; the first
        frame is drawn on return.  Save it with :func:`save_animation`, or show
        it in a notebook with ``IPython.display.HTML(anim.to_jshtml())``.

    Notes
    -----
    The title gives the iteration and the mean log-likelihood per object,
    which never decreases from frame to frame (Dempster, Laird & Rubin 1977).
    """
    Xv = check_matrix(X, name="X", allow_nan=True)
    trace = _as_trace(Xv, model_or_history, X_err, X_cov, sample_weight)
    d = Xv.shape[1]
    if len(dims) != 2 or not all(0 <= int(j) < d for j in dims):
        raise DataError(
            f"'dims' must be two feature indices in 0..{d - 1}; got {dims!r}", argument="dims"
        )
    dims = (int(dims[0]), int(dims[1]))
    k = np.asarray(trace[0]["means"]).shape[0]
    if colors is not None and len(colors) != k:
        raise DataError(
            f"'colors' needs {k} entries (one per component); got {len(colors)}", argument="colors"
        )
    levels = [float(lev) for lev in levels]

    ax = get_ax(ax)
    style = {"s": 4, "color": "0.55", "alpha": 0.5, "linewidths": 0, **(scatter_style or {})}
    ax.scatter(Xv[:, dims[0]], Xv[:, dims[1]], **style)
    patches: list[list[Polygon]] = []
    markers = []
    for i in range(k):
        color = colors[i] if colors is not None else f"C{i % 10}"
        row = []
        for j, lev in enumerate(levels):
            p = Polygon(
                np.zeros((n_points, 2)),
                closed=True,
                fill=False,
                edgecolor=color,
                linewidth=1.8,
                linestyle=_LINESTYLES[j % len(_LINESTYLES)],
            )
            p.bayesmix_level = lev  # type: ignore[attr-defined]  # for tests and callers
            ax.add_patch(p)
            row.append(p)
        patches.append(row)
        (mk,) = ax.plot([], [], marker="+", color=color, markersize=10, linestyle="none")
        markers.append(mk)
    # fixed limits: the data, with a margin (ellipses of early iterations may go beyond)
    lo = np.nanmin(Xv[:, dims], axis=0)
    hi = np.nanmax(Xv[:, dims], axis=0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    title = ax.set_title("")

    def draw(frame: int):
        state = trace[frame]
        means = np.asarray(state["means"], dtype=np.float64)
        covs = np.asarray(state["covariances"], dtype=np.float64)
        for i in range(k):
            m2, c2 = marginal_2d(means[i], covs[i], dims)
            for lev, p in zip(levels, patches[i], strict=True):
                p.set_xy(covariance_ellipse(m2, c2, lev, n_points))
            markers[i].set_data([m2[0]], [m2[1]])
        ll = state.get("log_likelihood")
        text = f"EM iteration {state.get('iteration', frame)}"
        if ll is not None and np.isfinite(ll):
            text += f"  (mean ln L = {ll:.4f})"
        title.set_text(text)
        return [p for row in patches for p in row] + markers + [title]

    draw(0)
    anim = FuncAnimation(
        cast(Figure, ax.figure),
        draw,
        frames=len(trace),
        interval=interval,
        blit=False,
        repeat=True,
        cache_frame_data=False,
    )
    anim.bayesmix_ax = ax  # type: ignore[attr-defined]
    anim.bayesmix_trace = trace  # type: ignore[attr-defined]
    anim.bayesmix_n_frames = len(trace)  # type: ignore[attr-defined]
    return anim


def save_animation(
    anim: Animation,
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    dpi: float = 100,
    overwrite: bool = False,
) -> str:
    """Write an animation as a GIF with matplotlib's Pillow writer (no external programs).

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        E.g. from :func:`animate_em`.
    path : str or path-like
        Output file; must end in ``.gif``.
    fps : float, optional
        Frames per second; default from the animation's ``interval``.
    dpi : float, default 100
        Resolution of the frames.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    str
        The path written.  The write is atomic
        (``bayesmix._files.atomic_write``): a failed write leaves no
        partial file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    DataError
        ``path`` does not end in ``.gif``.
    """
    path = os.fspath(path)
    if not path.lower().endswith(".gif"):
        raise DataError(
            f"'path' must end in .gif (the Pillow writer writes GIFs); got {path!r}",
            argument="path",
        )
    if fps is None:
        interval = float(getattr(anim, "_interval", 200))
        fps = 1000.0 / interval if interval > 0 else 5.0

    def write(tmp: str) -> None:
        # Pillow picks the format from the file name: render to a ".gif" in a private
        # temporary folder, then copy the bytes into the atomic writer's temporary file
        with tempfile.TemporaryDirectory() as folder:
            gif = os.path.join(folder, "animation.gif")
            # the stubs say int; the writer only computes a frame duration of 1000 / fps ms
            writer = PillowWriter(fps=fps)  # type: ignore[arg-type]
            anim.save(gif, writer=writer, dpi=dpi)
            with open(gif, "rb") as src, open(tmp, "wb") as dst:
                dst.write(src.read())

    atomic_write(path, write, overwrite=overwrite)
    return path
