"""Figures of the random-matrix analyses (Haink ch. 4, 6.1, 7.1-7.6), drawn from the files that
``landscope.spectra.run_svd_analysis`` / ``run_overlaps_analysis`` / ``run_eigvec_stats_analysis``
wrote ("compute first, draw second"); matplotlib is imported lazily, without pyplot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from landscope.plotting._style import (
    HEATMAP_CMAP,
    PALETTE,
    SavedFigure,
    new_figure,
    save_figure_formats,
    style_context,
    write_figure_index,
)

__all__ = ["plot_eigvec_stats_results", "plot_overlaps_results", "plot_svd_results"]

_BLACK = PALETTE[7]


def _draw_spacings(ax, spacings, *, bins: int) -> None:
    """Histogram of unfolded spacings against the Wigner surmise (eq. 4.3) and Poisson."""
    from landscope.spectra import wigner_surmise_pdf

    ax.hist(
        spacings,
        bins=bins,
        range=(0, 4),
        density=True,
        color=PALETTE[2],
        alpha=0.7,
        label="unfolded spacings",
    )
    grid = np.linspace(0, 4, 200)
    ax.plot(grid, wigner_surmise_pdf(grid), color=_BLACK, label="Wigner surmise")
    ax.plot(grid, np.exp(-grid), color=_BLACK, ls=":", label="Poisson")


def _load(out_dir: Path, stem: str) -> dict[str, np.ndarray]:
    path = out_dir / f"{stem}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the analysis first")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _results(out_dir: Path) -> dict:
    path = out_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the analysis first")
    return json.loads(path.read_text())


def _save(fig, out_dir: Path, stem: str, caption: str, paper: str | None) -> SavedFigure:
    paths = save_figure_formats(fig, out_dir / stem)
    return SavedFigure(paths[0].name, caption, paper, paths[1].name if len(paths) > 1 else None)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def plot_svd_results(out_dir: str | Path) -> list[SavedFigure]:
    """Per weight matrix: histogram of the eigenvalues nu^2 / N against the fitted MP density
    (eq. 4.2) with outliers marked, and the unfolded spacings against the Wigner surmise (eq. 4.3)
    and Poisson; one figure per matrix plus an index in ``figures.json``."""
    from landscope.spectra import marchenko_pastur_pdf

    out_dir = Path(out_dir)
    res = _results(out_dir)
    arrays = _load(out_dir, "spectra")
    figures = []
    with style_context():
        for m in res["matrices"]:
            name = m["name"]
            sv = arrays[f"sv/{name}"]
            n = max(m["rows"], m["cols"])
            lam = sv**2 / n
            fig = new_figure(8.0, 3.0)
            ax1, ax2 = fig.subplots(1, 2)
            bulk_top = max(m["lambda_plus"], m["threshold"]) * 1.3
            shown = lam[lam <= bulk_top]
            ax1.hist(
                shown,
                bins=max(10, min(60, shown.size // 4)),
                density=True,
                color=PALETTE[5],
                label=f"{name} ({m['rows']}x{m['cols']})",
            )
            x = np.linspace(0, bulk_top, 400)
            ax1.plot(
                x,
                marchenko_pastur_pdf(x, m["sigma_mp"], m["Q"]),
                color=_BLACK,
                label=rf"MP fit $\sigma_{{mp}}$={m['sigma_mp']:.3g}, Q={m['Q']:.2g}",
            )
            ax1.axvline(
                m["threshold"],
                color=PALETTE[1],
                ls="--",
                lw=1,
                label=f"outlier threshold ({m['criterion']})",
            )
            outl = lam[m["outlier_indices"]] if m["outlier_indices"] else np.array([])
            if outl.size:
                far = outl > bulk_top
                ax1.plot(
                    np.minimum(outl, bulk_top),
                    np.zeros(outl.size),
                    "v",
                    color=PALETTE[1],
                    ms=6,
                    clip_on=False,
                    label=f"{outl.size} outliers"
                    + (f" ({int(far.sum())} beyond axis)" if far.any() else ""),
                )
            ax1.set_xlabel(r"eigenvalue $\nu^2 / N$")
            ax1.set_ylabel("density")
            ax1.legend(fontsize=7)
            key = f"spacings/{name}"
            if key in arrays:
                s = arrays[key]
                _draw_spacings(ax2, s, bins=30)
                sp = m.get("spacing") or {}
                if sp:
                    ax2.set_title(
                        f"KS p (Wigner) = {sp['p_wigner']:.2g}, <r> = {sp['mean_ratio']:.3f}"
                    )
                ax2.set_xlabel("unfolded spacing s")
                ax2.set_ylabel("p(s)")
                ax2.legend(fontsize=7)
            else:
                ax2.set_axis_off()
            stem = f"svd_{_safe(name)}"
            figures.append(
                _save(
                    fig,
                    out_dir,
                    stem,
                    f"{name}: squared singular values / N against the fitted Marchenko-Pastur density "
                    f"with {m['n_outliers']} outliers marked (left); unfolded level spacings of the "
                    "singular values against the Wigner surmise and Poisson (right).",
                    "Haink ch. 4, eq. 4.2-4.3",
                )
            )
        bulk = res.get("bulk_removal")
        if bulk:
            split = "test" if "test" in bulk["original"] else "train"
            names = list(bulk["per_matrix"])
            vals = [bulk["per_matrix"][k][split]["accuracy"] for k in names]
            fig = new_figure(5.0, 3.0)
            ax = fig.subplots()
            xs = np.arange(len(names) + 1)
            ax.bar(xs, [*vals, bulk["all"][split]["accuracy"]], color=PALETTE[0])
            ax.axhline(
                bulk["original"][split]["accuracy"], color=_BLACK, ls="--", label="original weights"
            )
            ax.set_xticks(xs, [*names, "all"], rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(f"{split} accuracy")
            ax.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "svd_bulk_removed",
                    f"{split.capitalize()} accuracy with the Marchenko-Pastur bulk of each weight "
                    "matrix removed (only its outlier singular values kept), and of all at once.",
                    "Haink ch. 4 (ref. [37])",
                )
            )
    write_figure_index(out_dir, figures)
    return figures


def _heatmap(ax, o: np.ndarray, xlabel: str, ylabel: str, fig) -> None:
    from matplotlib.colors import LogNorm

    positive = o[o > 0]
    vmin = max(float(positive.min()) if positive.size else 1e-6, 1e-4)
    im = ax.imshow(
        np.maximum(o, vmin),
        aspect="auto",
        origin="upper",
        interpolation="nearest",
        cmap=HEATMAP_CMAP,
        norm=LogNorm(vmin=vmin, vmax=max(float(o.max()), vmin * 10)),
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="|scalar product|")


def plot_overlaps_results(out_dir: str | Path) -> list[SavedFigure]:
    """Heatmaps (log colour scale) of the overlap maps: S (eq. 6.2, Fig. 6.1), F (eq. 7.4,
    Fig. 7.5), Hessian eigenvectors vs PCs of weights / updates (Fig. 7.1), and network vs layer
    eigenvectors (eq. 7.5, Fig. 7.7)."""
    out_dir = Path(out_dir)
    res = _results(out_dir)
    a = _load(out_dir, "overlaps")
    layer = res["summary"]["layer"]
    nout = res["summary"]["n_outliers"]
    specs = [
        (
            "S",
            "singular matrix index j",
            "principal component index i (weights)",
            f"S_ij = |p_i . w~_j| / ||w~_j|| (eq. 6.2) of {layer}: principal components of the "
            f"weights vs flattened singular matrices; the first {nout} singular values are MP "
            "outliers.",
            "Haink Fig. 6.1",
        ),
        (
            "F",
            "singular matrix index j",
            "Hessian eigenvector index i",
            f"F_ij = |h_i . w~_j| / ||w~_j|| (eq. 7.4) of {layer}: eigenvectors of the layer's "
            f"Hessian block (decreasing eigenvalue) vs singular matrices ({nout} outliers).",
            "Haink Fig. 7.5",
        ),
        (
            "HP_weights",
            "principal component index j (weights)",
            "Hessian eigenvector index i",
            f"|h_i . p_j| of {layer}: layer Hessian eigenvectors vs principal components of the "
            "weights.",
            "Haink Fig. 7.1a",
        ),
        (
            "HP_updates",
            "principal component index j (updates)",
            "Hessian eigenvector index i",
            f"|h_i . p_j| of {layer}: layer Hessian eigenvectors vs principal components of the "
            "updates w(t+1) - w(t).",
            "Haink Fig. 7.1b",
        ),
        (
            "F_network",
            "singular matrix index j",
            "network Hessian eigenvector index i",
            f"|h_i . w~_j| / ||w~_j|| between the whole-network Hessian eigenvectors "
            f"(restricted to {layer}) and its singular matrices ({nout} outliers).",
            "Haink Fig. 7.14",
        ),
        (
            "L",
            "layer Hessian eigenvector index j",
            "network Hessian eigenvector index i",
            f"|h_i . h~_j^(l)| (eq. 7.5): top whole-network Hessian eigenvectors vs the "
            f"eigenvectors of {layer}'s Hessian block padded with zeros.",
            "Haink Fig. 7.7",
        ),
    ]
    figures = []
    with style_context():
        for key, xl, yl, caption, paper in specs:
            if key not in a:
                continue
            fig = new_figure(4.8, 3.6)
            ax = fig.subplots()
            _heatmap(ax, a[key], xl, yl, fig)
            if key in ("S", "F", "F_network") and nout:
                ax.axvline(nout - 0.5, color=PALETTE[5], lw=1, ls="--")
            figures.append(_save(fig, out_dir, f"overlaps_{key}", caption, paper))
    write_figure_index(out_dir, figures)
    return figures


def plot_eigvec_stats_results(out_dir: str | Path) -> list[SavedFigure]:
    """Per analysed step: spectral density, spacings vs Wigner, Porter-Thomas p-values, IPR,
    weight product, layer shares, and the loss along eigenvectors vs the quadratic model."""
    from landscope.spectra import unfolded_spacings

    out_dir = Path(out_dir)
    res = _results(out_dir)
    figures = []
    with style_context():
        for label, info in res["steps"].items():
            a = _load(out_dir, f"stats_{label}")
            lam = a["eigenvalues"]
            n = lam.size
            idx = np.arange(n)
            step = info["step"]
            where = f"{res['summary']['layer']} at step {step}"
            fig = new_figure(9.0, 6.0)
            axs = fig.subplots(2, 3)
            ax = axs[0, 0]
            ax.plot(a["density_grid"], a["density"], color=PALETTE[0])
            ax.set_yscale("log")
            ax.set_ylim(max(a["density"].max() * 1e-6, 1e-12), None)
            ax.set_xlabel("Hessian eigenvalue")
            ax.set_ylabel("smoothed density")
            ax.set_title(f"kernel std {info['density_width']:.2g}")
            ax = axs[0, 1]
            sp = info.get("spacing")
            if sp:
                s = unfolded_spacings(
                    lam, window=sp["window"], trim=res["settings"]["spacing_trim"]
                )
                _draw_spacings(ax, s, bins=40)
                ax.set_title(f"KS p (Wigner) = {sp['p_wigner']:.2g}")
                ax.legend(fontsize=7)
            ax.set_xlabel("unfolded spacing s")
            ax.set_ylabel("p(s)")
            ax = axs[0, 2]
            floor = 1e-30  # smaller p-values (down to underflow) are drawn at the floor
            ax.semilogy(
                idx,
                np.clip(a["porter_thomas_p"], floor, 1),
                ".",
                ms=2,
                color=PALETTE[5],
                label="per eigenvector",
            )
            ax.semilogy(
                idx,
                np.clip(a["porter_thomas_p_avg"], floor, 1),
                color=PALETTE[0],
                label=f"averaged +-{res['settings']['pt_neighbours']}",
            )
            ax.set_ylim(floor / 3, 3)
            ax.set_xlabel("eigenvector index (decreasing eigenvalue)")
            ax.set_ylabel("Porter-Thomas KS p-value")
            ax.legend(fontsize=7)
            ax = axs[1, 0]
            ax.semilogy(idx, a["ipr"], ".", ms=2, color=PALETTE[3], label="ipr")
            ax.axhline(
                info["ipr_random_expected"],
                color=_BLACK,
                ls="--",
                label="random unit vector 3/(n+2)",
            )
            ax.axhline(info["ipr_delocalised"], color=_BLACK, ls=":", label="delocalised 1/n")
            ax.set_xlabel("eigenvector index")
            ax.set_ylabel(r"IPR $\sum_j h_{ij}^4$")
            ax.legend(fontsize=7)
            ax = axs[1, 1]
            ax.plot(idx, a["weight_product"], ".", ms=2, color=PALETTE[0], label="w(step)")
            if "weight_product_init" in a:
                ax.plot(idx, a["weight_product_init"], ".", ms=2, color=PALETTE[1], label="w(init)")
            r = 1 / np.sqrt(n)
            ax.axhspan(-2 * r, 2 * r, color=_BLACK, alpha=0.1, label=r"$\pm 2/\sqrt{n}$")
            ax.set_xlabel("eigenvector index")
            ax.set_ylabel(r"$h_i \cdot w / \|w\|$")
            ax.legend(fontsize=7)
            ax = axs[1, 2]
            shares = a["layer_shares"]
            names = info["layer_names"]
            bins = np.array_split(idx, min(50, n))
            centers = [b.mean() for b in bins]
            for j, nm in enumerate(names[:8]):
                mean = [shares[b, j].mean() for b in bins]
                ax.plot(centers, mean, color=PALETTE[j % 7], label=nm or "root")
                ax.axhline(a["layer_expected"][j], color=PALETTE[j % 7], ls=":", lw=1)
            ax.set_xlabel("eigenvector index (binned)")
            ax.set_ylabel(r"$\|h_i\|_l^2$")
            ax.legend(fontsize=6)
            figures.append(
                _save(
                    fig,
                    out_dir,
                    f"eigvec_stats_{label}",
                    f"Hessian of {where}: smoothed spectral density; unfolded level spacings vs the "
                    "Wigner surmise; Porter-Thomas p-values per eigenvector and neighbour-averaged; "
                    "inverse participation ratio; weight product h_i.w/||w||; layer shares "
                    "||h_i||_l^2 (dotted: n_l/n).",
                    "Haink Fig. 7.15-7.21",
                )
            )
            lines = info["loss_lines"]
            if lines:
                fig = new_figure(8.0, 3.2)
                ax1, ax2 = fig.subplots(1, 2)
                for j, line in enumerate(lines):
                    i = line["index"]
                    c = PALETTE[j % 7]
                    tag = f"h_{i} (lambda={line['eigenvalue']:.3g})" + (
                        ", max |w.h|" if line["largest_weight_product"] else ""
                    )
                    alpha = a[f"line{i}/alpha"]
                    ax1.plot(alpha, a[f"line{i}/loss"], color=c, label=tag)
                    ax1.plot(alpha, a[f"line{i}/quadratic"], color=c, ls="--", lw=1)
                    acc = a.get(f"line{i}/test_accuracy", a.get(f"line{i}/accuracy"))
                    if acc is not None:
                        ax2.plot(alpha, acc, color=c, label=tag)
                ax1.set_yscale("log")
                ax1.set_xlabel(r"$\alpha$ (coordinate along $h_i$)")
                ax1.set_ylabel("training loss")
                ax1.legend(fontsize=6)
                ax2.set_xlabel(r"$\alpha$")
                ax2.set_ylabel(
                    "test accuracy" if f"line{lines[0]['index']}/test_accuracy" in a else "accuracy"
                )
                figures.append(
                    _save(
                        fig,
                        out_dir,
                        f"eigvec_lines_{label}",
                        f"Loss L(w + (alpha - w.h_i) h_i) (eq. 7.6) along the top Hessian "
                        f"eigenvectors and the one of largest weight product, {where}; dashed: the "
                        "quadratic (second-order Taylor) prediction. Right: accuracy.",
                        "Haink Fig. 7.12, 7.13",
                    )
                )
    write_figure_index(out_dir, figures)
    return figures
