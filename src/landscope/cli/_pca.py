"""``landscope analyze pca RUN`` and ``landscope analyze drift RUN``: principal components of a
recorded trajectory and its drift mode (Haink 2023, sec. 3.2, ch. 6).  Each command runs the
analysis (:func:`landscope.trajectory.run_pca_analysis` / ``run_drift_analysis``: results.json and
arrays, data first) and then its figures (:func:`landscope.plotting.plot_pca_results` /
``plot_drift_results``).  :func:`register_analyses` adds both commands to an app."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import DType, NoProgress, fail, one_line_errors, open_run_or_fail

__all__ = ["drift", "pca", "register_analyses"]


class PCAMethod(str, enum.Enum):
    exact = "exact"
    randomized = "randomized"
    krylov = "krylov"


class Target(str, enum.Enum):
    """What the PCA decomposes."""

    weights = "weights"
    updates = "updates"
    recorded_updates = "recorded_updates"


RunDir = Annotated[Path, typer.Argument(help="a recorded run folder")]
Out = Annotated[Path, typer.Option("--out", "-o", help="folder for results.json, .npz, figures")]
Layer = Annotated[
    str | None,
    typer.Option(help="module name of the layer (e.g. layers.2; default: the whole network)"),
]
Every = Annotated[int | None, typer.Option(help="use every N-th recorded params step", min=1)]
Start = Annotated[int | None, typer.Option(help="first step of the window")]
Stop = Annotated[int | None, typer.Option(help="end of the window (exclusive)")]
Last = Annotated[int | None, typer.Option(help="only the last N selected snapshots", min=3)]
HessianSamples = Annotated[
    int | None, typer.Option(help="Hessian on a seeded subset of this many training samples")
]
Seed = Annotated[int, typer.Option(help="seed of the sample subset / randomized method")]
Precision = Annotated[DType | None, typer.Option(help="precision (default: the run's)")]


def _layer_ok(run, layer: str | None) -> None:
    if layer is not None and run.layout is not None and layer not in run.layout.layers:
        fail(f"--layer {layer!r} is not a layer of run {run.path}; layers: {run.layout.layers}")


def _print(results: dict, figures) -> None:
    typer.echo(json.dumps(results["summary"], indent=1, default=str))
    typer.echo(f"{len(figures)} figures; results.json in the output folder")


def pca(
    run_dir: RunDir,
    out: Out,
    target: Annotated[Target, typer.Option(help="PCA of weights, updates or recorded updates")] = (
        Target.weights
    ),
    layer: Layer = None,
    components: Annotated[int, typer.Option(help="principal components kept", min=1)] = 20,
    method: Annotated[
        PCAMethod,
        typer.Option(
            help="exact: the T x T Gram matrix; randomized: randomized SVD (power iterations "
            "by scikit-learn's rule: 7, or 4 for many components); krylov: randomized block "
            "Krylov (4 blocks: about half the passes at the same accuracy)"
        ),
    ] = PCAMethod.exact,
    randomized: Annotated[bool, typer.Option(help="the same as --method randomized")] = False,
    every: Every = None,
    start: Start = None,
    stop: Stop = None,
    last: Last = None,
    rebuild: Annotated[bool, typer.Option(help="accuracy of weights rebuilt from the PCs")] = True,
    hessian_k: Annotated[
        int, typer.Option(help="top Hessian eigenvalues for sigma_i^2 vs h_i (0: skip)", min=0)
    ] = 0,
    hessian_max_samples: HessianSamples = 512,
    seed: Seed = 0,
    dtype: Precision = None,
    no_progress: NoProgress = False,
) -> None:
    """Trajectory PCA (Haink eq. 3.3-3.5): explained variance, projections theta_i(t), the first
    component's linear fit (eq. 6.4, 6.6), weights rebuilt from the first i components (eq. 6.3)
    and optionally sigma_i^2 against Hessian eigenvalues (eq. 3.8, 3.9)."""
    from landscope.plotting import plot_pca_results
    from landscope.trajectory import PCASettings, run_pca_analysis

    run = open_run_or_fail(run_dir)
    _layer_ok(run, layer)
    try:
        settings = PCASettings(
            layer=layer,
            target=target.value,
            n_components=components,
            method="randomized" if randomized else method.value,
            every=every,
            start=start,
            stop=stop,
            last=last,
            rebuild=rebuild,
            hessian_k=hessian_k,
            hessian_max_samples=hessian_max_samples,
            seed=seed,
            dtype=None if dtype is None else dtype.value,
        )
        with one_line_errors():
            results = run_pca_analysis(run, settings, out, progress=not no_progress)
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\"").splitlines()[0])
    _print(results, plot_pca_results(out))


def drift(
    run_dir: RunDir,
    out: Out,
    layer: Layer = None,
    every: Every = None,
    start: Start = None,
    stop: Stop = None,
    last: Last = None,
    hessian_k: Annotated[
        int, typer.Option(help="Hessian eigenpairs of the quadratic model (0: skip)", min=0)
    ] = 10,
    hessian_max_samples: HessianSamples = 512,
    line_span: Annotated[
        float, typer.Option(help="loss along p_1 for delta in +-span x |w(T) . p_1|")
    ] = 1.0,
    scale_max: Annotated[float, typer.Option(help="largest alpha of L(alpha w)")] = 3.0,
    loss_max_samples: Annotated[
        int | None, typer.Option(help="loss curves on a subset of this many training samples")
    ] = None,
    seed: Seed = 0,
    dtype: Precision = None,
    no_progress: NoProgress = False,
) -> None:
    """The drift mode (Haink sec. 6.3-6.5): linear fit of theta_1(t) (eq. 6.4, 6.6), sigma^2 vs
    window length (eq. 6.7), the quadratic-model prediction (eq. 6.11-6.13), the loss along the
    drift (Fig. 6.6) and the loss scaling L(alpha w) (eq. 6.14, Fig. 6.7)."""
    from landscope.plotting import plot_drift_results
    from landscope.trajectory import DriftSettings, run_drift_analysis

    run = open_run_or_fail(run_dir)
    _layer_ok(run, layer)
    try:
        settings = DriftSettings(
            layer=layer,
            every=every,
            start=start,
            stop=stop,
            last=last,
            hessian_k=hessian_k,
            hessian_max_samples=hessian_max_samples,
            line_span=line_span,
            scale_max=scale_max,
            loss_max_samples=loss_max_samples,
            seed=seed,
            dtype=None if dtype is None else dtype.value,
        )
        with one_line_errors():
            results = run_drift_analysis(run, settings, out, progress=not no_progress)
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\"").splitlines()[0])
    _print(results, plot_drift_results(out))


def register_analyses(app: typer.Typer) -> None:
    """Add ``pca`` and ``drift`` to ``app`` (the root app adds them under ``landscope analyze``)."""
    app.command()(pca)
    app.command()(drift)
