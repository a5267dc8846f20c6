"""``haink-forgetting``: Haink (2023, MSc thesis) sec. 3.3 and 7.7, Fig. 7.22 / 7.23: curvature-
based defences against catastrophic forgetting on split tasks (classes 0-4, then 5-9), beside
plain fine-tuning and EWC.

For each network (MLP 50 and LeNet on the 8x8 digits, the offline stand-ins for the thesis'
CIFAR-10 LeNet / MLP 256; configs ``haink/forgetting_mlp_digits`` and
``haink/forgetting_lenet_digits``) a pre-trained run on all classes is trained, then the protocol
of :func:`landscope.forgetting.run_forgetting_analysis` runs twice: on the last layer only
(Fig. 7.22) and on all layers (Fig. 7.23), with the thesis' lambda = 1000, learning rate 1 % of
task A's final one, gamma = 1, biases through 20 % of their Hessian's eigenvalues, and several
seeds; per method and seed the epoch with the best sum of the two test accuracies.

``quick`` (:data:`QUICK`): 5 epochs on B, N_lim = 5, 64 task-A samples for the curvature, and
LeNet on its last layer only (its all-layer Hessians are the expensive part); the full run
(:data:`FULL`) has the thesis' 50 epochs on B.

The thesis gives its results as figures; the statements checked are its text's (sec. 7.7).
Criteria: :data:`FORGET_DROP`, :data:`COMPARABLE` (fixed before the runs) and, for "X beats
Y", a paired difference over seeds larger than its standard error (:func:`_beats`; made
stricter after the first full run had counted a tie of 1e-5 in the sum as a win).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from landscope.reproduce._catalog import (
    Check,
    Reproduction,
    check,
    load_reproduction_config,
    register,
)
from landscope.reproduce._report import Report

__all__ = [
    "COMPARABLE",
    "FORGET_DROP",
    "FULL",
    "NETWORKS",
    "QUICK",
    "ForgettingBudget",
    "forgetting_checks",
    "haink_forgetting",
]

PAPER = "Haink 2023 (MSc thesis, Leipzig)"
OFFLINE = (
    "8x8 digits (offline stand-in for CIFAR-10 / MNIST: 1,438 training images, about 22 "
    "task-B steps per epoch instead of the thesis' ~390)"
)

#: networks: name -> shipped config of the pre-trained run
NETWORKS = {"mlp": "haink/forgetting_mlp_digits", "lenet": "haink/forgetting_lenet_digits"}
#: "fine-tuning forgets": task A's test accuracy after the last epoch on B at least this much
#: below its value before task B (mean over seeds)
FORGET_DROP = 0.2
#: "comparable regularization performance": mean best sums within this distance
COMPARABLE = 0.05


@dataclass(frozen=True)
class ForgettingBudget:
    """What ``quick`` / full run."""

    seeds: tuple[int, ...]
    pretrain_epochs: dict
    epochs_a: float
    max_epochs_a: float
    epochs_b: int
    max_samples: int
    n_directions: int
    #: the thesis' experiment conserves "the five largest singular values of matrices"
    #: (sec. 7.7); eq. 7.11's Marchenko-Pastur outliers ("outliers") are the library default
    n_singular: int | str = 5
    networks: tuple[str, ...] = ("mlp", "lenet")
    scopes: dict = field(default_factory=lambda: {"mlp": ("last", "all"), "lenet": ("last", "all")})


QUICK = ForgettingBudget(
    seeds=(0, 1, 2),
    pretrain_epochs={"mlp": 20, "lenet": 8},
    epochs_a=10,
    max_epochs_a=20,
    epochs_b=5,
    max_samples=64,
    n_directions=5,
    scopes={"mlp": ("last", "all"), "lenet": ("last",)},
)
FULL = ForgettingBudget(
    seeds=(0, 1, 2),
    pretrain_epochs={"mlp": 60, "lenet": 30},
    epochs_a=20,
    max_epochs_a=100,
    epochs_b=50,
    max_samples=256,
    n_directions=20,
)


def _settings(budget: ForgettingBudget, scope: str):
    from landscope.forgetting import ForgettingSettings

    return ForgettingSettings(
        layers=scope,
        seeds=list(budget.seeds),
        epochs_a=budget.epochs_a,
        max_epochs_a=budget.max_epochs_a,
        epochs_b=budget.epochs_b,
        max_samples=budget.max_samples,
        n_directions=budget.n_directions,
        n_singular=budget.n_singular,
    )


def compute_forgetting(out: Path, budget: ForgettingBudget, *, progress: bool) -> dict:
    """Pre-train each network, run the protocol per scope; the per-scope ``results.json``."""
    from landscope.forgetting import run_forgetting_analysis
    from landscope.plotting import plot_forgetting_results
    from landscope.training import train

    results: dict = {"budget": asdict(budget), "networks": {}}
    for net in budget.networks:
        t0 = time.perf_counter()
        cfg = load_reproduction_config(
            NETWORKS[net], training={"epochs": budget.pretrain_epochs[net]}
        )
        run = train(cfg, out / net / "pretrained", overwrite=True, progress=progress)
        entry = {"config": NETWORKS[net], "pretrained": run.read_json("summary.json")["final"]}
        for scope in budget.scopes[net]:
            folder = out / net / scope
            res = run_forgetting_analysis(run, _settings(budget, scope), folder, progress=progress)
            plot_forgetting_results(folder, title=f"{net}, {scope} layer(s) trained on B")
            entry[scope] = res
        entry["seconds"] = time.perf_counter() - t0
        results["networks"][net] = entry
    return results


def _float(x) -> float:
    return float("nan") if x is None else float(x)


def _nan_low(x: float) -> float:
    return x if x == x else -np.inf


def _mean(res: dict, method: str, key: str = "sum") -> float:
    vals = [r[key] for r in res["rows"] if r["method"] == method]
    vals = [v for v in vals if v is not None and v == v]  # NaN is null in results.json
    return float(np.mean(vals)) if vals else float("nan")


def _beats(res: dict, a: str, b: str) -> tuple[bool, float, float]:
    """Does method ``a`` beat ``b``?  Paired over seeds, ``d_s = sum_a(s) - sum_b(s)``: true when
    ``mean(d) > 0`` and ``mean(d)`` exceeds its standard error ``std(d) / sqrt(n)`` (a diverged
    seed of ``a`` counts as a loss).  Returns ``(holds, mean(d), standard error)``."""
    by = {m: {r["seed"]: _float(r["sum"]) for r in res["rows"] if r["method"] == m} for m in (a, b)}
    seeds = sorted(set(by[a]) & set(by[b]))
    d = np.array([by[a][s] - by[b][s] for s in seeds], dtype=float)
    d = np.where(np.isfinite(d), d, -np.inf)
    if d.size == 0 or not np.isfinite(d).all():
        return False, float(np.mean(d)) if d.size else float("nan"), float("nan")
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    mean = float(d.mean())
    return bool(mean > 0 and mean > se), mean, se


PAIRED = "paired over seeds: mean(sum_X - sum_Y) > 0 and > its standard error"


def _n_dirs(res: dict, method: str) -> float:
    counts = [
        s["defences"][method]["n_directions"] for s in res["seeds"] if method in s["defences"]
    ]
    return float(np.mean(counts)) if counts else float("nan")


def forgetting_checks(results: dict) -> list[Check]:
    """The thesis' statements of sec. 7.7 against our table (criteria fixed in the module)."""
    checks = []
    for net, entry in results["networks"].items():
        last, every = entry.get("last"), entry.get("all")
        if last is not None:
            before = float(np.mean([s["task_a_test_accuracy"] for s in last["seeds"]]))
            after = _mean(last, "finetune", "final_acc_a")
            checks.append(
                check(
                    f"{net}, last layer: without regularization task A's accuracy drops markedly "
                    "while B is learned",
                    "sec. 7.7",
                    paper="can plummet to random guessing and lower",
                    ours=f"{before:.3f} -> {after:.3f}",
                    holds=after <= before - FORGET_DROP,
                    criterion=f"fine-tuning's final acc A <= acc A before B - {FORGET_DROP}",
                    differs_because="at 1 % of task A's learning rate and with our short task B "
                    f"({OFFLINE}) the fine-tuned last layer forgets less",
                )
            )
            for method in ("hessian", "singular"):
                ours, base = _mean(last, method), _mean(last, "finetune")
                holds, d, se = _beats(last, method, "finetune")
                checks.append(
                    check(
                        f"{net}, last layer: the {method} penalty keeps more of both tasks than "
                        "fine-tuning (mean best sum of test accuracies)",
                        "Fig. 7.22, sec. 7.7",
                        paper="mitigates forgetting",
                        ours=f"{ours:.3f} vs fine-tuning {base:.3f} (d = {d:+.3f} +- {se:.3f})",
                        holds=holds,
                        criterion=f"{PAIRED}, X = {method}, Y = finetune",
                        differs_because=f"the {method} penalty does not beat plain fine-tuning "
                        "on this split (see the table and note)",
                    )
                )
            loss = max(("hessian", "singular"), key=lambda m: _nan_low(_mean(last, m)))
            grad = max(
                ("constraint_singular", "constraint_hessian"),
                key=lambda m: _nan_low(_mean(last, m)),
            )
            holds, d, se = _beats(last, loss, grad)
            checks.append(
                check(
                    f"{net}, last layer: the loss penalties beat the gradient constraint",
                    "Fig. 7.22, sec. 7.7",
                    paper="conserving weights (loss) gives the better sum",
                    ours=f"{loss} {_mean(last, loss):.3f} vs {grad} {_mean(last, grad):.3f} "
                    f"(d = {d:+.3f} +- {se:.3f})",
                    holds=holds,
                    criterion=f"{PAIRED}, X / Y = the better loss penalty / constraint",
                    differs_because="the gradient constraint does as well or better here",
                )
            )
            hs, sv = _mean(last, "hessian"), _mean(last, "singular")
            checks.append(
                check(
                    f"{net}, last layer: singular-value and Hessian penalties perform comparably",
                    "Fig. 7.22, sec. 7.7",
                    paper="comparable",
                    ours=f"{sv:.3f} vs {hs:.3f}",
                    holds=abs(sv - hs) <= COMPARABLE,
                    criterion=f"|mean sum singular - hessian| <= {COMPARABLE}",
                    differs_because="their mean best sums differ by more than the criterion",
                )
            )
            n_sv, n_h = _n_dirs(last, "singular"), _n_dirs(last, "hessian")
            checks.append(
                check(
                    f"{net}, last layer: the singular-value method conserves fewer directions",
                    "sec. 7.7",
                    paper="N_out << N_lim",
                    ours=f"{n_sv:.1f} vs {n_h:.1f}",
                    holds=n_sv < n_h,
                    criterion="mean conserved directions singular < hessian",
                    differs_because="the MP fit finds as many outliers as Hessian directions kept",
                )
            )
        if last is not None and every is not None:
            methods = [m for m in last["methods"] if m != "finetune"]
            lo = float(np.nanmean([_mean(every, m) for m in methods]))
            hi = float(np.nanmean([_mean(last, m) for m in methods]))
            checks.append(
                check(
                    f"{net}: conserving all layers gives a lower overall performance than the "
                    "last layer only",
                    "Fig. 7.23, sec. 7.7",
                    paper="significant decrease (LeNet: best overall 35 %)",
                    ours=f"all {lo:.3f} vs last {hi:.3f} (mean sum over defences)",
                    holds=lo < hi,
                    criterion="mean best sum over the defences: all layers < last layer",
                    differs_because="training all layers on the digits does as well",
                )
            )
            sv, gr = _mean(every, "singular"), _mean(every, "constraint_singular")
            holds, d, se = _beats(every, "singular", "constraint_singular")
            checks.append(
                check(
                    f"{net}, all layers: the singular-value loss beats its gradient constraint",
                    "Fig. 7.23, sec. 7.7",
                    paper="35 % vs 25 % overall (LeNet, CIFAR-10)",
                    ours=f"{sv:.3f} vs {gr:.3f} (sum; d = {d:+.3f} +- {se:.3f})",
                    holds=holds,
                    criterion=f"{PAIRED}, X = singular, Y = constraint_singular",
                    differs_because="the gradient constraint does as well or better here",
                )
            )
    return checks


def report_forgetting(out: Path, results: dict, checks: list[Check], quick: bool) -> Report:
    from landscope.forgetting import METHODS

    b = results["budget"]
    report = Report("Haink (2023) sec. 7.7: curvature-based defences against forgetting", out)
    report.results = results
    report.text(
        f"Split tasks on the 8x8 digits (A = classes 0-4, B = 5-9, one shared 10-way head); "
        f"{OFFLINE}.  Per network a pre-trained run on all classes; the layers under study "
        "(last layer / all layers) are reinitialized and trained on A to full training "
        f"accuracy (rounds of {b['epochs_a']} epochs, at most {b['max_epochs_a']}), then on B "
        f"for {b['epochs_b']} epochs (thesis: 50) at 1 % of A's final learning rate with "
        "lambda = 1000 (penalties) or gamma = 1 (constraints); per method and seed the epoch "
        "with the best sum of the two test accuracies.  N_lim = "
        f"{b['n_directions']} directions per layer for the Hessian / PCA methods, singular "
        f"values: the {b['n_singular']} largest of each weight matrix (the thesis' experiment; "
        "eq. 7.11 names those outside the Marchenko-Pastur bulk, the library default), 20 % of "
        f"each bias Hessian's eigenvalues; Hessians, Fisher and flatness on {b['max_samples']} task-A "
        f"samples.  Seeds: {list(b['seeds'])}{' (--quick)' if quick else ''}.  Methods: "
        + "; ".join(f"{k}: {v}" for k, v in METHODS.items())
        + "."
    )
    for net, entry in results["networks"].items():
        pre = entry["pretrained"]
        report.text(
            f"**{net}** (config `{entry['config']}`): pre-trained train accuracy "
            f"{pre.get('train_accuracy', float('nan')):.3f}, test {pre.get('test_accuracy', float('nan')):.3f}."
        )
        for scope in b["scopes"][net]:
            res = entry.get(scope)
            if res is None:
                continue
            seeds = res["seeds"]
            report.text(
                f"{net}, layers trained: {', '.join(res['layers'])} ({seeds[0]['num_params_studied']} "
                f"parameters).  Task A: train accuracy {min(s['task_a_train_accuracy'] for s in seeds):.3f}"
                f" (min over seeds) after {max(s['task_a_epochs'] for s in seeds):g} epochs, test "
                f"{np.mean([s['task_a_test_accuracy'] for s in seeds]):.3f}; task-B learning rate "
                f"{seeds[0]['lr_b']:.3g}."
            )
            report.table(
                ["method", "seed", "acc A", "acc B", "sum", "best epoch", "final acc A", "note"],
                [
                    [
                        r["method"],
                        r["seed"],
                        r["acc_a"],
                        r["acc_b"],
                        r["sum"],
                        r["best_epoch"],
                        r["final_acc_a"],
                        r["diverged"] or "",
                    ]
                    for r in res["rows"]
                ],
            )
            base = res["methods"]["finetune"]["mean_sum"] if "finetune" in res["methods"] else None
            report.table(
                ["method", "mean acc A", "mean acc B", "mean sum", "std sum", "beats fine-tuning"],
                [
                    [
                        m,
                        *(
                            f"diverged ({v['diverged']} of {v['seeds']} seeds)"
                            if v[k] is None
                            else v[k]
                            for k in ("mean_acc_a", "mean_acc_b", "mean_sum", "std_sum")
                        ),
                        "-"
                        if m == "finetune" or base is None or v["mean_sum"] is None
                        else ("yes" if v["mean_sum"] > base else "no"),
                    ]
                    for m, v in res["methods"].items()
                ],
            )
            figure = out / f"forgetting_{net}_{scope}.png"
            shutil.copyfile(out / net / scope / "forgetting_accuracy.png", figure)
            report.figure(
                figure,
                f"{net}, {scope} layer(s): test accuracy on A vs on B, one dot per method and "
                "seed (Haink Fig. 7.22 / 7.23)",
            )
    report.text("Verdicts (computed from the numbers above by the stated criteria):")
    report.checks(checks)
    return report


def haink_forgetting(
    out: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    budget: ForgettingBudget | None = None,
) -> dict:
    """Run the reproduction into ``out`` (report.md / .html, results.json, per network and scope
    the protocol's folder with table.csv, epochs.csv, results.json and the figure)."""
    out = Path(out)
    budget = budget or (QUICK if quick else FULL)
    results = compute_forgetting(out, budget, progress=progress)
    report = report_forgetting(out, results, forgetting_checks(results), quick)
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="haink-forgetting",
        paper=PAPER,
        items="sec. 3.3, 7.7 (eq. 3.10, 3.11, 7.10-7.12), Fig. 7.22, 7.23",
        description="Hessian, PCA, singular-value penalties and the gradient constraint against "
        "forgetting on split digits (MLP 50, LeNet; last / all layers), beside fine-tuning and EWC",
        run=haink_forgetting,
        configs=tuple(NETWORKS.values()),
        # measured wall time on the shared 2-core machine at load ~13 (quick: 104 s, 32 s of
        # CPU; full: 18 min), so upper bounds for an idle one
        minutes=(1.7, 18.0),
    )
)
