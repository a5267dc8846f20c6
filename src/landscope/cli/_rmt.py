"""``landscope analyze svd|overlaps|eigvec-stats RUN``: random-matrix checks of weight matrices and
Hessian eigenvectors of a recorded run (Haink 2023, ch. 4, 6.1, 7.1-7.6).  Each command runs the
analysis (:func:`landscope.spectra.run_svd_analysis` / ``run_overlaps_analysis`` /
``run_eigvec_stats_analysis``: results.json and arrays, data first) and then its figures
(:func:`landscope.plotting.plot_svd_results` / ...).  :func:`register_analyses` adds them."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import DType, NoProgress, fail, one_line_errors, open_run_or_fail

__all__ = ["eigvec_stats", "overlaps", "register_analyses", "svd"]


class ConvReshape(str, enum.Enum):
    """How conv kernels (out, in, kh, kw) become matrices (landscope.spectra.CONV_RESHAPES)."""

    thesis = "thesis"
    output = "output"
    per_position = "per_position"


class Criterion(str, enum.Enum):
    """Outlier criterion of the Marchenko-Pastur fit."""

    tracy_widom = "tracy_widom"
    edge = "edge"


RunDir = Annotated[Path, typer.Argument(help="a recorded run folder")]
Out = Annotated[Path, typer.Option("--out", "-o", help="folder for results.json, .npz, figures")]
StepOpt = Annotated[str, typer.Option("--step", help="recorded step: an integer, 'init' or 'last'")]
EvalSize = Annotated[
    int | None, typer.Option(help="Hessian on a seeded subset of this many training samples")
]
Seed = Annotated[int, typer.Option(help="seed of the sample subset")]
Precision = Annotated[DType, typer.Option(help="precision of the Hessian")]


def _step(text: str) -> int | str:
    if text in ("init", "last"):
        return text
    try:
        return int(text)
    except ValueError:
        fail(f"--step must be an integer, 'init' or 'last', got {text!r}")


def _layer_ok(run, layer: str | None) -> None:
    if layer is None or run.layout is None:
        return
    if layer not in run.layout.layers and layer not in run.layout.names:
        fail(
            f"--layer {layer!r} is not a layer or parameter of run {run.path}; layers: "
            f"{run.layout.layers}"
        )


def _finish(run, settings, analysis, plot, out: Path, no_progress: bool) -> None:
    try:
        with one_line_errors():
            results = analysis(run, settings, out, progress=not no_progress)
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\"").splitlines()[0])
    figures = plot(out)
    typer.echo(json.dumps(results["summary"], indent=1, default=str))
    typer.echo(f"{len(figures)} figures; results.json in {out}")


def svd(
    run_dir: RunDir,
    out: Out,
    layer: Annotated[
        list[str] | None,
        typer.Option(help="layer or parameter to analyse (repeatable; default: every matrix)"),
    ] = None,
    step: StepOpt = "last",
    conv: Annotated[ConvReshape, typer.Option(help="reshape of conv kernels")] = (
        ConvReshape.thesis
    ),
    criterion: Annotated[Criterion, typer.Option(help="outlier criterion")] = (
        Criterion.tracy_widom
    ),
    margin: Annotated[float, typer.Option(help="relative margin above lambda_+ for 'edge'")] = 0.0,
    bulk_removal: Annotated[
        bool, typer.Option(help="accuracy with the bulk singular values removed")
    ] = True,
    eval_size: Annotated[
        int | None, typer.Option(help="training samples for the accuracies (default all)")
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Singular values of the weight matrices (Haink ch. 4): Marchenko-Pastur fit (eq. 4.2) with
    outliers, level spacings against the Wigner surmise (eq. 4.3), accuracy with the bulk
    removed."""
    from landscope.plotting import plot_svd_results
    from landscope.spectra import SVDSettings, run_svd_analysis

    run = open_run_or_fail(run_dir)
    for name in layer or []:
        _layer_ok(run, name)
    try:
        settings = SVDSettings(
            step=_step(step),
            layers=layer or None,
            conv=conv.value,
            criterion=criterion.value,
            margin=margin,
            bulk_removal=bulk_removal,
            eval_size=eval_size,
        )
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    _finish(run, settings, run_svd_analysis, plot_svd_results, out, no_progress)


def overlaps(
    run_dir: RunDir,
    out: Out,
    layer: Annotated[
        str | None,
        typer.Option(help="weight parameter or its layer (default: largest with <= max-dense)"),
    ] = None,
    step: StepOpt = "last",
    pca_snapshots: Annotated[
        int, typer.Option(help="PCA over the last N recorded snapshots", min=3)
    ] = 500,
    max_dense: Annotated[int, typer.Option(help="largest dense layer Hessian", min=2)] = 3000,
    network_k: Annotated[
        int, typer.Option(help="whole-network Hessian eigenvectors for eq. 7.5 (0: skip)", min=0)
    ] = 40,
    eval_size: EvalSize = 512,
    seed: Seed = 0,
    dtype: Precision = DType.float64,
    no_progress: NoProgress = False,
) -> None:
    """Overlap maps of one weight matrix (Haink eq. 6.2, 7.4, 7.5, Fig. 7.1): PCs of weights and
    updates, singular matrices, its Hessian eigenvectors and the network's."""
    from landscope.plotting import plot_overlaps_results
    from landscope.spectra import OverlapsSettings, run_overlaps_analysis

    run = open_run_or_fail(run_dir)
    _layer_ok(run, layer)
    try:
        settings = OverlapsSettings(
            layer=layer,
            step=_step(step),
            pca_snapshots=pca_snapshots,
            max_dense=max_dense,
            network_k=network_k,
            eval_size=eval_size,
            seed=seed,
            dtype=dtype.value,
        )
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    _finish(run, settings, run_overlaps_analysis, plot_overlaps_results, out, no_progress)


def eigvec_stats(
    run_dir: RunDir,
    out: Out,
    layer: Annotated[
        str | None, typer.Option(help="a layer or parameter (default: the whole network)")
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option("--step", help="steps to analyse (repeatable; default: init and last)"),
    ] = None,
    max_dense: Annotated[int, typer.Option(help="largest dense Hessian", min=2)] = 3000,
    loss_lines: Annotated[int, typer.Option(help="top eigenvectors for eq. 7.6", min=0)] = 4,
    eval_size: EvalSize = 512,
    seed: Seed = 0,
    dtype: Precision = DType.float64,
    no_progress: NoProgress = False,
) -> None:
    """Hessian eigenvalue / eigenvector statistics (Haink sec. 7.5, 7.6): density, spacings,
    Porter-Thomas, layer shares, IPR, weight products, loss along eigenvectors (eq. 7.6)."""
    from landscope.plotting import plot_eigvec_stats_results
    from landscope.spectra import EigvecStatsSettings, run_eigvec_stats_analysis

    run = open_run_or_fail(run_dir)
    _layer_ok(run, layer)
    try:
        settings = EigvecStatsSettings(
            layer=layer,
            steps=[_step(s) for s in step] if step else ["init", "last"],
            max_dense=max_dense,
            loss_lines=loss_lines,
            eval_size=eval_size,
            seed=seed,
            dtype=dtype.value,
        )
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    _finish(run, settings, run_eigvec_stats_analysis, plot_eigvec_stats_results, out, no_progress)


def register_analyses(app: typer.Typer) -> None:
    """Add ``svd``, ``overlaps`` and ``eigvec-stats`` to ``app`` (under ``landscope analyze``)."""
    app.command()(svd)
    app.command()(overlaps)
    app.command("eigvec-stats")(eigvec_stats)
