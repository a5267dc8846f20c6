"""``landscope reproduce gurari-spectrum``: the Hessian spectrum of a small trained FC net, after
Gur-Ari, Roberts & Dyer (2018) App. B (Fig. 4, 5, 6, 7) and the "k is for classes" check of sec. 1
/ App. B ("number of outliers = number of classes", citing Sagun et al. 2016, 2017).

All on the embedded 8x8 digits (offline stand-in for MNIST: 1,438 train images, 10 classes), in
float64, with the *full* dense Hessian of the training loss (``hessian_eigh``), which the small
nets allow (p = 3,466 for the paper's Fig. 4 net 64-32-32-10; p = 1,510 for 64-20-10 in
``quick``):

1. Fig. 4: one run (the first seed); its full spectrum with the top k = 10 marked; top
   eigenvalues, the outlier count (:func:`landscope.spectra.count_outliers`, rule
   :data:`OUTLIER_RULE`), the share of the positive spectral mass in the top k, negative
   eigenvalues.
2. Fig. 5: the same at several seeds; density of the top ``FIG5_TOP_PER_CLASS * k`` eigenvalues of
   every seed, pooled, on a log axis (the paper: top 1,000 for k = 100); mean and std of the
   outlier count over seeds.
3. Fig. 6 / 7: the top eigenvector of the first-seed run at :data:`EIGENVECTOR_STEPS` and the last
   step, by parameter index coloured by tensor (Fig. 7: the top layer only); the share of its
   squared norm in each tensor, its participation ratio and its overlap with the final one.
4. Labels: the first-seed run again with ``data.labels = "even_odd"`` (2 classes) and
   ``"random"`` (a seeded permutation of the 10 labels); outlier counts beside the paper's 10 / 2
   / 10, and a figure of the three top-30 spectra.

Writes ``report.md`` / ``report.html`` / ``results.json``, ``spectra.npz`` (every full spectrum)
and the figures into ``out``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from landscope.reproduce._report import Report
from landscope.spectra import ZERO_RTOL, fix_sign, layer_shares, spectrum_summary

__all__ = [
    "EIGENVECTOR_STEPS",
    "FIG5_TOP_PER_CLASS",
    "LABEL_VARIANTS",
    "OUTLIER_RULE",
    "SPECTRUM_CONFIG",
    "SPECTRUM_PLAN",
    "spectrum",
    "spectrum_config",
]

#: Fig. 6's steps (0, 100, 200, 400); those before the last step are used, plus the last step.
EIGENVECTOR_STEPS: tuple[int, ...] = (0, 100, 200, 400)

#: The full run: the paper's Fig. 4 network (FC, two hidden layers of 32, ReLU) on digits, SGD
#: batch 64, eta 0.1 (Table 1's FC setting), float64 so that the dense spectrum is exact to
#: rounding.  Parameters are recorded at :data:`EIGENVECTOR_STEPS` and the last step (set by
#: :func:`spectrum_config`).
SPECTRUM_CONFIG: dict = {
    "name": "gurari-spectrum-fc-digits",
    "seed": 0,
    "dtype": "float64",
    "data": {"name": "digits", "labels": "original"},
    "model": {"name": "mlp", "options": {"widths": [32, 32], "activation": "relu"}},
    "init": {"weight": "glorot_uniform", "bias": "zeros"},
    "loss": "cross_entropy",
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"batch_size": 64, "steps": 2000},
    "record": {
        "params": {"steps": list(EIGENVECTOR_STEPS)},
        "updates": False,
        "eval": {"every": 100},
        "flush_every": 500,
    },
}

#: Steps, seeds (the first one is the run of Fig. 4, 6, 7 and the label variants) and hidden
#: widths.  ``quick`` uses 64-20-10 (p = 1,510; a dense spectrum in ~3 s on one core) and 300 steps.
#: ``random_label_steps``: the random-label run trains longer, because the paper's statement is
#: about a net that fits random labels ("could still get very high training accuracy"); the
#: 64-32-32-10 net reaches ~0.9 train accuracy in 20,000 steps (0.24 after 2,000).  The 64-20-10
#: net of ``quick`` does not fit them in any affordable time (0.33 after 10,000 steps).
SPECTRUM_PLAN: dict = {
    "full": {
        "steps": 2000,
        "seeds": [0, 1, 2, 3, 4],
        "widths": [32, 32],
        "random_label_steps": 20000,
    },
    "quick": {"steps": 300, "seeds": [0, 1, 2], "widths": [20], "random_label_steps": 300},
}

#: ``count_outliers`` rule: the largest log-gap among the top ``max_outliers_per_class * C``
#: eigenvalues (C the number of classes of the labels used), a gap of at least ``min_ratio``.
#: Twice the expected count is what the helper's docstring recommends for looking at the top
#: only; on the whole spectrum the largest gap is the one to the exact zeros of dead pixels.
OUTLIER_RULE: dict = {"method": "largest_gap", "max_outliers_per_class": 2, "min_ratio": 2.0}

#: Fig. 5 pools the top ``FIG5_TOP_PER_CLASS * C`` eigenvalues of each seed (the paper computed
#: the top 1,000 for CIFAR-100, C = 100: the same multiple).
FIG5_TOP_PER_CLASS = 10

#: (labels, the paper's expected number of outliers = number of classes).
LABEL_VARIANTS: tuple[tuple[str, int], ...] = (("original", 10), ("even_odd", 2), ("random", 10))


_RULE = {**OUTLIER_RULE, "zero_rtol": ZERO_RTOL}


def spectrum_config(
    *, quick: bool = False, seed: int | None = None, labels: str = "original"
) -> dict:
    """The run config of one spectrum run (``seed`` default: the plan's first seed); parameters
    are recorded at the :data:`EIGENVECTOR_STEPS` before the last step, and the last."""
    plan = SPECTRUM_PLAN["quick" if quick else "full"]
    cfg = copy.deepcopy(SPECTRUM_CONFIG)
    cfg["seed"] = int(plan["seeds"][0] if seed is None else seed)
    cfg["model"]["options"]["widths"] = list(plan["widths"])
    cfg["training"]["steps"] = int(plan["random_label_steps" if labels == "random" else "steps"])
    cfg["data"]["labels"] = labels
    last = cfg["training"]["steps"]
    cfg["record"]["params"]["steps"] = [s for s in EIGENVECTOR_STEPS if s < last]
    cfg["name"] = f"gurari-spectrum-{labels}-seed{cfg['seed']}"
    return cfg


def _top_layer_view(v: np.ndarray, layout):
    """Fig. 7: the last weight and bias tensors as their own layout (indices from 0)."""
    from landscope.problem import ParameterLayout, ParameterSlot

    slots = layout.slots[-2:]
    base = slots[0].offset
    shifted = [
        ParameterSlot(s.name, s.shape, s.offset - base, s.numel, s.layer, s.kind) for s in slots
    ]
    return v[base:], ParameterLayout(shifted)


def _plot_top_spectra(spectra: dict[str, np.ndarray], counts: dict[str, int], n: int = 30):
    """Item 6: the top ``n`` eigenvalues against their index (log axis) for each label setting,
    a marker at each setting's outlier count."""
    from landscope.plotting._landscape import _figure

    fig = _figure(figsize=(5.6, 3.6))
    ax = fig.subplots()
    for i, (name, eigs) in enumerate(spectra.items()):
        top = eigs[:n]
        idx = np.arange(1, top.size + 1)
        keep = top > 0
        ax.plot(idx[keep], top[keep], "o-", ms=3, lw=1, color=f"C{i}", label=name)
        m = counts[name]
        if 0 < m <= top.size:
            ax.axvline(m + 0.5, color=f"C{i}", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("index i (decreasing eigenvalue)")
    ax.set_ylabel(r"$\lambda_i$")
    ax.legend(fontsize=7, title="labels (dotted: outlier count)", title_fontsize=7)
    ax.set_title("Top of the Hessian spectrum by label setting (Gur-Ari App. B)")
    return fig


def _label_verdict(labels: dict) -> str:
    """One paragraph comparing the measured counts with "outliers = classes", from the numbers."""
    parts = []
    for name, lab in labels.items():
        c, n = lab["num_classes"], lab["outliers"]
        rel = "= C" if n == c else "= C - 1" if n == c - 1 else f"(C = {c})"
        acc = lab["final_train"].get("accuracy", float("nan"))
        parts.append(
            f"{name}: {n} {rel} (largest gap after lambda_{lab['largest_gap_position']}, ratio "
            f"{lab['largest_gap_ratio']:.2f}; train accuracy {acc:.2f})"
        )
    text = "Measured outlier counts: " + "; ".join(parts) + "."
    if any(lab["outliers"] == lab["num_classes"] - 1 for lab in labels.values()):
        text += (
            "  Where the count is C - 1 rather than C, that is what the stated criterion finds: "
            "its largest gap is the one after lambda_{C-1} (compare lambda_{C-1} / lambda_C with "
            "lambda_C / lambda_{C+1} in the table above).  A possible reason (not tested "
            "here): the softmax cross-entropy Hessian with respect to the C logits annihilates "
            "the all-ones logit direction, so the class structure spans C - 1 directions; the "
            "toy model (landscope.subspace.simulate_toy) with biases likewise has C - 1 large "
            "outliers."
        )
    text += (
        f"  A count of 0 means no ratio lambda_n / lambda_n+1 among the top 2C reaches "
        f"{OUTLIER_RULE['min_ratio']}; the gap position without a threshold is given beside it."
        "  Random labels say something only where the net fits them."
    )
    return text


def _train_and_decompose(
    cfg: dict, run_dir: Path, steps: list[int], progress: bool, *, vectors: bool = True
):
    """Train ``cfg`` into ``run_dir``; dense eigendecomposition of the training-loss Hessian at
    each of ``steps`` (recorded parameters).  Returns (train problem, dataset, {step: (eigs
    decreasing, top eigenvector or None)}, {step: train loss / accuracy}).  ``vectors=False``:
    eigenvalues only (``eigvalsh``, several times faster than ``eigh``)."""
    import torch

    from landscope.config import build_dataset, build_problems
    from landscope.curvature import dense_hessian, hessian_eigh
    from landscope.runs import open_run
    from landscope.training import train

    dataset = build_dataset(cfg)  # built once, the same one ``train`` would build from cfg
    train(cfg, run_dir, overwrite=True, progress=progress, dataset=dataset)
    run = open_run(run_dir)
    problem, _ = build_problems(cfg, dataset=dataset)
    params = np.asarray(run.read("params", steps=steps))
    decomposed, metrics = {}, {}
    for step, row in zip(steps, params, strict=True):
        theta = torch.as_tensor(row, dtype=problem.dtype)
        if vectors:
            evals, evecs = hessian_eigh(problem, theta)
            decomposed[step] = (evals.numpy().copy(), evecs[:, 0].numpy().copy())
        else:
            H = dense_hessian(problem, theta)
            evals = torch.linalg.eigvalsh((H + H.T) / 2).flip(0)
            decomposed[step] = (evals.numpy().copy(), None)
        metrics[step] = problem.evaluate(theta)
    return problem, dataset, decomposed, metrics


def spectrum(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Gur-Ari et al. Fig. 4, 5, 6, 7 and the outliers-vs-classes check on digits.

    Args:
        out: folder for the runs, figures and report.
        quick: the ``quick`` plan (3 seeds of 64-20-10, 300 steps: about 1 minute on one core)
            instead of ``full`` (5 seeds of 64-32-32-10, 2,000 steps).
        progress: show training progress bars.

    Returns:
        The results dict also written to ``results.json``: per seed the spectrum summary
        (eigenvalues in units of the loss (nats) per parameter^2), the outlier statistics over
        seeds, the eigenvector shares per tensor, and the outlier counts per label setting.
    """
    from landscope.plotting import plot_eigenvector_by_layer, plot_spectrum, save_figure

    out = Path(out)
    plan_name = "quick" if quick else "full"
    plan = SPECTRUM_PLAN[plan_name]
    steps_total = int(plan["steps"])
    seeds = [int(s) for s in plan["seeds"]]
    vec_steps = sorted({s for s in EIGENVECTOR_STEPS if s < steps_total} | {steps_total})
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    results: dict = {
        "quick": quick,
        "plan": plan,
        "outlier_rule": {**OUTLIER_RULE, "zero_rtol": ZERO_RTOL},
        "eigenvector_steps": vec_steps,
    }
    spectra_npz: dict[str, np.ndarray] = {}

    # 1 + 2 + 3: one run per seed; the first seed also at the eigenvector steps.
    per_seed, eigs_by_seed, main = {}, {}, None
    for i, seed in enumerate(seeds):
        t0 = time.perf_counter()
        cfg = spectrum_config(quick=quick, seed=seed)
        steps = vec_steps if i == 0 else [steps_total]
        problem, dataset, dec, metrics = _train_and_decompose(
            cfg, out / "runs" / f"seed{seed}", steps, progress, vectors=i == 0
        )
        eigs = dec[steps_total][0]
        eigs_by_seed[seed] = eigs
        spectra_npz[f"seed{seed}"] = eigs
        per_seed[seed] = {
            **spectrum_summary(eigs, dataset.num_classes, **_RULE),
            "final_train": metrics[steps_total],
            "config": cfg,
        }
        if i == 0:
            main = (problem, dataset, dec, metrics)
        timings[f"seed{seed}"] = time.perf_counter() - t0
    results["seeds"] = per_seed
    counts = np.array([per_seed[s]["outliers"] for s in seeds], dtype=float)
    num_classes = main[1].num_classes
    where = np.array([per_seed[s]["largest_gap_position"] for s in seeds], dtype=float)
    results["outliers_over_seeds"] = {
        "counts": counts.astype(int).tolist(),
        "mean": float(counts.mean()),
        "std": float(counts.std()),
        "largest_gap_positions": where.astype(int).tolist(),
        "largest_gap_position_mean": float(where.mean()),
        "largest_gap_position_std": float(where.std()),
        "largest_gap_ratios": [per_seed[s]["largest_gap_ratio"] for s in seeds],
        "ratio_C_over_C_plus_1_mean": float(
            np.mean([per_seed[s]["ratio_C_over_C_plus_1"] for s in seeds])
        ),
        "lambda_C_mean": float(np.mean([eigs_by_seed[s][num_classes - 1] for s in seeds])),
        "lambda_C_plus_1_mean": float(np.mean([eigs_by_seed[s][num_classes] for s in seeds])),
    }

    # 3. top eigenvector of the first-seed run
    problem, dataset, dec, metrics = main
    layout = problem.layout
    final_v = fix_sign(dec[steps_total][1])
    vectors, eigvec = {}, {}
    for step in vec_steps:
        v = fix_sign(dec[step][1])
        vectors[step] = v
        shares = layer_shares(v, layout)
        names = [s.name for s in layout.slots]
        eigvec[step] = {
            "lambda_1": float(dec[step][0][0]),
            "shares": shares,
            # "top layer weights ... only ~4x larger than typical coefficients in the first
            # hidden layer": ratio of the rms entries, last weight over first weight.
            "rms_ratio_top_over_first_weight": shares[names[-2]]["rms"] / shares[names[0]]["rms"],
            # p * sum v^4 inverted: 1 for a flat vector, 1/p for a single entry ("never sparse").
            "participation_ratio": float(1.0 / (v.size * np.sum(v**4))),
            "overlap_with_final": float(abs(v @ final_v)),
            "train": metrics[step],
        }
    results["top_eigenvector"] = eigvec

    # 4. label settings (first seed)
    t0 = time.perf_counter()
    label_spectra = {"original": eigs_by_seed[seeds[0]]}
    labels: dict = {
        "original": {
            **per_seed[seeds[0]],
            "steps": steps_total,
            "expected": dict(LABEL_VARIANTS)["original"],
        }
    }
    for name, expected in LABEL_VARIANTS:
        if name == "original":
            continue
        cfg = spectrum_config(quick=quick, labels=name)
        last = int(cfg["training"]["steps"])
        _, ds, dec_l, metrics_l = _train_and_decompose(
            cfg, out / "runs" / name, [last], progress, vectors=False
        )
        eigs = dec_l[last][0]
        label_spectra[name] = eigs
        spectra_npz[name] = eigs
        labels[name] = {
            **spectrum_summary(eigs, ds.num_classes, **_RULE),
            "expected": expected,
            "steps": last,
            "final_train": metrics_l[last],
            "config": cfg,
        }
    timings["labels"] = time.perf_counter() - t0
    results["labels"] = labels
    results["seconds"] = {**timings, "total": time.perf_counter() - t_start}

    # figures
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "spectra.npz", **spectra_npz)
    main_seed = seeds[0]
    width_text = "-".join(["64", *map(str, plan["widths"]), "10"])
    top_n = FIG5_TOP_PER_CLASS * num_classes
    figures = [
        (
            "fig4_spectrum.png",
            plot_spectrum(
                eigs_by_seed[main_seed],
                k=num_classes,
                title=f"Hessian spectrum, FC {width_text} on digits, step {steps_total} (Fig. 4)",
            ),
            f"Fig. 4: full Hessian spectrum (seed {main_seed}, p = {per_seed[main_seed]['p']}), "
            f"top {num_classes} marked",
        ),
        (
            "fig5_log_density.png",
            plot_spectrum(
                [eigs_by_seed[s][:top_n] for s in seeds],
                log_density=True,
                bins=30,
                title=f"Top {top_n} eigenvalues, {len(seeds)} seeds pooled (Fig. 5)",
            ),
            f"Fig. 5: density of the top {top_n} eigenvalues of each of {len(seeds)} seeds, "
            "log axes",
        ),
    ]
    for step in vec_steps:
        figures.append(
            (
                f"fig6_eigenvector_step{step}.png",
                plot_eigenvector_by_layer(
                    vectors[step], layout, title=f"Top Hessian eigenvector, step {step} (Fig. 6)"
                ),
                f"Fig. 6: top eigenvector at step {step} by parameter index, coloured by tensor",
            )
        )
    for step in (vec_steps[0], vec_steps[-1]):
        v_top, sub = _top_layer_view(vectors[step], layout)
        figures.append(
            (
                f"fig7_top_layer_step{step}.png",
                plot_eigenvector_by_layer(
                    v_top, sub, title=f"Top eigenvector, top layer only, step {step} (Fig. 7)"
                ),
                f"Fig. 7: the same at step {step}, top-layer weights and biases only "
                "(index counted from the top layer's first entry)",
            )
        )
    figures.append(
        (
            "labels_top30.png",
            _plot_top_spectra(label_spectra, {k: v["outliers"] for k, v in labels.items()}),
            "Top 30 eigenvalues with original, even/odd and random labels (dotted: outlier count)",
        )
    )

    # report
    rule = (
        f"count_outliers(method='{OUTLIER_RULE['method']}', max_outliers = "
        f"{OUTLIER_RULE['max_outliers_per_class']} x C, min_ratio = {OUTLIER_RULE['min_ratio']})"
    )
    ms = per_seed[main_seed]
    report = Report(
        "Gur-Ari, Roberts & Dyer (2018) App. B: Hessian spectrum (Fig. 4, 5, 6, 7) and "
        "outliers vs classes",
        out,
    )
    report.text(
        f"FC {width_text} (ReLU, p = {ms['p']}) on the embedded 8x8 digits (offline stand-in for "
        f"MNIST, 1,438 training images, C = {num_classes} classes), float64, SGD batch 64, "
        f"eta 0.1, {steps_total} steps{' (--quick)' if quick else ''}; seeds {seeds}.  The full "
        "dense Hessian of the mean training loss is diagonalized at the last step.  The paper's "
        "Fig. 4 is a 784-32-32-10 net after 40 MNIST epochs; Fig. 5 a (256, 256) net on "
        "CIFAR-100 (top 1,000 eigenvalues, 200 realizations); Fig. 6/7 a (100, 100) net on MNIST."
        f"\n\nOutliers are counted by {rule}, C the number of classes of the labels used; "
        f"eigenvalues with |lambda| <= {ZERO_RTOL:g} lambda_1 count as zero (the 8x8 digits have "
        "constant pixels, whose first-layer weights are exactly flat directions)."
    )
    ev_final = eigvec[steps_total]
    over = results["outliers_over_seeds"]
    names = [s.name for s in layout.slots]
    rows = [
        [
            f"Fig. 4: outlier count (seed {main_seed})",
            f"{num_classes} ('10 nontrivial eigenvalues')",
            ms["outliers"],
        ],
        [
            "Fig. 4: top 12 eigenvalues",
            "not given (plot)",
            ", ".join(f"{x:.3g}" for x in ms["top12"]),
        ],
        [
            f"lambda_{num_classes - 1}/lambda_{num_classes}, "
            f"lambda_{num_classes}/lambda_{num_classes + 1}",
            "clear tail at the right edge",
            f"{ms['ratio_Cm1_over_C']:.2f}, {ms['ratio_C_over_C_plus_1']:.2f}",
        ],
        [
            f"share of the positive spectral mass in the top {num_classes}",
            "not given",
            ms["top_C_mass_fraction"],
        ],
        [
            "negative eigenvalues: count / most negative (/ lambda_1)",
            "not given",
            f"{ms['num_negative']} of {ms['p']} / {ms['most_negative']:.3g} "
            f"({ms['most_negative_over_top']:.3g})",
        ],
        [
            f"Fig. 5: outlier count over {len(seeds)} seeds, mean +- std",
            "~k (feature near the 100th of 100 classes)",
            f"{over['mean']:.2f} +- {over['std']:.2f} ({over['counts']})",
        ],
        [
            f"largest gap among the top {2 * num_classes}, no threshold: after lambda_n, n = "
            "(mean +- std; ratios)",
            f"{num_classes}",
            f"{over['largest_gap_position_mean']:.2f} +- {over['largest_gap_position_std']:.2f} "
            f"({over['largest_gap_positions']}; "
            + ", ".join(f"{r:.2f}" for r in over["largest_gap_ratios"])
            + ")",
        ],
        [
            "Fig. 6: rms entry, top-layer weights / first-layer weights (final step)",
            "~4",
            ev_final["rms_ratio_top_over_first_weight"],
        ],
        [
            "Fig. 6/7: participation ratio 1/(p sum v^4) of the top eigenvector (final step)",
            "'never sparse'",
            ev_final["participation_ratio"],
        ],
        [
            f"Fig. 6: |v_1(0) . v_1({steps_total})|",
            "'not constant during training'",
            eigvec[vec_steps[0]]["overlap_with_final"],
        ],
    ]
    for name, _ in LABEL_VARIANTS:
        lab = labels[name]
        rows.append(
            [
                f"outliers with {name} labels (C = {lab['num_classes']}; {lab['steps']} steps, "
                f"train acc {lab['final_train'].get('accuracy', float('nan')):.3f})",
                lab["expected"],
                lab["outliers"],
            ]
        )
    report.table(["quantity", "paper", "ours"], rows)
    report.text(
        "Share of the top eigenvector's squared norm per parameter tensor (Fig. 6's layer "
        "colouring), against each tensor's share of the parameters:"
    )
    report.table(
        ["step", *[f"{n} (params {ev_final['shares'][n]['param_share']:.3f})" for n in names]],
        [[s, *[eigvec[s]["shares"][n]["squared_norm_share"] for n in names]] for s in vec_steps],
    )
    report.text("Label settings (first seed), full spectrum at the last step:")
    report.table(
        [
            "labels",
            "C",
            "steps",
            "paper outliers",
            "ours",
            "ours (first_gap)",
            "largest gap after (no threshold)",
            "lambda_C-1/lambda_C",
            "lambda_C/lambda_C+1",
            "top 4",
            "train acc",
        ],
        [
            [
                name,
                labels[name]["num_classes"],
                labels[name]["steps"],
                labels[name]["expected"],
                labels[name]["outliers"],
                labels[name]["outliers_first_gap"],
                labels[name]["largest_gap_position"],
                labels[name]["ratio_Cm1_over_C"],
                labels[name]["ratio_C_over_C_plus_1"],
                ", ".join(f"{x:.3g}" for x in labels[name]["top12"][:4]),
                labels[name]["final_train"].get("accuracy", float("nan")),
            ]
            for name, _ in LABEL_VARIANTS
        ],
    )
    report.text(_label_verdict(labels))
    for name, fig, caption in figures:
        save_figure(fig, out / name)
        report.figure(out / name, caption)
    report.results = results
    report.save()
    return results
