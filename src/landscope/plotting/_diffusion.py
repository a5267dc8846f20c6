"""Figures of the diffusion-map analysis (Fjellstrom & Nystrom), drawn only from the files that
:func:`landscope.diffusion.run_diffusion_analysis` wrote (results.json, diffusion.npz)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from landscope.plotting._style import (
    PALETTE,
    SEQUENTIAL_CMAP,
    SavedFigure,
    new_figure,
    save_figure_formats,
    style_context,
    write_figure_index,
)

__all__ = ["plot_diffusion_results"]


def _save(fig, out_dir: Path, stem: str, caption: str, paper: str | None) -> SavedFigure:
    paths = save_figure_formats(fig, out_dir / stem)
    return SavedFigure(paths[0].name, caption, paper, paths[1].name if len(paths) > 1 else None)


def plot_diffusion_results(out_dir: str | Path) -> list[SavedFigure]:
    """Draw the diffusion analysis in ``out_dir``: eigenvalues of P, the energy ratio Lambda_i,
    L(eps) with its slope, d and AUC against eps, and the 2-D / 3-D embedding coloured by step and
    by loss.  Writes PNG + SVG and ``figures.json``; returns the figures."""
    from landscope._results_io import load_arrays

    out_dir = Path(out_dir)
    results = json.loads((out_dir / "results.json").read_text())
    arrays, meta = load_arrays(out_dir / "diffusion")
    lam, ratio = arrays["eigenvalues"], arrays["energy_ratio"]
    emb, steps, loss = arrays["embedding"], arrays["steps"], arrays["loss"]
    summary, curve, scan = results["summary"], results["kernel_sum"], results["scan"]
    eps, d, beta = summary["eps"], summary["d (beta)"], results["settings"]["beta"]
    figures: list[SavedFigure] = []
    with style_context():
        # eigenvalues and energy ratio (Fig. 7 / 10)
        fig = new_figure(7.5, 3.0)
        ax1, ax2 = fig.subplots(1, 2)
        k = min(lam.size, max(4 * d, 50))
        idx = np.arange(k)
        ax1.plot(idx, np.abs(lam[:k]), ".-", color=PALETTE[0], ms=3)
        ax1.axvline(d, color=PALETTE[1], ls="--", lw=1, label=f"d = {d}")
        ax1.set_xlabel("index i (0 = trivial)")
        ax1.set_ylabel("|lambda_i| of P")
        ax1.set_title(f"Eigenvalues at eps = {eps:.3g}")
        ax1.legend()
        ax2.plot(np.arange(1, ratio.size + 1)[:k], ratio[:k], ".-", color=PALETTE[0], ms=3)
        ax2.axhline(beta, color=PALETTE[7], lw=0.8, ls=":", label=f"beta = {beta}")
        ax2.axvline(d, color=PALETTE[1], ls="--", lw=1, label=f"d = {d}")
        ax2.set_xlabel("number of eigenvalues i")
        ax2.set_ylabel("energy ratio Lambda_i (eq. 3.3)")
        ax2.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "eigenvalues",
                f"Eigenvalues |lambda_i| of the transition matrix P (eq. 2.11) and the energy "
                f"ratio Lambda_i (eq. 3.3) at eps = {eps:.3g}; d = {d} is the first i with "
                f"Lambda_i > {beta}.",
                "Fjellstrom Fig. 7, 10",
            )
        )
        # L(eps) and its slope (Fig. 5)
        fig = new_figure(7.5, 3.0)
        ax1, ax2 = fig.subplots(1, 2)
        e, L = np.asarray(curve["eps"]), np.asarray(curve["L"])
        lo, hi = curve["linear_region"]
        for ax in (ax1, ax2):
            ax.axvspan(lo, hi, color=PALETTE[5], alpha=0.2, label="linear region")
            ax.axvline(eps, color=PALETTE[1], ls="--", lw=1, label=f"chosen eps {eps:.3g}")
            ax.set_xscale("log")
            ax.set_xlabel("eps (units of d^2)")
        ax1.plot(e, L, color=PALETTE[0])
        ax1.set_yscale("log")
        ax1.set_ylabel("L(eps) = sum K_ij (eq. 3.4)")
        ax1.legend()
        ax2.plot(curve["slope_eps"], curve["slope"], color=PALETTE[0])
        ax2.plot(
            [curve["max_slope_eps"]],
            [curve["max_slope"]],
            "o",
            color=PALETTE[2],
            label=f"a* = {curve['max_slope']:.2f}",
        )
        ax2.set_ylabel("slope a (eq. 3.7)")
        ax2.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "kernel_sum",
                "Kernel sum L(eps) on a log grid and its log-log slope a (eq. 3.4-3.7); shaded: "
                "the linear region (slope >= half its maximum); dashed: the chosen eps.",
                "Fjellstrom Fig. 5",
            )
        )
        # d and AUC against eps (Fig. 6)
        fig = new_figure(7.5, 3.0)
        ax1, ax2 = fig.subplots(1, 2)
        se, sd, sa = np.asarray(scan["eps"]), np.asarray(scan["d"]), np.asarray(scan["auc"])
        ax1.plot(se, sd, ".-", color=PALETTE[0], label="d")
        ax1.set_xscale("log")
        ax1.set_xlabel("eps (units of d^2)")
        ax1.set_ylabel("dimension d", color=PALETTE[0])
        twin = ax1.twinx()
        twin.plot(se, sa, ".-", color=PALETTE[4], label="AUC ratio")
        twin.set_ylabel("AUC ratio", color=PALETTE[4])
        twin.grid(False)
        ax1.axvline(eps, color=PALETTE[1], ls="--", lw=1)
        sc = ax2.scatter(sd, sa, c=np.log10(se), cmap=SEQUENTIAL_CMAP, s=14)
        ax2.set_xlabel("dimension d")
        ax2.set_ylabel("AUC ratio")
        fig.colorbar(sc, ax=ax2, label="log10 eps")
        figures.append(
            _save(
                fig,
                out_dir,
                "eps_scan",
                f"Dimension d (beta = {beta:g}) and AUC ratio against eps over the linear region, "
                "and the (d, AUC) scatter whose upper-left corner the paper's rule picks.",
                "Fjellstrom Fig. 6",
            )
        )
        # embedding coloured by step and by loss
        if emb.shape[1] >= 2:
            colours = [("step", steps.astype(float), "training step")]
            if np.isfinite(loss).any():
                colours.append(("loss", loss, f"loss ({meta.get('loss_series', 'loss')})"))
            for name, c, label in colours:
                three = emb.shape[1] >= 3
                fig = new_figure(7.5 if three else 4.5, 3.2)
                ax = fig.add_subplot(1, 2 if three else 1, 1)
                ok = np.isfinite(c)
                sc = ax.scatter(emb[ok, 0], emb[ok, 1], c=c[ok], s=6, cmap=SEQUENTIAL_CMAP)
                ax.set_xlabel("Psi_1 = lambda_1 psi_1")
                ax.set_ylabel("Psi_2 = lambda_2 psi_2")
                if three:
                    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
                    ax3.scatter(
                        emb[ok, 0], emb[ok, 1], emb[ok, 2], c=c[ok], s=4, cmap=SEQUENTIAL_CMAP
                    )
                    ax3.set_xlabel("Psi_1")
                    ax3.set_ylabel("Psi_2")
                    ax3.set_zlabel("Psi_3")
                fig.colorbar(sc, ax=ax, label=label)
                figures.append(
                    _save(
                        fig,
                        out_dir,
                        f"embedding_{name}",
                        f"Diffusion-map embedding Psi_tau (eq. 2.14, tau = {meta.get('tau', 1)}) "
                        f"of the iterates at eps = {eps:.3g}, coloured by {label}.",
                        None,
                    )
                )
        rolling = results.get("rolling")
        if rolling:
            fig = new_figure(7.5, 3.0)
            ax1, ax2 = fig.subplots(1, 2)
            for key, colour, name in (
                ("reselected", PALETTE[0], "eps re-selected"),
                ("fixed", PALETTE[1], "fixed eps"),
            ):
                r = rolling[key]
                mid = np.asarray(r["steps"], dtype=float).mean(axis=1)
                ax1.plot(mid, r["d"], ".-", color=colour, label=name)
                ax2.plot(mid, r["auc"], ".-", color=colour, label=name)
            ax1.set_xlabel("training step (window centre)")
            ax1.set_ylabel("dimension d")
            ax2.set_xlabel("training step (window centre)")
            ax2.set_ylabel("AUC ratio")
            ax1.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "rolling",
                    "d and AUC ratio in rolling windows over training, with eps re-selected per "
                    "window and with one fixed eps (the artefact the paper warns about).",
                    "Fjellstrom Fig. 13, 14",
                )
            )
    write_figure_index(out_dir, figures)
    return figures
