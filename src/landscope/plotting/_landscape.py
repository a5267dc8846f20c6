"""Figures of the landscape analyses (Goodfellow, Vinyals & Saxe 2015): interpolation curves
(Fig. 1-5, 9, 10), trajectory projections (Fig. 11-13), cost surfaces with the trajectory drawn
on them (Fig. 14-22).

"Compute first, draw second": every function takes a result object from
:mod:`landscope.landscape` and returns a ``matplotlib.figure.Figure`` (optionally saved as PNG).
matplotlib is imported only here, inside the functions, and without ``pyplot`` (no global
figure state is created or changed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from landscope.landscape import InterpolationResult, SurfaceResult
    from landscope.trajectory import TrajectoryProjection

__all__ = ["plot_interpolation", "plot_surface", "plot_trajectory_projection", "save_figure"]


def _figure(**kwargs) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from exc
    return Figure(layout="constrained", **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save ``fig`` (PNG unless the suffix says otherwise), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _plot_recorded(ax, x, y, fmt: str = "-", **kwargs) -> int:
    """Plot ``y`` against ``x`` where ``y`` is finite, and return how many points that is.

    A series recorded sparsely (the train loss every 25 steps, read at every parameter step,
    NaN in between) would draw nothing as a plain line, since matplotlib breaks a line at
    every NaN; here its finite points are joined and marked.  A series without gaps is drawn
    as the plain line it always was."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y)
    if finite.all():
        ax.plot(x, y, fmt, **kwargs)
    elif finite.any():
        kwargs.setdefault("marker", "o")
        kwargs.setdefault("ms", 3)
        ax.plot(x[finite], y[finite], fmt, **kwargs)
    return int(finite.sum())


def _as_curves(results) -> list[tuple[str, object]]:
    if isinstance(results, Mapping):
        return [(str(k), v) for k, v in results.items()]
    if isinstance(results, Sequence) and not hasattr(results, "alphas"):
        return [(r.label or f"curve {i}", r) for i, r in enumerate(results)]
    return [(results.label, results)]


def plot_interpolation(
    results: InterpolationResult
    | Sequence[InterpolationResult]
    | Mapping[str, InterpolationResult],
    *,
    splits: Sequence[str] = ("train", "test"),
    error: bool = True,
    logy: bool = False,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Loss along the line(s): ``J((1 - alpha) theta_0 + alpha theta_1)`` against alpha
    (Goodfellow et al. Fig. 2-5, 9, 10).

    Train loss is solid, test loss dashed, on the left axis; with ``error`` and classification
    results, the classification error (1 - accuracy) on a right axis (dotted), as in the paper.
    Several results (a list or a label -> result mapping) share the axes (Fig. 3).
    ``logy`` puts the loss on a log scale (Fig. 3).  The x axis spans the alphas exactly, so the
    zoomed tiles of Fig. 4 ([0, 0.01], [0.99, 1]) fill it; grey vertical lines mark alpha = 0
    and 1 where they fall inside it.
    """
    fig = _figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    ax2 = None
    curves = _as_curves(results)
    styles = {"train": "-", "test": "--"}
    for k, (label, res) in enumerate(curves):
        color = f"C{k}"
        prefix = f"{label} " if label else ""
        for split in splits:
            if f"{split}_loss" in res.values:
                ax.plot(
                    res.alphas,
                    res[f"{split}_loss"],
                    styles.get(split, "-"),
                    color=color,
                    label=f"{prefix}{split} loss",
                )
            if error and f"{split}_accuracy" in res.values:
                if ax2 is None:
                    ax2 = ax.twinx()
                    ax2.set_ylabel("classification error")
                ax2.plot(
                    res.alphas,
                    1 - res[f"{split}_accuracy"],
                    ":" if split == "train" else "-.",
                    color=color,
                    alpha=0.8,
                    label=f"{prefix}{split} error",
                )
    # the x axis spans the alphas (a zoom on [0.99, 1] must not stretch to 0); alpha = 0 and 1
    # (theta_0, theta_1) are marked where they fall inside it
    lo = min(float(np.min(res.alphas)) for _, res in curves)
    hi = max(float(np.max(res.alphas)) for _, res in curves)
    for x in (0.0, 1.0):
        if lo <= x <= hi:
            ax.axvline(x, color="0.8", lw=0.8, zorder=0)
    if hi > lo:
        ax.set_xlim(lo, hi)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J((1-\alpha)\theta_0 + \alpha\theta_1)$")
    if logy:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=7, loc="best")
    ax.set_title(title or "linear interpolation")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_trajectory_projection(
    projection: TrajectoryProjection,
    *,
    controls: Sequence[TrajectoryProjection] = (),
    value: str | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Goodfellow et al. App. B: beta(t) (residual norm) against alpha(t) (projection on the
    init -> solution line), coloured by step (Fig. 11, 13); the ratio beta(t) / ||theta(t)||
    over the steps; and, when the projection holds a series ``value`` (e.g. the train loss),
    that series over the steps (a sparsely recorded series, NaN between its records, is drawn
    at its records, marked and joined).  ``controls`` (e.g. :func:`random_walk_control`) are drawn
    in grey on the first panel."""
    series = value if value is not None else next(iter(projection.values), None)
    ncols = 3 if series is not None else 2
    fig = _figure(figsize=(4.2 * ncols, 3.8))
    ax = fig.add_subplot(1, ncols, 1)
    for c in controls:
        ax.plot(c.alpha, c.beta, color="0.6", lw=0.8, label=c.meta.get("control", "control"))
    sc = ax.scatter(
        projection.alpha, projection.beta, c=projection.steps, s=6, cmap="viridis", zorder=3
    )
    ax.plot(projection.alpha, projection.beta, color="k", lw=0.4, alpha=0.5)
    fig.colorbar(sc, ax=ax, label="step")
    ax.set_xlabel(r"$\alpha(t)$ (projection on $\theta_i \to \theta_f$)")
    ax.set_ylabel(r"$\beta(t)$ (residual norm)")
    if controls:
        ax.legend(fontsize=7)
    ax = fig.add_subplot(1, ncols, 2)
    ax.plot(projection.steps, projection.residual_ratio)
    ax.set_xlabel("step")
    ax.set_ylabel(r"$\beta(t) / \|\theta(t)\|$")
    ax.set_ylim(bottom=0)
    step_limits = ax.get_xlim()  # the same steps on the series panel, however sparse it is
    if series is not None:
        ax = fig.add_subplot(1, ncols, 3)
        values = np.asarray(projection.values[series], dtype=np.float64)
        shown = _plot_recorded(ax, projection.steps, values)
        ax.set_xlim(step_limits)
        ax.set_xlabel("step")
        ax.set_ylabel(series)
        if shown < len(values):
            ax.set_title(f"recorded at {shown} of {len(values)} steps", fontsize=8)
    fig.suptitle(title or "trajectory projected on the initialization-solution line")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_surface(
    result: SurfaceResult,
    *,
    metric: str = "train_loss",
    kind: Literal["contour", "3d", "both"] = "both",
    log: bool = False,
    levels: int = 30,
    clip: float | None = None,
    labels: tuple[str, str] | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """The cost surface as a filled contour plot and/or a 3-D surface, with the trajectory (when
    the result has one) drawn on it: a line from the start (circle) to the end (star), at its
    surface values in 3-D (Goodfellow et al. Fig. 14-22; Li et al. 2018).

    Args:
        metric: which value to draw (``"train_loss"``, ``"test_loss"``, ``"train_accuracy"``...).
        log: draw log10 of the values.
        clip: clip values above this (after ``log``) so a few huge values do not flatten the rest.
        labels: axis names (default from the surface kind).
    """
    if kind not in ("contour", "3d", "both"):
        raise ValueError(f"kind must be 'contour', '3d' or 'both', got {kind!r}")
    z = np.array(result[metric], dtype=np.float64)
    tz = result.trajectory_values.get(metric)
    tz = None if tz is None else np.array(tz, dtype=np.float64)
    if log:
        with np.errstate(divide="ignore"):
            z = np.log10(z)
            tz = None if tz is None else np.log10(tz)
    if clip is not None:
        z = np.minimum(z, clip)
        tz = None if tz is None else np.minimum(tz, clip)
    zname = f"log10 {metric}" if log else metric
    name = str(result.meta.get("surface", ""))
    if labels is None:
        if name.startswith(("alpha_beta", "alpha_random")):
            labels = (r"$\alpha$ (fraction of $\theta_i \to \theta_f$)", r"$\beta$ (distance)")
        else:
            labels = ("direction 1", "direction 2")
    A, B = np.meshgrid(result.alphas, result.betas, indexing="ij")
    panels = ["contour", "3d"] if kind == "both" else [kind]
    fig = _figure(figsize=(5.6 * len(panels), 4.6))
    traj = result.trajectory
    for k, panel in enumerate(panels):
        if panel == "contour":
            ax = fig.add_subplot(1, len(panels), k + 1)
            cs = ax.contourf(A, B, z, levels=levels, cmap="viridis")
            ax.contour(A, B, z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
            fig.colorbar(cs, ax=ax, label=zname)
            if traj is not None:
                ax.plot(traj[:, 0], traj[:, 1], color="w", lw=1.2)
                ax.plot(traj[0, 0], traj[0, 1], "o", color="w", ms=5)
                ax.plot(traj[-1, 0], traj[-1, 1], "*", color="r", ms=9)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
        else:
            import mpl_toolkits.mplot3d  # noqa: F401  (registers the 3-D projection)

            ax = fig.add_subplot(1, len(panels), k + 1, projection="3d")
            ax.plot_surface(
                A,
                B,
                np.ma.masked_invalid(z),
                cmap="viridis",
                linewidth=0,
                alpha=0.8,
                antialiased=True,
            )
            if traj is not None and tz is not None:
                ax.plot(traj[:, 0], traj[:, 1], tz, color="r", lw=1.5, zorder=10)
                ax.scatter([traj[0, 0]], [traj[0, 1]], [tz[0]], color="w", edgecolor="k", s=20)
                ax.scatter([traj[-1, 0]], [traj[-1, 1]], [tz[-1]], color="r", marker="*", s=50)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            ax.set_zlabel(zname)
    fig.suptitle(title or f"{zname} on {name or 'the surface'}")
    if path is not None:
        save_figure(fig, path)
    return fig
