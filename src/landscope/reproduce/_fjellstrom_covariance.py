"""``fjellstrom-covariance``: Fjellstrom & Nystrom (2022) Fig. 3 and 4, the SGD-noise covariance
(eq. 2.6, exact) at one iterate: a 10 x 10 section of its correlation matrix and the histogram
of its eigenvalues (Iris at iteration 20, Auto MPG at iteration 5).  The paper: the correlations
are far from the identity's and the eigenvalues concentrate near zero with a few large ones,
which is why it uses the Mahalanobis distance rather than the Euclidean one.

Also the number of eigenvalues of C above a relative cut-off (1e-20 ... 1e-3 of the largest):
the directions the pseudo-inverse of eq. 2.5 keeps (see ``fjellstrom-table2``).

Configs: ``configs/fjellstrom/iris.yaml`` (trained 4 epochs = 24 steps) and ``auto_mpg.yaml``
(1 epoch = 16 steps): the first steps of the Table 2 runs (same seed, same batches).  The 10 x 10
section is parameters 0-9 (the first layer's weights into hidden units 1-3; the paper does not
say which section it shows).  Quick and full are the same (a few seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscope.reproduce._catalog import Check, Reproduction, check, register
from landscope.reproduce._fjellstrom import PAPER, train_config, train_run
from landscope.reproduce._report import Report

__all__ = ["COVARIANCE_CASES", "covariance", "covariance_checks"]

#: (key, config, title, iteration, epochs trained, paper figure)
COVARIANCE_CASES = (
    ("iris", "iris", "Iris classification", 20, 4, "Fig. 3"),
    ("auto_mpg", "auto_mpg", "Auto MPG regression", 5, 1, "Fig. 4"),
)

CUTOFFS = (1e-20, 1e-10, 1e-6, 1e-3)


def compute_covariance(out: Path, *, progress: bool) -> dict:
    import torch

    from landscope.curvature import NoiseCovarianceOperator

    results: dict = {"cases": {}}
    for key, config, title, step, epochs, fig in COVARIANCE_CASES:
        run = train_run(
            train_config(config, training={"epochs": epochs}),
            out / "runs" / key,
            progress=progress,
        )
        train, _ = run.problems(dtype="float64")
        batch = int(run.run_config().training.batch_size)
        theta = run.theta(step, like=train)
        op = NoiseCovarianceOperator(train, theta, batch_size=batch, form="exact")
        C = (op.factor @ op.factor.T).to(torch.float64).numpy()
        lam = np.clip(np.linalg.eigvalsh(C)[::-1], 0.0, None)
        sd = np.sqrt(np.diag(C))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = C[:10, :10] / np.outer(sd[:10], sd[:10])
        off = corr[~np.eye(10, dtype=bool)]
        results["cases"][key] = {
            "title": title,
            "figure": fig,
            "step": step,
            "m": int(C.shape[0]),
            "N": int(op.num_samples),
            "n": batch,
            "eigenvalues": lam.tolist(),
            "correlation_section": corr.tolist(),
            "mean_abs_offdiag_correlation": float(np.nanmean(np.abs(off))),
            "top10_trace_share": float(lam[:10].sum() / lam.sum()),
            "median_over_max": float(np.median(lam) / lam[0]),
            "ranks": {repr(c): int((lam > c * lam[0]).sum()) for c in CUTOFFS},
        }
    return results


def covariance_checks(results: dict) -> list[Check]:
    checks = []
    for r in results["cases"].values():
        checks.append(
            check(
                f"{r['title']}: the SGD correlations are far from the identity's",
                f"{r['figure']}a",
                paper="large off-diagonal correlations",
                ours=f"mean |corr| off the diagonal = {r['mean_abs_offdiag_correlation']:.2f}",
                holds=r["mean_abs_offdiag_correlation"] > 0.1,
                criterion="mean |off-diagonal correlation| in the 10 x 10 section > 0.1",
                differs_because="our section's parameters are nearly uncorrelated",
            )
        )
        checks.append(
            check(
                f"{r['title']}: eigenvalues of C concentrate near zero, a few are large",
                f"{r['figure']}b",
                paper="few large, most ~0 (log-scale histogram)",
                ours=f"top 10 carry {100 * r['top10_trace_share']:.0f} % of the trace; median "
                f"/ max = {r['median_over_max']:.2g}",
                holds=r["top10_trace_share"] >= 0.8 and r["median_over_max"] < 1e-3,
                criterion="top-10 share of trace(C) >= 80 % and median eigenvalue < 1e-3 x max",
                differs_because="our spectrum is flatter",
            )
        )
    return checks


def plot_covariance(results: dict, stem: Path) -> Path:
    from landscope.plotting import (
        HEATMAP_CMAP,
        PALETTE,
        new_figure,
        save_figure_formats,
        style_context,
    )

    cases = list(results["cases"].values())
    with style_context():
        fig = new_figure(9.0, 3.3 * len(cases))
        ax = fig.subplots(len(cases), 2, squeeze=False)
        for row, r in zip(ax, cases, strict=True):
            im = row[0].imshow(r["correlation_section"], cmap=HEATMAP_CMAP, vmin=-1, vmax=1)
            row[0].set_title(f"{r['figure']}a: {r['title']}, correlation (step {r['step']})")
            row[0].set_xlabel("parameter index")
            row[0].set_ylabel("parameter index")
            fig.colorbar(im, ax=row[0])
            lam = np.asarray(r["eigenvalues"])
            lam = lam[lam > 0]
            row[1].hist(np.log10(lam), bins=40, color=PALETTE[0], log=True)
            row[1].set_xlabel("log10 eigenvalue of C (eq. 2.6)")
            row[1].set_ylabel("count")
            row[1].set_title(f"{r['figure']}b: eigenvalues of C (m = {r['m']})")
        save_figure_formats(fig, stem, formats=("png",))
    return Path(str(stem) + ".png")


def report_covariance(out: Path, results: dict, checks: list[Check]) -> Report:
    report = Report("Fjellstrom & Nystrom (2022) Fig. 3, 4: the SGD-noise covariance", out)
    report.results = results
    report.text(
        "Exact SGD-noise covariance C = c [F - g g^T] (eq. 2.6) from the per-sample gradients of "
        "the N training samples at one iterate; 10 x 10 correlation section of parameters 0-9; "
        "eigenvalues of the dense m x m C (negative rounding clipped to 0).  Ranks: eigenvalues "
        "above cut-off x the largest (the directions the pseudo-inverse of eq. 2.5 keeps).  "
        "C has rank <= N - 1 (eq. 2.6 centres the N gradients): counts above N - 1 are the "
        "rounding noise of the dense m x m eigendecomposition (~1e-16 x the largest), which is "
        "why the distances use the N x N Gram route and a cut-off of 1e-12 by default."
    )
    report.table(
        ["problem", "step", "m", "N", "n", "mean |corr|", "top-10 share", "median/max"]
        + [f"rank > {c:.0e}" for c in CUTOFFS],
        [
            [
                r["title"],
                r["step"],
                r["m"],
                r["N"],
                r["n"],
                r["mean_abs_offdiag_correlation"],
                r["top10_trace_share"],
                r["median_over_max"],
                *[r["ranks"][repr(c)] for c in CUTOFFS],
            ]
            for r in results["cases"].values()
        ],
    )
    report.figure(plot_covariance(results, out / "fig3_4_covariance"), "Fig. 3 and 4")
    report.text("Verdicts (computed from the numbers above by the stated criterion):")
    report.checks(checks)
    return report


def covariance(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 3 / 4 (``quick`` is the same computation: a few seconds)."""
    out = Path(out)
    results = compute_covariance(out, progress=progress)
    results["quick"] = quick
    report = report_covariance(out, results, covariance_checks(results))
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="fjellstrom-covariance",
        paper=PAPER,
        items="Fig. 3, 4, sec. 3.1",
        description="SGD-noise covariance at one iterate: correlation section and eigenvalue "
        "histogram (Iris, Auto MPG), with the ranks kept at each pseudo-inverse cut-off",
        run=covariance,
        configs=("fjellstrom/iris", "fjellstrom/auto_mpg"),
        minutes=(0.1, 0.1),  # 4 s CPU measured
    )
)
