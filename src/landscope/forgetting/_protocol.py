"""The split-task protocol of Haink sec. 7.7: how much of task A each defence keeps while task B
is learned.

Given a run trained on all classes (the pre-trained network), for each seed:

1. reinitialize the layers under study (``layers``: the last one, all, or named ones) with the
   run's initializer and freeze every other layer;
2. train them on task A (default classes 0-4) with the run's optimizer, in rounds of
   ``epochs_a`` epochs, until the training accuracy reaches ``target_accuracy_a`` (the thesis:
   full training accuracy) or ``max_epochs_a``;
3. fit every defence on task A at its end ``mu_A`` (Hessian eigenpairs, principal components of
   the last steps, singular values outside the Marchenko-Pastur bulk, the Fisher diagonal);
4. train on task B (default classes 5-9) for ``epochs_b`` epochs with each method, SGD at
   ``lr_fraction`` (1 %) of task A's final learning rate, strength ``lambda`` (1000) or
   ``gamma`` (1); after every epoch the test accuracy on both tasks;
5. per method and seed, the epoch (>= 1) with the best sum of the two accuracies (Fig. 7.22 /
   7.23: one dot per method and seed).

A method whose loss becomes non-finite (the thesis warns that large constants make the penalty
unstable for a given learning rate: with momentum beta, SGD on ``lambda c (d . w)^2`` is stable
only for ``lr lambda c < 1 + beta``) has no result (NaN accuracies) and is marked
``diverged``; its epochs until then stay in ``epochs.csv``.
Everything is trained by the engine (:func:`landscope.training.train`), the defences as its
plugins: the protocol only composes them.
"""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from landscope.forgetting._penalties import (
    EWCPenalty,
    GradientConstraint,
    HessianEigenPenalty,
    PCAFlatnessPenalty,
    SingularValuePenalty,
)
from landscope.forgetting._tasks import DEFAULT_TASKS, split_tasks

__all__ = [
    "METHODS",
    "ForgettingSettings",
    "best_epochs",
    "build_defence",
    "run_forgetting_analysis",
]

#: The compared methods: plain fine-tuning, EWC, the penalties of eq. 3.11, 3.10, 7.11 and the
#: gradient constraint of eq. 7.12 with singular (the thesis') or Hessian directions.
METHODS: dict[str, str] = {
    "finetune": "plain fine-tuning (no defence)",
    "ewc": "EWC, diagonal per-sample empirical Fisher",
    "hessian": "Hessian eigenvector penalty (eq. 3.11 / 7.10)",
    "pca": "PCA penalty with flatness weights (eq. 3.10)",
    "singular": "singular-value penalty, MP outliers + bias Hessian (eq. 7.11)",
    "constraint_singular": "gradient constraint, singular directions (eq. 7.12)",
    "constraint_hessian": "gradient constraint, Hessian directions (eq. 7.12)",
}

MethodName = Literal[
    "finetune",
    "ewc",
    "hessian",
    "pca",
    "singular",
    "constraint_singular",
    "constraint_hessian",
]


class ForgettingSettings(BaseModel):
    """Settings of the split-task protocol (defaults: the thesis' choices where it states them,
    small enough for the digits MLP in about a minute on 2 CPU cores)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[list[int]] = Field(
        default_factory=lambda: [list(t) for t in DEFAULT_TASKS],
        description="class partition; the first task is A, the second B (Haink: 0-4 / 5-9)",
    )
    layers: str | list[str] = Field(
        "last", description="layers under study: 'last', 'all' or module names"
    )
    methods: list[MethodName] = Field(
        default_factory=lambda: list(METHODS), description="methods compared (METHODS)"
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="one protocol each")
    epochs_a: float = Field(10, gt=0, description="epochs per round of task A training")
    max_epochs_a: float = Field(60, gt=0, description="at most this many epochs on task A")
    target_accuracy_a: float = Field(
        1.0, gt=0, le=1, description="task A's training accuracy to reach (thesis: 100 %)"
    )
    epochs_b: int = Field(10, ge=1, description="epochs on task B (thesis: 50)")
    lr_fraction: float = Field(
        0.01, gt=0, description="task B's learning rate / task A's final one (thesis: 1 %)"
    )
    strength: float = Field(1000.0, ge=0, description="lambda of every penalty (thesis: 1000)")
    gamma: float = Field(1.0, ge=0, le=1, description="strength of the gradient constraint")
    n_directions: int = Field(20, ge=1, description="N_lim: Hessian / PCA directions per block")
    per_layer: bool = Field(True, description="one eigenproblem / PCA per layer block")
    n_singular: int | Literal["outliers"] = Field(
        "outliers", description="singular values conserved per matrix: MP outliers or the top n"
    )
    bias_fraction: float = Field(
        0.2, ge=0, le=1, description="share of each bias Hessian's eigenvalues conserved"
    )
    pca_window: int | None = Field(
        None, ge=2, description="last snapshots of task A for the PCA (default N_lim + 1)"
    )
    max_samples: int | None = Field(
        512, ge=1, description="task A samples for Hessians, Fisher and flatness (None: all)"
    )
    reinitialize: bool = Field(True, description="reinitialize the studied layers first")
    threads: int | None = Field(1, ge=1, description="torch threads while training")

    @field_validator("tasks")
    @classmethod
    def _two_tasks(cls, tasks: list[list[int]]) -> list[list[int]]:
        if len(tasks) != 2:
            raise ValueError(f"tasks must be two class lists (A, B), got {len(tasks)}")
        return tasks

    @field_validator("layers")
    @classmethod
    def _layers(cls, layers):
        if isinstance(layers, str) and layers not in ("last", "all"):
            raise ValueError(f"layers must be 'last', 'all' or a list of names, got {layers!r}")
        return layers


def build_defence(method: str, settings: ForgettingSettings):
    """``(penalty, update_transform)`` of a method (``None`` where it has none), unfitted."""
    s = settings
    common = {"max_samples": s.max_samples}
    if method == "finetune":
        return None, None
    if method == "ewc":
        return EWCPenalty(s.strength, **common), None
    if method == "hessian":
        return (
            HessianEigenPenalty(s.strength, s.n_directions, s.per_layer, **common),
            None,
        )
    if method == "pca":
        return (
            PCAFlatnessPenalty(
                s.strength, s.n_directions, s.pca_window, per_layer=s.per_layer, **common
            ),
            None,
        )
    if method == "singular":
        return SingularValuePenalty(s.strength, s.n_singular, s.bias_fraction, **common), None
    if method in ("constraint_singular", "constraint_hessian"):
        return None, GradientConstraint(
            s.gamma,
            directions=method.split("_")[1],
            n_directions=s.n_directions,
            per_layer=s.per_layer,
            n_singular=s.n_singular,
            bias_fraction=s.bias_fraction,
            **common,
        )
    raise ValueError(f"unknown method {method!r}; methods are {list(METHODS)}")


class _TaskAccuracy:
    """Online analysis: test accuracy on each task at the end of every epoch."""

    def __init__(self, problems: dict, every: int, name: str = "tasks"):
        self.problems, self.every, self.name = problems, every, name
        self.rows: list[dict] = []

    def __call__(self, ctx) -> dict:
        row = {key: p.accuracy(ctx.theta) for key, p in self.problems.items()}
        self.rows.append({"step": ctx.step, **row})
        return row


def _studied_layers(layout, layers) -> list[str]:
    names = layout.layers
    if layers == "last":
        return names[-1:]
    if layers == "all":
        return list(names)
    bad = [n for n in layers if n not in names]
    if bad:
        raise ValueError(f"settings.layers: unknown layers {bad}; the model's layers are {names}")
    return list(layers)


def _task_config(config: dict, *, seed: int, epochs: float, threads) -> dict:
    """The run config of one phase: the base run's model, loss, optimizer; no plugins."""
    cfg = copy.deepcopy(config)
    cfg.update(seed=seed, analyses=[], penalties=[], update_transform=None)
    cfg["training"] = {**cfg["training"], "epochs": epochs, "steps": None, "threads": threads}
    cfg["record"] = {
        **cfg.get("record", {}),
        "params": {"steps": []},
        "updates": False,
        "batches": False,
        "eval": {"every": 10**9, "test": False},
    }
    return cfg


def _pca_record(cfg: dict, total_steps: int, window: int) -> dict:
    cfg = copy.deepcopy(cfg)
    first = max(0, total_steps - window + 1)
    cfg["record"]["params"] = {"steps": list(range(first, total_steps + 1))}
    return cfg


def best_epochs(acc_a: np.ndarray, acc_b: np.ndarray) -> int:
    """Index (>= 1) of the epoch with the largest ``acc_a + acc_b`` among epochs 1..E (entry 0
    is the start of task B); the first one on ties; -1 when no epoch finished."""
    total = np.asarray(acc_a, dtype=float)[1:] + np.asarray(acc_b, dtype=float)[1:]
    if total.size == 0 or not np.isfinite(total).any():
        return -1
    return int(np.nanargmax(total)) + 1


def run_forgetting_analysis(
    run, settings: ForgettingSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """The split-task protocol on a run trained on all classes (module docstring).

    Writes ``out_dir/results.json`` (settings, summary, per method the mean accuracies, per
    method and seed the best epoch), ``out_dir/table.csv`` (method x seed x (acc A, acc B,
    sum, best epoch, diverged)), ``out_dir/epochs.csv`` (every epoch of every method and seed)
    and the phase runs under ``out_dir/runs/``.

    Args:
        run: a :class:`landscope.runs.Run` (or its path) of a classification network trained
            on all classes.
        settings: :class:`ForgettingSettings`.
        out_dir: output folder.
        progress: a progress bar over (seed, method).

    Returns:
        The ``results.json`` dict.
    """
    from landscope._progress import progress_bar
    from landscope._results_io import write_json_atomic
    from landscope.config import build_dataset, build_problems
    from landscope.models import initialize
    from landscope.runs import Run, open_run
    from landscope.training import NonFiniteLossError, learning_rate, steps_per_epoch, train

    t0 = time.perf_counter()
    run = run if isinstance(run, Run) else open_run(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = run.run_config()
    if config.loss != "cross_entropy":
        raise ValueError(f"the forgetting protocol needs a classifier; run loss is {config.loss}")
    base = config.model_dump(mode="json")
    dataset = build_dataset(config)
    problem, _ = run.problems(dataset=dataset)
    theta_pre = run.theta("last", like=problem)
    pretrained = copy.deepcopy(problem.model)
    problem.load_into(pretrained, theta_pre)
    studied = _studied_layers(problem.layout, settings.layers)
    task_a, task_b = split_tasks(dataset, settings.tasks)
    window = settings.pca_window or settings.n_directions + 1
    rows, epoch_rows, seeds_info = [], [], []
    bar = progress_bar(
        total=len(settings.seeds) * len(settings.methods),
        enabled=progress,
        desc="forgetting",
        unit="run",
    )
    try:
        for seed in settings.seeds:
            model = copy.deepcopy(pretrained)
            for name, module in model.named_modules():
                if name in studied and settings.reinitialize:
                    initialize(
                        module,
                        weight=config.init.weight,
                        bias=config.init.bias,
                        seed=10_000 + seed,
                        weight_params=config.init.weight_params or None,
                        bias_params=config.init.bias_params or None,
                        strict=False,
                    )
            for pname, param in model.named_parameters():
                param.requires_grad_(pname.rpartition(".")[0] in studied)
            seed_dir = out_dir / "runs" / f"seed{seed}"
            # --- task A, in rounds until full training accuracy --------------------------------
            epochs_done, accuracy, rounds = 0.0, 0.0, 0
            while True:
                rounds += 1
                cfg_a = _task_config(
                    base, seed=seed, epochs=settings.epochs_a, threads=settings.threads
                )
                probe_problem, _ = build_problems(cfg_a, dataset=task_a, model=model)
                spe = steps_per_epoch(
                    probe_problem.num_samples, config.training.batch_size, config.training.drop_last
                )
                total = round(settings.epochs_a * spe)
                cfg_a = _pca_record(cfg_a, total, window)
                run_a = train(
                    cfg_a,
                    seed_dir / f"task_a_{rounds}",
                    overwrite=True,
                    model=model,
                    dataset=task_a,
                    progress=False,
                )
                problem_a, _ = build_problems(cfg_a, dataset=task_a, model=model)
                mu_a = run_a.theta("last", like=problem_a)
                problem_a.load_into(model, mu_a)
                epochs_done += settings.epochs_a
                accuracy = problem_a.accuracy(mu_a)
                if accuracy >= settings.target_accuracy_a or epochs_done >= settings.max_epochs_a:
                    break
            lr_a = learning_rate(config.schedule, config.optimizer.lr, int((total - 1) // spe))
            trajectory = run_a.thetas(run_a.param_steps()[-window:], like=problem_a)
            test_a = problem_a.with_data(task_a.test)
            test_b = problem_a.with_data(task_b.test)
            seed_info = {
                "seed": seed,
                "task_a_epochs": epochs_done,
                "task_a_train_accuracy": accuracy,
                "task_a_test_accuracy": test_a.accuracy(mu_a),
                "task_b_test_accuracy_before": test_b.accuracy(mu_a),
                "lr_a_final": lr_a,
                "lr_b": settings.lr_fraction * lr_a,
                "num_params_studied": problem_a.num_params,
                "defences": {},
            }
            # --- task B, once per method --------------------------------------------------------
            for method in settings.methods:
                penalty, transform = build_defence(method, settings)
                fit_seconds = 0.0
                defence = penalty or transform
                if defence is not None:
                    t_fit = time.perf_counter()
                    defence.fit(problem_a, mu_a, trajectory)
                    fit_seconds = time.perf_counter() - t_fit
                    dirs = getattr(defence, "directions_", None)
                    seed_info["defences"][method] = {
                        "fit_seconds": fit_seconds,
                        "n_directions": dirs.n_directions if dirs is not None else None,
                        "groups": dirs.summary() if dirs is not None else None,
                    }
                cfg_b = _task_config(
                    base, seed=seed, epochs=settings.epochs_b, threads=settings.threads
                )
                cfg_b["optimizer"] = {**cfg_b["optimizer"], "lr": settings.lr_fraction * lr_a}
                cfg_b["schedule"] = {"kind": "constant"}
                problem_b, _ = build_problems(cfg_b, dataset=task_b, model=model)
                spe_b = steps_per_epoch(
                    problem_b.num_samples, config.training.batch_size, config.training.drop_last
                )
                tracker = _TaskAccuracy({"a": test_a, "b": test_b}, every=spe_b)
                diverged = None
                try:
                    train(
                        cfg_b,
                        seed_dir / f"task_b_{method}",
                        overwrite=True,
                        model=model,
                        dataset=task_b,
                        callbacks=[tracker],
                        penalties=[penalty] if penalty is not None else [],
                        update_transform=transform,
                        progress=False,
                    )
                except NonFiniteLossError as exc:
                    diverged = str(exc).split(";")[0]
                acc = {k: np.array([r[k] for r in tracker.rows]) for k in ("a", "b")}
                epochs = np.array([r["step"] // spe_b for r in tracker.rows])
                # a diverged run has no result: its last recorded epochs may already hold the
                # blown-up weights (the loss is checked only when the next step is taken)
                best = -1 if diverged else best_epochs(acc["a"], acc["b"])
                for e, a, b in zip(epochs, acc["a"], acc["b"], strict=True):
                    epoch_rows.append(
                        {"method": method, "seed": seed, "epoch": int(e), "acc_a": a, "acc_b": b}
                    )
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "acc_a": float(acc["a"][best]) if best > 0 else float("nan"),
                        "acc_b": float(acc["b"][best]) if best > 0 else float("nan"),
                        "sum": float(acc["a"][best] + acc["b"][best]) if best > 0 else float("nan"),
                        "best_epoch": int(epochs[best]) if best > 0 else -1,
                        "final_acc_a": float(acc["a"][-1]),
                        "final_acc_b": float(acc["b"][-1]),
                        "diverged": diverged or "",
                        "fit_seconds": fit_seconds,
                    }
                )
                bar.update(1)
            seeds_info.append(seed_info)
    finally:
        bar.close()
    summary, per_method = _summarize(rows, settings, studied, seeds_info)
    _write_csv(out_dir / "table.csv", rows)
    _write_csv(out_dir / "epochs.csv", epoch_rows)
    results: dict[str, Any] = {
        "analysis": "forgetting",
        "title": "Catastrophic forgetting: accuracy kept on task A while learning task B",
        "paper": "Haink (2023) sec. 3.3, 7.7 (eq. 3.10, 3.11, 7.10-7.12, Fig. 7.22 / 7.23)",
        "settings": settings.model_dump(mode="json"),
        "summary": summary,
        "methods": per_method,
        "rows": rows,
        "seeds": seeds_info,
        "layers": studied,
        "provenance": {
            "run": str(run.path),
            "steps": [int(run.param_steps()[-1])],
            "seconds": time.perf_counter() - t0,
        },
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


def _summarize(rows, settings, studied, seeds_info) -> tuple[dict, dict]:
    per_method = {}
    for method in settings.methods:
        mine = [r for r in rows if r["method"] == method]
        arr = {k: np.array([r[k] for r in mine], dtype=float) for k in ("acc_a", "acc_b", "sum")}
        per_method[method] = {
            "description": METHODS[method],
            **{
                f"mean_{k}": float(np.nanmean(v)) if np.isfinite(v).any() else None
                for k, v in arr.items()
            },
            **{
                f"std_{k}": float(np.nanstd(v)) if np.isfinite(v).any() else None
                for k, v in arr.items()
            },
            "diverged": sum(bool(r["diverged"]) for r in mine),
            "seeds": len(mine),
        }
    summary: dict[str, Any] = {
        "layers": ",".join(studied),
        "seeds": len(settings.seeds),
        "task_a_train_accuracy_min": min(s["task_a_train_accuracy"] for s in seeds_info),
        "task_a_test_accuracy_mean": float(
            np.mean([s["task_a_test_accuracy"] for s in seeds_info])
        ),
        "lr_b": seeds_info[0]["lr_b"],
    }
    for method, m in per_method.items():
        summary[f"{method}_sum"] = m["mean_sum"]
    ranked = [k for k in per_method if per_method[k]["mean_sum"] is not None]
    if ranked:
        summary["best_method"] = max(ranked, key=lambda k: per_method[k]["mean_sum"])
    return summary, per_method


def _write_csv(path: Path, rows: list[dict]) -> None:
    from landscope._results_io import write_atomic

    if not rows:
        return
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    write_atomic(path, buf.getvalue().encode())
