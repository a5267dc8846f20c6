"""``landscope analyze interpolate / project / surface RUN_DIR``: Goodfellow, Vinyals & Saxe
(2015) on a recorded run -- the loss along lines and planes, the trajectory's projection --
writing arrays (.npz), JSON and PNG figures to ``--out``.

Each command is a module-level function; :func:`register_analyses` adds the three to an app (the root
adds them under ``landscope analyze``).  A command opens the run with the run service
(:func:`~landscope.cli._common.open_run_or_fail`, ``run.problems``, ``run.theta``,
``run.thetas``, ``run.values_at``), builds one :class:`~landscope.landscape.Evaluation` from its
flags, and leaves grids to the surfaces (``spec.default_grid()``) unless given.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from landscope.cli._common import DType, NoProgress, fail, open_run_or_fail

if TYPE_CHECKING:
    import numpy as np
    import torch

    from landscope.landscape import Evaluation
    from landscope.problem import Problem
    from landscope.runs import Run

__all__ = [
    "BatchNorm",
    "Metric",
    "OneDim",
    "PlaneKind",
    "interpolate",
    "project",
    "register_analyses",
    "surface",
]


class PlaneKind(str, enum.Enum):
    """The surfaces of ``surface --plane`` (Goodfellow et al. App. C, D; Li et al. 2018)."""

    alpha_beta = "alpha-beta"
    alpha_beta_plane = "alpha-beta-plane"
    random = "random"
    filter = "filter"
    alpha_random = "alpha-random"
    pca = "pca"


class BatchNorm(str, enum.Enum):
    """BatchNorm at each evaluated point (:data:`landscope.landscape.BN_MODES`)."""

    freeze = "freeze"
    recompute = "recompute"


class OneDim(str, enum.Enum):
    """Filter normalization of 1-D tensors (:data:`landscope.landscape.ONE_DIM_RULES`)."""

    zero = "zero"
    weights = "weights"
    normalize = "normalize"
    keep = "keep"


class Metric(str, enum.Enum):
    """The value a surface figure draws."""

    train_loss = "train_loss"
    test_loss = "test_loss"
    train_accuracy = "train_accuracy"
    test_accuracy = "test_accuracy"


# --- the options the commands share ----------------------------------------------------------------

RunDir = Annotated[Path, typer.Argument(help="a recorded run folder")]
Subset = Annotated[
    int | None, typer.Option(help="evaluate on a seeded subset of this many samples", min=1)
]
BN = Annotated[
    BatchNorm, typer.Option(help="BatchNorm: freeze (running stats) or recompute (per point)")
]
BatchPoints = Annotated[str, typer.Option(help="points per vmap batch, or auto")]
Precision = Annotated[DType | None, typer.Option(help="precision (default: the run's)")]
Every = Annotated[int, typer.Option(help="use every k-th recorded step of the trajectory", min=1)]


def _grid(text: str, name: str) -> np.ndarray:
    """``"START:STOP:NUM"`` -> ``np.linspace(START, STOP, NUM)``."""
    import numpy as np

    try:
        start, stop, num = text.split(":")
        start, stop, num = float(start), float(stop), int(num)
    except ValueError:
        fail(f"--{name} must be START:STOP:NUM (e.g. -0.5:1.5:41), got {text!r}")
    if num < 1:
        fail(f"--{name}: NUM must be positive, got {num}")
    return np.linspace(start, stop, num)


def _evaluation(
    subset: int | None, seed: int, bn: BatchNorm, batch_points: str, progress: bool
) -> Evaluation:
    """The one :class:`~landscope.landscape.Evaluation` of a command's flags."""
    from landscope.landscape import Evaluation

    if batch_points != "auto":
        try:
            batch_points = int(batch_points)
        except ValueError:
            fail(f"--batch-points must be a positive integer or auto, got {batch_points!r}")
    try:
        return Evaluation(
            subset=subset, seed=seed, bn=bn.value, batch_points=batch_points, progress=progress
        )
    except ValueError as exc:
        fail(str(exc))


def _problems(run: Run, dtype: DType | None) -> tuple[Problem, Problem | None]:
    """The run's (train, test) problems in ``dtype``; a run with fewer than two parameter
    vectors has no line to analyze."""
    if len(run.param_steps()) < 2:
        fail(f"run {run.path} recorded fewer than two parameter vectors")
    try:
        return run.problems(dtype=None if dtype is None else dtype.value)
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\""))


def _theta(run: Run, step: int | str, like: Problem) -> torch.Tensor:
    """theta(step) of ``run`` on ``like``'s device and dtype, or a one-line error."""
    try:
        return run.theta(step, like=like)
    except (KeyError, ValueError) as exc:
        fail(str(exc).strip("'\""))


def _trajectory(run: Run, every: int, last: int, like: Problem) -> tuple[list[int], torch.Tensor]:
    """Every ``every``-th recorded step up to ``last`` (always included) and theta there."""
    try:
        steps = run.select_steps(every=every, stop=last + 1)
    except ValueError as exc:
        fail(str(exc))
    return steps, run.thetas(steps, like=like)


def _write(out: Path, name: str, result, figure) -> list[str]:
    npz, js = result.save(out / name)
    written = [str(npz), str(js)]
    if figure is not None:
        from landscope.plotting import save_figure

        written.append(str(save_figure(figure, out / f"{name}.png")))
    return written


# --- interpolate -------------------------------------------------------------------------------------


def _start_point(
    run: Run, start: str, theta_b: torch.Tensor, like: Problem, seed: int, scale: float
):
    """``(theta_a, label)`` of ``--from``: ``init`` (the first recorded step), ``random`` (a
    random point of norm ``scale * ||theta_b||``) or a recorded step number.  ``--from`` takes
    a step number besides the two names, so it is parsed here rather than by an Enum."""
    from landscope.landscape import random_point

    if start == "init":
        return _theta(run, "init", like), "init -> solution"
    if start == "random":
        return random_point(theta_b, seed=seed, scale=scale), "random -> solution"
    try:
        step = int(start)
    except ValueError:
        fail(f"--from must be init, random or a step number, got {start!r}")
    return _theta(run, step, like), f"step {start} -> solution"


def interpolate(
    run_dir: RunDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
    alphas: Annotated[
        str, typer.Option(help="START:STOP:NUM of the line coordinate")
    ] = "-0.5:1.5:41",
    start: Annotated[
        str,
        typer.Option("--from", help="'init' (step 0), 'random' (a random point), or a step number"),
    ] = "init",
    end: Annotated[
        int | None, typer.Option("--to", help="the solution's step (default: the last)")
    ] = None,
    other_run: Annotated[
        Path | None,
        typer.Option(help="interpolate from this run's solution instead (two seeds, Fig. 5)"),
    ] = None,
    random_scale: Annotated[
        float, typer.Option(help="norm of the random point / norm of the solution")
    ] = 1.0,
    zoom: Annotated[bool, typer.Option(help="also the high-resolution tilings of Fig. 4")] = False,
    subset: Subset = None,
    seed: Annotated[int, typer.Option(help="seed of the subset and the random point")] = 0,
    bn: BN = BatchNorm.freeze,
    batch_points: BatchPoints = "auto",
    dtype: Precision = None,
    logy: Annotated[bool, typer.Option(help="log-scale loss axis")] = False,
    no_progress: NoProgress = False,
) -> None:
    """Loss and accuracy along the line J((1 - a) theta_0 + a theta_1) (Goodfellow et al.
    sec. 2-3): init -> solution by default, or --from random / --other-run RUN2."""
    from landscope.landscape import high_resolution_interpolations
    from landscope.landscape import interpolate as interpolate_line
    from landscope.plotting import plot_interpolation

    run = open_run_or_fail(run_dir)
    train, test = _problems(run, dtype)
    evaluation = _evaluation(subset, seed, bn, batch_points, progress=not no_progress)
    last = int(run.param_steps()[-1]) if end is None else end
    theta_b = _theta(run, last, train)
    if other_run is not None:
        theta_a = _theta(open_run_or_fail(other_run), "last", train)
        if theta_a.shape != theta_b.shape:
            fail(f"{other_run} has {theta_a.numel()} parameters, {run_dir} has {train.num_params}")
        label = "solution -> solution"
    else:
        theta_a, label = _start_point(run, start, theta_b, train, seed, random_scale)
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = interpolate_line(
            train,
            theta_a,
            theta_b,
            _grid(alphas, "alphas"),
            test_problem=test,
            evaluation=evaluation,
            label=label,
        )
    except (TypeError, ValueError) as exc:
        fail(str(exc))
    result.meta.update(
        {
            "run": str(run_dir),
            "to_step": last,
            "from": start if other_run is None else str(other_run),
        }
    )
    written = _write(out, "interpolation", result, plot_interpolation(result, logy=logy))
    summary = {
        "label": label,
        "distance": result.meta["distance"],
        "seconds": result.meta["seconds"],
    }
    if zoom:
        tiles = high_resolution_interpolations(
            train, theta_a, theta_b, test_problem=test, evaluation=evaluation
        )
        for name, res in tiles.items():
            title = f"alpha in [{res.alphas[0]}, {res.alphas[-1]}]"
            figure = plot_interpolation(res, splits=("train",), title=title)
            written += _write(out, f"interpolation_{name}", res, figure)
    (out / "interpolation_summary.json").write_text(json.dumps(summary, indent=2))
    typer.echo("\n".join(["wrote:", *written]))


# --- project -----------------------------------------------------------------------------------------


def project(
    run_dir: RunDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
    solution: Annotated[
        int | None, typer.Option(help="step of the solution theta_f (default: the last)")
    ] = None,
    every: Annotated[int, typer.Option(help="use every k-th recorded step", min=1)] = 1,
    seed: Annotated[int, typer.Option(help="seed of the random-walk control")] = 0,
) -> None:
    """The trajectory projected on the init -> solution line: alpha(t), beta(t) and
    beta(t) / ||theta(t)|| (Goodfellow et al. App. B, Fig. 11-13), with the random-walk
    control of Fig. 11 (same dimension and step norms)."""
    from landscope.config import resolve_device, resolve_dtype
    from landscope.plotting import plot_trajectory_projection
    from landscope.runs import Series
    from landscope.trajectory import project_trajectory, random_walk_control

    run = open_run_or_fail(run_dir)
    if len(run.param_steps()) < 2:
        fail(f"run {run_dir} recorded fewer than two parameter vectors")
    try:
        config = run.run_config()  # the run's dtype and device; no data is loaded
        dtype, device = resolve_dtype(config), resolve_device(config)
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
    steps = run.select_steps(every=every)
    traj = run.thetas(steps, dtype=dtype, device=device)
    target = steps[-1] if solution is None else solution
    if target not in steps:
        fail(
            f"--solution {target} is not an analyzed step (recorded steps every {every}: {steps[:3]}...)"
        )
    theta_f = traj[steps.index(target)]
    values = {}
    loss = run.values_at(Series.TRAIN_LOSS, steps)
    if loss is not None:
        values[Series.TRAIN_LOSS] = loss
    proj = project_trajectory(traj, traj[0], theta_f, steps=steps, values=values)
    control = random_walk_control(traj, seed=seed, solution_step=steps.index(target))
    out.mkdir(parents=True, exist_ok=True)
    written = _write(out, "projection", proj, plot_trajectory_projection(proj, controls=[control]))
    written += _write(out, "projection_random_walk", control, None)
    typer.echo(f"max beta / ||theta||: {float(max(proj.residual_ratio[1:])):.3f}")
    typer.echo("\n".join(["wrote:", *written]))


# --- surface -----------------------------------------------------------------------------------------


def _plane(
    kind: PlaneKind,
    theta_i: torch.Tensor,
    theta_f: torch.Tensor,
    trajectory: torch.Tensor,
    problem: Problem,
    seed: int,
    one_dim: OneDim,
):
    """The surface of ``--plane`` through the run's init, solution and trajectory; each owns its
    default grid (``extent``)."""
    from landscope import landscape as L

    if kind is PlaneKind.alpha_beta:
        return L.alpha_beta_surface(theta_i, theta_f, trajectory)
    if kind is PlaneKind.alpha_beta_plane:
        return L.alpha_beta_plane(theta_i, theta_f, trajectory)
    if kind is PlaneKind.alpha_random:
        return L.alpha_random_plane(theta_i, theta_f, seed=seed)
    if kind is PlaneKind.random:
        # directions as long as the way from init to solution: [-1, 1] spans that distance
        distance = float((theta_f - theta_i).double().norm())
        return L.random_plane(theta_f, seed=seed, norm=distance)
    if kind is PlaneKind.filter:
        return L.random_plane(
            theta_f,
            seed=seed,
            layout=problem.layout,
            normalization="filter",
            one_dim=one_dim.value,
        )
    return L.pca_plane(trajectory, origin=theta_f)


def surface(
    run_dir: RunDir,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="folder for .npz, .json, .png and the resumable grid"),
    ],
    plane: Annotated[PlaneKind, typer.Option(help="the surface")] = PlaneKind.alpha_beta,
    alphas: Annotated[
        str | None,
        typer.Option(help="START:STOP:NUM of the first axis (default: the surface's own)"),
    ] = None,
    betas: Annotated[
        str | None,
        typer.Option(help="START:STOP:NUM of the second axis (default: the surface's own)"),
    ] = None,
    solution: Annotated[
        int | None, typer.Option(help="step of the solution (default: the last)")
    ] = None,
    every: Every = 1,
    subset: Subset = None,
    seed: Annotated[int, typer.Option(help="seed of random directions and the subset")] = 0,
    one_dim: Annotated[
        OneDim, typer.Option(help="filter normalization of 1-D tensors")
    ] = OneDim.zero,
    bn: BN = BatchNorm.freeze,
    batch_points: BatchPoints = "auto",
    dtype: Precision = None,
    metric: Annotated[Metric, typer.Option(help="the value drawn")] = Metric.train_loss,
    log: Annotated[bool, typer.Option(help="draw log10 of the values")] = True,
    overwrite: Annotated[
        bool, typer.Option(help="restart the grid instead of resuming it")
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """The loss on a 2-D grid with the trajectory drawn on it (Goodfellow et al. App. C, D;
    Li et al. 2018).  Planes: alpha-beta (the paper's App. C surface), alpha-beta-plane (a
    true plane), random (Fig. 21), filter (filter-normalized random, Li et al.),
    alpha-random (Fig. 22), pca (top-2 principal directions of the trajectory).  The grid
    is resumable: rerunning the same command continues an interrupted one."""
    from landscope.landscape import evaluate_surface
    from landscope.plotting import plot_surface

    run = open_run_or_fail(run_dir)
    train, test = _problems(run, dtype)
    evaluation = _evaluation(subset, seed, bn, batch_points, progress=not no_progress)
    last = int(run.param_steps()[-1]) if solution is None else solution
    theta_f = _theta(run, last, train)
    steps, traj = _trajectory(run, every, last, train)
    try:
        spec = _plane(plane, traj[0], theta_f, traj, train, seed, one_dim)
    except ValueError as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = evaluate_surface(
            train,
            spec,
            None if alphas is None else _grid(alphas, "alphas"),
            None if betas is None else _grid(betas, "betas"),
            test_problem=test,
            trajectory=traj,
            evaluation=evaluation,
            store=out / f"grid_{plane.value}",
            overwrite=overwrite,
        )
    except (TypeError, ValueError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    if metric.value not in result.values:
        fail(f"--metric {metric.value} was not computed; computed: {sorted(result.values)}")
    result.meta.update({"run": str(run_dir), "plane": plane.value, "trajectory_steps": steps})
    name = f"surface_{plane.value}"
    written = _write(out, name, result, plot_surface(result, metric=metric.value, log=log))
    per_point = result.meta.get("seconds_per_point")
    typer.echo(
        f"{result.alphas.size} x {result.betas.size} points, {result.meta['seconds']:.1f} s"
        + (f" ({1e3 * per_point:.2f} ms/point)" if per_point else "")
    )
    typer.echo("\n".join(["wrote:", *written]))


def register_analyses(app: typer.Typer) -> None:
    """Add ``interpolate``, ``project`` and ``surface`` to ``app`` (the root app adds them under
    ``landscope analyze``)."""
    for command in (interpolate, project, surface):
        app.command()(command)
