"""Figures of the top-subspace analysis (Gur-Ari, Roberts & Dyer 2018): f_top with loss and
accuracy (Fig. 1), subspace-overlap grids (Fig. 2), overlap vs dimension (Fig. 3), spectra
(Fig. 4, 5), the top eigenvector by parameter index (Fig. 6, 7), top eigenvalues along training
(Fig. 8) and c_i^2 (Fig. 11).  Each takes data (a :class:`~landscope.subspace.SubspaceAnalysis`
or arrays) and returns a matplotlib ``Figure``; matplotlib is imported lazily, without pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from landscope.plotting._landscape import _figure, _plot_recorded

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from landscope.problem import ParameterLayout
    from landscope.subspace import SubspaceAnalysis

__all__ = [
    "plot_eigenvalues_over_training",
    "plot_eigenvector_by_layer",
    "plot_eigenvector_weights",
    "plot_overlap_by_dimension",
    "plot_spectrum",
    "plot_subspace_overlap_grid",
    "plot_top_subspace_fraction",
]


def plot_top_subspace_fraction(
    analyses: SubspaceAnalysis | Mapping[str, SubspaceAnalysis],
    *,
    overlap: bool = True,
    title: str | None = None,
) -> Figure:
    """Fig. 1: f_top (eq. 2) along training, with overlap(g, Hg) (eq. 3) dashed, above the loss
    and accuracy.  ``analyses`` may map labels to several runs (Fig. 12's variants).  Series
    with gaps (NaN) are drawn at their finite points, marked and joined; an all-NaN series
    (no accuracy for a regression) is not drawn."""
    items = analyses.items() if isinstance(analyses, Mapping) else [("", analyses)]
    fig = _figure(figsize=(6.4, 5.2))
    ax_f, ax_l = fig.subplots(2, 1, sharex=True)
    ax_a = ax_l.twinx()
    for i, (label, a) in enumerate(items):
        color = f"C{i}"
        suffix = f" {label}" if label else ""
        _plot_recorded(
            ax_f, a.steps, a["fraction"], color=color, label=f"$f_{{top}}$ (k={a.k}){suffix}"
        )
        if overlap and "overlap" in a.scalars:
            _plot_recorded(
                ax_f,
                a.steps,
                a["overlap"],
                "--",
                color=color,
                lw=1,
                label=f"overlap(g, Hg){suffix}",
            )
        _plot_recorded(ax_l, a.steps, a["loss"], color=color, label=f"loss{suffix}")
        _plot_recorded(ax_a, a.steps, a["accuracy"], ":", color=color, label=f"accuracy{suffix}")
    ax_f.set_ylim(-0.02, 1.02)
    ax_f.set_ylabel("fraction of gradient in top subspace")
    ax_f.legend(fontsize=7, loc="lower right")
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss")
    ax_a.set_ylabel("accuracy")
    ax_l.set_xlabel("step")
    ax_f.set_title(title or "Gradient in the top Hessian subspace (Gur-Ari et al. Fig. 1)")
    return fig


def plot_subspace_overlap_grid(
    analysis: SubspaceAnalysis, *, t1: Sequence[int] | None = None, title: str | None = None
) -> Figure:
    """Fig. 2: subspace overlap (eq. 5) of the top-k (left) and next-k (right) subspaces at
    times t1 (one curve each) and t2 >= t1 (x axis)."""
    steps = np.asarray(analysis.eigenvector_steps)
    if t1 is None:
        idx = np.unique(np.linspace(0, len(steps) - 2, min(6, len(steps) - 1)).round().astype(int))
        t1 = steps[idx].tolist()
    has_next = analysis.eigenvalues.shape[1] > analysis.k
    panels = [("top", f"top {analysis.k}")] + ([("next", f"next {analysis.k}")] if has_next else [])
    fig = _figure(figsize=(4.2 * len(panels), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (which, label) in zip(axes, panels, strict=True):
        grid = analysis.overlap_grid(which)
        for j, start in enumerate(t1):
            i = int(np.flatnonzero(steps == start)[0])
            later = steps >= start
            ax.plot(
                steps[later],
                grid[i, later],
                color=f"C{j}",
                marker=".",
                ms=3,
                label=f"$t_1$={start}",
            )
        ax.set_title(f"{label} subspace")
        ax.set_xlabel("$t_2$ (step)")
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel(r"overlap($V^{(t_1)}, V^{(t_2)}$)")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title or "Top-subspace overlap over training (Gur-Ari et al. Fig. 2)")
    return fig


def plot_overlap_by_dimension(
    analysis: SubspaceAnalysis,
    *,
    t1: Sequence[int] | None = None,
    max_dim: int | None = None,
    title: str | None = None,
) -> Figure:
    """Fig. 3: overlap of the top-d subspaces at t1 and later t2, averaged over t2, against d;
    a dotted line marks d = k."""
    steps = np.asarray(analysis.eigenvector_steps)
    if t1 is None:
        idx = np.unique(np.linspace(0, len(steps) - 2, min(5, len(steps) - 1)).round().astype(int))
        t1 = steps[idx].tolist()
    starts, table = analysis.overlap_by_dimension(t1, max_dim)
    dims = np.arange(1, table.shape[1] + 1)
    fig = _figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    for j, start in enumerate(starts):
        ax.plot(dims, table[j], marker="o", ms=3, color=f"C{j}", label=f"$t_1$={start}")
    ax.axvline(analysis.k, color="0.5", ls=":", lw=1)
    ax.set_xlabel("subspace dimension d")
    ax.set_ylabel(r"mean overlap over $t_2 > t_1$")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title or "Overlap vs subspace dimension (Gur-Ari et al. Fig. 3)")
    return fig


def plot_eigenvalues_over_training(
    analysis: SubspaceAnalysis, *, num: int | None = None, title: str | None = None
) -> Figure:
    """Fig. 8: the top Hessian eigenvalues along training (log axis), top k solid, next dashed."""
    lam = analysis.eigenvalues
    num = lam.shape[1] if num is None else min(num, lam.shape[1])
    fig = _figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    for i in range(num):
        ax.plot(
            analysis.steps,
            lam[:, i],
            color="C0" if i < analysis.k else "C1",
            ls="-" if i < analysis.k else "--",
            lw=1.4 if i == 0 else 0.8,
        )
    ax.set_yscale("symlog", linthresh=max(1e-3, float(np.abs(lam).max()) * 1e-4))
    ax.set_xlabel("step")
    ax.set_ylabel("Hessian eigenvalue")
    ax.set_title(title or f"Top {analysis.k} (solid) and next eigenvalues (Gur-Ari et al. Fig. 8)")
    return fig


def plot_eigenvector_weights(
    analysis: SubspaceAnalysis, steps: Sequence[int], *, title: str | None = None
) -> Figure:
    """Fig. 11: c_i^2 (eq. 12) of the gradient on the top 2k eigenvectors at chosen steps, with
    the sums over the top k and the next k in each panel's title."""
    fig = _figure(figsize=(3.0 * len(steps), 2.8))
    axes = np.atleast_1d(fig.subplots(1, len(steps), sharey=True))
    for ax, step in zip(axes, steps, strict=True):
        i = analysis._index(int(step))
        w = analysis.weights[i]
        idx = np.arange(1, len(w) + 1)
        ax.bar(idx, w, color=["C0" if j <= analysis.k else "C1" for j in idx])
        s = analysis.weight_sums(int(step))
        ax.set_title(f"step {step}: top {s['top']:.2f}, next {s['next']:.2f}", fontsize=8)
        ax.set_xlabel("i")
    axes[0].set_ylabel("$c_i^2$")
    fig.suptitle(title or "Gradient weight on each eigenvector (Gur-Ari et al. Fig. 11)")
    return fig


def plot_spectrum(
    eigenvalues: np.ndarray | Sequence[np.ndarray],
    *,
    k: int | None = None,
    log_density: bool = False,
    bins: int = 60,
    title: str | None = None,
) -> Figure:
    """Fig. 4 (``log_density=False``): a full spectrum as a histogram with the top ``k`` values
    marked; Fig. 5 (``log_density=True``): the density of the positive eigenvalues on a log axis,
    pooled over several seeds when a list of spectra is given."""
    spectra = (
        [np.asarray(eigenvalues)]
        if np.ndim(eigenvalues[0]) == 0
        else [np.asarray(e) for e in eigenvalues]
    )
    fig = _figure(figsize=(5.6, 3.6))
    ax = fig.subplots()
    if log_density:
        pooled = np.concatenate([s[s > 0] for s in spectra])
        edges = np.logspace(np.log10(pooled.min()), np.log10(pooled.max()), bins + 1)
        ax.hist(pooled, bins=edges, density=True, color="C0", alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue (positive)")
        ax.set_ylabel("density")
    else:
        lam = np.sort(spectra[0])[::-1]
        ax.hist(lam, bins=bins, color="C0", alpha=0.8)
        ax.set_yscale("log")
        if k:
            for i, v in enumerate(lam[:k]):
                ax.axvline(v, color="C3", lw=0.6, alpha=0.7)
                ax.annotate(str(i + 1), (v, 1), fontsize=6, color="C3", ha="center", va="bottom")
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("count")
    ax.set_title(
        title or ("Top of the spectrum (Fig. 5)" if log_density else "Hessian spectrum (Fig. 4)")
    )
    return fig


def plot_eigenvector_by_layer(
    vector: np.ndarray, layout: ParameterLayout, *, title: str | None = None
) -> Figure:
    """Fig. 6, 7: the entries of an eigenvector against the parameter index, coloured by the
    parameter tensor they belong to."""
    v = np.asarray(vector)
    fig = _figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    for i, spec in enumerate(layout.slots):
        sl = spec.slice
        ax.plot(
            np.arange(sl.start, sl.stop), v[sl], ".", ms=1.5, color=f"C{i % 10}", label=spec.name
        )
    ax.set_xlabel("parameter index")
    ax.set_ylabel("eigenvector entry")
    ax.legend(fontsize=6, markerscale=6, ncol=2)
    ax.set_title(title or "Top Hessian eigenvector by layer (Gur-Ari et al. Fig. 6)")
    return fig
