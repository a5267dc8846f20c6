"""``landscope analyze subspace RUN``: the top Hessian subspace along a recorded run (Gur-Ari,
Roberts & Dyer 2018).  :func:`register_analyses` adds the command to an app."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import DType, NoProgress, fail, open_run_or_fail


class Source(str, enum.Enum):
    """Where the subspace measurements come from."""

    auto = "auto"
    online = "online"
    offline = "offline"


def _steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        fail(f"--steps must be comma-separated integers, got {text!r}")


def subspace(
    run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
    source: Annotated[
        Source,
        typer.Option(
            help="offline (recompute from recorded params), online (read the run's "
            "top_subspace tracker series) or auto (online if present)"
        ),
    ] = Source.auto,
    k: Annotated[
        int | None, typer.Option(help="top subspace dimension (default: number of classes)")
    ] = None,
    every: Annotated[
        int, typer.Option(help="offline: analyze every N-th recorded params step")
    ] = 10,
    steps: Annotated[
        str | None, typer.Option(help="offline: comma-separated steps (overrides --every)")
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option(help="offline: Hessian on a fixed subset of this many samples")
    ] = None,
    tol: Annotated[float, typer.Option(help="eigenpair relative residual tolerance")] = 1e-5,
    dtype: Annotated[DType | None, typer.Option(help="precision (default: the run's)")] = None,
    last: Annotated[
        int,
        typer.Option(
            help="Table 1 summary: mean overlap over the last N steps (all measured steps when "
            "the run is shorter; the summary says which were used)",
            min=1,
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the random control vectors")] = 0,
    spectrum: Annotated[
        bool,
        typer.Option(
            help="also the full dense Hessian spectrum at the last analyzed step (Fig. 4, "
            "outlier count, top eigenvector by layer, Fig. 6); needs p <= 10,000"
        ),
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Top Hessian subspace along a run (Gur-Ari, Roberts and Dyer 2018): f_top (eq. 2),
    overlap(g, Hg) (eq. 3) with random-vector controls, c_i^2 (eq. 12), top eigenvalues, and
    from the eigenvectors the subspace-overlap grid (Fig. 2) and overlap vs dimension (Fig. 3).
    Writes subspace.npz/.json, summary.json and figures fig1/2/3/8/11 to --out."""
    import numpy as np

    from landscope.plotting import (
        plot_eigenvalues_over_training,
        plot_eigenvector_weights,
        plot_overlap_by_dimension,
        plot_subspace_overlap_grid,
        plot_top_subspace_fraction,
        save_figure,
    )
    from landscope.runs import analysis_series
    from landscope.subspace import analyze_run, read_tracked

    precision = None if dtype is None else dtype.value
    run = open_run_or_fail(run_dir)
    online = analysis_series("top_subspace", "fraction") in run
    if source is Source.online and not online:
        fail(f"run {run_dir} has no top_subspace online analysis; use --source offline")
    try:
        if source is Source.online or (source is Source.auto and online):
            analysis = read_tracked(run)
        else:
            analysis = analyze_run(
                run_dir,
                steps=_steps(steps),
                every=every,
                k=k,
                dtype=precision,
                max_samples=max_samples,
                tol=tol,
                seed=seed,
                progress=not no_progress,
            )
    except ValueError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    written = [str(p) for p in analysis.save(out / "subspace")]
    window = analysis.mean_over_last("overlap", last)
    summary = {
        "source": analysis.meta.get("source"),
        "k": analysis.k,
        "steps": [int(analysis.steps[0]), int(analysis.steps[-1])],
        "measurements": len(analysis.steps),
        "final_fraction": float(analysis["fraction"][-1]),
        "mean_overlap_last": window.value,
        "last_steps": last,
        "mean_overlap_window": {**window.as_dict(), "text": window.describe()},
        "final_top_eigenvalues": analysis.eigenvalues[-1][: analysis.k].tolist(),
    }
    figures = [
        ("fig1_fraction.png", plot_top_subspace_fraction(analysis)),
        ("fig8_eigenvalues.png", plot_eigenvalues_over_training(analysis)),
    ]
    chosen = [int(s) for s in analysis.steps[:: max(1, len(analysis.steps) // 4)]][:4]
    figures.append(("fig11_weights.png", plot_eigenvector_weights(analysis, chosen)))
    if analysis.eigenvectors is not None and len(analysis.eigenvectors) >= 2:
        t1, table = analysis.overlap_by_dimension()
        summary["overlap_by_dimension_first_t1"] = {
            "t1": int(t1[0]),
            "mean_overlap": np.round(table[0], 4).tolist(),
        }
        figures.append(("fig2_subspace_overlap.png", plot_subspace_overlap_grid(analysis)))
        figures.append(("fig3_overlap_by_dimension.png", plot_overlap_by_dimension(analysis)))
    if spectrum:
        figures += _spectrum(run, analysis, precision, summary, out)
    for name, fig in figures:
        written.append(str(save_figure(fig, out / name)))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    written.append(str(out / "summary.json"))
    typer.echo(
        f"k={analysis.k}, {len(analysis.steps)} measurements (steps {analysis.steps[0]}-"
        f"{analysis.steps[-1]}): final f_top {summary['final_fraction']:.3f}; "
        f"overlap(g, Hg) {window.value:.3f}, {window.describe()}"
    )
    for path in written:
        typer.echo(f"  {path}")


def _spectrum(run, analysis, dtype: str | None, summary: dict, out: Path) -> list:
    """Dense spectrum (float64 unless ``dtype``) at the last recorded params step at or before
    the last analyzed step: spectrum.npz, the outlier count in ``summary``, Fig. 4 and 6."""
    import numpy as np

    from landscope.curvature import DEFAULT_MAX_PARAMS, hessian_eigh
    from landscope.plotting import plot_eigenvector_by_layer, plot_spectrum
    from landscope.spectra import count_outliers

    problem, _ = run.problems(dtype=dtype or "float64")
    if problem.num_params > DEFAULT_MAX_PARAMS:
        fail(
            f"--spectrum needs the dense Hessian: p = {problem.num_params:,} > {DEFAULT_MAX_PARAMS:,}; "
            "the top eigenvalues are in subspace.npz (Lanczos)"
        )
    step = run.select_steps(stop=int(analysis.steps[-1]) + 1)[-1]
    lam, vec = hessian_eigh(problem, run.theta(step, like=problem))
    lam_np = lam.cpu().numpy()
    np.savez(out / "spectrum.npz", eigenvalues=lam_np, top_eigenvector=vec[:, 0].cpu().numpy())
    k = analysis.k
    summary["spectrum"] = {
        "step": step,
        "outliers": count_outliers(lam_np, max_outliers=2 * k),
        "outlier_rule": f"count_outliers(method='largest_gap', max_outliers={2 * k}, min_ratio=2)",
        "top": lam_np[: 2 * k].tolist(),
        "negative": int((lam_np < 0).sum()),
        "most_negative": float(lam_np.min()),
    }
    return [
        ("fig4_spectrum.png", plot_spectrum(lam_np, k=k)),
        (
            "fig6_top_eigenvector.png",
            plot_eigenvector_by_layer(vec[:, 0].cpu().numpy(), problem.layout),
        ),
    ]


def register_analyses(app: typer.Typer) -> None:
    """Add ``subspace`` to ``app`` (the root app adds it under ``landscope analyze``)."""
    app.command()(subspace)
