"""``haink-drift``: Haink (2023, MSc thesis) sec. 6.3-6.4 on the (128, 64) layer of the regularized
MLP 256: the drift over a long training measured every epoch (Fig. 6.5), sigma^2 ~ eta^2 T^2
across learning rates and window lengths (eq. 6.6, 6.7), and the quadratic model's prediction of
the drift variance from Hessian eigenpairs (eq. 6.9-6.13).

One run trains ``epochs`` epochs (weights recorded every epoch); from its last weights three
continuations train at constant learning rates ``lrs`` for ``window`` epochs, recorded at every
step (the thesis: "training the network up to the exploration phase using a high learning rate"
and then measuring).  Offline the 8x8 digits stand in for CIFAR-10.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from landscope.reproduce._catalog import Check, Reproduction, check, register
from landscope.reproduce._haink_pca import LAYER, OFFLINE, PAPER, _copy, steps_per_epoch
from landscope.reproduce._report import Report

__all__ = ["DRIFT_FULL", "DRIFT_QUICK", "DriftBudget", "drift_checks", "haink_drift"]

#: Criteria (fixed before looking at our numbers).
EXPONENT_TOLERANCE = 0.5  # sigma^2 ~ eta^2 T^2: each fitted exponent within 2 +- this
SLOWDOWN = 0.5  # Fig. 6.5: late slope below this fraction of the early slope
MODEL_DECADES = 1.0  # eq. 6.13 within a factor 10 of the measured sigma_1^2


@dataclass(frozen=True)
class DriftBudget:
    """Sizes of ``haink-drift`` (``DRIFT_QUICK`` / ``DRIFT_FULL``)."""

    epochs: int  # the long run (Fig. 6.5: the thesis measures ~600 epochs)
    window: int  # epochs of each constant-lr continuation, recorded every step
    lrs: tuple[float, ...]  # learning rates of the continuations
    hessian_k: int  # Hessian eigenpairs of the quadratic model
    hessian_samples: int | None


DRIFT_QUICK = DriftBudget(
    epochs=60, window=3, lrs=(0.0025, 0.005, 0.01), hessian_k=10, hessian_samples=256
)
DRIFT_FULL = DriftBudget(
    epochs=600, window=10, lrs=(0.0025, 0.005, 0.01), hessian_k=30, hessian_samples=1024
)


def _base_config(budget: DriftBudget, overrides: dict) -> dict:
    from landscope.reproduce import load_reproduction_config

    cfg = load_reproduction_config(
        "haink/pca_mlp256_wd", training={"epochs": budget.epochs}, **overrides
    )
    cfg["name"] = "haink-drift-base"
    return cfg


def _continuation(base_cfg: dict, lr: float, budget: DriftBudget) -> dict:
    from landscope.reproduce._catalog import _merge

    cfg = _merge(
        base_cfg,
        {
            "name": f"haink-drift-lr{lr:g}",
            "optimizer": {"lr": lr},
            "schedule": {"kind": "constant"},
            "training": {"epochs": budget.window},
        },
    )
    cfg["record"] = {**cfg["record"], "params": {"every": 1}}
    return cfg


def _fig65(run, out: Path) -> dict:
    """theta_1 of the per-epoch snapshots after the first tenth of training (Fig. 6.5)."""
    from landscope.plotting import new_figure, save_figure_formats, style_context
    from landscope.trajectory import TrajectoryPCA, fit_drift

    steps = run.select_steps()
    steps = steps[len(steps) // 10 :]
    pca = TrajectoryPCA(2, params=LAYER, steps=steps).fit(run)
    theta1 = pca.projections_[:, 0]
    n = len(theta1)
    fifth = max(3, n // 5)
    early = fit_drift(theta1[:fifth]).slope
    late = fit_drift(theta1[-fifth:]).slope
    fit = fit_drift(theta1)
    from landscope.trajectory._analysis import lr_at

    lr = lr_at(run, pca.steps_)
    with style_context():
        fig = new_figure()
        ax = fig.add_subplot()
        ax.plot(pca.steps_, theta1, label="theta_1 (per epoch)")
        ax.plot(pca.steps_, fit.slope * np.arange(n) + fit.intercept, "--", lw=1, label="line")
        ax.set_xlabel("training step")
        ax.set_ylabel("theta_1(t) = w(t) . p_1")
        ax.legend()
        save_figure_formats(fig, out / "fig6_5_drift_epochs")
    return {
        "epochs_analyzed": n,
        "r2_line": fit.r2,
        "slope_early": early,
        "slope_late": late,
        "slope_ratio": abs(late) / abs(early) if early else float("nan"),
        "lr_ratio": float(lr[-1] / lr[0]) if lr is not None else float("nan"),
        # the drift per unit learning rate, late / early: below 1, it slows beyond the schedule
        "slope_per_lr_ratio": float(
            (abs(late) / lr[-fifth:].mean()) / (abs(early) / lr[:fifth].mean())
        )
        if lr is not None and early
        else float("nan"),
    }


def drift_checks(results: dict) -> list[Check]:
    """The thesis' statements of Fig. 6.5, eq. 6.6, 6.7 and 6.13 checked on ``results``."""
    f65, sc, q = results["fig6_5"], results["scaling"], results.get("quadratic", {})
    ratio = q.get("sigma_d2_predicted", float("nan")) / q.get("sigma1_2_measured", float("nan"))
    decades = abs(math.log10(ratio)) if ratio > 0 and math.isfinite(ratio) else float("inf")
    return [
        check(
            "over long training the drift stops being linear (it slows: exponential decay to the "
            "minimum, eq. 6.11)",
            "Fig. 6.5 (regularized MLP 256)",
            paper="non-linear beyond ~500 epochs",
            ours=f"|slope| last fifth / first fifth = {f65['slope_ratio']:.2f} over "
            f"{f65['epochs_analyzed']} epochs (R^2 of one line {f65['r2_line']:.3f}); the lr "
            f"schedule alone changes eta by x{f65['lr_ratio']:.3g} over them, the slope per unit "
            f"eta changes by x{f65.get('slope_per_lr_ratio', float('nan')):.3g}",
            holds=f65["slope_ratio"] < SLOWDOWN,
            criterion=f"late |slope| < {SLOWDOWN} x early |slope| (snapshots every epoch, first "
            "tenth of training left out)",
            differs_because=f"our drift keeps its speed over {f65['epochs_analyzed']} epochs; "
            f"{OFFLINE}",
        ),
        check(
            "sigma^2 of the drift grows as eta^2",
            "eq. 6.7",
            paper=2.0,
            ours=f"{sc['exponent_lr']:.2f} +- {sc['exponent_lr_stderr']:.2f}",
            holds=abs(sc["exponent_lr"] - 2) <= EXPONENT_TOLERANCE,
            criterion=f"|fitted exponent of eta - 2| <= {EXPONENT_TOLERANCE} (log sigma_1^2 = c + "
            "p log eta + q log T over all continuations and windows)",
            differs_because="the drift's variance does not scale as eta^2 over our learning rates",
        ),
        check(
            "sigma^2 of the drift grows as T^2 (eq. 6.6)",
            "eq. 6.6, 6.7",
            paper=2.0,
            ours=f"{sc['exponent_T']:.2f} +- {sc['exponent_T_stderr']:.2f}",
            holds=abs(sc["exponent_T"] - 2) <= EXPONENT_TOLERANCE,
            criterion=f"|fitted exponent of T - 2| <= {EXPONENT_TOLERANCE}",
            differs_because="noise dominates the first PC in our short windows (a random walk "
            "gives T^1)",
        ),
        check(
            "the quadratic model (mean SGD flow in the top Hessian eigendirections) accounts "
            "for the drift variance",
            "eq. 6.11-6.13",
            paper="sigma_d^2 = sum_i d_i^2 sigma_i^2",
            ours=f"predicted {q.get('sigma_d2_predicted', float('nan')):.3g} vs measured "
            f"{q.get('sigma1_2_measured', float('nan')):.3g}; p_1 in the top "
            f"{q.get('k', '?')} eigenvectors: sum d_i^2 = {q.get('coverage', float('nan')):.3f}",
            holds=decades <= MODEL_DECADES,
            criterion=f"|log10(predicted / measured)| <= {MODEL_DECADES}",
            differs_because="the drift lies mostly outside the top Hessian eigenvectors (small sum "
            "d_i^2), where the model needs the whole spectrum; the thesis gives no number",
        ),
    ]


def haink_drift(
    out: str | Path, *, quick: bool = False, progress: bool = True, overrides: dict | None = None
) -> dict:
    """Fig. 6.5, eq. 6.6/6.7 and the eq. 6.13 prediction on the regularized MLP 256 (digits).

    Args:
        overrides: nested config overrides of every run (tests use a tiny net) and ``budget``
            (a dict of :class:`DriftBudget` fields).
    """
    from landscope.plotting import plot_drift_results
    from landscope.runs import open_run
    from landscope.training import train
    from landscope.trajectory import DriftSettings, TrajectoryPCA, fit_drift_scaling
    from landscope.trajectory import run_drift_analysis as drift_analysis

    t0 = time.perf_counter()
    out = Path(out)
    overrides = dict(overrides or {})
    budget = DriftBudget(
        **{**asdict(DRIFT_QUICK if quick else DRIFT_FULL), **overrides.pop("budget", {})}
    )
    base_cfg = _base_config(budget, overrides)
    train(base_cfg, out / "base", overwrite=True, progress=progress)
    base = open_run(out / "base")
    results: dict = {"quick": quick, "budget": asdict(budget), "fig6_5": _fig65(base, out)}
    problem, _ = base.problems()
    model = problem.load_into(problem.model, base.theta("last", like=problem))
    rows = []
    for lr in budget.lrs:
        cfg = _continuation(base_cfg, lr, budget)
        path = out / f"lr{lr:g}"
        train(cfg, path, overwrite=True, progress=progress, model=model)
        run = open_run(path)
        steps = run.select_steps()
        for frac in (0.25, 0.5, 1.0):
            sub = steps[-max(3, round(frac * len(steps))) :]
            pca = TrajectoryPCA(1, params=LAYER, steps=sub).fit(run)
            rows.append((lr, len(sub), float(pca.explained_variance_[0])))
    lr_arr, T_arr, s2 = (np.asarray(c, dtype=float) for c in zip(*rows, strict=True))
    results["windows"] = [{"lr": a, "T": int(b), "sigma2": c} for a, b, c in rows]
    results["scaling"] = fit_drift_scaling(lr_arr, T_arr, s2).as_dict()
    # the quadratic model on the largest learning rate's continuation
    lr_q = max(budget.lrs)
    res = drift_analysis(
        open_run(out / f"lr{lr_q:g}"),
        DriftSettings(
            params=[LAYER],
            hessian_k=budget.hessian_k,
            hessian_max_samples=budget.hessian_samples,
            line_points=9,
            scale_points=9,
        ),
        out / "quadratic",
        progress=progress,
    )
    plot_drift_results(out / "quadratic")
    qm = res["quadratic_model"]
    results["quadratic"] = {
        "lr": lr_q,
        "k": budget.hessian_k,
        "sigma_d2_predicted": qm["sigma_d2_predicted"],
        "sigma1_2_measured": qm["sigma1_2_measured"],
        "coverage": qm["coverage_sum_d2"],
        "drift_r2": res["fit"]["r2"],
    }
    results["steps_per_epoch"] = steps_per_epoch(base_cfg)
    results["seconds"] = time.perf_counter() - t0
    checks = drift_checks(results)
    report = Report("Haink (2023) sec. 6.3-6.4: the drift mode of MLP 256 with weight decay", out)
    report.results = results
    report.text(
        f"MLP 256 on the 8x8 digits with weight decay 5e-4 (our l2 lambda = 1e-3), {budget.epochs}"
        f" epochs at lr 0.01 x 0.99^epoch (weights every epoch), then {budget.window} epochs at "
        f"constant lr {', '.join(f'{x:g}' for x in budget.lrs)} from its last weights, recorded "
        f"at every step; layer {LAYER}."
    )
    report.table(
        ["lr", "T (snapshots)", "sigma_1^2"],
        [[w["lr"], w["T"], w["sigma2"]] for w in results["windows"]],
    )
    report.text("Verdicts (computed from our runs by the stated criterion):")
    report.checks(checks)
    report.figure(out / "fig6_5_drift_epochs.png", "Fig. 6.5: theta_1 over the epochs")
    for png, caption in (
        ("drift_quadratic_model.png", "eq. 6.12: measured vs predicted variance per eigenvector"),
        ("drift_fit.png", f"eq. 6.4: drift fit at constant lr {lr_q:g}"),
    ):
        path = _copy(out / "quadratic" / png, out, png)
        if path is not None:
            report.figure(path, caption)
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="haink-drift",
        paper=PAPER,
        items="Fig. 6.5; eq. 6.6, 6.7, 6.11-6.13",
        description="drift mode of the regularized MLP 256 (digits): long training per epoch, "
        "sigma^2 ~ eta^2 T^2 over constant-lr continuations, the quadratic model from Hessian "
        "eigenpairs",
        run=haink_drift,
        configs=("haink/pca_mlp256_wd",),
        minutes=(0.4, 1.5),  # CPU time measured: 13 s quick, 67 s full (2 cores, loaded)
    )
)
