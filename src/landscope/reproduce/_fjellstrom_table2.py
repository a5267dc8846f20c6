"""``fjellstrom-table2``: Fjellstrom & Nystrom (2022) Table 2 (Iris d = 17, AUC 0.9147; Auto MPG
d = 18, AUC 0.9050), with the eps diagnostics of sec. 3.3 (Fig. 5, 6) and the spectra of
Fig. 7 / 8, over the grid of pseudo-inverse cut-offs.

Configs: ``configs/fjellstrom/iris.yaml``, ``auto_mpg.yaml``.  Full: all M = 2,400 iterates,
cut-offs 1e-12 (our default), 1e-10, 1e-6, 1e-3: about 80 diffusion maps of 2,400 points per
cut-off and problem (eigvalsh of 2,400 x 2,400 each); more than 16 CPU-minutes for the Iris half
alone on the shared machine, not completed there (estimate: 40-60 min on an idle 2-core CPU).
``--quick``: every 8th iterate (M = 300), cut-offs 1e-12, 1e-6, 1e-3 (17 s of CPU, one thread).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landscope.diffusion import mds_coordinates, reference_dimensions
from landscope.reproduce._catalog import Check, Reproduction, check, register
from landscope.reproduce._fjellstrom import (
    GRID_HEADER,
    PAPER,
    analyse_distances,
    grid_rows,
    noise_sq_distances,
    plan_for,
    plot_eps_diagnostics,
    plot_spectra,
    train_config,
    train_run,
    trajectory_steps,
)
from landscope.reproduce._report import Report

__all__ = ["TABLE2_ROWS", "Table2Row", "table2", "table2_checks"]


@dataclass(frozen=True)
class Table2Row:
    key: str
    config: str
    title: str
    paper_d: int
    paper_auc: float
    paper_eps: float
    paper_m: int


TABLE2_ROWS = (
    Table2Row("iris", "iris", "Iris classification", 17, 0.9147, 3.0, 515),
    Table2Row("auto_mpg", "auto_mpg", "Auto MPG regression", 18, 0.9050, 0.55, 515),
)

#: |AUC - paper| allowed where d equals the paper's d.
AUC_TOLERANCE = 0.01


def compute_table2(
    out: Path, *, quick: bool, progress: bool, plan=None, rows=None, train_overrides=None
) -> dict:
    plan = plan or plan_for(quick)
    results: dict = {"quick": quick, "plan": plan.__dict__, "rows": {}}
    for row in TABLE2_ROWS if rows is None else [r for r in TABLE2_ROWS if r.key in rows]:
        t0 = time.perf_counter()
        run = train_run(
            train_config(row.config, train_overrides), out / "runs" / row.key, progress=progress
        )
        steps = trajectory_steps(run, plan.stride)
        dist = noise_sq_distances(run, steps, cutoffs=plan.cutoffs, progress=progress)
        per_cutoff = {}
        for c in plan.cutoffs:
            a = analyse_distances(
                dist["d2"][c],
                plan=plan,
                paper_d=row.paper_d,
                paper_eps=row.paper_eps,
                progress=progress,
            )
            a["median_rank"] = float(np.median(dist["ranks"][c]))
            per_cutoff[repr(c)] = a
        final = run.read_json("summary.json").get("final", {})
        head = dist["d2"][plan.cutoffs[0]]
        reference = (
            {
                "euclidean": reference_dimensions(dist["X"]),
                "whitened (MDS of d^2)": reference_dimensions(mds_coordinates(head)),
            }
            if importlib.util.find_spec("skdim") is not None
            else {}  # optional extra 'diffusion' (scikit-dimension) not installed
        )
        results["rows"][row.key] = {
            "reference_dimensions": reference,
            "m": int(dist["X"].shape[1]),
            "M": len(steps),
            "N": int(run.problems()[0].num_samples),
            "final": final,
            "cutoffs": per_cutoff,
            "seconds": time.perf_counter() - t0,
            "distance_seconds": dist["seconds"],
        }
    return results


def _headline(r: dict) -> dict:
    return next(iter(r["cutoffs"].values()))


def table2_checks(results: dict) -> list[Check]:
    checks: list[Check] = []
    rows = {row.key: row for row in TABLE2_ROWS}
    quick_note = " (--quick: M = 300 iterates, d is not comparable with M = 2,400)" * bool(
        results.get("quick")
    )
    for key, r in results["rows"].items():
        row = rows[key]
        h = _headline(r)
        p = h["paper_eps"]
        checks.append(
            check(
                f"{row.title}: d = {row.paper_d} at the paper's eps = {row.paper_eps}",
                "Table 2",
                paper=row.paper_d,
                ours=p["d"],
                holds=p["d"] == row.paper_d,
                criterion="ours == paper (our default cut-off 1e-12)",
                differs_because=f"eps is in units of d^2, which the paper's unknown pseudo-"
                f"inverse cut-off sets (our median d^2 {h['median_sq_distance']:.3g}); see the "
                f"cut-off grid{quick_note}",
            )
        )
        m = h["match"]
        checks.append(
            check(
                f"{row.title}: AUC ratio {row.paper_auc} where d = {row.paper_d}",
                "Table 2",
                paper=row.paper_auc,
                ours=m["auc"] if m["found"] else f"d = {row.paper_d} not reached",
                holds=m["found"] and abs(m["auc"] - row.paper_auc) <= AUC_TOLERANCE,
                criterion=f"some eps gives d = {row.paper_d}; |AUC there - paper| <= "
                f"{AUC_TOLERANCE} (cut-off 1e-12)",
                differs_because=(
                    f"at eps {m['eps']:.3g}, where d = {row.paper_d}, our spectrum puts a "
                    f"different share of sum |lambda| in the first d (AUC read as sum of "
                    f"|lambda_i|, our reading){quick_note}"
                )
                if m["found"]
                else f"no eps in the scan gives d = {row.paper_d} (nearest {m['d']}){quick_note}",
            )
        )
        corner = h["rules"]["corner"]
        checks.append(
            check(
                f"{row.title}: SGD moves in a low-dimensional subspace, d << m",
                "sec. 3.4.1, Fig. 7",
                paper=f"d / m = {row.paper_d}/{row.paper_m}",
                ours=f"d / m = {corner['d']}/{r['m']} (corner eps {corner['eps']:.3g})",
                holds=corner["d"] <= 0.1 * r["m"],
                criterion="d <= 0.1 m at the eps of our corner rule (cut-off 1e-12)",
                differs_because="the corner rule picks an eps where many eigenvalues count",
            )
        )
        checks.append(
            check(
                f"{row.title}: the paper's eps lies in the linear region of L(eps)",
                "Fig. 5a",
                paper=f"eps = {row.paper_eps} inside",
                ours=f"region [{h['linear_region'][0]:.3g}, {h['linear_region'][1]:.3g}]",
                holds=p["in_linear_region"],
                criterion="eps inside the region where the slope >= 0.5 a* (cut-off 1e-12)",
                differs_because="our squared distances are on another scale than the paper's "
                "(cut-off), so its eps falls outside our linear region",
            )
        )
        lam = np.abs(np.asarray(corner["eigenvalues"]))
        tail = float(lam[40] / lam[0]) if lam.size > 40 else float("nan")
        checks.append(
            check(
                f"{row.title}: sharp decay, lambda_i -> 0 beyond i = 40",
                "Fig. 7, 8",
                paper="lambda_i ~ 0 for i > 40",
                ours=f"|lambda_41| = {tail:.3g}",
                holds=tail < 0.05,
                criterion="|lambda_41| / lambda_1 < 0.05 at the corner eps",
                differs_because="the spectrum at our corner eps decays more slowly",
            )
        )
        scan = h["corner_scan"]
        d = np.asarray(scan["d"], dtype=float)
        auc = np.asarray(scan["auc"])
        d_drop = 1 - d[-1] / d[0]
        auc_drop = 1 - auc[-1] / auc[0]
        checks.append(
            check(
                f"{row.title}: as eps grows d falls sharply, the AUC ratio only slightly",
                "Fig. 6a",
                paper="d: steep then flat toward 1; AUC: gentle",
                ours=f"d {int(d[0])} -> {int(d[-1])}, AUC {auc[0]:.3f} -> {auc[-1]:.3f}",
                holds=bool(np.all(np.diff(d) <= 0)) and auc_drop < d_drop,
                criterion="d non-increasing over the linear region and relative AUC drop < "
                "relative d drop",
                differs_because="d or AUC behave otherwise over our linear region",
            )
        )
    iris = results["rows"].get("iris")
    if iris is not None:
        h = _headline(iris)
        checks.append(
            check(
                "Lafon's mean nearest-neighbour eps is too small: very few points in the ball",
                "sec. 3.3",
                paper="very few, if any, points within the ball",
                ours=f"{h['lafon_neighbours']:.2f} other points on average",
                holds=h["lafon_neighbours"] < 2,
                criterion="mean count of j != i with d2_ij < eps_Lafon below 2",
                differs_because="our nearest-neighbour distances are more uniform",
            )
        )
        ms = h["rules"]["max_slope"]
        checks.append(
            check(
                "max-slope eps (Berry & Harlim): 2 a* is a very low dimension (paper a* = 1.07)",
                "sec. 3.3, Fig. 5b",
                paper="2 a* = 2.14",
                ours=f"2 a* = {h['slope_dimension']:.2f}",
                holds=h["slope_dimension"] <= 5,
                criterion="2 a* <= 5",
                differs_because="our L(eps) rises more steeply",
            )
        )
        checks.append(
            check(
                "the energy-ratio d at the max-slope eps exceeds m (paper: d = 868 at eps 0.06)",
                "sec. 3.3",
                paper="868 > m = 515",
                ours=f"{ms['d']} at eps {ms['eps']:.3g} (M = {iris['M']})",
                holds=ms["d"] > iris["m"],
                criterion="d > m",
                differs_because=f"d <= M - 1 = {iris['M'] - 1} points"
                if iris["M"] <= iris["m"]
                else "the max-slope eps of our L(eps) gives fewer significant eigenvalues",
            )
        )
    mpg = results["rows"].get("auto_mpg")
    if iris is not None and mpg is not None:
        a = _headline(iris)["rules"]["corner"]["d"]
        b = _headline(mpg)["rules"]["corner"]["d"]
        checks.append(
            check(
                "classification and regression give similar d (17 vs 18)",
                "Table 2",
                paper="17 / 18",
                ours=f"{a} / {b}",
                holds=max(a, b) <= 1.5 * min(a, b),
                criterion="larger d <= 1.5 x smaller at each problem's corner eps",
                differs_because="the two problems' corner eps give different d",
            )
        )
    return checks


def report_table2(out: Path, results: dict, checks: list[Check]) -> Report:
    report = Report("Fjellstrom & Nystrom (2022) Table 2, Fig. 5-8: d and AUC ratio", out)
    report.results = results
    plan = results["plan"]
    report.text(
        "Iterates x_1..x_M of SGD (every "
        f"{plan['stride']}-th of the 2,400 steps), the exact SGD-noise covariance (eq. 2.6) at "
        "each, the modified Mahalanobis distance (eq. 2.5) with the pseudo-inverse keeping the "
        "eigenvalues of C above cut-off x largest, the diffusion map (eq. 2.10-2.11), d = first "
        "i with Lambda_i > 0.99 (eq. 3.3, trivial eigenvalue included) and the AUC ratio read "
        "as sum_{i<=d} |lambda_i| / sum_i |lambda_i|.  eps rules (sec. 3.3): Lafon's mean "
        "nearest-neighbour d^2; the maximal slope of log L(eps) (eq. 3.7); our 'corner' rule "
        "for the paper's upper-left corner of the (d, AUC) scatter (normalised distance to "
        "(min d, max AUC) over a scan of the linear region, where the slope >= 0.5 a*).  "
        "'match' is the eps where d equals the paper's d, found by a scan and bisection, and "
        "the AUC there.  Auto MPG: m = 468 (7 inputs; the paper says 515), linear output."
    )
    for key, r in results["rows"].items():
        row = next(x for x in TABLE2_ROWS if x.key == key)
        report.text(
            f"**{row.title}** (paper: d = {row.paper_d}, AUC {row.paper_auc} at eps = "
            f"{row.paper_eps}; ours: M = {r['M']}, m = {r['m']}, N = {r['N']}, final "
            f"{', '.join(f'{k} {v:.4g}' for k, v in r['final'].items())})"
        )
        report.table(
            [*GRID_HEADER, f"paper eps {row.paper_eps}", f"d = {row.paper_d} at"],
            grid_rows(r["cutoffs"], row.paper_eps),
        )
        ref = r["reference_dimensions"]
        if ref:
            estimates = "; ".join(
                f"{space}: " + ", ".join(f"{k} {v:.2f}" for k, v in est.items())
                for space, est in ref.items()
            )
            report.text(
                "Standard intrinsic-dimension estimators on the same iterates (scikit-dimension;"
                f" a manifold dimension, not the count of significant eigenvalues d): {estimates}"
                f"; 2 a* from L(eps) (eq. 3.6, cut-off 1e-12): "
                f"{_headline(r)['slope_dimension']:.2f}."
            )
        else:
            report.text("(scikit-dimension not installed: pip install 'landscope[diffusion]')")
        fixed_eps = [f["eps"] for f in _headline(r)["fixed"]]
        report.text("d (AUC) at fixed eps, per cut-off:")
        report.table(
            ["cut-off", *[f"eps {e:g}" for e in fixed_eps]],
            [
                [f"{float(c):.0e}", *[f"{f['d']} ({f['auc']:.3f})" for f in a["fixed"]]]
                for c, a in r["cutoffs"].items()
            ],
        )
        h = _headline(r)
        path = plot_eps_diagnostics(h, out / f"fig5_6_{key}", row.title, row.paper_eps)
        report.figure(path, f"{row.title}: L(eps), slopes, d and AUC against eps (cut-off 1e-12)")
    spectra = {
        key: _headline(r)["rules"]["corner"]["eigenvalues"] for key, r in results["rows"].items()
    }
    report.figure(
        plot_spectra(spectra, out / "fig7_spectra", "corner eps"),
        "Fig. 7: eigenvalues and energy ratios at the corner eps (cut-off 1e-12)",
    )
    report.figure(
        plot_spectra(spectra, out / "fig8_spectra", "decay", upto=350),
        "Fig. 8: eigenvalues up to i = 350",
    )
    report.text("Verdicts (computed from the numbers above by the stated criterion):")
    report.checks(checks)
    return report


def table2(
    out: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    plan=None,
    rows=None,
    train_overrides: dict | None = None,
) -> dict:
    """Table 2 and Fig. 5-8: train Iris and Auto MPG, d / AUC over the (eps, cut-off) grid.

    Returns ``{"quick", "plan", "rows": {key: {"m", "M", "N", "final", "cutoffs": {cutoff:
    analysis}, "seconds"}}, "checks": [...]}`` (analysis: see ``analyse_distances``).
    ``plan``: a :class:`Plan` instead of quick / full; ``rows``: keys of :data:`TABLE2_ROWS`;
    ``train_overrides``: merged into the configs (tests: fewer epochs).
    """
    out = Path(out)
    results = compute_table2(
        out,
        quick=quick,
        progress=progress,
        plan=plan,
        rows=rows,
        train_overrides=train_overrides,
    )
    report = report_table2(out, results, table2_checks(results))
    report.save()
    return report.results


ENTRY = register(
    Reproduction(
        name="fjellstrom-table2",
        paper=PAPER,
        items="Table 2, Fig. 5, 6, 7, 8, sec. 3.3",
        description="d and AUC ratio of Iris and Auto MPG SGD trajectories over the (eps, "
        "pseudo-inverse cut-off) grid, with every eps rule",
        run=table2,
        configs=("fjellstrom/iris", "fjellstrom/auto_mpg"),
        minutes=(0.3, 12.0),  # quick: 17 s CPU; full: 12 min wall, 1 thread (2026-12-02)
    )
)
