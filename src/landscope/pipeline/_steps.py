"""The built-in steps of ``landscope run``: the analyses that existed before the step contract
(Hessian spectrum, top-subspace tracking, the loss along the init -> solution line with the
trajectory's projection, the cost surface with the trajectory), wrapped in it, and the
analyses written to the contract (``run_X_analysis`` / ``plot_X_results``), named by
reference so that none is imported before a config asks for it.

Each wrapper's compute writes ``results.json`` (``analysis``, ``title``, ``paper``,
``settings``, ``summary``, ``provenance``) and raw arrays (``.npz`` with a ``.json`` twin) and
nothing else; its plot reads only those files, draws in :func:`landscope.plotting.style_context`
and saves PNG + SVG with :func:`landscope.plotting.save_figure_formats`, then writes
``figures.json``.  The settings' defaults fit the default digits MLP (p = 17,610) in seconds on
a 2-core CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from landscope._results_io import load_arrays, save_arrays, write_json_atomic
from landscope.pipeline._registry import Step, register_step

if TYPE_CHECKING:
    from landscope.plotting import SavedFigure
    from landscope.runs import Run

__all__ = [
    "HessianSettings",
    "InterpolationSettings",
    "SubspaceSettings",
    "SurfaceSettings",
    "compute_hessian",
    "compute_interpolation",
    "compute_subspace",
    "compute_surface",
    "plot_hessian",
    "plot_interpolation_results",
    "plot_subspace",
    "plot_surface_results",
]

DType = Literal["float32", "float64"] | None


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _write_results(
    out_dir: Path,
    *,
    analysis: str,
    title: str,
    paper: str,
    settings: BaseModel,
    summary: dict,
    run: Run,
    steps: list[int],
    started: float,
    **extra: Any,
) -> dict:
    results = {
        "analysis": analysis,
        "title": title,
        "paper": paper,
        "settings": settings.model_dump(mode="json"),
        "summary": summary,
        "provenance": {
            "run": str(run.path),
            "steps": [int(s) for s in steps],
            "seconds": time.perf_counter() - started,
        },
        **extra,
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


def _read_results(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "results.json").read_text())


def _save(fig, out_dir: Path, stem: str, caption: str, paper_figure: str | None) -> SavedFigure:
    from landscope.plotting import SavedFigure, save_figure_formats

    png, svg = save_figure_formats(fig, Path(out_dir) / stem)
    return SavedFigure(png.name, caption, paper_figure, svg.name)


def _finish(out_dir: Path, figures: list[SavedFigure]) -> list[SavedFigure]:
    from landscope.plotting import write_figure_index

    write_figure_index(out_dir, figures)
    return figures


def _problem(run: Run, dtype: str | None, split: str = "train"):
    train, test = run.problems(dtype=dtype)
    problem = train if split == "train" else test
    if problem is None:
        raise ValueError(f"run {run.path} has no test split (split: test)")
    return train, test, problem


def _fmt(x: float) -> str:
    return f"{x:.4g}"


# --- Hessian spectrum ----------------------------------------------------------------------------


class HessianSettings(_Settings):
    """The top of the Hessian spectrum at one recorded step (``landscope hessian``)."""

    top_k: int = Field(20, ge=1, description="number of top eigenpairs (Lanczos)")
    step: int | None = Field(None, description="recorded step (default: the last)")
    split: Literal["train", "test"] = Field("train", description="the loss' dataset split")
    which: Literal["LA", "LM", "SA"] = Field("LA", description="end of the spectrum")
    layer: str | None = Field(None, description="one layer's block of the Hessian (Haink 7.5)")
    tol: float = Field(1e-6, gt=0, description="relative residual tolerance")
    backend: Literal["auto", "autograd", "structured"] = "auto"
    dtype: DType = Field(None, description="precision (default: the run's)")
    seed: int = Field(0, description="seed of the Lanczos start vector and of the probes")
    trace_probes: int = Field(100, ge=0, description="Hutchinson probes (0: no trace)")
    density_probes: int = Field(10, ge=0, description="SLQ probes (0: no spectral density)")
    lanczos_steps: int = Field(80, ge=2, description="SLQ Lanczos steps per probe")


def compute_hessian(
    run: Run, settings: HessianSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """Top-k Hessian eigenpairs (Lanczos, explicit residuals; Gur-Ari et al. App. A), the trace
    (Hutchinson) and the spectral density (SLQ, Ghorbani et al. 2019) at one recorded step;
    writes ``eigenpairs.npz`` (eigenvalues (k,), residual norms (k,), eigenvectors (k, dim)),
    ``density.npz`` and ``results.json``."""
    from landscope.curvature import (
        DensitySettings,
        HessianOperator,
        SummarySettings,
        TraceSettings,
        curvature_summary,
        top_eigenpairs,
    )
    from landscope.spectra import count_outliers, fix_sign, layer_shares

    started = time.perf_counter()
    s = settings
    _, _, problem = _problem(run, s.dtype, s.split)
    step = run.select_steps(steps=None if s.step is None else [s.step])[-1]
    theta = run.theta(step, like=problem)
    summary = curvature_summary(
        problem,
        theta,
        SummarySettings(
            top_k=s.top_k,
            which=s.which,
            layer=s.layer,
            tol=s.tol,
            backend=s.backend,
            seed=s.seed,
            trace=TraceSettings(probes=s.trace_probes) if s.trace_probes else None,
            density=DensitySettings(probes=s.density_probes, lanczos_steps=s.lanczos_steps)
            if s.density_probes
            else None,
        ),
    )
    # the eigenvectors (curvature_summary returns values only): same operator, start, tolerance
    op = HessianOperator(problem, theta, params=s.layer, backend=s.backend)
    eig = top_eigenpairs(op, s.top_k, which=s.which, tol=s.tol, seed=s.seed)
    vectors = np.stack([fix_sign(v) for v in eig.eigenvectors.T.cpu().double().numpy()])
    lam = np.asarray(summary["eigenvalues"])
    save_arrays(
        out_dir / "eigenpairs",
        {
            "eigenvalues": lam,
            "residual_norms": np.asarray(summary["residual_norms"]),
            "eigenvectors": vectors.astype(np.float32),
        },
        {"step": step, "split": s.split, "layer": s.layer, "which": s.which},
        json_exclude=("eigenvectors",),
    )
    table: dict[str, Any] = {
        "step": step,
        "parameters (dim)": summary["dim"],
        "samples": summary["num_samples"],
        "lambda_1": _fmt(lam[0]),
        f"lambda_{len(lam)}": _fmt(lam[-1]),
        "eigenpairs converged": f"{sum(summary['converged'])} / {len(lam)}",
    }
    if s.which == "LA" and len(lam) > 2:
        table["outliers in the top-k (largest gap)"] = count_outliers(
            lam, max_outliers=len(lam) - 1
        )
    extra: dict[str, Any] = {"curvature": {k: v for k, v in summary.items() if k != "density"}}
    if "trace" in summary:
        t = summary["trace"]
        table["trace (Hutchinson)"] = f"{t['estimate']:.4g} +- {t['standard_error']:.2g}"
    if "density" in summary:
        d = summary["density"]
        save_arrays(
            out_dir / "density",
            {k: np.asarray(d[k]) for k in ("grid", "density", "nodes", "weights")},
            {k: v for k, v in d.items() if k not in ("grid", "density", "nodes", "weights")},
        )
        table["trace (SLQ)"] = f"{d['trace_estimate']:.4g} +- {d['trace_standard_error']:.2g}"
    table["Hessian-vector products"] = summary["num_hvps"] + eig.num_matvecs
    table["backend"] = summary["backend"]
    if s.layer is None and run.layout is not None:
        shares = layer_shares(vectors[0], run.layout)
        extra["top_eigenvector_layer_shares"] = shares
        extra["layout"] = run.layout.to_dicts()
    return _write_results(
        out_dir,
        analysis="hessian",
        title="Hessian spectrum",
        paper="Gur-Ari et al. 2018, sec. 2 and App. A (Fig. 4-6); Haink 2023, sec. 7.5",
        settings=s,
        summary=table,
        run=run,
        steps=[step],
        started=started,
        **extra,
    )


def plot_hessian(out_dir: Path) -> list[SavedFigure]:
    """The top-k eigenvalues, the SLQ spectral density and the top eigenvector by layer."""
    from landscope.plotting import new_figure, plot_eigenvector_by_layer, style_context
    from landscope.problem import ParameterLayout

    out_dir = Path(out_dir)
    results = _read_results(out_dir)
    arrays, meta = load_arrays(out_dir / "eigenpairs")
    lam = arrays["eigenvalues"]
    figures = []
    with style_context():
        fig = new_figure(4.8, 3.2)
        ax = fig.subplots()
        idx = np.arange(1, lam.size + 1)
        ax.plot(idx, lam, "o", ms=4, color="C0", label="Lanczos eigenvalue")
        if np.all(lam > 0):
            ax.set_yscale("log")
        n_out = results["summary"].get("outliers in the top-k (largest gap)")
        if n_out:
            ax.axvline(n_out + 0.5, color="C1", ls="--", lw=1, label=f"largest gap ({n_out})")
        ax.set_xlabel("eigenvalue index i")
        ax.set_ylabel(r"Hessian eigenvalue $\lambda_i$ (loss / param$^2$)")
        ax.set_title(f"Top {lam.size} Hessian eigenvalues, step {meta['step']}")
        ax.legend()
        figures.append(
            _save(
                fig,
                out_dir,
                "top_eigenvalues",
                f"The {lam.size} largest Hessian eigenvalues of the full-dataset {meta['split']} "
                f"loss at step {meta['step']} (Lanczos on exact Hessian-vector products); the "
                "dashed line marks the largest gap, the outliers above the bulk.",
                "Gur-Ari Fig. 4 (top of the spectrum)",
            )
        )
        if (out_dir / "density.npz").exists():
            d, _ = load_arrays(out_dir / "density")
            fig = new_figure(4.8, 3.2)
            ax = fig.subplots()
            ax.plot(d["grid"], np.maximum(d["density"], 1e-12), color="C0", label="SLQ density")
            ax.plot(lam, np.full(lam.size, 1e-12), "|", ms=10, color="C1", label="top-k (Lanczos)")
            ax.set_yscale("log")
            ax.set_ylim(bottom=max(1e-8, float(np.max(d["density"])) * 1e-7))
            ax.set_xlabel(r"eigenvalue $\lambda$ (loss / param$^2$)")
            ax.set_ylabel("spectral density")
            ax.set_title("Hessian spectral density")
            ax.legend()
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "spectral_density",
                    "Spectral density of the Hessian (stochastic Lanczos quadrature, Gaussian "
                    "smoothing), log scale: a bulk near zero and a few outliers; ticks at the "
                    "Lanczos top eigenvalues.",
                    "Gur-Ari Fig. 4-5 (spectrum)",
                )
            )
        if "layout" in results:
            layout = ParameterLayout.from_dicts(results["layout"])
            fig = plot_eigenvector_by_layer(arrays["eigenvectors"][0], layout)
            figures.append(
                _save(
                    fig,
                    out_dir,
                    "top_eigenvector_by_layer",
                    "Entries of the top Hessian eigenvector against the parameter index, "
                    "coloured by parameter tensor: where in the network the sharpest "
                    "direction lives.",
                    "Gur-Ari Fig. 6",
                )
            )
    return _finish(out_dir, figures)


# --- top-subspace tracking -----------------------------------------------------------------------


class SubspaceSettings(_Settings):
    """Gur-Ari et al.'s top-subspace measures along the run (``landscope analyze subspace``)."""

    source: Literal["auto", "online", "offline"] = Field(
        "auto", description="online: the run's top_subspace tracker; auto: online if recorded"
    )
    k: int | None = Field(None, ge=1, description="subspace dimension (default: classes)")
    measurements: int = Field(8, ge=2, description="offline: evenly spaced recorded steps")
    max_samples: int | None = Field(None, ge=1, description="Hessian on a seeded subset")
    tol: float = Field(1e-5, gt=0, description="eigenpair relative residual tolerance")
    dtype: DType = None
    last: int = Field(1000, ge=1, description="Table 1: mean overlap over the last N steps")
    seed: int = Field(0, description="seed of the random control vectors")


def compute_subspace(
    run: Run, settings: SubspaceSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """f_top (eq. 2), overlap(g, Hg) (eq. 3) with random controls, c_i^2 (eq. 12), top
    eigenvalues and the subspace overlaps between measured steps (eq. 5); writes
    ``subspace.npz/.json`` and ``results.json``."""
    from landscope.runs import analysis_series
    from landscope.subspace import analyze_run, read_tracked

    started = time.perf_counter()
    s = settings
    online = analysis_series("top_subspace", "fraction") in run
    if s.source == "online" and not online:
        raise ValueError(f"run {run.path} has no top_subspace online analysis (source: online)")
    if s.source == "online" or (s.source == "auto" and online):
        analysis = read_tracked(run)
    else:
        recorded = run.param_steps()
        picks = np.unique(np.linspace(0, len(recorded) - 1, s.measurements).round().astype(int))
        analysis = analyze_run(
            run.path,
            steps=[int(recorded[i]) for i in picks],
            k=s.k,
            dtype=s.dtype,
            max_samples=s.max_samples,
            tol=s.tol,
            seed=s.seed,
            progress=progress,
        )
    analysis.save(out_dir / "subspace")
    window = analysis.mean_over_last("overlap", s.last)
    table = {
        "source": analysis.meta.get("source"),
        "k": analysis.k,
        "measurements": len(analysis.steps),
        "steps": f"{int(analysis.steps[0])} - {int(analysis.steps[-1])}",
        "final f_top (eq. 2)": _fmt(float(analysis["fraction"][-1])),
        "mean overlap(g, Hg) (eq. 3)": _fmt(window.value),
        "overlap window": window.describe(),
        "final lambda_1": _fmt(float(analysis.eigenvalues[-1][0])),
        f"final lambda_{analysis.k}": _fmt(float(analysis.eigenvalues[-1][analysis.k - 1])),
    }
    return _write_results(
        out_dir,
        analysis="subspace",
        title="Top Hessian subspace during training",
        paper="Gur-Ari, Roberts & Dyer 2018, sec. 2 (Fig. 1-3, 8, 11; Table 1)",
        settings=s,
        summary=table,
        run=run,
        steps=[int(t) for t in analysis.steps],
        started=started,
        mean_overlap_window=window.as_dict(),
    )


def plot_subspace(out_dir: Path) -> list[SavedFigure]:
    """Gur-Ari Fig. 1, 2, 3, 8 and 11 from ``subspace.npz``."""
    from landscope.plotting import (
        plot_eigenvalues_over_training,
        plot_eigenvector_weights,
        plot_overlap_by_dimension,
        plot_subspace_overlap_grid,
        plot_top_subspace_fraction,
        style_context,
    )
    from landscope.subspace import SubspaceAnalysis

    out_dir = Path(out_dir)
    a = SubspaceAnalysis.load(out_dir / "subspace")
    k = a.k
    figures = []
    with style_context():
        figures.append(
            _save(
                plot_top_subspace_fraction(a),
                out_dir,
                "fig1_fraction",
                f"Fraction of the gradient in the top-{k} Hessian subspace, f_top (eq. 2), and "
                "overlap(g, Hg) (eq. 3) against the training step, with random-vector controls.",
                "Gur-Ari Fig. 1",
            )
        )
        figures.append(
            _save(
                plot_eigenvalues_over_training(a),
                out_dir,
                "fig8_eigenvalues",
                f"The top {k} Hessian eigenvalues against the training step.",
                "Gur-Ari Fig. 8",
            )
        )
        chosen = [int(t) for t in a.steps[:: max(1, len(a.steps) // 4)]][:4]
        figures.append(
            _save(
                plot_eigenvector_weights(a, chosen),
                out_dir,
                "fig11_weights",
                "c_i^2 (eq. 12): the squared overlap of the normalized gradient with each top "
                f"eigenvector, at steps {', '.join(map(str, chosen))}.",
                "Gur-Ari Fig. 11",
            )
        )
        if a.eigenvectors is not None and len(a.eigenvectors) >= 2:
            figures.append(
                _save(
                    plot_subspace_overlap_grid(a),
                    out_dir,
                    "fig2_subspace_overlap",
                    f"Overlap (eq. 5) of the top-{k} subspaces at every pair of measured steps: "
                    "the subspace settles early and then barely moves.",
                    "Gur-Ari Fig. 2",
                )
            )
            figures.append(
                _save(
                    plot_overlap_by_dimension(a),
                    out_dir,
                    "fig3_overlap_by_dimension",
                    "Subspace overlap between an early and later steps against the subspace "
                    "dimension: the top-k subspace (k = number of classes) is the stable one.",
                    "Gur-Ari Fig. 3",
                )
            )
    return _finish(out_dir, figures)


# --- the init -> solution line and the trajectory's projection on it ----------------------------


class InterpolationSettings(_Settings):
    """The loss along theta(alpha) = (1 - alpha) theta_0 + alpha theta_T (Goodfellow sec. 2-3)
    and the trajectory projected on that line (App. B)."""

    start: float = Field(-0.5, description="first alpha")
    stop: float = Field(1.5, description="last alpha")
    num: int = Field(41, ge=2, description="points on the line (alpha = 0 and 1 are added)")
    subset: int | None = Field(None, ge=1, description="evaluate on a seeded sample subset")
    seed: int = Field(0, description="seed of the subset and the random-walk control")
    bn: Literal["freeze", "recompute"] = "freeze"
    dtype: DType = None
    projection_every: int = Field(1, ge=1, description="every k-th recorded step projected")
    logy: bool = Field(False, description="log-scale loss axis")


def compute_interpolation(
    run: Run, settings: InterpolationSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """Train / test loss and accuracy along the line from theta(0) to the last recorded theta
    (Goodfellow et al. sec. 2-3, Fig. 1-3) and alpha(t), beta(t) of the trajectory (App. B,
    Fig. 11-13, with the random-walk control of Fig. 11); writes ``interpolation``,
    ``projection`` and ``projection_random_walk`` (.npz/.json) and ``results.json``."""
    from landscope.landscape import Evaluation, barrier_height, interpolate
    from landscope.runs import Series
    from landscope.trajectory import project_trajectory, random_walk_control

    started = time.perf_counter()
    s = settings
    if len(run.param_steps()) < 2:
        raise ValueError(f"run {run.path} recorded fewer than two parameter vectors")
    train, test, _ = _problem(run, s.dtype)
    last = int(run.param_steps()[-1])
    theta_0, theta_t = run.theta("init", like=train), run.theta(last, like=train)
    evaluation = Evaluation(subset=s.subset, seed=s.seed, bn=s.bn, progress=progress)
    line = interpolate(
        train,
        theta_0,
        theta_t,
        np.union1d(np.linspace(s.start, s.stop, s.num), [0.0, 1.0]),  # both ends always on it
        test_problem=test,
        evaluation=evaluation,
        label="init -> solution",
    )
    line.meta.update({"run": str(run.path), "to_step": last})
    line.save(out_dir / "interpolation")
    steps = run.select_steps(every=s.projection_every)
    trajectory = run.thetas(steps, like=train)
    values = {}
    loss = run.values_at(Series.TRAIN_LOSS, steps)
    if loss is not None:
        values[Series.TRAIN_LOSS] = loss
    proj = project_trajectory(trajectory, trajectory[0], trajectory[-1], steps=steps, values=values)
    control = random_walk_control(trajectory, seed=s.seed, solution_step=len(steps) - 1)
    proj.save(out_dir / "projection")
    control.save(out_dir / "projection_random_walk")
    alphas, loss_line = line.alphas, line["train_loss"]
    at = {a: float(np.interp(a, alphas, loss_line)) for a in (0.0, 1.0)}
    table = {
        "distance ||theta_T - theta_0||": _fmt(float(line.meta["distance"])),
        "train loss at alpha = 0": _fmt(at[0.0]),
        "train loss at alpha = 1": _fmt(at[1.0]),
        "lowest train loss on the line": f"{_fmt(float(loss_line.min()))} at alpha = "
        f"{float(alphas[int(np.argmin(loss_line))]):.3g}",
        "barrier height (train loss)": _fmt(barrier_height(line)),
        "max beta / ||theta|| (App. B)": _fmt(float(np.max(proj.residual_ratio[1:]))),
        "points": int(alphas.size),
    }
    return _write_results(
        out_dir,
        analysis="interpolation",
        title="Loss along the line from initialization to solution",
        paper="Goodfellow, Vinyals & Saxe 2015, sec. 2-3 (Fig. 1-3) and App. B (Fig. 11-13)",
        settings=s,
        summary=table,
        run=run,
        steps=[0, last],
        started=started,
    )


def plot_interpolation_results(out_dir: Path) -> list[SavedFigure]:
    """The loss along the line and the trajectory's projection on it."""
    from landscope.landscape import InterpolationResult
    from landscope.plotting import plot_interpolation, plot_trajectory_projection, style_context
    from landscope.trajectory import TrajectoryProjection

    out_dir = Path(out_dir)
    results = _read_results(out_dir)
    line = InterpolationResult.load(out_dir / "interpolation")
    proj = TrajectoryProjection.load(out_dir / "projection")
    control = TrajectoryProjection.load(out_dir / "projection_random_walk")
    figures = []
    with style_context():
        figures.append(
            _save(
                plot_interpolation(line, logy=bool(results["settings"].get("logy"))),
                out_dir,
                "interpolation",
                "Train and test loss (and error) along theta(alpha) = (1 - alpha) theta_0 + "
                "alpha theta_T, from the initialization (alpha = 0) to the solution (alpha = 1) "
                "and beyond.",
                "Goodfellow Fig. 1-2",
            )
        )
        figures.append(
            _save(
                plot_trajectory_projection(proj, controls=[control]),
                out_dir,
                "projection",
                "The training trajectory projected on the init -> solution line: alpha(t) "
                "against the residual norm beta(t), beside a random walk of the same dimension "
                "and step norms (the control of Fig. 11).",
                "Goodfellow Fig. 11-13 (App. B)",
            )
        )
    return _finish(out_dir, figures)


# --- the cost surface with the trajectory -------------------------------------------------------

Plane = Literal["alpha-beta", "alpha-beta-plane", "random", "filter", "alpha-random", "pca"]


class SurfaceSettings(_Settings):
    """The loss on a 2-D grid with the trajectory drawn on it (Goodfellow App. C, D)."""

    plane: Plane = Field("alpha-beta", description="the surface (landscope analyze surface)")
    num: int = Field(21, ge=2, description="grid points per axis (the plane's default extent)")
    every: int = Field(1, ge=1, description="every k-th recorded step of the trajectory")
    subset: int | None = Field(None, ge=1, description="evaluate on a seeded sample subset")
    seed: int = Field(0, description="seed of random directions and of the subset")
    one_dim: Literal["zero", "weights", "normalize", "keep"] = "zero"
    bn: Literal["freeze", "recompute"] = "freeze"
    dtype: DType = None
    metric: Literal["train_loss", "test_loss", "train_accuracy", "test_accuracy"] = "train_loss"
    log: bool = Field(True, description="draw log10 of the metric")


def _plane(kind: str, theta_i, theta_f, trajectory, problem, seed: int, one_dim: str):
    """The surface ``kind`` through the run's init, solution and trajectory (the same choices
    as ``landscope analyze surface --plane``)."""
    from landscope import landscape as L

    if kind == "alpha-beta":
        return L.alpha_beta_surface(theta_i, theta_f, trajectory)
    if kind == "alpha-beta-plane":
        return L.alpha_beta_plane(theta_i, theta_f, trajectory)
    if kind == "alpha-random":
        return L.alpha_random_plane(theta_i, theta_f, seed=seed)
    if kind == "random":
        distance = float((theta_f - theta_i).double().norm())
        return L.random_plane(theta_f, seed=seed, norm=distance)
    if kind == "filter":
        return L.random_plane(
            theta_f, seed=seed, layout=problem.layout, normalization="filter", one_dim=one_dim
        )
    return L.pca_plane(trajectory, origin=theta_f)


def compute_surface(
    run: Run, settings: SurfaceSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """The loss (and accuracy) on a ``num x num`` grid of the chosen surface with the trajectory
    on it (Goodfellow et al. App. C, Fig. 14-20; App. D, Fig. 21-22); the grid is evaluated
    into a resumable store (``grid/``) so an interrupted step continues; writes
    ``surface.npz/.json`` and ``results.json``."""
    from landscope.landscape import Evaluation, evaluate_surface

    started = time.perf_counter()
    s = settings
    if len(run.param_steps()) < 2:
        raise ValueError(f"run {run.path} recorded fewer than two parameter vectors")
    train, test, _ = _problem(run, s.dtype)
    steps = run.select_steps(every=s.every)
    trajectory = run.thetas(steps, like=train)
    spec = _plane(s.plane, trajectory[0], trajectory[-1], trajectory, train, s.seed, s.one_dim)
    alphas, betas = spec.default_grid(s.num)
    result = evaluate_surface(
        train,
        spec,
        alphas,
        betas,
        test_problem=test,
        trajectory=trajectory,
        evaluation=Evaluation(subset=s.subset, seed=s.seed, bn=s.bn, progress=progress),
        store=out_dir / "grid",
    )
    if s.metric not in result.values:
        raise ValueError(
            f"metric {s.metric} was not computed; computed: {sorted(result.values)} "
            "(pipeline.analyses.surface.metric)"
        )
    result.meta.update({"run": str(run.path), "plane": s.plane, "trajectory_steps": steps})
    result.save(out_dir / "surface")
    values = result.values[s.metric]
    table = {
        "surface": s.plane,
        "grid": f"{alphas.size} x {betas.size}",
        f"lowest {s.metric} on the grid": _fmt(float(np.nanmin(values))),
        f"highest {s.metric} on the grid": _fmt(float(np.nanmax(values))),
        "trajectory points": len(steps),
        "seconds per point": _fmt(float(result.meta.get("seconds_per_point") or float("nan"))),
    }
    return _write_results(
        out_dir,
        analysis="surface",
        title="Cost surface with the training trajectory",
        paper="Goodfellow, Vinyals & Saxe 2015, App. C (Fig. 14-20) and D (Fig. 21-22)",
        settings=s,
        summary=table,
        run=run,
        steps=steps,
        started=started,
    )


def plot_surface_results(out_dir: Path) -> list[SavedFigure]:
    from landscope.landscape import SurfaceResult
    from landscope.plotting import plot_surface, style_context

    out_dir = Path(out_dir)
    results = _read_results(out_dir)
    s = results["settings"]
    result = SurfaceResult.load(out_dir / "surface")
    paper = {
        "alpha-beta": "Goodfellow Fig. 14-20 (App. C)",
        "alpha-beta-plane": "Goodfellow App. C",
        "random": "Goodfellow Fig. 21 (App. D)",
        "alpha-random": "Goodfellow Fig. 22 (App. D)",
    }.get(s["plane"])
    what = ("log10 " if s["log"] else "") + s["metric"].replace("_", " ")
    with style_context():
        fig = plot_surface(result, metric=s["metric"], log=s["log"])
        figures = [
            _save(
                fig,
                out_dir,
                f"surface_{s['plane']}",
                f"{what.capitalize()} on the {s['plane']} surface ({result.alphas.size} x "
                f"{result.betas.size} grid) as contours and in 3-D, with the training "
                "trajectory drawn on it.",
                paper,
            )
        ]
    return _finish(out_dir, figures)


# --- the registry ------------------------------------------------------------------------------

_M = "landscope.pipeline._steps"
_P = "landscope.plotting"
for _step in (
    # wrapped here (they existed before the contract)
    Step("subspace", "Top Hessian subspace during training", f"{_M}:SubspaceSettings",
         f"{_M}:compute_subspace", f"{_M}:plot_subspace"),
    Step("hessian", "Hessian spectrum", f"{_M}:HessianSettings", f"{_M}:compute_hessian",
         f"{_M}:plot_hessian"),
    Step("interpolation", "Loss along the line from initialization to solution",
         f"{_M}:InterpolationSettings", f"{_M}:compute_interpolation",
         f"{_M}:plot_interpolation_results"),
    Step("surface", "Cost surface with the training trajectory", f"{_M}:SurfaceSettings",
         f"{_M}:compute_surface", f"{_M}:plot_surface_results"),
    # written to the contract in their own packages (imported when a config names them)
    Step("diffusion", "Diffusion map of the SGD iterates", "landscope.diffusion:DiffusionSettings",
         "landscope.diffusion:run_diffusion_analysis", f"{_P}:plot_diffusion_results",
         extra="diffusion"),
    Step("pca", "PCA of the weight trajectory", "landscope.trajectory:PCASettings",
         "landscope.trajectory:run_pca_analysis", f"{_P}:plot_pca_results"),
    Step("drift", "Drift mode of the trajectory", "landscope.trajectory:DriftSettings",
         "landscope.trajectory:run_drift_analysis", f"{_P}:plot_drift_results"),
    Step("svd", "Singular values of the weight matrices", "landscope.spectra:SVDSettings",
         "landscope.spectra:run_svd_analysis", f"{_P}:plot_svd_results"),
    Step("overlaps", "Overlaps of principal components, singular vectors and Hessian "
         "eigenvectors", "landscope.spectra:OverlapsSettings",
         "landscope.spectra:run_overlaps_analysis", f"{_P}:plot_overlaps_results"),
    Step("eigvec-stats", "Statistics of the Hessian eigenvectors",
         "landscope.spectra:EigvecStatsSettings", "landscope.spectra:run_eigvec_stats_analysis",
         f"{_P}:plot_eigvec_stats_results"),
    Step("forgetting", "Catastrophic forgetting on split tasks",
         "landscope.forgetting:ForgettingSettings",
         "landscope.forgetting:run_forgetting_analysis", f"{_P}:plot_forgetting_results"),
):  # fmt: skip
    register_step(_step)
