"""Shared by the reproductions of Fjellstrom & Nystrom (2022), *Deep learning, stochastic gradient
descent and diffusion maps* (``fjellstrom-*`` entries of the catalog).

The pipeline of every entry: train the config (Iris 4-24-14-3 or Auto MPG 7-21-13-1, SGD, batch
20; YAML in ``landscope/reproduce/configs/fjellstrom/``), take the recorded iterates
``x_1..x_M`` (steps 1..M, every ``stride``-th), the SGD-noise covariance at each (eq. 2.6, exact,
from the per-sample gradients of the N training samples, ``landscope.curvature``), its
pseudo-inverse at each relative cut-off of the grid, the modified Mahalanobis distances of all
pairs (eq. 2.5, ``landscope.diffusion``), then the diffusion map (eq. 2.10-2.14) and the
dimension d / AUC ratio (sec. 3.2) at the eps each rule picks (sec. 3.3) and at the paper's
fixed eps.

Why a grid over the cut-off: the paper's eps = 3 (Iris) and 0.55 (Auto MPG) are in units of the
squared distance, and the squared distance is set by the smallest retained eigenvalue of C, i.e.
by the pseudo-inverse's cut-off, which the paper does not give.  Every table therefore reports d
and AUC over (eps, cut-off), the eps each rule picks at each cut-off, and where (if anywhere)
d equals the paper's value, with the AUC there.  Nothing is tuned toward the paper: the rules
and the grid are fixed in this module before any number is looked at.

``quick`` variants take every 8th iterate (M = 300 instead of 2,400) and fewer cut-offs; their d
is not comparable with the paper's (the number of eigenvalues scales with M) and their checks
say so when they differ.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FULL",
    "PAPER",
    "QUICK",
    "Plan",
    "analyse_distances",
    "noise_sq_distances",
    "paper_match",
    "trajectory_steps",
    "train_config",
]

#: The citation shown in the catalog.
PAPER = "Fjellstrom & Nystrom 2022"

#: Our default pseudo-inverse cut-off (``landscope.diffusion.DEFAULT_CUTOFF``), repeated here so
#: the plans below read on their own.
DEFAULT_CUTOFF = 1e-12


@dataclass(frozen=True)
class Plan:
    """What one variant (quick / full) computes.

    Attributes:
        stride: take every ``stride``-th iterate (1: all M = 2,400 of the paper).
        cutoffs: relative eigenvalue cut-offs of the pseudo-inverse (first: the headline).
        sweep_cutoffs: cut-offs of the sweep tables (Tables 3-5; each row is a training run).
        scan_points: eps values of the corner scan over the linear region of L(eps).
        search_points: eps values of the wide scan that looks for d == the paper's d.
        fixed_eps: eps values reported for every cut-off (the paper's 3 and 0.55 among them).
    """

    stride: int
    cutoffs: tuple[float, ...]
    sweep_cutoffs: tuple[float, ...]
    scan_points: int
    search_points: int
    fixed_eps: tuple[float, ...] = (0.005, 0.12, 0.55, 3.0, 30.0, 300.0, 3e3, 3e4, 3e5)


FULL = Plan(
    stride=1,
    cutoffs=(DEFAULT_CUTOFF, 1e-10, 1e-6, 1e-3),
    sweep_cutoffs=(DEFAULT_CUTOFF, 1e-6),
    scan_points=24,
    search_points=24,
)
QUICK = Plan(
    stride=8,
    cutoffs=(DEFAULT_CUTOFF, 1e-6, 1e-3),
    sweep_cutoffs=(DEFAULT_CUTOFF,),
    scan_points=16,
    search_points=24,
)


def plan_for(quick: bool) -> Plan:
    return QUICK if quick else FULL


def train_config(name: str, /, extra: dict | None = None, **overrides) -> dict:
    """The shipped config ``fjellstrom/<name>`` with ``overrides`` and then ``extra`` merged in
    (nested dicts merge key by key; ``extra`` is how tests shorten training)."""
    from landscope.reproduce._catalog import _merge, load_reproduction_config

    merged = _merge(overrides, extra) if extra else overrides
    return load_reproduction_config(f"fjellstrom/{name}", **merged)


def train_run(cfg: dict, folder: Path, *, progress: bool):
    """Train ``cfg`` into ``folder`` (overwriting) and open it."""
    from landscope.runs import open_run
    from landscope.training import train

    train(cfg, folder, overwrite=True, progress=progress)
    return open_run(folder)


def trajectory_steps(run, stride: int) -> np.ndarray:
    """Steps ``stride, 2 stride, ...`` up to the last recorded one: the iterates after the
    updates (the paper's X = {x_j}, j = 1..M; step 0, the initialization, is not one)."""
    steps = run.param_steps()
    steps = steps[steps >= 1]
    return steps[stride - 1 :: stride]


def noise_sq_distances(
    run,
    steps,
    *,
    cutoffs: tuple[float, ...],
    form: str = "exact",
    block: int = 100,
    euclidean: bool = False,
    progress: bool = False,
) -> dict:
    """Squared modified Mahalanobis distances (eq. 2.5) of the iterates at ``steps`` for every
    pseudo-inverse cut-off, with the SGD-noise covariance (eq. 2.6 ``form="exact"``, or 2.7 /
    2.8) of the run's batch size at each point.

    Streamed in blocks of points: the per-sample gradient factor U_i (m x N) of a block is
    computed once, eigendecomposed once (``landscope.diffusion.whitening_factor``) and sliced at
    every cut-off; the
    block's rows q_i(.) come from ``mahalanobis_sq_distances(..., return_q=True)`` with the other
    points' ranks set to 0, so memory is one block of factors plus one M x M matrix per cut-off.

    Returns:
        ``{"steps", "X" (M, m) float64, "d2": {cutoff: (M, M)}, "ranks": {cutoff: (M,)},
        "top_eigenvalue": (M,), "euclidean": (M, M) or None, "seconds"}``.
    """
    import torch

    from landscope._progress import progress_bar
    from landscope.diffusion import (
        WhiteningFactors,
        euclidean_sq_distances,
        mahalanobis_sq_distances,
        noise_covariance_factors,
        whitening_factor,
    )

    t0 = time.perf_counter()
    train, _ = run.problems(dtype="float64")
    batch = int(run.run_config().training.batch_size)
    steps = np.asarray(steps)
    X = run.thetas(steps, like=train).to(torch.float64)
    M, m = X.shape
    q = {c: np.zeros((M, M)) for c in cutoffs}
    ranks = {c: np.zeros(M, dtype=np.int64) for c in cutoffs}
    top = np.zeros(M)
    starts = list(range(0, M, block))
    for b0 in progress_bar(starts, enabled=progress, desc="covariances", unit="block"):
        b1 = min(M, b0 + block)
        # one eigendecomposition per point (cut-off 0: every positive eigenvalue), sliced per
        # cut-off: the columns of W = U Q diag(1 / lam) follow the eigenvalues, decreasing
        U = noise_covariance_factors(train, X[b0:b1], batch_size=batch, form=form)
        full = [whitening_factor(U[k], cutoff=0.0) for k in range(b1 - b0)]
        del U
        top[b0:b1] = [t for _, _, t in full]
        for c in cutoffs:
            kept = [int((lam > c * t).sum()) if t > 0 else 0 for _, lam, t in full]
            r = np.zeros(M, dtype=np.int64)
            r[b0:b1] = kept
            smallest = np.full(M, np.nan)
            smallest[b0:b1] = [
                float(lam[k - 1]) if k else np.nan
                for (_, lam, _), k in zip(full, kept, strict=True)
            ]
            padded = WhiteningFactors(
                torch.cat([W[:, :k] for (W, _, _), k in zip(full, kept, strict=True)], dim=1),
                np.concatenate([[0], np.cumsum(r)]).astype(np.int64),
                r,
                np.where(r > 0, top, 0.0),
                smallest,
                inverse="pinv",
                cutoff=c,
                dim=m,
            )
            _, qb = mahalanobis_sq_distances(X, padded, return_q=True)
            q[c] += qb
            ranks[c][b0:b1] = kept
    d2 = {c: (q[c] + q[c].T) / 2 for c in cutoffs}
    for c in cutoffs:
        np.fill_diagonal(d2[c], 0.0)
    return {
        "steps": steps,
        "X": X,
        "d2": d2,
        "ranks": ranks,
        "top_eigenvalue": top,
        "euclidean": euclidean_sq_distances(X) if euclidean else None,
        "seconds": time.perf_counter() - t0,
    }


def spectrum(d2, eps: float) -> np.ndarray:
    """Eigenvalues of P (eq. 2.11), ordered by |lambda|, trivial 1 first (those of
    ``DiffusionMap(eps=eps).fit(d2)``, without its eigenvectors)."""
    from landscope.diffusion import markov_eigenvalues

    return markov_eigenvalues(d2, float(eps))


def dimension_at(d2, eps: float) -> dict:
    """d, the AUC ratio (both readings) and the first eigenvalues at ``eps``."""
    from landscope.diffusion import intrinsic_dimension

    lam = spectrum(d2, eps)
    r = intrinsic_dimension(lam)
    return {
        "eps": float(eps),
        "d": int(r.d),
        "auc": float(r.auc_sum),
        "auc_trapezoid": float(r.auc_trapezoid),
        "eigenvalues": lam[:400].tolist(),
    }


def paper_match(d2, target: int, lo: float, hi: float, points: int, *, refine: int = 10) -> dict:
    """Where d (sec. 3.2) equals ``target``: scan ``points`` eps log-spaced over [lo, hi], then
    bisect in log eps between the two scanned values that bracket ``target`` (d falls as eps
    grows).  Returns the eps found (or the nearest d seen), the AUC there and the scan."""
    from landscope.diffusion import scan_epsilon

    scan = scan_epsilon(d2, np.geomspace(lo, hi, points), spectrum=spectrum)
    eps, d, auc = list(scan.eps), [int(v) for v in scan.d], list(scan.auc)
    hit = [i for i, v in enumerate(d) if v == target]
    if not hit:
        above = [i for i, v in enumerate(d) if v > target]
        below = [i for i, v in enumerate(d) if v < target]
        if above and below and max(above) < min(below):
            a, b = math.log(eps[max(above)]), math.log(eps[min(below)])
            for _ in range(refine):
                mid = math.exp((a + b) / 2)
                r = dimension_at(d2, mid)
                eps.append(mid)
                d.append(r["d"])
                auc.append(r["auc"])
                if r["d"] == target:
                    break
                if r["d"] > target:
                    a = math.log(mid)
                else:
                    b = math.log(mid)
        hit = [i for i, v in enumerate(d) if v == target]
    order = np.argsort(eps)
    out = {
        "target": int(target),
        "scan": {
            "eps": [eps[i] for i in order],
            "d": [d[i] for i in order],
            "auc": [auc[i] for i in order],
        },
    }
    if hit:
        k = hit[len(hit) // 2]
        out.update(
            found=True,
            eps=float(eps[k]),
            eps_range=[float(min(eps[i] for i in hit)), float(max(eps[i] for i in hit))],
            d=int(target),
            auc=float(auc[k]),
        )
    else:
        k = int(np.argmin([abs(v - target) for v in d]))
        out.update(found=False, eps=float(eps[k]), eps_range=None, d=int(d[k]), auc=float(auc[k]))
    return out


def neighbours_within(d2, eps: float) -> float:
    """Mean number of *other* points j with ``d2[i, j] < eps`` (inside the kernel's ball)."""
    d2 = np.asarray(d2)
    return float(((d2 < eps).sum(axis=1) - 1).mean())


def analyse_distances(
    d2,
    *,
    plan: Plan,
    paper_d: int | None = None,
    paper_eps: float | None = None,
    fixed_eps: tuple[float, ...] | None = None,
    progress: bool = False,
) -> dict:
    """Everything sec. 3.2-3.3 reports for one distance matrix.

    Returns a dict with ``curve`` (L(eps), its slopes, a*, 2 a*, the linear region), ``rules``
    (eps and d / AUC for ``lafon``, ``max_slope``, ``linear_region``, ``corner``), ``corner_scan``
    (the (d, AUC) scan over the linear region, Fig. 6), ``fixed`` (d / AUC at each fixed eps),
    ``paper`` (d / AUC at the paper's eps), ``match`` (where d equals ``paper_d``), the median
    squared distance and the Lafon ball count.
    """
    from landscope.diffusion import choose_epsilon, kernel_sum_curve, lafon_epsilon

    d2 = np.asarray(d2, dtype=np.float64)
    curve = kernel_sum_curve(d2, num=256)
    lo, hi = curve.linear_region
    corner = choose_epsilon(
        d2, "corner", curve=curve, scan_points=plan.scan_points, spectrum=spectrum
    )
    rules = {
        "lafon": lafon_epsilon(d2),
        "max_slope": curve.max_slope_eps,
        "linear_region": math.sqrt(lo * hi),
        "corner": corner.eps,
    }
    out: dict = {
        "median_sq_distance": float(np.median(d2[np.triu_indices_from(d2, 1)])),
        "curve": curve.as_dict(),
        "max_slope": curve.max_slope,
        "slope_dimension": curve.dimension_estimate,
        "linear_region": [lo, hi],
        "rules": {},
        "corner_scan": corner.scan.as_dict(),
        "lafon_neighbours": neighbours_within(d2, rules["lafon"]),
        "fixed": [],
    }
    for name, eps in rules.items():
        r = dimension_at(d2, eps)
        if name != "corner":
            r.pop("eigenvalues")
        out["rules"][name] = r
    for eps in fixed_eps if fixed_eps is not None else plan.fixed_eps:
        r = dimension_at(d2, eps)
        r.pop("eigenvalues")
        out["fixed"].append(r)
    if paper_eps is not None:
        out["paper_eps"] = dimension_at(d2, paper_eps)
        out["paper_eps"]["in_linear_region"] = bool(lo <= paper_eps <= hi)
    if paper_d is not None:
        out["match"] = paper_match(d2, paper_d, lo / 10, hi * 10, plan.search_points)
    return out


# --- figures -------------------------------------------------------------------------------------
def plot_eps_diagnostics(analysis: dict, stem: Path, title: str, paper_eps: float | None):
    """Fig. 5 (L(eps) log-log with the linear region; slopes a_i with a*) and Fig. 6 (d and AUC
    against eps; the (d, AUC) scatter coloured by eps, the corner marked)."""
    from landscope.plotting import PALETTE, new_figure, save_figure_formats, style_context

    c, scan = analysis["curve"], analysis["corner_scan"]
    lo, hi = analysis["linear_region"]
    with style_context():
        fig = new_figure(10.0, 6.4)
        ax = fig.subplots(2, 2)
        a = ax[0, 0]
        a.loglog(c["eps"], c["L"], color=PALETTE[0])
        a.axvspan(lo, hi, color=PALETTE[5], alpha=0.25, label="linear region")
        a.set_xlabel("eps (squared-distance units)")
        a.set_ylabel("L(eps) = sum K")
        a.set_title(f"{title}: L(eps) (Fig. 5a)")
        b = ax[0, 1]
        b.semilogx(c["slope_eps"], c["slope"], color=PALETTE[0])
        b.plot([c["max_slope_eps"]], [c["max_slope"]], "o", color=PALETTE[2], label="max slope")
        b.set_xlabel("eps")
        b.set_ylabel("local slope a (eq. 3.7)")
        b.set_title("slope (Fig. 5b)")
        for axis in (a, b):
            r = analysis["rules"]["corner"]["eps"]
            axis.axvline(r, color=PALETTE[1], ls="--", label=f"corner eps = {r:.3g}")
            if paper_eps is not None:
                axis.axvline(paper_eps, color=PALETTE[3], ls=":", label=f"paper eps = {paper_eps}")
            axis.legend(fontsize=7)
        d = ax[1, 0]
        d.semilogx(scan["eps"], scan["d"], "o-", color=PALETTE[0], label="d")
        d.set_xlabel("eps")
        d.set_ylabel("dimension d", color=PALETTE[0])
        d2 = d.twinx()
        d2.semilogx(scan["eps"], scan["auc"], "s-", color=PALETTE[1], label="AUC")
        d2.set_ylabel("AUC ratio", color=PALETTE[1])
        d.set_title("d and AUC vs eps (Fig. 6a)")
        s = ax[1, 1]
        pts = s.scatter(scan["d"], scan["auc"], c=np.log10(scan["eps"]), cmap="viridis")
        k = analysis["rules"]["corner"]
        s.plot([k["d"]], [k["auc"]], "x", color=PALETTE[1], ms=10, label="corner rule")
        s.set_xlabel("dimension d")
        s.set_ylabel("AUC ratio")
        s.set_title("(d, AUC) scatter (Fig. 6b)")
        s.legend(fontsize=7)
        fig.colorbar(pts, ax=s, label="log10 eps")
        save_figure_formats(fig, stem, formats=("png",))
    return Path(str(stem) + ".png")


def plot_spectra(series: dict[str, list[float]], stem: Path, title: str, upto: int = 40):
    """Fig. 7 / 10: eigenvalues lambda_i and energy ratios Lambda_i for several runs."""
    from landscope.diffusion import energy_ratio
    from landscope.plotting import PALETTE, new_figure, save_figure_formats, style_context

    with style_context():
        fig = new_figure(9.0, 3.4)
        a, b = fig.subplots(1, 2)
        for k, (name, lam) in enumerate(series.items()):
            lam = np.asarray(lam)
            col = PALETTE[k % len(PALETTE)]
            i = np.arange(1, min(upto, lam.size) + 1)
            a.plot(i, np.abs(lam[: i.size]), ".-", color=col, label=name)
            b.plot(i, energy_ratio(lam)[: i.size], ".-", color=col, label=name)
        a.set_xlabel("i")
        a.set_ylabel("|lambda_i|")
        a.set_title(f"{title}: eigenvalues")
        b.axhline(0.99, color="0.5", ls=":", label="beta = 0.99")
        b.set_xlabel("i")
        b.set_ylabel("energy ratio Lambda_i (eq. 3.3)")
        b.set_title("energy ratio")
        for axis in (a, b):
            axis.legend(fontsize=7)
        save_figure_formats(fig, stem, formats=("png",))
    return Path(str(stem) + ".png")


def grid_rows(per_cutoff: dict, paper_eps: float | None) -> list[list]:
    """Report rows: one per cut-off with the median rank, median d^2, a*, the rules' eps / d /
    AUC and the match."""
    rows = []
    for c, a in per_cutoff.items():
        r = a["rules"]
        m = a.get("match", {})
        row = [
            f"{float(c):.0e}",
            a["median_rank"],
            a["median_sq_distance"],
            f"{a['max_slope']:.2f} (2a* = {a['slope_dimension']:.1f})",
            f"[{a['linear_region'][0]:.3g}, {a['linear_region'][1]:.3g}]",
            f"{r['lafon']['eps']:.3g} -> d={r['lafon']['d']}",
            f"{r['max_slope']['eps']:.3g} -> d={r['max_slope']['d']}",
            f"{r['corner']['eps']:.3g} -> d={r['corner']['d']}, AUC {r['corner']['auc']:.4f}",
        ]
        if paper_eps is not None:
            p = a["paper_eps"]
            row.append(f"d={p['d']}, AUC {p['auc']:.4f}")
        if m:
            row.append(
                (f"eps {m['eps']:.3g}: AUC {m['auc']:.4f}")
                if m["found"]
                else f"never (nearest d={m['d']} at eps {m['eps']:.3g})"
            )
        rows.append(row)
    return rows


GRID_HEADER = [
    "cut-off",
    "median rank",
    "median d^2",
    "a* (eq. 3.7)",
    "linear region",
    "Lafon eps",
    "max-slope eps",
    "corner eps (our rule)",
]


# --- sweeps (Tables 3-5): one training run per row -----------------------------------------------
@dataclass(frozen=True)
class SweepRow:
    """One row of a sweep table.

    Attributes:
        key: short name (run folder).  label: the paper's row label.
        overrides: changes to ``configs/fjellstrom/iris.yaml`` (nested dict).
        paper_d, paper_auc: the paper's values (None where it has none).
        paper_eps: the eps the paper used for the row.
        form: covariance form (eq. 2.6 ``"exact"``; ``"fisher"`` where eq. 2.6 vanishes).
        extra: other paper columns (e.g. the loss of Table 4).
    """

    key: str
    label: str
    overrides: dict
    paper_d: int | None
    paper_auc: float | None
    paper_eps: float = 3.0
    form: str = "exact"
    extra: dict | None = None


def sweep_stride(total_steps: int, points: int) -> int:
    """The stride that leaves about ``points`` iterates of ``total_steps``."""
    return max(1, total_steps // points)


def run_sweep(
    rows,
    out: Path,
    *,
    plan: Plan,
    points: int | None,
    progress: bool,
    base: str = "iris",
    keep: dict | None = None,
    fixed_eps: tuple[float, ...] = (3.0,),
    train_overrides: dict | None = None,
) -> dict:
    """Train every row, compute its distances at ``plan.sweep_cutoffs`` and analyse them.

    ``points``: thin every run to about this many iterates (None: all, stride 1).  ``keep``: a
    dict that receives ``{key: headline squared-distance matrix}`` (for follow-up analyses).
    ``train_overrides``: merged into every row's config last (tests: fewer epochs).

    Returns ``{key: {"label", "M", "m", "stride", "final", "diverged", "cutoffs": {cutoff:
    analysis}, "seconds"}}``.
    """
    from landscope.training import NonFiniteLossError

    results = {}
    for row in rows:
        t0 = time.perf_counter()
        cfg = train_config(base, train_overrides, **row.overrides)
        try:
            run = train_run(cfg, out / "runs" / row.key, progress=progress)
        except NonFiniteLossError as exc:
            results[row.key] = {"label": row.label, "diverged": str(exc), "cutoffs": {}}
            continue
        total = int(run.param_steps()[-1])
        stride = 1 if points is None else sweep_stride(total, points)
        steps = trajectory_steps(run, stride)
        dist = noise_sq_distances(
            run, steps, cutoffs=plan.sweep_cutoffs, form=row.form, progress=progress
        )
        per_cutoff = {}
        if keep is not None:
            keep[row.key] = dist["d2"][plan.sweep_cutoffs[0]]
        for c in plan.sweep_cutoffs:
            d2 = dist["d2"][c]
            if not np.any(d2 > 0):
                per_cutoff[repr(c)] = {"degenerate": "all squared distances are zero"}
                continue
            a = analyse_distances(
                d2,
                plan=plan,
                paper_d=row.paper_d,
                paper_eps=row.paper_eps,
                fixed_eps=fixed_eps,
                progress=progress,
            )
            a["median_rank"] = float(np.median(dist["ranks"][c]))
            keys = ("eps", "L", "slope_eps", "slope", "max_slope", "max_slope_eps")
            a["curve"] = {k: a["curve"][k] for k in keys}
            per_cutoff[repr(c)] = a
        results[row.key] = {
            "label": row.label,
            "M": len(steps),
            "m": int(dist["X"].shape[1]),
            "stride": int(stride),
            "form": row.form,
            "final": run.read_json("summary.json").get("final", {}),
            "diverged": None,
            "cutoffs": per_cutoff,
            "seconds": time.perf_counter() - t0,
        }
    return results


def headline(result: dict) -> dict | None:
    """The analysis at the first (default) cut-off, or None (diverged / degenerate)."""
    if not result.get("cutoffs"):
        return None
    a = next(iter(result["cutoffs"].values()))
    return None if "degenerate" in a else a


def sweep_table(rows, results: dict, extra_cols=()) -> tuple[list[str], list[list]]:
    """Report table of a sweep: paper d / AUC beside ours at the corner eps, at the paper's eps
    and where d equals the paper's d."""
    header = [
        "row",
        "M",
        "m",
        *[c for c, _ in extra_cols],
        "paper d",
        "paper AUC",
        "corner eps -> d (AUC)",
        "paper eps -> d (AUC)",
        "d = paper d at eps (AUC)",
        "2a*",
        "final train loss",
    ]
    table = []
    for row in rows:
        r = results.get(row.key)
        if r is None:
            continue
        h = headline(r)
        extras = [fn(row, r) for _, fn in extra_cols]
        if h is None:
            why = r.get("diverged") or "all distances zero"
            table.append(
                [
                    *(row.label, r.get("M", "-"), r.get("m", "-"), *extras),
                    *(row.paper_d, row.paper_auc, why, "-", "-", "-"),
                    r.get("final", {}).get("train_loss", float("nan")),
                ]
            )
            continue
        c, p, m = h["rules"]["corner"], h["paper_eps"], h.get("match", {})
        table.append(
            [
                row.label,
                r["M"],
                r["m"],
                *extras,
                "-" if row.paper_d is None else row.paper_d,
                "-" if row.paper_auc is None else row.paper_auc,
                f"{c['eps']:.3g} -> {c['d']} ({c['auc']:.4f})",
                f"{p['eps']:g} -> {p['d']} ({p['auc']:.4f})",
                "-"
                if not m
                else f"{m['eps']:.3g} ({m['auc']:.4f})"
                if m["found"]
                else f"never (nearest {m['d']})",
                round(h["slope_dimension"], 2),
                r["final"].get("train_loss", float("nan")),
            ]
        )
    return header, table


def run_table(
    all_rows,
    make_report,
    make_checks,
    out: str | Path,
    *,
    quick: bool,
    progress: bool,
    rows,
    points,
    default_points: dict,
    train_overrides: dict | None,
    extend=None,
) -> dict:
    """The driver Tables 3, 4 and 5 share: train and analyse the chosen ``rows`` of
    ``all_rows`` (:func:`run_sweep`), then ``extend(results, kept)`` when given (``kept``: the
    sweep's kept spectra inputs per row key, :func:`run_sweep`'s ``keep``), then
    ``make_report(out, results, make_checks(results))``, saved.

    Returns the report's results (``quick``, ``plan``, ``points``, ``rows``, and what
    ``extend`` added)."""
    out = Path(out)
    plan = plan_for(quick)
    points = points if points is not None else default_points[quick]
    chosen = [r for r in all_rows if rows is None or r.key in rows]
    kept: dict = {}
    res = run_sweep(
        chosen,
        out,
        plan=plan,
        points=points,
        progress=progress,
        train_overrides=train_overrides,
        **({"keep": kept} if extend is not None else {}),
    )
    results = {"quick": quick, "plan": plan.__dict__, "points": points, "rows": res}
    if extend is not None:
        extend(results, kept)
    report = make_report(out, results, make_checks(results))
    report.save()
    return report.results
