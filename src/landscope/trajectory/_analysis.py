"""The ``pca`` and ``drift`` analyses of a recorded run (Haink 2023, sec. 3.2, 6.2-6.5, 7.1),
in the analysis contract: a settings model and ``run_X_analysis(run, settings, out_dir)`` that
writes ``results.json`` (with a flat ``summary``) and the raw arrays, data first.

- ``pca``: principal components of a layer's (or the network's) weights or updates over the
  selected steps (eq. 3.3-3.5), the first component's linear fit (eq. 6.4, 6.6), the weights
  rebuilt from the first i components (eq. 6.3, Fig. 6.3) and, with ``hessian_k``, the PCA
  variances against the top Hessian eigenvalues (eq. 3.8, 3.9).
- ``drift``: the drift mode over a window (eq. 6.4-6.6), sigma^2 against the window length
  (eq. 6.7), the quadratic-model prediction from Hessian eigenpairs at the window's start
  (eq. 6.9-6.13, with the run's weight decay), the loss along the drift direction (Fig. 6.6) and
  the loss when the layer's / the network's weights are scaled, L(alpha w) (eq. 6.14, Fig. 6.7),
  with and without the weight-decay penalty.

Losses are evaluated with the run's Problem directly (``problem.evaluate`` on a line of thetas),
so this layer-3 module needs nothing from :mod:`landscope.landscape`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from landscope._results_io import save_arrays, write_json_atomic
from landscope.trajectory._drift import (
    drift_mode_variance,
    fit_drift,
    fit_drift_scaling,
    minimum_from_gradient,
    quadratic_drift_variance,
)
from landscope.trajectory._pca import TrajectoryPCA, _RunSource, h_cross, sigma_vs_hessian
from landscope.trajectory._rebuild import rebuild_curve

__all__ = ["DriftSettings", "PCASettings", "run_drift_analysis", "run_pca_analysis"]

PAPER = "Haink 2023 (MSc thesis, Leipzig)"


class _Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: str | None = Field(
        None, description="module name of the layer (e.g. 'layers.2'); None: the whole network"
    )
    params: list[str] | None = Field(
        None, description="parameter or layer names instead of layer (e.g. ['layers.2.weight'])"
    )
    every: int | None = Field(None, ge=1, description="use every k-th recorded params step")
    start: int | None = Field(None, description="first step of the window (recorded steps >=)")
    stop: int | None = Field(None, description="end of the window (recorded steps <)")
    last: int | None = Field(
        None, ge=3, description="keep only the last N selected snapshots (the post-training window)"
    )
    hessian_max_samples: int | None = Field(
        512, ge=1, description="Hessian / gradient on a seeded subset of this many training samples"
    )
    seed: int = Field(0, description="seed of the sample subset and the randomized method")
    dtype: Literal["float32", "float64"] | None = Field(
        None, description="precision of the Problem (default: the run's)"
    )


class PCASettings(_Window):
    """Settings of the ``pca`` analysis (Haink eq. 3.3-3.9, 6.3, 6.4)."""

    target: Literal["weights", "updates", "recorded_updates"] = Field(
        "weights", description="PCA of w(t), of v(t) = w(t+1) - w(t), or of the recorded updates"
    )
    n_components: int = Field(20, ge=1, description="principal components kept")
    method: Literal["exact", "randomized", "krylov"] = Field(
        "exact",
        description="T x T Gram matrix (exact), randomized SVD (subspace iteration) or "
        "randomized block Krylov",
    )
    block_columns: int | None = Field(
        None, ge=1, description="columns per streamed block (default: about 24 MB as float64)"
    )
    rebuild: bool = Field(True, description="accuracy of weights rebuilt from the first i PCs")
    hessian_k: int = Field(
        0, ge=0, description="top Hessian eigenvalues for sigma_i^2 vs h_i (0: skip)"
    )


class DriftSettings(_Window):
    """Settings of the ``drift`` analysis (Haink sec. 6.3-6.5, eq. 6.4-6.14)."""

    hessian_k: int = Field(
        10, ge=0, description="Hessian eigenpairs of the quadratic model, eq. 6.11-6.13 (0: skip)"
    )
    window_fractions: list[float] = Field(
        [0.25, 0.5, 1.0],
        description="windows (fractions of the snapshots, ending at the last) for sigma^2 vs T",
    )
    line_span: float = Field(
        1.0, gt=0, description="loss along p_1 for delta in +-span x line_unit"
    )
    line_unit: Literal["theta1", "travel"] = Field(
        "theta1",
        description="unit of delta: |theta_1(T)| = |w(T) . p_1| (the weights' own coordinate "
        "along the drift) or the distance the drift covered in the window",
    )
    line_points: int = Field(41, ge=3)
    scale_min: float = Field(0.0, ge=0, description="L(alpha w): smallest alpha")
    scale_max: float = Field(3.0, gt=0, description="L(alpha w): largest alpha")
    scale_points: int = Field(31, ge=3)
    loss_max_samples: int | None = Field(
        None, ge=1, description="loss curves on a seeded subset of training samples (None: all)"
    )


# --- shared -------------------------------------------------------------------------------------
def _selection(run, settings):
    from landscope.curvature import select_parameters

    if settings.layer is not None and settings.params is not None:
        raise ValueError("give either layer or params, not both")
    group = settings.layer if settings.layer is not None else settings.params
    if isinstance(group, list) and len(group) == 1:
        group = group[0]
    return group, select_parameters(run.layout, group)


def _steps(run, settings, series: str = "params") -> list[int]:
    steps = run.select_steps(
        every=settings.every, start=settings.start, stop=settings.stop, series=series
    )
    if settings.last is not None:
        steps = steps[-settings.last :]
    if len(steps) < 3:
        raise ValueError(f"the analysis needs at least 3 recorded steps, got {len(steps)}")
    return steps


def _project(run, steps, selection, vectors: np.ndarray) -> np.ndarray:
    """(T, k): w(t) . v_j for the rows v_j of ``vectors`` (k, P_sub), streamed by columns."""
    from landscope.trajectory._pca import _block_edges

    source = _RunSource(run, steps, selection, "weights")
    out = np.zeros((source.num_rows, vectors.shape[0]))
    for c0, c1 in _block_edges(source, None):
        out += source.block(c0, c1) @ vectors[:, c0:c1].T
    return out


def _hessian_top(problem, theta, group, k, max_samples, seed):
    """Top-k Hessian eigenpairs of the data loss restricted to ``group`` and the gradient there."""
    from landscope.curvature import HessianOperator, select_parameters, top_eigenpairs
    from landscope.data import subset_indices

    indices = subset_indices(problem.num_samples, max_samples, seed)
    sel = select_parameters(problem.layout, group)
    k = min(k, sel.size)
    op = HessianOperator(problem, theta, indices=indices, params=group)
    res = top_eigenpairs(op, k, which="LA", tol=1e-4, seed=seed)
    grad = sel.restrict(problem.gradient(theta, indices))
    return (
        res.eigenvalues.cpu().double().numpy(),
        res.eigenvectors.T.cpu().double().numpy(),
        grad.cpu().double().numpy(),
        {
            "num_samples": problem.num_selected(indices),
            "converged": bool(res.converged.all()),
            "num_matvecs": int(res.num_matvecs),
        },
    )


def _weight_decay(run) -> tuple[float, torch.Tensor | None, str]:
    """The run's weight decay (gradient coefficient), its mask (None: all entries) and mode."""
    oc = run.run_config().optimizer
    mask = None
    if oc.weight_decay and not oc.weight_decay_on_bias:
        mask = run.layout.mask(lambda s: s.kind != "bias")
    return float(oc.weight_decay), mask, oc.weight_decay_mode


def _penalty(theta: torch.Tensor, wd: float, mask) -> float:
    """weight_decay / 2 ||w||^2 over the decayed entries (the l2 mode's term of the loss)."""
    if not wd:
        return 0.0
    w = theta.double() if mask is None else theta.double()[mask.to(theta.device)]
    return 0.5 * wd * float(w @ w)


def lr_at(run, steps) -> np.ndarray | None:
    """The learning rate of the update at or last before each of ``steps`` (``lr[t]`` belongs
    to update t, so the final recorded theta has none of its own); None without an lr series."""
    if "lr" not in run:
        return None
    have = run.steps("lr")
    if not len(have):
        return None
    values = np.asarray(run.read("lr"), dtype=np.float64).reshape(len(have), -1)[:, 0]
    pos = np.searchsorted(have, np.asarray(steps, dtype=np.int64), side="right") - 1
    return values[np.clip(pos, 0, len(have) - 1)]


def _finish(out_dir: Path, results: dict) -> dict:
    write_json_atomic(out_dir / "results.json", results)
    return results


# --- pca ----------------------------------------------------------------------------------------
def run_pca_analysis(
    run: Any, settings: PCASettings, out_dir: str | Path, *, progress: bool = True
) -> dict:
    """PCA of a recorded run's trajectory (Haink eq. 3.3-3.5), the first component's drift fit
    (eq. 6.4, 6.6), weights rebuilt from the first i components (eq. 6.3, Fig. 6.3) and with
    ``hessian_k`` the PCA variances against Hessian eigenvalues (eq. 3.8, 3.9).

    Writes ``out_dir/results.json``, ``pca.npz`` (steps, explained_variance, ratio,
    projections (T, k), components (k, P) float32, mean), ``rebuild.npz`` / ``rebuild.csv``,
    ``sigma_hessian.npz``.  Returns the ``results.json`` dict.
    """
    from landscope.runs import Run, open_run

    t0 = time.perf_counter()
    run = run if isinstance(run, Run) else open_run(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    group, selection = _selection(run, settings)
    series = "updates" if settings.target == "recorded_updates" else "params"
    steps = _steps(run, settings, series)
    T = len(steps) - (1 if settings.target == "updates" else 0)
    k = min(settings.n_components, T - 1, selection.size)
    pca = TrajectoryPCA(
        k,
        target=settings.target,
        params=group,
        steps=steps,
        method=settings.method,
        block_columns=settings.block_columns,
        random_state=settings.seed,
    ).fit(run)
    drift = fit_drift(pca.projections_[:, 0], pca.steps_)
    arrays = {
        "steps": pca.steps_,
        "explained_variance": pca.explained_variance_,
        "explained_variance_ratio": pca.explained_variance_ratio_,
        "projections": pca.projections_,
        "components": pca.components_.astype(np.float32),
        "mean": pca.mean_.astype(np.float32),
    }
    save_arrays(
        out_dir / "pca",
        arrays,
        {"target": settings.target, "group": group},
        json_exclude=("components", "mean", "projections"),
    )
    summary: dict[str, Any] = {
        "group": group or "all",
        "target": settings.target,
        "snapshots": T,
        "parameters": selection.size,
        "components": k,
        "steps": f"{steps[0]}..{steps[-1]}",
        "pc1_variance_ratio": float(pca.explained_variance_ratio_[0]),
        "top5_variance_ratio": float(pca.explained_variance_ratio_[:5].sum()),
        "pc1_linear_r2": drift.r2,
        "pc1_eq66_ratio": drift.ratio,
        "pc1_slope_per_snapshot": drift.slope,
    }
    results: dict[str, Any] = {
        "analysis": "pca",
        "title": f"Trajectory PCA of {settings.target} ({group or 'all parameters'})",
        "paper": f"{PAPER}, sec. 3.2 (eq. 3.3-3.9), 6.2-6.3 (eq. 6.3-6.6, Fig. 6.3, 6.4)",
        "settings": settings.model_dump(),
        "pca": pca.as_dict(),
        "drift": drift.as_dict(),
    }
    need_problem = settings.rebuild or settings.hessian_k
    if need_problem:
        train, test = run.problems(dtype=settings.dtype)
        theta = run.theta(steps[-1], like=train)
    if settings.rebuild and settings.target == "weights":
        curve = rebuild_curve(
            train, theta, pca.components_, test=test, params=group, progress=progress
        )
        save_arrays(out_dir / "rebuild", curve.arrays(), {"original": curve.original})
        _write_csv(out_dir / "rebuild.csv", curve.arrays(), drop=("permutation", "coefficients"))
        metric = "test_accuracy" if test is not None else "train_accuracy"
        one = np.flatnonzero(curve.counts == 1)
        summary.update(
            {
                "original_" + metric: curve.original[metric],
                "rebuild_pc1_" + metric: float(getattr(curve, metric)[one[0]])
                if len(one)
                else None,
                "rebuild_allk_" + metric: float(getattr(curve, metric)[curve.counts == k][0]),
                "rebuild_remainder_norm": curve.remainder_norm,
                "rebuild_pcs_for_99pct": curve.count_for(0.99, metric=metric),
            }
        )
        results["rebuild"] = {"original": curve.original, "remainder_norm": curve.remainder_norm}
    if settings.hessian_k:
        h, _, _, info = _hessian_top(
            train, theta, group, settings.hessian_k, settings.hessian_max_samples, settings.seed
        )
        cfg = run.run_config()
        lr = lr_at(run, [steps[-1]])
        eta = float(lr[0]) if lr is not None else cfg.optimizer.lr
        hc = h_cross(
            batch_size=cfg.training.batch_size,
            lr=eta,
            num_train=train.num_samples,
            momentum=cfg.optimizer.momentum,
        )
        rel = sigma_vs_hessian(pca.explained_variance_, h, h_cross=hc)
        save_arrays(out_dir / "sigma_hessian", {"sigma2": rel.sigma2, "h": rel.h}, rel.as_dict())
        results["sigma_vs_hessian"] = {**rel.as_dict(), "hessian": info, "lr": eta}
        summary.update({"alpha_eq38": rel.alpha, "h_cross": hc, "h_1": float(h[0])})
    results["summary"] = summary
    results["provenance"] = {
        "run": str(run.path),
        "steps": [int(s) for s in steps],
        "seconds": time.perf_counter() - t0,
    }
    return _finish(out_dir, results)


def _write_csv(path: Path, arrays: dict, drop=()) -> None:
    from landscope._results_io import write_atomic

    names = [n for n in arrays if n not in drop]
    rows = np.stack([np.asarray(arrays[n], np.float64) for n in names], axis=1)
    lines = [",".join(names)] + [",".join(f"{v:.10g}" for v in r) for r in rows]
    write_atomic(path, ("\n".join(lines) + "\n").encode())


# --- drift --------------------------------------------------------------------------------------
def run_drift_analysis(
    run: Any, settings: DriftSettings, out_dir: str | Path, *, progress: bool = True
) -> dict:
    """The drift mode of a recorded run over a window of snapshots (Haink sec. 6.3-6.5).

    Measures: eq. 6.4 linear fit of theta_1(t) and eq. 6.6; sigma_1^2 against the window length
    T (eq. 6.7's T^2, windows ending at the last snapshot); the quadratic model's per-eigenvector
    variances and the drift's sigma_d^2 (eq. 6.12, 6.13) from the top ``hessian_k`` Hessian
    eigenpairs and the gradient at the window's first step (the minimum mu_i from g = H (w - mu),
    :func:`minimum_from_gradient`), beside the measured ones; the training loss along p_1 through
    the last snapshot (Fig. 6.6) and L(alpha w) for the group's and the whole network's weights
    (eq. 6.14, Fig. 6.7), each with and without the weight-decay term.

    Writes ``results.json``, ``drift.npz`` (projections, fits), ``line.npz``, ``scaling.npz``,
    ``quadratic.npz``.  Returns the ``results.json`` dict.
    """
    from landscope._progress import progress_bar
    from landscope.data import subset_indices
    from landscope.runs import Run, open_run

    t0 = time.perf_counter()
    run = run if isinstance(run, Run) else open_run(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    group, selection = _selection(run, settings)
    steps = _steps(run, settings)
    T = len(steps)
    pca = TrajectoryPCA(min(5, T - 1), params=group, steps=steps, random_state=settings.seed).fit(
        run
    )
    p1 = pca.components_[0]
    theta1 = pca.projections_[:, 0]
    fit = fit_drift(theta1, steps)
    sign = 1.0 if fit.slope >= 0 else -1.0
    travel = float(abs(theta1[-1] - theta1[0]))
    # sigma_1^2 against the window length (eq. 6.7: ~ T^2 at fixed eta)
    windows = []
    for frac in sorted(set(settings.window_fractions)):
        n = max(3, round(frac * T))
        sub = steps[-n:]
        w_pca = TrajectoryPCA(1, params=group, steps=sub).fit(run)
        windows.append(
            (n, float(w_pca.explained_variance_[0]), fit_drift(w_pca.projections_[:, 0]).r2)
        )
    lr_values = lr_at(run, steps)
    cfg = run.run_config()
    eta = float(np.nanmean(lr_values)) if lr_values is not None else cfg.optimizer.lr
    scaling = None
    if len(windows) >= 2:
        scaling = fit_drift_scaling(
            [eta] * len(windows), [w[0] for w in windows], [w[1] for w in windows]
        )
    save_arrays(
        out_dir / "drift",
        {
            "steps": np.asarray(steps),
            "theta1": theta1,
            "fit_line": fit.slope * np.arange(T) + fit.intercept,
            "explained_variance": pca.explained_variance_,
            "explained_variance_ratio": pca.explained_variance_ratio_,
            "projections": pca.projections_,
            "window_T": np.asarray([w[0] for w in windows]),
            "window_sigma2": np.asarray([w[1] for w in windows]),
            "window_r2": np.asarray([w[2] for w in windows]),
        },
        {"fit": fit.as_dict(), "lr": eta},
    )
    train, _ = run.problems(dtype=settings.dtype)
    wd, mask, wd_mode = _weight_decay(run)
    theta_last = run.theta(steps[-1], like=train)
    summary: dict[str, Any] = {
        "group": group or "all",
        "snapshots": T,
        "steps": f"{steps[0]}..{steps[-1]}",
        "weight_decay": wd,
        "pc1_variance_ratio": float(pca.explained_variance_ratio_[0]),
        "drift_r2": fit.r2,
        "eq66_ratio": fit.ratio,
        "slope_per_step": fit.slope_per_step,
        "lr_mean": eta,
    }
    results: dict[str, Any] = {
        "analysis": "drift",
        "title": f"Drift mode ({group or 'all parameters'})",
        "paper": f"{PAPER}, sec. 6.3-6.5 (eq. 6.4-6.14, Fig. 6.4-6.7)",
        "settings": settings.model_dump(),
        "fit": fit.as_dict(),
        "windows": [{"T": n, "sigma2": s, "r2": r} for n, s, r in windows],
        "lr": eta,
        "weight_decay": {"value": wd, "mode": wd_mode, "on_bias": mask is None},
    }
    if scaling is not None:
        results["window_scaling"] = scaling.as_dict()
        summary["sigma2_T_exponent"] = scaling.exponent_T
    # --- quadratic model (eq. 6.9-6.13) at the window's first snapshot
    if settings.hessian_k:
        theta_first = run.theta(steps[0], like=train)
        h, V, g, info = _hessian_top(
            train,
            theta_first,
            group,
            settings.hessian_k,
            settings.hessian_max_samples,
            settings.seed,
        )
        w_first = selection.restrict(theta_first).cpu().double().numpy()
        w_hat, g_hat = V @ w_first, V @ g
        mu_hat = minimum_from_gradient(w_hat, g_hat, h)
        stride = float(np.mean(np.diff(steps)))
        predicted = quadratic_drift_variance(
            w_hat, mu_hat, h, lr=eta, weight_decay=wd, num_points=T, stride=stride
        )
        measured = np.var(_project(run, steps, selection, V), axis=0)
        d = V @ p1
        sd_pred = drift_mode_variance(d, predicted)
        save_arrays(
            out_dir / "quadratic",
            {
                "h": h,
                "w_hat": w_hat,
                "g_hat": g_hat,
                "mu_hat": mu_hat,
                "predicted_variance": predicted,
                "measured_variance": measured,
                "d": d,
            },
            {"stride": stride, "lr": eta, "weight_decay": wd, "hessian": info},
        )
        results["quadratic_model"] = {
            "sigma_d2_predicted": sd_pred,
            "sigma1_2_measured": float(pca.explained_variance_[0]),
            "coverage_sum_d2": float((d**2).sum()),
            "hessian": info,
            "stride": stride,
        }
        summary.update(
            {
                "sigma_d2_predicted_eq613": sd_pred,
                "sigma1_2_measured": float(pca.explained_variance_[0]),
                "p1_in_top_hessian_sum_d2": float((d**2).sum()),
            }
        )
    # --- loss along the drift direction (Fig. 6.6) and loss scaling (eq. 6.14, Fig. 6.7)
    indices = subset_indices(train.num_samples, settings.loss_max_samples, settings.seed)
    direction = torch.as_tensor(p1 * sign, dtype=train.dtype, device=train.device)
    unit = travel if settings.line_unit == "travel" else float(abs(theta1[-1]))
    unit = unit if unit > 0 else 1.0
    span = settings.line_span * unit
    deltas = np.linspace(-span, span, settings.line_points)
    alphas = np.linspace(settings.scale_min, settings.scale_max, settings.scale_points)
    w_last = selection.restrict(theta_last)
    # L(alpha w) of the group and of the whole network; the same curve when the group is the
    # whole network, then evaluated (and drawn) once
    group_is_network = selection.size == theta_last.numel()
    scaled = ("network",) if group_is_network else ("group", "network")
    jobs = [("line", float(dl)) for dl in deltas] + [
        (name, float(a)) for name in scaled for a in alphas
    ]
    curves: dict[str, list] = {"line": [], "group": [], "network": []}
    for kind, x in progress_bar(jobs, enabled=progress, desc="drift losses", unit="point"):
        if kind == "line":
            th = selection.embed(theta_last, w_last + x * direction)
        elif kind == "group":
            th = selection.embed(theta_last, x * w_last)
        else:
            th = x * theta_last
        r = train.evaluate(th, indices)
        curves[kind].append((x, r["loss"], r.get("accuracy", np.nan), _penalty(th, wd, mask)))
    line = np.asarray(curves["line"])
    save_arrays(
        out_dir / "line",
        {"delta": line[:, 0], "loss": line[:, 1], "accuracy": line[:, 2], "penalty": line[:, 3]},
        {
            "travel": travel,
            "unit": settings.line_unit,
            "unit_value": unit,
            "direction": "p_1 oriented along the drift (slope > 0)",
        },
    )
    scale_arrays = {}
    for name in scaled:
        c = np.asarray(curves[name])
        scale_arrays.update(
            {
                f"{name}_alpha": c[:, 0],
                f"{name}_loss": c[:, 1],
                f"{name}_accuracy": c[:, 2],
                f"{name}_penalty": c[:, 3],
            }
        )
    save_arrays(
        out_dir / "scaling",
        scale_arrays,
        {"weight_decay": wd, "group_is_network": group_is_network},
    )
    reg = line[:, 1] + line[:, 3]
    i_min = int(np.argmin(reg))
    results["line"] = {
        "travel": travel,
        "unit": settings.line_unit,
        "unit_value": unit,
        "theta1_last": float(theta1[-1]),
        "delta_min": float(line[i_min, 0]),
        "delta_min_over_unit": float(line[i_min, 0] / unit),
        "delta_min_over_travel": float(line[i_min, 0] / travel) if travel > 0 else None,
        "loss_at_zero": float(reg[settings.line_points // 2]),
        "loss_min": float(reg[i_min]),
    }
    scale_summary = {}
    for name in scaled:
        a, L, pen = (scale_arrays[f"{name}_{q}"] for q in ("alpha", "loss", "penalty"))
        total = L + pen
        above = a > 1.0
        scale_summary[name] = {
            "alpha_min_data_loss": float(a[np.argmin(L)]),
            "alpha_min_total_loss": float(a[np.argmin(total)]),
            "data_loss_decreasing_above_1": bool(np.all(np.diff(L[above]) <= 0))
            if above.sum() > 1
            else None,
            "exp_fit": _exp_fit(a[above], L[above]),
            "power_fit_total": _power_fit(a[a >= 0.5 * a.max()], total[a >= 0.5 * a.max()]),
        }
    if group_is_network:
        scale_summary["group"] = scale_summary["network"]
    results["scaling"] = {**scale_summary, "group_is_network": group_is_network}
    summary.update(
        {
            "line_delta_min_over_travel": results["line"]["delta_min_over_travel"],
            "line_delta_min_over_theta1": float(line[i_min, 0]) / abs(float(theta1[-1]))
            if theta1[-1] != 0
            else None,
            "scale_group_alpha_min_total": scale_summary["group"]["alpha_min_total_loss"],
            "scale_network_alpha_min_total": scale_summary["network"]["alpha_min_total_loss"],
            "scale_network_exp_rate": scale_summary["network"]["exp_fit"]["rate"],
        }
    )
    results["summary"] = summary
    results["provenance"] = {
        "run": str(run.path),
        "steps": [int(s) for s in steps],
        "seconds": time.perf_counter() - t0,
    }
    return _finish(out_dir, results)


def _exp_fit(a: np.ndarray, L: np.ndarray) -> dict:
    """log L = c - rate alpha (eq. 6.14: L ~ exp(-alpha z)), least squares; rate and R^2."""
    keep = L > 0
    if keep.sum() < 3:
        return {"rate": None, "r2": None}
    x, y = a[keep], np.log(L[keep])
    slope, c = np.polyfit(x, y, 1)
    resid = y - (slope * x + c)
    ss = float(((y - y.mean()) ** 2).sum())
    return {"rate": float(-slope), "r2": 1 - float(resid @ resid) / ss if ss > 0 else None}


def _power_fit(a: np.ndarray, L: np.ndarray) -> dict:
    """log L = c + exponent log alpha (the thesis' L ~ alpha^2 with weight decay)."""
    keep = (L > 0) & (a > 0)
    if keep.sum() < 3:
        return {"exponent": None, "r2": None}
    x, y = np.log(a[keep]), np.log(L[keep])
    slope, c = np.polyfit(x, y, 1)
    resid = y - (slope * x + c)
    ss = float(((y - y.mean()) ** 2).sum())
    return {"exponent": float(slope), "r2": 1 - float(resid @ resid) / ss if ss > 0 else None}
