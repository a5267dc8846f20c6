"""Figures of the ``pca`` and ``drift`` analyses (Haink 2023, sec. 3.2, ch. 6): explained
variance, projections theta_i(t) (Fig. 6.4), accuracy of weights rebuilt from the first i
components (Fig. 6.3), sigma_i^2 against h_i (eq. 3.8, 3.9), the drift fit (Fig. 6.4, 6.5),
sigma^2 against the window length (eq. 6.7), the quadratic model (eq. 6.12), the loss along the
drift direction (Fig. 6.6) and the loss scaling L(alpha w) (eq. 6.14, Fig. 6.7).

Each function reads only the files its analysis wrote (``results.json``, ``*.npz``), draws in
:func:`style_context`, saves PNG + SVG and writes ``figures.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from landscope.plotting._style import (
    PALETTE,
    SavedFigure,
    new_figure,
    save_figure_formats,
    style_context,
    write_figure_index,
)

__all__ = ["plot_drift_results", "plot_pca_results"]


def _load(out_dir: Path, name: str) -> dict[str, np.ndarray] | None:
    path = out_dir / f"{name}.npz"
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _save(fig, out_dir: Path, stem: str, caption: str, paper: str | None) -> SavedFigure:
    save_figure_formats(fig, out_dir / stem)
    return SavedFigure(f"{stem}.png", caption, paper, f"{stem}.svg")


def _results(out_dir: Path, analysis: str) -> dict:
    path = out_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the {analysis} analysis first")
    results = json.loads(path.read_text())
    if results.get("analysis") != analysis:
        raise ValueError(f"{path} holds the {results.get('analysis')!r} analysis, not {analysis!r}")
    return results


def plot_pca_results(out_dir: str | os.PathLike) -> list[SavedFigure]:
    """Figures of ``run_pca_analysis``'s folder: explained variance ratios, projections
    theta_i(t), the rebuild curve (Fig. 6.3), sigma_i^2 vs h_i (eq. 3.8, 3.9)."""
    out_dir = Path(out_dir)
    results = _results(out_dir, "pca")
    group = results["summary"].get("group", "all")
    target = results["summary"].get("target", "weights")
    pca = _load(out_dir, "pca")
    figures = []
    with style_context():
        fig = new_figure()
        ax = fig.add_subplot()
        ratio = pca["explained_variance_ratio"]
        i = np.arange(1, len(ratio) + 1)
        ax.semilogy(i, ratio, "o-", color=PALETTE[0], label="sigma_i^2 / total")
        ax.semilogy(i, np.cumsum(ratio), "s--", color=PALETTE[1], label="cumulative")
        ax.set_xlabel("principal component i")
        ax.set_ylabel("fraction of the variance")
        ax.set_title(f"PCA of {target}, {group}")
        ax.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "pca_explained_variance",
                f"Variance of each principal component of the {target} of {group} (eq. 3.4) as a "
                "fraction of the total variance, and its cumulative sum.",
                None,
            )
        )
        fig = new_figure(5.0, 3.4)
        ax = fig.add_subplot()
        proj = pca["projections"]
        for j in range(min(4, proj.shape[1])):
            ax.plot(pca["steps"], proj[:, j] - proj[0, j], color=PALETTE[j], label=f"i = {j + 1}")
        ax.set_xlabel("training step")
        ax.set_ylabel("theta_i(t) - theta_i(t_0)")
        ax.set_title("projections on the principal components")
        ax.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "pca_projections",
                "Projections theta_i(t) = w(t) . p_i (eq. 3.5) of the first principal components, "
                "relative to the first snapshot: the first moves linearly (the drift mode), the "
                "others like random walks.",
                "Haink Fig. 6.4",
            )
        )
        rebuild = _load(out_dir, "rebuild")
        if rebuild is not None:
            fig = new_figure()
            ax = fig.add_subplot()
            counts = rebuild["counts"]
            k = int(counts.max()) - 1
            inside = counts <= k
            for n, (key, label) in enumerate(
                (("train_accuracy", "train"), ("test_accuracy", "test"))
            ):
                values = rebuild[key]
                if np.all(np.isnan(values)):
                    continue
                ax.plot(counts[inside], values[inside], "o-", ms=3, color=PALETTE[n], label=label)
                ax.axhline(values[-1], ls=":", color=PALETTE[n], lw=1)
            ax.set_xlabel("principal components added, i (0: layer set to zero)")
            ax.set_ylabel("accuracy")
            ax.set_title("weights rebuilt from the first i PCs")
            ax.legend(title="dotted: original weights")
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "pca_rebuild",
                    "Accuracy of the network whose layer weights are replaced by their part in the "
                    "first i principal components, w_i = sum_{j<=i} theta_j(T) p_j (eq. 6.3); "
                    "dotted: the original weights (all components plus the part of w outside "
                    "the k components).",
                    "Haink Fig. 6.3",
                )
            )
        sh = _load(out_dir, "sigma_hessian")
        if sh is not None and len(sh["h"]):
            rel = results.get("sigma_vs_hessian", {})
            fig = new_figure()
            ax = fig.add_subplot()
            ax.loglog(sh["h"], sh["sigma2"], "o", color=PALETTE[0], label="(h_i, sigma_i^2)")
            alpha = rel.get("alpha")
            if alpha is not None and np.isfinite(alpha) and len(sh["h"]) > 1:
                x = np.geomspace(sh["h"].min(), sh["h"].max(), 20)
                c = np.exp(np.mean(np.log(sh["sigma2"]) - alpha * np.log(sh["h"])))
                ax.loglog(
                    x, c * x**alpha, "-", color=PALETTE[7], lw=1, label=f"fit alpha = {alpha:.2f}"
                )
            hc = rel.get("h_cross")
            if hc:
                ax.axvline(hc, ls="--", color=PALETTE[1], label=f"h_cross = {hc:.3g} (eq. 3.9)")
            ax.set_xlabel("Hessian eigenvalue h_i")
            ax.set_ylabel("PCA variance sigma_i^2")
            ax.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "pca_sigma_vs_hessian",
                    "PCA variances sigma_i^2 against the Hessian eigenvalues h_i of the same "
                    "parameters, paired by rank, with the log-log fit sigma^2 ~ h^alpha (eq. 3.8) "
                    "and eq. 3.9's h_cross.",
                    "Haink eq. 3.8, 3.9",
                )
            )
    write_figure_index(out_dir, figures)
    return figures


def plot_drift_results(out_dir: str | os.PathLike) -> list[SavedFigure]:
    """Figures of ``run_drift_analysis``'s folder: the drift fit (Fig. 6.4), sigma^2 against
    the window length (eq. 6.7), the quadratic model (eq. 6.12), the loss along the drift
    (Fig. 6.6) and the loss scaling (Fig. 6.7)."""
    out_dir = Path(out_dir)
    results = _results(out_dir, "drift")
    group = results["summary"].get("group", "all")
    drift = _load(out_dir, "drift")
    fit = results["fit"]
    figures = []
    with style_context():
        fig = new_figure()
        ax = fig.add_subplot()
        ax.plot(drift["steps"], drift["theta1"], color=PALETTE[0], label="theta_1(t)")
        ax.plot(
            drift["steps"],
            drift["fit_line"],
            "--",
            color=PALETTE[7],
            lw=1,
            label=f"a (t - t0) + b, R^2 = {fit['r2']:.4f}",
        )
        ax.set_xlabel("training step")
        ax.set_ylabel("theta_1(t) = w(t) . p_1")
        ax.set_title(f"drift mode, {group}")
        ax.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "drift_fit",
                "Projection of the weights on the first principal component over the window and "
                f"the least-squares line of eq. 6.4; eq. 6.6 a^2 (T^2-1)/12 = "
                f"{fit['variance_linear']:.3g} against the measured variance {fit['variance']:.3g}.",
                "Haink Fig. 6.4, 6.5",
            )
        )
        if len(drift["window_T"]) >= 2:
            fig = new_figure()
            ax = fig.add_subplot()
            T, s2 = drift["window_T"], drift["window_sigma2"]
            ax.loglog(T, s2, "o-", color=PALETTE[0], label="sigma_1^2 of the window")
            ax.loglog(T, s2[-1] * (T / T[-1]) ** 2, "--", color=PALETTE[7], lw=1, label="~ T^2")
            ax.set_xlabel("snapshots in the window, T")
            ax.set_ylabel("variance of the first PC, sigma_1^2")
            ax.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "drift_variance_vs_T",
                    "Variance of the first principal component of windows of T snapshots ending "
                    "at the last one, against T, with the T^2 of eq. 6.6 / 6.7.",
                    "Haink eq. 6.7",
                )
            )
        quad = _load(out_dir, "quadratic")
        if quad is not None:
            fig = new_figure()
            ax = fig.add_subplot()
            i = np.arange(1, len(quad["h"]) + 1)
            ax.semilogy(i, quad["measured_variance"], "o", color=PALETTE[0], label="measured")
            ax.semilogy(i, quad["predicted_variance"], "x", color=PALETTE[1], label="eq. 6.12")
            ax.set_xlabel("Hessian eigenvector i (decreasing h_i)")
            ax.set_ylabel("variance of w(t) . h_i over the window")
            ax.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "drift_quadratic_model",
                    "Variance of the weights' coordinate along each top Hessian eigenvector over "
                    "the window: measured, and predicted by the quadratic model's mean flow "
                    "(eq. 6.11, 6.12, minimum from the gradient at the window's start).",
                    "Haink eq. 6.12",
                )
            )
        line = _load(out_dir, "line")
        fig = new_figure()
        ax = fig.add_subplot()
        unit_name = results["line"].get("unit", "travel")
        unit = results["line"].get("unit_value", results["line"]["travel"]) or 1.0
        x = line["delta"] / unit
        ax.plot(x, line["loss"], color=PALETTE[0], label="training loss")
        if np.any(line["penalty"] > 0):
            ax.plot(
                x, line["loss"] + line["penalty"], "--", color=PALETTE[1], label="+ weight decay"
            )
        ax.axvline(0.0, color=PALETTE[7], lw=1, ls=":")
        ax.set_xlabel(
            "delta / |theta_1(T)| (along +p_1 = the drift)"
            if unit_name == "theta1"
            else "delta / drift travel over the window (along +p_1 = the drift)"
        )
        ax.set_ylabel("loss")
        ax.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "drift_line",
                "Training loss at w(T) + delta p_1 along the drift direction (p_1 oriented "
                "along the drift), delta in units of "
                + (
                    "|theta_1(T)| = |w(T) . p_1| (-1 removes the weights' part along p_1)"
                    if unit_name == "theta1"
                    else "the distance the drift covered in the window"
                )
                + "; 0 is the last snapshot.",
                "Haink Fig. 6.6",
            )
        )
        scaling = _load(out_dir, "scaling")
        # one panel when the analysed group is the whole network (no group_* curves saved)
        panels = [("network", "whole network")]
        if "group_alpha" in scaling:
            panels.insert(0, ("group", group))
        fig = new_figure(3.2 * len(panels), 3.2)
        axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=False))
        for ax, (name, title) in zip(axes, panels, strict=True):
            a = scaling[f"{name}_alpha"]
            ax.semilogy(a, scaling[f"{name}_loss"], color=PALETTE[0], label="loss")
            pen = scaling[f"{name}_penalty"]
            if np.any(pen > 0):
                ax.semilogy(
                    a, scaling[f"{name}_loss"] + pen, "--", color=PALETTE[1], label="+ weight decay"
                )
            ax.axvline(1.0, color=PALETTE[7], lw=1, ls=":")
            ax.set_xlabel("scale alpha")
            ax.set_title(f"L(alpha w): {title}")
            ax.legend()
        axes[0].set_ylabel("training loss")
        figures.append(
            _save(
                fig,
                out_dir,
                "drift_loss_scaling",
                (
                    "Training loss when the layer's (left) or all (right) weights are multiplied "
                    "by alpha"
                    if len(panels) == 2
                    else "Training loss when all weights are multiplied by alpha"
                )
                + " (eq. 6.14 predicts an exponential decay for a network at 100% training "
                "accuracy); dashed: with the weight-decay term, which grows as alpha^2.",
                "Haink Fig. 6.7",
            )
        )
    write_figure_index(out_dir, figures)
    return figures
