"""Reproductions of Gur-Ari, Roberts & Dyer (2018), *Gradient descent happens in a tiny subspace*,
on offline data: the 8x8 digits (1,438 train / 359 test) stand in for MNIST and CIFAR-10, and the
small Keras ConvNet is trained on them with 'same' padding and a 128-unit dense layer.

- ``gurari-table1``: mean overlap(g, Hg) (eq. 3) over the last steps of training for the rows of
  Table 1, with the random-vector control of sec. 2.2.
- ``gurari-fig2``: one FC 2x100 run with the top-subspace tracker: Fig. 1 (f_top, loss, accuracy),
  Fig. 2 (subspace overlap grids, top k and next k), Fig. 3 (overlap vs dimension), Fig. 8 (top
  eigenvalues), Fig. 11 (c_i^2 at steps 0, 50, 100, 200).

Each writes ``report.md`` / ``report.html`` / ``results.json`` and its figures into ``out``, our
numbers next to the paper's; ``quick=True`` runs a shortened version (minutes on a laptop CPU).
The run configurations are module constants so they can be inspected and are mirrored as YAML in
``experiments/gurari/`` (a test keeps the two equal).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from landscope.reproduce._report import Report

__all__ = ["FIG2_CONFIG", "TABLE1_ROWS", "fig2", "table1", "table1_config"]

_FC = {"name": "mlp", "options": {"widths": [100, 100], "activation": "relu"}}
_DIGIT_IMAGES = {"name": "digits", "options": {"flatten": False}}
_CONVNET = {"name": "keras_cifar_convnet", "options": {"padding": "same", "dense_width": 128}}

BASE_CONFIG: dict = {
    "name": "gurari-fc-digits",
    "seed": 0,
    "dtype": "float32",
    "data": {"name": "digits"},
    "model": _FC,
    "init": {"weight": "glorot_uniform", "bias": "zeros"},
    "loss": "cross_entropy",
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"batch_size": 64, "steps": 3000},
    "record": {"params": {"every": 100}, "eval": {"every": 100}, "flush_every": 100},
}

# (key, paper dataset, paper model, paper comment, paper mean overlap, config overrides, note)
TABLE1_ROWS: list[dict] = [
    {
        "key": "softmax",
        "paper": ("MNIST", "Softmax", "", 0.96),
        "overrides": {"model": {"name": "softmax_regression", "options": {}}},
        "note": "digits 8x8 (p = 640) for MNIST (p = 7,840)",
    },
    {
        "key": "fc_softplus",
        "paper": ("MNIST", "FC", "Softplus activation", 0.96),
        "overrides": {
            "model": {"name": "mlp", "options": {"widths": [100, 100], "activation": "softplus"}}
        },
        "note": "digits; p = 17,610 (MNIST 89,610)",
    },
    {
        "key": "fc_lr0.01",
        "paper": ("MNIST", "FC", "eta = 0.01", 0.96),
        "overrides": {"optimizer": {"name": "sgd", "lr": 0.01}},
        "note": "digits",
    },
    {
        "key": "fc_batch256",
        "paper": ("MNIST", "FC", "Batch size 256", 0.97),
        "overrides": {"training": {"batch_size": 256}},
        "note": "digits (5 steps per epoch)",
    },
    {
        "key": "fc_random_labels",
        "paper": ("MNIST", "FC", "Random labels", 0.86),
        "overrides": {"data": {"name": "digits", "labels": "random"}},
        "note": "digits with permuted labels",
    },
    {
        "key": "convnet_random_labels",
        "paper": ("CIFAR10", "ConvNet", "Random labels", 0.86),
        "overrides": {"model": _CONVNET, "data": {**_DIGIT_IMAGES, "labels": "random"}},
        "note": "digits 8x8 for CIFAR-10; ConvNet with 'same' padding, dense 128",
    },
    {
        "key": "convnet_dropout_bn_dense",
        "paper": ("CIFAR10", "ConvNet", "Dropout, batch-norm, and extra dense layer", 0.93),
        "overrides": {
            "model": {
                "name": "keras_cifar_convnet",
                "options": {
                    "padding": "same",
                    "dense_width": 128,
                    "dropout": True,
                    "batch_norm": True,
                    "extra_dense": True,
                },
            },
            "data": _DIGIT_IMAGES,
        },
        "note": "digits; g and H in eval mode (running BatchNorm statistics, no dropout)",
    },
    {
        "key": "convnet_adam",
        "paper": ("CIFAR10", "ConvNet", "Optimized using Adam", 0.89),
        "overrides": {
            "model": _CONVNET,
            "data": _DIGIT_IMAGES,
            "optimizer": {"name": "adam", "lr": 0.001},
        },
        "note": "digits; Adam lr 1e-3 (the paper gives no Adam rate)",
    },
    {
        "key": "regression",
        "paper": ("Regression", "FC", "Batch size 100", 0.99),
        "overrides": {
            "data": {"name": "sine"},
            "loss": "mse",
            "training": {"batch_size": 100},
            "model": {"name": "mlp", "options": {"widths": [100, 100], "activation": "relu"}},
        },
        "note": "sine, 800 samples, noise 0.1; FC 1-100-100-1 (widths not given in the paper)",
    },
]

# Table 1: "the reported overlap is the mean over the last 1,000 steps of training".
FULL = {"steps": 3000, "window": 1000, "every": 1}
QUICK = {"steps": 600, "window": 200, "every": 4}


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and key not in ("model", "data")
        ):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def table1_config(row: dict, *, quick: bool = False) -> dict:
    """The run config of one Table 1 row (with the gradient_overlap online analysis)."""
    plan = QUICK if quick else FULL
    cfg = _merge(BASE_CONFIG, row["overrides"])
    cfg["name"] = f"gurari-table1-{row['key']}"
    cfg["training"] = {**cfg["training"], "steps": plan["steps"]}
    cfg["analyses"] = [
        {
            "name": "gradient_overlap",
            "every": plan["every"],
            "options": {"start": plan["steps"] - plan["window"], "random_vectors": 1},
        }
    ]
    return cfg


def table1(
    out: str | Path, *, quick: bool = False, rows: list[str] | None = None, progress: bool = True
) -> dict:
    """Table 1: mean overlap(g, Hg) over the last ``window`` steps for each row, beside the paper's."""
    from landscope.runs import open_run
    from landscope.training import train

    out = Path(out)
    plan = QUICK if quick else FULL
    chosen = [r for r in TABLE1_ROWS if rows is None or r["key"] in rows]
    if rows is not None and len(chosen) != len(rows):
        known = [r["key"] for r in TABLE1_ROWS]
        raise ValueError(f"unknown Table 1 rows {sorted(set(rows) - set(known))}; rows are {known}")
    report = Report("Gur-Ari, Roberts & Dyer (2018) Table 1: mean overlap(g, Hg)", out)
    table, results = [], {}
    for row in chosen:
        cfg = table1_config(row, quick=quick)
        t0 = time.perf_counter()
        train(cfg, out / "runs" / row["key"], overwrite=True, progress=progress)
        run = open_run(out / "runs" / row["key"])
        overlap = np.asarray(run.read("gradient_overlap.overlap"), dtype=float).ravel()
        control = np.asarray(run.read("gradient_overlap.random_overlap"), dtype=float).ravel()
        final = run.read_json("summary.json").get("final", {})
        dataset, model, comment, paper = row["paper"]
        ours = float(np.mean(overlap))
        results[row["key"]] = {
            "paper": paper,
            "ours": ours,
            "ours_std": float(np.std(overlap)),
            "ours_min": float(np.min(overlap)),
            "random_vector_control": float(np.mean(control)),
            "measurements": int(overlap.size),
            "final": final,
            "seconds": time.perf_counter() - t0,
            "config": cfg,
            "note": row["note"],
        }
        metric = final.get("train_accuracy", final.get("train_loss", float("nan")))
        table.append(
            [
                dataset,
                model,
                comment or "-",
                paper,
                ours,
                float(np.mean(control)),
                metric,
                row["note"],
            ]
        )
    report.text(
        f"Mean of overlap(g, Hg) = g^T H g / (||g|| ||Hg||) (eq. 3, full training set g and H) over "
        f"the last {plan['window']} of {plan['steps']} SGD steps, measured every {plan['every']} "
        f"step(s){' (--quick)' if quick else ''}.  The paper trains on MNIST / CIFAR-10 for "
        "'a few epochs' and averages over the last 1,000 steps; we train on the embedded 8x8 "
        "digits (offline stand-in, 1,438 training images) or the sine set.  'control' is the mean "
        "overlap(w, Hw) of random unit vectors w in the whole parameter space (sec. 2.2: "
        "'negligible').  'final' is the final train accuracy (train loss for regression)."
    )
    report.table(
        ["paper dataset", "model", "comment", "paper", "ours", "control", "final", "our setup"],
        table,
    )
    report.results = {"plan": plan, "quick": quick, "rows": results}
    report.save()
    return report.results


FIG2_CONFIG: dict = {
    **BASE_CONFIG,
    "name": "gurari-fig2-fc-digits",
    "training": {"batch_size": 64, "steps": 2000},
    "analyses": [
        {
            "name": "top_subspace",
            "every": 10,
            "options": {"k": 10, "num_next": 10, "store_eigenvectors": 2, "random_vectors": 4},
        }
    ],
}


FIG2_QUICK_STEPS = 400


def fig2_config(*, quick: bool = False) -> dict:
    """The run config of ``gurari-fig2`` (``quick``: 400 steps, eigenvectors at every call)."""
    cfg = copy.deepcopy(FIG2_CONFIG)
    if quick:
        cfg["training"]["steps"] = FIG2_QUICK_STEPS
        cfg["analyses"][0]["options"]["store_eigenvectors"] = 1
    return cfg


def _at(a, step: int, key: str) -> float:
    hits = np.flatnonzero(a.steps == step)
    return float(a[key][hits[0]]) if len(hits) else float("nan")


def fig2(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 1, 2, 3, 8, 11 from one FC 2x100 run on digits with the top-subspace tracker."""
    from landscope.plotting import (
        plot_eigenvalues_over_training,
        plot_eigenvector_weights,
        plot_overlap_by_dimension,
        plot_subspace_overlap_grid,
        plot_top_subspace_fraction,
        save_figure,
    )
    from landscope.subspace import read_tracked
    from landscope.training import train

    out = Path(out)
    cfg = fig2_config(quick=quick)
    t0 = time.perf_counter()
    train(cfg, out / "run", overwrite=True, progress=progress)
    a = read_tracked(out / "run")
    a.save(out / "subspace")
    k = a.k
    vsteps = a.eigenvector_steps
    t1_list = [
        s for s in (0, 50, 100, 200, 400, 1000) if s in set(vsteps.tolist()) and s < vsteps[-1]
    ]
    t1_star = 100 if 100 in t1_list else t1_list[-1]
    top, nxt = a.overlap_grid("top"), a.overlap_grid("next")
    i1 = int(np.flatnonzero(vsteps == t1_star)[0])
    later = vsteps > t1_star
    _, dim_table = a.overlap_by_dimension([t1_star])
    dims = dim_table[0]
    weight_steps = [s for s in (0, 50, 100, 200) if s in set(a.steps.tolist())]
    weights = {s: a.weight_sums(s) for s in weight_steps}
    last = int(a.steps[-1])
    window = a.steps > last - (a.steps[-1] // 2)
    results = {
        "quick": quick,
        "steps": int(cfg["training"]["steps"]),
        "k": k,
        "f_top": {int(s): _at(a, s, "fraction") for s in (0, 50, 100, 200, last)},
        "mean_f_top_second_half": float(np.mean(a["fraction"][window])),
        "mean_overlap_second_half": float(np.mean(a["overlap"][window])),
        "weights": {int(s): w for s, w in weights.items()},
        "subspace_overlap_t1": t1_star,
        "top_overlap_t1_to_last": float(top[i1, -1]),
        "top_overlap_mean_later": float(np.mean(top[i1, later])),
        "next_overlap_t1_to_last": float(nxt[i1, -1]),
        "next_overlap_mean_later": float(np.mean(nxt[i1, later])),
        "overlap_by_dimension_t1": dims.tolist(),
        "top_eigenvalue_first_last": [float(a.eigenvalues[0, 0]), float(a.eigenvalues[-1, 0])],
        "random_top_overlap_mean": float(np.nanmean(a["random_top_overlap"])),
        "random_full_overlap_mean": float(np.nanmean(a["random_full_overlap"])),
        "vertex_estimate_mean": float(np.nanmean(a["vertex_estimate"])),
        "final_train_accuracy": _at(a, last, "accuracy"),
        "all_converged": bool(np.all(a["max_relative_residual"] <= 1e-3)),
        "seconds": time.perf_counter() - t0,
        "config": cfg,
    }
    report = Report("Gur-Ari, Roberts & Dyer (2018) Fig. 1, 2, 3, 8, 11 (FC 2x100 on digits)", out)
    report.text(
        f"FC 64-100-100-10 (ReLU, p = 17,610) on the embedded 8x8 digits (offline stand-in for "
        f"MNIST), SGD batch 64, eta 0.1, {cfg['training']['steps']} steps; every 10 steps the "
        f"top {2 * k} Hessian eigenpairs of the full training loss by Lanczos (warm-started), "
        f"f_top (eq. 2), overlap(g, Hg) (eq. 3), c_i^2 (eq. 12) and random-vector controls."
    )
    w0, w50 = weights.get(0, {}), weights.get(50, {})
    rows = [
        ["sum_{i<=20} c_i^2 at step 0 (Fig. 11a)", 0.20, w0.get("all", float("nan"))],
        ["sum_{i<=20} c_i^2 at step 50 (Fig. 11b)", 0.94, w50.get("all", float("nan"))],
        ["sum_{i<=10} c_i^2 at step 50", 0.93, w50.get("top", float("nan"))],
        ["sum_{11<=i<=20} c_i^2 at step 50", 0.01, w50.get("next", float("nan"))],
        [
            "f_top, mean over the second half (Fig. 1: ~1 after a short period)",
            "~0.9-1",
            results["mean_f_top_second_half"],
        ],
        [
            "overlap(g, Hg), mean over the second half (Table 1 FC-like)",
            0.96,
            results["mean_overlap_second_half"],
        ],
        [
            "overlap(w, Hw), w random in top subspace (sec. 2.2: large)",
            "~0.87 (eq. 4)",
            results["random_top_overlap_mean"],
        ],
        [
            "overlap(w, Hw), w random in whole space (sec. 2.2: negligible)",
            "<< 1",
            results["random_full_overlap_mean"],
        ],
        [
            f"top-{k} subspace overlap, t1={t1_star} to last step (Fig. 2a: stays significant)",
            "significant",
            results["top_overlap_t1_to_last"],
        ],
        [
            f"next-{k} subspace overlap, t1={t1_star} to last step (Fig. 2b: decays quickly)",
            "small",
            results["next_overlap_t1_to_last"],
        ],
        [
            f"Fig. 3 at t1={t1_star}: mean overlap at d = {k - 1}, {k}, {k + 1}, {2 * k}",
            "flat to d=9, then decreasing",
            ", ".join(f"{dims[d - 1]:.3f}" for d in (k - 1, k, k + 1, 2 * k)),
        ],
    ]
    report.table(["quantity", "paper (MNIST)", "ours (digits)"], rows)
    figures = [
        (
            "fig1_fraction.png",
            plot_top_subspace_fraction(a),
            "Fig. 1: f_top and overlap(g, Hg) with loss and accuracy",
        ),
        (
            "fig2_subspace_overlap.png",
            plot_subspace_overlap_grid(a, t1=t1_list),
            "Fig. 2: overlap of top-k / next-k subspaces at t1 and t2",
        ),
        (
            "fig3_overlap_by_dimension.png",
            plot_overlap_by_dimension(a, t1=t1_list),
            "Fig. 3: mean overlap vs subspace dimension",
        ),
        (
            "fig8_eigenvalues.png",
            plot_eigenvalues_over_training(a),
            "Fig. 8: top eigenvalues along training",
        ),
    ]
    if weight_steps:
        figures.append(
            (
                "fig11_weights.png",
                plot_eigenvector_weights(a, weight_steps),
                "Fig. 11: c_i^2 at chosen steps",
            )
        )
    for name, fig, caption in figures:
        save_figure(fig, out / name)
        report.figure(out / name, caption)
    report.results = results
    report.save()
    return results
