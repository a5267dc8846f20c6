"""``landscope analyze diffusion RUN``: diffusion maps of the SGD trajectory with the SGD-noise
Mahalanobis metric (Fjellstrom & Nystrom).  :func:`register_analyses` adds the command."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import NoProgress, fail, one_line_errors, open_run_or_fail

__all__ = ["diffusion", "register_analyses"]


class Metric(str, enum.Enum):
    """The covariance of the modified Mahalanobis distance (eq. 2.5)."""

    exact = "exact"
    critical_point = "critical_point"
    fisher = "fisher"
    window = "window"
    euclidean = "euclidean"


class Inverse(str, enum.Enum):
    """How C is inverted: relative cut-off, fixed rank, or (C + delta I)^-1."""

    pinv = "pinv"
    rank = "rank"
    ridge = "ridge"


def _eps(text: str) -> str | float:
    from landscope.diffusion import EPSILON_RULES

    if text in ("auto", *EPSILON_RULES):
        return text
    try:
        value = float(text)
    except ValueError:
        fail(
            f"--eps must be auto, one of {', '.join(EPSILON_RULES)} or a positive number, got {text!r}"
        )
    if not value > 0:
        fail(f"--eps must be positive, got {text}")
    return value


def diffusion(
    run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for results and figures")],
    metric: Annotated[
        Metric,
        typer.Option(
            help="covariance: exact (eq. 2.6), critical_point (2.7), fisher (2.8), "
            "window (2.9) or euclidean (the control)"
        ),
    ] = Metric.exact,
    inverse: Annotated[Inverse, typer.Option(help="pinv (cut-off), rank or ridge")] = Inverse.pinv,
    cutoff: Annotated[
        float | None,
        typer.Option(help="pinv: keep eigenvalues of C above R x the largest (default 1e-12)"),
    ] = None,
    rank: Annotated[int | None, typer.Option(help="inverse=rank: directions kept")] = None,
    delta: Annotated[float | None, typer.Option(help="inverse=ridge: delta of C + delta I")] = None,
    eps: Annotated[
        str,
        typer.Option(
            help="auto (the (d, AUC) corner), lafon, max_slope, linear_region, corner, or a number"
        ),
    ] = "auto",
    every: Annotated[
        int | None, typer.Option(help="point stride: every k-th recorded step")
    ] = None,
    max_points: Annotated[
        int | None, typer.Option(help="at most this many evenly spaced points (0: all)")
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="rolling window of W points (Fig. 13, 14)")
    ] = None,
    stride: Annotated[int, typer.Option(help="points between rolling windows")] = 50,
    half_width: Annotated[int, typer.Option(help="metric=window: L of eq. 2.9")] = 5,
    layer: Annotated[
        str | None, typer.Option(help="a layer or parameter name: only its coordinates")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="n of eq. 2.6 (default: the run's batch size)")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="C from a subset of this many samples (0: all)")
    ] = None,
    beta: Annotated[float, typer.Option(help="energy-ratio threshold of d (sec. 3.2)")] = 0.99,
    knn: Annotated[int | None, typer.Option(help="kNN sparsification of the kernel")] = None,
    references: Annotated[
        bool, typer.Option("--references", help="also TwoNN / MLE (scikit-dimension)")
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="recompute distances")] = False,
    no_progress: NoProgress = False,
) -> None:
    """Diffusion map of a recorded trajectory (Fjellstrom & Nystrom): SGD-noise covariance per
    point, modified Mahalanobis distances (cached in the run folder), eps rules, the diffusion
    map, d and AUC, optionally a rolling window. Writes results.json, diffusion.npz,
    kernel_sum.csv, eps_scan.csv and figures to --out."""
    from pydantic import ValidationError

    from landscope.diffusion import DiffusionSettings, run_diffusion_analysis
    from landscope.plotting import plot_diffusion_results

    run = open_run_or_fail(run_dir)
    fields = {
        "metric": metric.value,
        "inverse": inverse.value,
        "eps": _eps(eps),
        "every": every,
        "rolling_window": window,
        "rolling_stride": stride,
        "half_width": half_width,
        "params": layer,
        "batch_size": batch_size,
        "beta": beta,
        "knn": knn,
        "reference_dimensions": references,
        "cache": not no_cache,
        "rank": rank,
        "delta": delta,
    }
    if cutoff is not None:
        fields["cutoff"] = cutoff
    if max_points is not None:
        fields["max_points"] = None if max_points == 0 else max_points
    if samples is not None:
        fields["samples"] = None if samples == 0 else samples
    try:
        settings = DiffusionSettings(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}")
    with one_line_errors():
        try:
            results = run_diffusion_analysis(run, settings, out, progress=not no_progress)
        except (ValueError, KeyError, RuntimeError) as exc:
            fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
        figures = plot_diffusion_results(out)
    s = results["summary"]
    typer.echo(
        f"M={s['points M']} points, m={s['coordinates m']}, metric {s['metric']}"
        f" (median retained rank {s['retained rank (median)']:g}, median d^2 "
        f"{s['median d^2']:.3g}); eps={s['eps']:.4g} ({s['eps rule']}): d={s['d (beta)']}, "
        f"AUC={s['AUC ratio']:.4f}{' (distances from cache)' if s['distances cached'] else ''}"
    )
    for path in ["results.json", "diffusion.npz", "kernel_sum.csv", "eps_scan.csv"]:
        typer.echo(f"  {out / path}")
    for fig in figures:
        typer.echo(f"  {out / fig.file}")


def register_analyses(app: typer.Typer) -> None:
    """Add ``diffusion`` to ``app`` (the root app adds it under ``landscope analyze``)."""
    app.command()(diffusion)
