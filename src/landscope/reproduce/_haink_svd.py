"""``haink-svd``: Haink (2023, MSc thesis) ch. 4 and the singular-value statements of sec. 6.1:
the squared singular values of trained weight matrices follow the Marchenko-Pastur law (eq. 4.2)
with a few outliers (ref. [27]), which random initialisation explains; removing the bulk singular
values keeps the accuracy (ref. [37]); the unfolded level spacings follow the Wigner surmise
(eq. 4.3, ref. [38]); weight decay shrinks the bulk more than the outliers (sec. 6.1).

The thesis states these from the literature and its own figures without fitting an MP law; here
every matrix is fitted (:class:`landscope.spectra.MarchenkoPastur`: median sigma, Tracy-Widom 1 %
outliers) by the ``svd`` analysis (:func:`landscope.spectra.run_svd_analysis`) of each run:

* MLP 50 and MLP 256 (without / with weight decay 5e-4) on the 8x8 digits (offline stand-in for
  MNIST / CIFAR-10), the shipped ``haink/pca_mlp50``, ``pca_mlp256``, ``pca_mlp256_wd`` configs;
* MLP 50 on MNIST-1D (``haink/svd_mlp50_mnist1d``);
* full only: LeNet on the digits as images (``haink/svd_lenet_digits``), its conv kernels in the
  three reshapes of :data:`landscope.spectra.CONV_RESHAPES`.

Statistics that need many singular values (bulk KS distance, spacings) use the matrices with at
least :data:`MIN_SINGULAR` of them.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from landscope.reproduce._catalog import (
    Check,
    Reproduction,
    check,
    load_reproduction_config,
    register,
)
from landscope.reproduce._report import Report

__all__ = ["FULL", "MIN_SINGULAR", "QUICK", "SVDBudget", "haink_svd", "svd_checks"]

PAPER = "Haink 2023 (MSc thesis, Leipzig)"
OFFLINE = "offline stand-ins (8x8 digits, MNIST-1D) and fewer epochs than the thesis' 200"

#: matrices with fewer singular values are fitted and shown, but not counted in the statistics
MIN_SINGULAR = 32
#: criteria, fixed before looking at our numbers
BULK_KS = 0.1  # "follows the MP law": KS distance of the bulk from the fitted law
MAX_OUTLIER_FRACTION = 0.1  # "a few" outliers: at most this fraction of the singular values
ACCURACY_DROP = 0.02  # "does not detrimentally affect accuracy": at most 2 points lost
WD_MARGIN = 0.05  # weight decay: the bulk's sigma ratio this much below the top value's ratio
WIGNER_P = 0.01  # spacings "behave like the Wigner surmise": KS p-value at least this


@dataclass(frozen=True)
class SVDBudget:
    """Epochs per run of ``haink-svd`` (``QUICK`` / ``FULL``)."""

    mlp50_epochs: int
    mlp256_epochs: int
    mnist1d_epochs: int
    lenet_epochs: int  # 0: no LeNet run


QUICK = SVDBudget(mlp50_epochs=20, mlp256_epochs=15, mnist1d_epochs=4, lenet_epochs=0)
FULL = SVDBudget(mlp50_epochs=200, mlp256_epochs=200, mnist1d_epochs=100, lenet_epochs=100)

#: label -> (config, budget field)
RUNS = {
    "mlp50-digits": ("haink/pca_mlp50", "mlp50_epochs"),
    "mlp256-digits": ("haink/pca_mlp256", "mlp256_epochs"),
    "mlp256-digits-wd": ("haink/pca_mlp256_wd", "mlp256_epochs"),
    "mlp50-mnist1d": ("haink/svd_mlp50_mnist1d", "mnist1d_epochs"),
    "lenet-digits": ("haink/svd_lenet_digits", "lenet_epochs"),
}


def _f(v) -> float:
    return float("nan") if v is None else float(v)


def measure(res: dict) -> dict:
    """The numbers the checks read from one ``svd`` results.json."""
    big = [m for m in res["matrices"] if min(m["rows"], m["cols"]) >= MIN_SINGULAR]
    out = {
        "matrices": [m["name"] for m in res["matrices"]],
        "large_matrices": [m["name"] for m in big],
        "n_outliers": {m["name"]: m["n_outliers"] for m in res["matrices"]},
        "n_singular": {m["name"]: min(m["rows"], m["cols"]) for m in res["matrices"]},
        "bulk_ks": {m["name"]: m["bulk_ks"] for m in big},
        "init_n_outliers": {m["name"]: m["init"]["n_outliers"] for m in res["matrices"]},
        "init_bulk_ks": {m["name"]: m["init"]["bulk_ks"] for m in big},
        "wigner_p": {m["name"]: m["spacing"]["p_wigner"] for m in big if m.get("spacing")},
        "wigner_closer": {m["name"]: m["spacing"]["closer_to"] for m in big if m.get("spacing")},
        "sigma_mp": {m["name"]: m["sigma_mp"] for m in res["matrices"]},
        "top_singular": {
            m["name"]: (m["largest_eigenvalue"] * max(m["rows"], m["cols"])) ** 0.5
            for m in res["matrices"]
        },
    }
    bulk = res.get("bulk_removal")
    if bulk:
        split = "test" if "test" in bulk["original"] else "train"
        out["accuracy"] = bulk["original"][split]["accuracy"]
        out["accuracy_bulk_removed"] = bulk["all"][split]["accuracy"]
        out["accuracy_bulk_removed_per_matrix"] = {
            k: v[split]["accuracy"] for k, v in bulk["per_matrix"].items()
        }
    return out


def svd_checks(results: dict) -> list[Check]:
    """The thesis' ch. 4 / sec. 6.1 statements, each with a verdict computed from
    ``results["runs"]`` (label -> :func:`measure` dict)."""
    runs = results["runs"]
    big = [(r, n) for r, m in runs.items() for n in m["large_matrices"]]
    mp_ok = [
        (r, n)
        for r, n in big
        if runs[r]["bulk_ks"][n] <= BULK_KS
        and 1 <= runs[r]["n_outliers"][n] <= MAX_OUTLIER_FRACTION * runs[r]["n_singular"][n]
    ]
    init_ok = [
        (r, n) for r, m in runs.items() for n in m["matrices"] if m["init_n_outliers"][n] == 0
    ]
    n_all = sum(len(m["matrices"]) for m in runs.values())
    wig = [(r, n) for r, n in big if n in runs[r]["wigner_p"]]
    wig_ok = [
        (r, n)
        for r, n in wig
        if runs[r]["wigner_p"][n] >= WIGNER_P and runs[r]["wigner_closer"][n] == "wigner"
    ]
    acc = {
        r: (m["accuracy"], m["accuracy_bulk_removed"]) for r, m in runs.items() if "accuracy" in m
    }
    acc_ok = [r for r, (a, b) in acc.items() if b >= a - ACCURACY_DROP]
    outl = {f"{r}:{n}": runs[r]["n_outliers"][n] for r, n in big}
    checks = [
        check(
            "the squared singular values of trained weight matrices follow the Marchenko-Pastur "
            "law, with a few singular values outside the bulk",
            "ch. 4 (eq. 4.2, ref. [27])",
            paper="MP bulk + few outliers",
            ours=f"{len(mp_ok)} / {len(big)} matrices (>= {MIN_SINGULAR} singular values); "
            f"outliers {outl}",
            holds=len(big) > 0 and len(mp_ok) == len(big),
            criterion=f"every matrix: bulk KS distance <= {BULK_KS} and 1 <= outliers <= "
            f"{MAX_OUTLIER_FRACTION:.0%} of its singular values (Tracy-Widom 1 %)",
            differs_because="some trained matrices have no outlier or a bulk that is not MP-"
            f"shaped; {OFFLINE}",
        ),
        check(
            "the MP behaviour comes from the random initialisation: at initialisation there are "
            "no outliers",
            "ch. 4",
            paper="random init -> MP",
            ours=f"{len(init_ok)} / {n_all} matrices without outliers at step 0",
            holds=len(init_ok) == n_all,
            criterion="every matrix at the first recorded step has 0 outliers (Tracy-Widom 1 %: "
            "a pure random matrix reports one with probability ~1 %)",
            differs_because="an initial Glorot matrix has a singular value above the Tracy-Widom "
            "margin (expected in ~1 % of matrices)",
        ),
        check(
            "removing the bulk singular values (setting them to zero) does not detrimentally "
            "affect the accuracy",
            "ch. 4 (ref. [37])",
            paper="no accuracy loss",
            ours="; ".join(f"{r}: {a:.3f} -> {b:.3f}" for r, (a, b) in acc.items()),
            holds=len(acc) > 0 and len(acc_ok) == len(acc),
            criterion=f"every run: test accuracy with the bulk removed from all its matrices "
            f"with >= 20 singular values (not the 10-class output layer) >= original - "
            f"{ACCURACY_DROP}",
            differs_because="in our small networks the few outliers the fit finds do not carry "
            f"the network's function; the thesis cites this for large trained networks; {OFFLINE}",
        ),
        check(
            "the unfolded spacings of the singular values follow the Wigner surmise",
            "ch. 4 (eq. 4.3, ref. [38])",
            paper="Wigner surmise",
            ours=f"{len(wig_ok)} / {len(wig)} matrices; KS p: "
            + ", ".join(f"{r}:{n} {runs[r]['wigner_p'][n]:.2g}" for r, n in wig),
            holds=len(wig) > 0 and len(wig_ok) == len(wig),
            criterion=f"every matrix with >= {MIN_SINGULAR} singular values: KS p-value against "
            f"eq. 4.3 >= {WIGNER_P} and closer to it than to Poisson (local unfolding, 10 "
            "neighbours, 5 % trimmed at each end)",
            differs_because="some spacing distributions are rejected by the KS test",
        ),
    ]
    p, w = runs.get("mlp256-digits"), runs.get("mlp256-digits-wd")
    if p and w:
        ratios = {}
        for n in p["large_matrices"]:
            ratios[n] = (
                w["sigma_mp"][n] / p["sigma_mp"][n],
                w["top_singular"][n] / p["top_singular"][n],
            )
        ok = [n for n, (bulk, top) in ratios.items() if bulk <= top - WD_MARGIN]
        checks.append(
            check(
                "weight decay shrinks the bulk singular values much more than the outlying ones",
                "sec. 6.1",
                paper="bulk shrinks, outliers stagnate",
                ours="; ".join(
                    f"{n}: sigma_mp x{b:.2f}, nu_1 x{t:.2f}" for n, (b, t) in ratios.items()
                ),
                holds=len(ratios) > 0 and len(ok) == len(ratios),
                criterion="MLP 256 with / without weight decay, every large matrix: ratio of "
                f"fitted sigma_mp <= ratio of the largest singular value - {WD_MARGIN}",
                differs_because=f"weight decay shrinks our largest singular values as much; {OFFLINE}",
            )
        )
    return checks


def _run_one(
    label: str, epochs: int, out: Path, overrides: dict, progress: bool, figures: bool = True
) -> dict:
    from landscope.plotting import plot_svd_results
    from landscope.runs import open_run
    from landscope.spectra import SVDSettings, run_svd_analysis
    from landscope.training import train

    config, _ = RUNS[label]
    cfg = load_reproduction_config(config, training={"epochs": epochs}, **overrides)
    train(cfg, out / label / "run", overwrite=True, progress=progress)
    run = open_run(out / label / "run")
    res = run_svd_analysis(run, SVDSettings(), out / label / "svd", progress=progress)
    if figures:
        plot_svd_results(out / label / "svd")
    m = measure(res)
    if label.startswith("lenet"):  # the conv kernels in the other reshapes (stated, no check)
        m["reshapes"] = {}
        for conv in ("output", "per_position"):
            r = run_svd_analysis(
                run,
                SVDSettings(conv=conv, bulk_removal=False, compare_init=False, min_size=4),
                out / label / f"svd_{conv}",
                progress=progress,
            )
            m["reshapes"][conv] = {
                x["name"]: [x["rows"], x["cols"], x["n_outliers"]]
                for x in r["matrices"]
                if x["name"].startswith("conv")
            }
        m["reshapes"]["thesis"] = {
            x["name"]: [x["rows"], x["cols"], x["n_outliers"]]
            for x in res["matrices"]
            if x["name"].startswith("conv")
        }
    m["config"] = cfg["name"]
    m["epochs"] = epochs
    return m


def haink_svd(
    out: str | Path, *, quick: bool = False, progress: bool = True, overrides: dict | None = None
) -> dict:
    """Ch. 4 / sec. 6.1 on MLP 50, MLP 256 (with / without weight decay), MNIST-1D and (full) LeNet.

    Args:
        out: folder for the runs, the analyses and the report.
        quick: :data:`QUICK` instead of :data:`FULL`.
        overrides: nested config overrides for every run (tests: a tiny net); ``budget``: a dict
            of :class:`SVDBudget` fields; ``runs``: the labels of :data:`RUNS` to train;
            ``figures``: False for data and verdicts only (tests).
    """
    t0 = time.perf_counter()
    out = Path(out)
    overrides = dict(overrides or {})
    budget = SVDBudget(**{**asdict(QUICK if quick else FULL), **overrides.pop("budget", {})})
    labels = overrides.pop("runs", list(RUNS))
    figures = overrides.pop("figures", True)
    results: dict = {"quick": quick, "budget": asdict(budget), "runs": {}}
    for label in labels:
        epochs = getattr(budget, RUNS[label][1])
        if epochs > 0:
            results["runs"][label] = _run_one(label, epochs, out, overrides, progress, figures)
    results["seconds"] = time.perf_counter() - t0
    checks = svd_checks(results)
    report = Report("Haink (2023) ch. 4: singular values of trained weight matrices", out)
    report.results = results
    report.text(
        "Each run's weight matrices at the last step, fitted with the Marchenko-Pastur law "
        "(eq. 4.2; eigenvalues nu^2 / max(rows, cols), sigma_mp from the bulk median, outliers "
        "above the Tracy-Widom 1 % margin), their unfolded level spacings against the Wigner "
        f"surmise (eq. 4.3), and the test accuracy with the bulk removed. {OFFLINE[:1].upper() + OFFLINE[1:]}."
    )
    rows = []
    for label, m in results["runs"].items():
        for n in m["matrices"]:
            rows.append(
                [
                    label,
                    n,
                    m["n_singular"][n],
                    m["n_outliers"][n],
                    m["init_n_outliers"][n],
                    m["bulk_ks"].get(n, float("nan")),
                    m["wigner_p"].get(n, float("nan")),
                    m.get("accuracy_bulk_removed_per_matrix", {}).get(n, float("nan")),
                ]
            )
    report.table(
        [
            "run",
            "matrix",
            "singular values",
            "outliers",
            "outliers at init",
            "bulk KS",
            "Wigner KS p",
            "test acc. bulk removed",
        ],
        rows,
    )
    report.table(
        ["run", "epochs", "test accuracy", "all bulks removed"],
        [
            [k, m["epochs"], m.get("accuracy"), m.get("accuracy_bulk_removed")]
            for k, m in results["runs"].items()
        ],
    )
    if "lenet-digits" in results["runs"]:
        report.text(
            "LeNet conv kernels, (rows, cols, outliers) per reshape (thesis: (out*in, kh*kw); "
            "output: (out, in*kh*kw); per_position: one (out, in) matrix per kernel position): "
            f"{results['runs']['lenet-digits']['reshapes']}"
        )
    report.text("Verdicts (computed from our runs by the stated criterion):")
    report.checks(checks)
    for label in results["runs"]:
        for png in sorted((out / label / "svd").glob("svd_*.png")):
            dest = out / f"{label}_{png.name}"
            shutil.copyfile(png, dest)
            report.figure(dest, f"{label}: {png.stem.removeprefix('svd_')} (ch. 4, eq. 4.2-4.3)")
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="haink-svd",
        paper=PAPER,
        items="ch. 4 (eq. 4.2, 4.3; refs. [27, 37, 38]); sec. 6.1 (weight decay and the bulk)",
        description="Marchenko-Pastur fits, outliers, level spacings and bulk removal of the "
        "weight matrices of MLP 50 / MLP 256 (digits, MNIST-1D) and LeNet",
        run=haink_svd,
        configs=tuple(c for c, _ in RUNS.values()),
        minutes=(0.7, 12.0),
    )
)
