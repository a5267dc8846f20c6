"""``haink-pca-variants``: do the drift-mode statements of Haink (2023) ch. 6 hold beyond the one
network of its figures?  MLP 50 ([50, 50, 10], the thesis' MNIST net) and MLP 256 ([256, 128, 64,
10]) on the 8x8 digits and on MNIST-1D, each without and with weight decay 5e-4: eight runs, each
analyzed over the per-step window of its last epochs (the middle weight matrix: the (50, 50)
layer of MLP 50, the (128, 64) layer of MLP 256).

The thesis says the drift mode is "qualitatively observed across our used network architectures"
(sec. 6.3); these checks ask it of each of our eight runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from landscope.reproduce._catalog import Check, Reproduction, check, register
from landscope.reproduce._haink_pca import (
    LINEAR_R2,
    PAPER,
    Budget,
    measure_run,
    train_window,
    window_config,
)
from landscope.reproduce._report import Report

__all__ = ["VARIANTS", "VARIANTS_FULL", "VARIANTS_QUICK", "haink_variants", "variants_checks"]

#: (label, config, data, layer)
VARIANTS: tuple[tuple[str, str, str, str], ...] = tuple(
    (f"{model}{'_wd' if wd else ''}_{data}", f"pca_{model}{'_wd' if wd else ''}", data, layer)
    for model, layer in (("mlp50", "layers.1.weight"), ("mlp256", "layers.2.weight"))
    for data in ("digits", "mnist1d")
    for wd in (False, True)
)


@dataclass(frozen=True)
class VariantBudget:
    """Epochs of the eight runs (digits has 44 batches an epoch, MNIST-1D 125)."""

    epochs: int
    window: int
    components: int


VARIANTS_QUICK = VariantBudget(epochs=8, window=2, components=10)
VARIANTS_FULL = VariantBudget(epochs=100, window=5, components=50)


def variants_checks(results: dict) -> list[Check]:
    """The sec. 6.3 / Fig. 6.3 statements asked of every run (or run pair) of ``results``."""
    runs = results["runs"]
    r2 = {k: v["pc1_r2"] for k, v in runs.items()}
    linear = [k for k, v in r2.items() if v >= LINEAR_R2]
    pairs = sorted({k.replace("_wd", "") for k in runs})
    norms_ok, pc1_ok, grow_wd, shrink_plain = [], [], [], []
    for base in pairs:
        model, data = base.split("_", 1)
        plain, wd = runs.get(base), runs.get(f"{model}_wd_{data}")
        if plain is None or wd is None:
            continue
        if plain["norm_trend"] > 0 > wd["norm_trend"]:
            norms_ok.append(base)
        if wd["norm_trend"] >= 0:
            grow_wd.append(base)
        if plain["norm_trend"] <= 0:
            shrink_plain.append(base)
        if plain["rebuild_pc1_fraction"] > wd["rebuild_pc1_fraction"]:
            pc1_ok.append(base)
    n = len(pairs)
    return [
        check(
            "the drift mode (linear theta_1) appears in every network",
            "sec. 6.3 ('qualitatively observed across our used network architectures')",
            paper="all",
            ours=f"{len(linear)} of {len(r2)} runs; R^2: "
            + ", ".join(f"{k} {v:.3f}" for k, v in r2.items()),
            holds=len(linear) == len(r2),
            criterion=f"R^2 of the line through theta_1(t) >= {LINEAR_R2} in every run",
            differs_because="some runs have no linear first PC in their window: "
            + ", ".join(k for k in r2 if k not in linear),
        ),
        check(
            "||w|| grows without weight decay and shrinks with it, in every network",
            "sec. 6.3",
            paper="all",
            ours=f"{len(norms_ok)} of {n} pairs: " + (", ".join(norms_ok) or "none"),
            holds=len(norms_ok) == n,
            criterion="least-squares slope of ||w(t)|| > 0 without and < 0 with weight decay",
            differs_because=(
                f"with weight decay ||w|| still grows in {', '.join(grow_wd)}" if grow_wd else ""
            )
            + ("; " if grow_wd and shrink_plain else "")
            + (f"without it ||w|| shrinks in {', '.join(shrink_plain)}" if shrink_plain else "")
            + " (weight decay only slows the growth: the runs are not yet where it shrinks them)",
        ),
        check(
            "the first principal component carries more of the performance without weight decay",
            "Fig. 6.3 (a vs b)",
            paper="all",
            ours=f"{len(pc1_ok)} of {n} pairs: " + (", ".join(pc1_ok) or "none"),
            holds=len(pc1_ok) == n,
            criterion="acc(first PC) / acc(w) larger without weight decay in each pair",
            differs_because="weight decay does not reduce the first PC's share in every network",
        ),
    ]


def haink_variants(
    out: str | Path, *, quick: bool = False, progress: bool = True, overrides: dict | None = None
) -> dict:
    """Eight runs (MLP 50 / 256 x digits / MNIST-1D x weight decay 0 / 5e-4), the drift-mode
    numbers of each, and the thesis' statements checked on all.

    Args:
        overrides: nested config overrides of every run and ``budget`` (a dict of
            :class:`VariantBudget` fields); ``variants`` limits the runs (labels of
            :data:`VARIANTS`, tests).
    """
    t0 = time.perf_counter()
    out = Path(out)
    overrides = dict(overrides or {})
    vb = VariantBudget(
        **{**asdict(VARIANTS_QUICK if quick else VARIANTS_FULL), **overrides.pop("budget", {})}
    )
    chosen = overrides.pop("variants", None)
    budget = Budget(vb.epochs, vb.window, vb.components, 0, None, 3)
    results: dict = {"quick": quick, "budget": asdict(vb), "runs": {}}
    for label, name, data, layer in VARIANTS:
        if chosen is not None and label not in chosen:
            continue
        data_override = {"data": {"name": data}} if data != "digits" else {}
        cfg, start, _ = window_config(
            name, epochs=vb.epochs, window=vb.window, **{**data_override, **overrides}
        )
        run = train_window(cfg, out / label / "run", progress=progress)
        r = measure_run(run, start, out / label, budget, layer=layer, overlaps=False, losses=False)
        results["runs"][label] = {"layer": layer, "data": data, **r}
    results["seconds"] = time.perf_counter() - t0
    checks = variants_checks(results)
    report = Report("Haink (2023) ch. 6 across MLP 50 / 256, digits / MNIST-1D, weight decay", out)
    report.results = results
    report.text(
        f"Each run trains {vb.epochs} epochs (SGD batch 32, lr 0.01; MLP 256: x 0.99^epoch), the "
        f"last {vb.window} recorded at every step; PCA of the middle weight matrix over that "
        "window."
    )
    keys = (
        "test_accuracy",
        "pc1_variance_ratio",
        "pc1_r2",
        "norm_trend",
        "abs_theta1_trend",
        "cos_p1_w",
        "rebuild_pc1_fraction",
    )
    report.table(
        ["run", *keys],
        [[label, *(r.get(k) for k in keys)] for label, r in results["runs"].items()],
    )
    report.text("Verdicts (computed from our runs by the stated criterion):")
    report.checks(checks)
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="haink-pca-variants",
        paper=PAPER,
        items="sec. 6.3, Fig. 6.3 across networks",
        description="drift mode, norms and first-PC rebuilding for MLP 50 / MLP 256 on digits and "
        "MNIST-1D, with and without weight decay (8 runs)",
        run=haink_variants,
        configs=(
            "haink/pca_mlp50",
            "haink/pca_mlp50_wd",
            "haink/pca_mlp256",
            "haink/pca_mlp256_wd",
        ),
        minutes=(0.7, 3.0),  # CPU time measured: 33 s quick, 129 s full (2 cores, loaded)
    )
)
