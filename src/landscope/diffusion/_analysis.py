"""``run_diffusion_analysis``: the diffusion-map analysis of a recorded run (Fjellstrom & Nystrom,
sec. 2-3), by the analysis contract (settings model, results.json + arrays, figures drawn later
from the files by :func:`landscope.plotting.plot_diffusion_results`).

Stages: the point cloud (sec. 2) -> covariance factors and whitening at every point (eq.
2.6-2.9) -> all pairs of eq. 2.5 (cached in the run folder) -> L(eps) and the eps rules (sec.
3.3, eq. 3.4-3.7) -> the diffusion map at the chosen eps (eq. 2.10-2.14) -> dimension and AUC
(sec. 3.2, eq. 3.1, 3.3) -> optionally the rolling window (Fig. 13, 14) and scikit-dimension's
estimators.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from landscope.diffusion._distances import DEFAULT_CUTOFF

__all__ = ["DiffusionSettings", "run_diffusion_analysis"]

PAPER = "Fjellstrom & Nystrom (2022), Deep learning, stochastic gradient descent and diffusion maps, sec. 2-3"


class DiffusionSettings(BaseModel):
    """Settings of :func:`run_diffusion_analysis` (defaults: a small run such as the default
    digits MLP in about a minute on 2 CPU cores)."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["auto", "exact", "critical_point", "fisher", "window", "euclidean"] = Field(
        "auto",
        description="covariance of eq. 2.5: exact (eq. 2.6), critical_point (2.7), fisher "
        "(2.8), window (2.9, from neighbouring iterates) or euclidean (identity, the control); "
        "auto: exact when its all-pairs stage (2 M^2 m min(N - 1, m) flops) is at most "
        "auto_max_gflop, else window",
    )
    auto_max_gflop: float = Field(
        200.0, gt=0, description="metric=auto: the largest exact all-pairs cost (GFLOP)"
    )
    inverse: Literal["pinv", "rank", "ridge"] = Field(
        "pinv", description="pseudo-inverse by relative cut-off, fixed rank, or (C + delta I)^-1"
    )
    cutoff: float = Field(
        DEFAULT_CUTOFF,
        ge=0,
        lt=1,
        description="pinv: keep eigenvalues of C above cutoff x the largest (default 1e-12: "
        "the numerical rank of C in float64, see landscope.diffusion._distances)",
    )
    rank: int | None = Field(None, ge=1, description="inverse=rank: directions kept per point")
    delta: float | None = Field(None, gt=0, description="inverse=ridge: the delta of C + delta I")
    batch_size: int | None = Field(
        None, ge=1, description="n of eq. 2.6 (default: the run's training batch size)"
    )
    half_width: int = Field(5, ge=1, description="metric=window: L of eq. 2.9")
    params: str | list[str] | None = Field(
        None, description="a layer or parameter name (or list): the points' coordinates"
    )
    every: int | None = Field(None, ge=1, description="stride: every k-th recorded step")
    start: int | None = Field(None, description="first step (inclusive)")
    stop: int | None = Field(None, description="last step (exclusive)")
    max_points: int | None = Field(
        600, ge=2, description="thin to at most this many evenly spaced points (None: all)"
    )
    samples: int | None = Field(
        512,
        ge=2,
        description="estimate C from a seeded subset of this many training samples when the "
        "training set is larger (None: all)",
    )
    dtype: Literal["float32", "float64"] = Field(
        "float64", description="precision of the per-sample gradients"
    )
    distance_dtype: Literal["float32", "float64"] = Field(
        "float64", description="precision of the all-pairs products"
    )
    eps: str | float = Field(
        "auto",
        description="auto (= corner, the paper's rule), lafon, max_slope, linear_region, "
        "corner, or a positive number",
    )
    eps_grid_points: int = Field(200, ge=200, description="L(eps) grid size (sec. 3.3)")
    linear_fraction: float = Field(0.5, gt=0, lt=1, description="linear region of log L")
    scan_points: int = Field(24, ge=2, description="(d, AUC) scan points over the region")
    beta: float = Field(0.99, gt=0, lt=1, description="energy-ratio threshold (sec. 3.2)")
    accuracy: float | None = Field(None, gt=0, lt=1, description="alpha of s(alpha), eq. 3.1")
    drop_trivial: bool = Field(False, description="drop the trivial eigenvalue 1")
    auc_reading: Literal["sum", "trapezoid"] = Field("sum", description="AUC ratio reading")
    kernel_alpha: float = Field(0.5, ge=0, le=1, description="density normalisation (eq. 2.11)")
    knn: int | None = Field(None, ge=1, description="kNN sparsification of K (None: dense)")
    n_components: int = Field(3, ge=1, description="embedding coordinates saved (eq. 2.14)")
    tau: float = Field(1.0, ge=0, description="diffusion time of the embedding")
    rolling_window: int | None = Field(
        None, ge=10, description="points per rolling window (Fig. 13, 14); None: none"
    )
    rolling_stride: int = Field(50, ge=1, description="points between rolling windows")
    reference_dimensions: bool = Field(
        False, description="also scikit-dimension's TwoNN / MLE (needs the diffusion extra)"
    )
    cache: bool = Field(True, description="reuse cached squared distances of the run folder")
    keep_factors: bool = Field(False, description="also cache the W_i (float32)")
    seed: int = Field(0, description="seed of the sample subset and eigsh start vectors")

    @field_validator("eps")
    @classmethod
    def _check_eps(cls, value):
        from landscope.diffusion._epsilon import EPSILON_RULES

        if isinstance(value, str) and value not in ("auto", *EPSILON_RULES):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(
                    f"eps must be auto, one of {EPSILON_RULES} or a positive number, got {value!r}"
                ) from None
        if not isinstance(value, str) and not value > 0:
            raise ValueError(f"eps must be positive, got {value}")
        return value

    def distance_key(self, points: np.ndarray, steps) -> dict:
        """The settings the squared distances depend on (the cache key): the points themselves
        (a hash of their float64 bytes: a run retrained into the same folder does not reuse
        stale distances), their steps, and the metric settings; not eps, beta, alpha, windows."""
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(points, dtype=np.float64).tobytes())
        return {
            "points_sha256": digest.hexdigest(),
            "steps": [int(s) for s in steps],
            "metric": self.metric,
            "inverse": None if self.metric == "euclidean" else self.inverse,
            "cutoff": self.cutoff if self.inverse == "pinv" else None,
            "rank": self.rank if self.inverse == "rank" else None,
            "delta": self.delta if self.inverse == "ridge" else None,
            "batch_size": self.batch_size,
            "half_width": self.half_width if self.metric == "window" else None,
            "params": self.params,
            "samples": self.samples,
            "dtype": self.dtype,
            "distance_dtype": self.distance_dtype,
            "seed": self.seed if self.samples is not None else None,
        }


def _resolve_metric(run, settings: DiffusionSettings, M: int, m: int) -> tuple[str, str]:
    """The metric ``auto`` stands for, and why (recorded in the summary)."""
    if settings.metric != "auto":
        return settings.metric, "asked"
    problem, _ = run.problems()
    N = (
        problem.num_samples
        if settings.samples is None
        else min(settings.samples, problem.num_samples)
    )
    gflop = 2.0 * M * M * m * min(N - 1, m) / 1e9
    if gflop <= settings.auto_max_gflop:
        return "exact", f"auto: exact costs {gflop:.3g} GFLOP <= {settings.auto_max_gflop:g}"
    return "window", (
        f"auto: exact would cost {gflop:.3g} GFLOP > {settings.auto_max_gflop:g} "
        f"(M = {M}, m = {m}, N = {N}); window (eq. 2.9) instead -- use max_points, params or "
        "samples to afford exact"
    )


def _losses(run, steps: np.ndarray) -> tuple[np.ndarray, str]:
    from landscope.runs import Series

    for name in (Series.TRAIN_LOSS, Series.BATCH_LOSS):
        values = run.values_at(name, steps)
        if values is not None and np.isfinite(values).mean() > 0.5:
            return values, name
    return np.full(len(steps), np.nan), "none"


def run_diffusion_analysis(
    run, settings: DiffusionSettings | None = None, out_dir: Path | str = ".", *, progress=True
) -> dict:
    """The diffusion-map analysis of ``run`` (a :class:`~landscope.runs.Run` or folder).

    Writes to ``out_dir``: ``results.json`` (settings, summary, eps rules, L(eps), the (d, AUC)
    scan, rolling windows, provenance), ``diffusion.npz`` (eigenvalues, energy ratio, embedding,
    steps, losses, per-point ranks and top eigenvalues of C), ``kernel_sum.csv`` (eps, L, slope)
    and ``eps_scan.csv`` (eps, d, auc).  Returns the results dict.
    """
    import torch

    from landscope._results_io import save_arrays, write_json_atomic
    from landscope.diffusion import _dimension, _epsilon
    from landscope.diffusion._cache import cached_distances
    from landscope.diffusion._covariance import covariance_whitening, iter_whitening_blocks
    from landscope.diffusion._distances import mahalanobis_sq_distances, streamed_sq_distances
    from landscope.diffusion._map import DiffusionMap, transition_eigenvalues
    from landscope.diffusion._points import point_cloud, select_cloud_steps
    from landscope.runs import Run, open_run

    settings = settings or DiffusionSettings()
    run = run if isinstance(run, Run) else open_run(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    steps = select_cloud_steps(
        run,
        every=settings.every,
        start=settings.start,
        stop=settings.stop,
        max_points=settings.max_points,
    )
    if len(steps) < 3:
        raise ValueError(f"only {len(steps)} recorded steps selected: a diffusion map needs >= 3")

    cloud = point_cloud(run, steps=steps, params=settings.params)

    metric, metric_reason = _resolve_metric(run, settings, len(steps), cloud.dim)
    settings = settings.model_copy(update={"metric": metric})

    def compute():
        t = time.perf_counter()
        kwargs = dict(
            metric=settings.metric,
            batch_size=settings.batch_size,
            inverse=settings.inverse,
            cutoff=settings.cutoff,
            rank=settings.rank,
            delta=settings.delta,
            half_width=settings.half_width,
            dtype=settings.dtype,
            samples=settings.samples,
            seed=settings.seed,
            progress=progress,
        )
        dtype = getattr(torch, settings.distance_dtype)
        if settings.keep_factors:
            factors, info = covariance_whitening(cloud, **kwargs)
            seconds["covariances"] = time.perf_counter() - t
            t = time.perf_counter()
            sq = mahalanobis_sq_distances(cloud.points, factors, dtype=dtype, progress=progress)
            seconds["all_pairs"] = time.perf_counter() - t
        else:  # factors streamed block by block into the all-pairs stage (memory: one block)
            info = {}
            blocks = iter_whitening_blocks(cloud, info=info, **kwargs)
            sq, factors = streamed_sq_distances(cloud.points, blocks, dtype=dtype)
            seconds["covariances_and_all_pairs"] = time.perf_counter() - t
        info.update(
            steps=cloud.steps,
            run_index=cloud.run_index,
            dim=cloud.dim,
            factors=factors.settings(),
            seconds=dict(seconds),
        )
        return sq, info, factors

    t = time.perf_counter()
    cache = cached_distances(
        run.path,
        settings.distance_key(cloud.points, steps),
        compute,
        fallback=out_dir,
        keep_factors=settings.keep_factors,
        use_cache=settings.cache,
    )
    seconds["distances"] = time.perf_counter() - t
    sq = cache.sq_distances
    info = cache.meta.get("info", {})
    M = len(sq)
    alpha = settings.kernel_alpha

    def spectrum(d2, eps):
        return transition_eigenvalues(d2, eps, alpha=alpha)

    dim_kw = dict(beta=settings.beta, drop_trivial=settings.drop_trivial)
    rule = "corner" if settings.eps == "auto" else settings.eps
    t = time.perf_counter()
    curve = _epsilon.kernel_sum_curve(
        sq, num=settings.eps_grid_points, linear_fraction=settings.linear_fraction
    )
    seconds["kernel_sum"] = time.perf_counter() - t
    t = time.perf_counter()
    rules = {}
    for name in ("lafon", "max_slope", "linear_region"):
        rules[name] = _epsilon.choose_epsilon(sq, name, curve=curve).eps
    choice = _epsilon.choose_epsilon(
        sq,
        rule,
        curve=curve,
        scan_points=settings.scan_points,
        reading=settings.auc_reading,
        spectrum=spectrum,
        progress=progress,
        **dim_kw,
    )
    scan = choice.scan
    if scan is None:  # the (d, AUC) scan of Fig. 6 is drawn for every rule
        lo, hi = curve.linear_region
        scan = _epsilon.scan_epsilon(
            sq,
            np.geomspace(lo, hi, settings.scan_points),
            reading=settings.auc_reading,
            spectrum=spectrum,
            progress=progress,
            **dim_kw,
        )
    rules["corner"] = (
        choice.eps
        if choice.rule == "corner"
        else float(scan.eps[_epsilon.corner_choice(scan.d, scan.auc)])
    )
    eps = choice.eps
    seconds["eps_rules"] = time.perf_counter() - t
    t = time.perf_counter()
    # all M eigenpairs: the energy ratio (eq. 3.3) sums over every eigenvalue; with knn the
    # sparsified kernel's spectrum (its dropped mass is reported)
    dm = DiffusionMap(eps=eps, alpha=alpha, knn=settings.knn, random_state=settings.seed).fit(sq)
    lam = dm.eigenvalues_
    seconds["diffusion_map"] = time.perf_counter() - t
    dim = _dimension.intrinsic_dimension(
        lam, alpha=settings.accuracy, reading=settings.auc_reading, **dim_kw
    )
    ratio = _dimension.energy_ratio(lam, drop_trivial=settings.drop_trivial)
    nc = min(settings.n_components, dm.eigenvalues_.size - 1)
    embedding = dm.embedding(settings.tau, nc)
    rolling = None
    if settings.rolling_window is not None and settings.rolling_window <= M:
        t = time.perf_counter()
        roll_kw = dict(
            steps=cache.arrays["steps"],
            reading=settings.auc_reading,
            spectrum=spectrum,
            **dim_kw,
        )
        rolling = {
            "reselected": _epsilon_rolling(
                sq, settings, rule, scan_points=settings.scan_points, **roll_kw
            ).as_dict(),
            "fixed": _epsilon_rolling(sq, settings, eps, **roll_kw).as_dict(),
        }
        seconds["rolling"] = time.perf_counter() - t
    references = None
    if settings.reference_dimensions:
        references = {
            "euclidean": _dimension.reference_dimensions(cloud.points),
            "whitened (MDS of d^2)": _dimension.reference_dimensions(
                _dimension.mds_coordinates(sq)
            ),
        }
    steps_arr = cache.arrays["steps"]
    losses, loss_name = _losses(run, steps_arr)
    ranks = cache.arrays["ranks"]
    iu = np.triu_indices(M, 1)
    d2_off = sq[iu]
    save_arrays(
        out_dir / "diffusion",
        {
            "eigenvalues": lam,
            "energy_ratio": ratio,
            "embedding": embedding,
            "steps": steps_arr,
            "loss": losses,
            "ranks": ranks,
            "top_eigenvalues": cache.arrays["top_eigenvalues"],
            "smallest_retained": cache.arrays["smallest_retained"],
        },
        {"loss_series": loss_name, "eps": eps, "tau": settings.tau},
        json_exclude=("eigenvalues", "energy_ratio", "embedding", "steps", "loss"),
    )
    np.savetxt(
        out_dir / "kernel_sum.csv",
        np.c_[curve.eps, curve.L, np.r_[curve.slope, np.nan]],
        delimiter=",",
        header="eps,L,slope_to_next",
        comments="",
    )
    np.savetxt(
        out_dir / "eps_scan.csv",
        np.c_[scan.eps, scan.d, scan.auc],
        delimiter=",",
        header="eps,d,auc",
        comments="",
    )
    seconds["total"] = time.perf_counter() - t0
    factor_settings = info.get("factors", {})
    summary = {
        "points M": M,
        "coordinates m": int(info.get("dim", 0)),
        "metric": settings.metric,
        "metric choice": metric_reason,
        "inverse": factor_settings.get("inverse", settings.inverse),
        "cutoff": settings.cutoff if settings.inverse == "pinv" else None,
        "samples N": info.get("num_samples"),
        "batch size n": info.get("batch_size"),
        "retained rank (median)": float(np.median(ranks)) if ranks.size else 0.0,
        "retained rank (min, max)": f"{int(ranks.min())}, {int(ranks.max())}" if ranks.size else "",
        "median d^2": float(np.median(d2_off)),
        "eps rule": choice.rule,
        "eps": eps,
        "eps (lafon)": rules["lafon"],
        "eps (max slope)": rules["max_slope"],
        "eps (linear region)": rules["linear_region"],
        "eps (corner)": rules["corner"],
        "max slope a*": curve.max_slope,
        "d ~ 2 a*": curve.dimension_estimate,
        "d (beta)": dim.d,
        "AUC ratio": dim.auc,
        "AUC ratio (trapezoid)": dim.auc_trapezoid,
        "s(alpha)": dim.s_alpha,
        "kNN dropped kernel mass": dm.dropped_mass_,
        "distances cached": cache.hit,
        "seconds": round(seconds["total"], 3),
    }
    results = {
        "analysis": "diffusion",
        "title": "Diffusion map of the SGD trajectory (modified Mahalanobis metric)",
        "paper": PAPER,
        "settings": settings.model_dump(),
        "summary": summary,
        "provenance": {
            "run": str(run.path),
            "steps": [int(s) for s in steps_arr],
            "seconds": seconds,
            "distance_cache": str(cache.folder),
            "distance_seconds": cache.meta.get("seconds"),
        },
        "distances": {
            "info": {k: v for k, v in info.items() if k != "seconds"},
            "median_sq_distance": float(np.median(d2_off)),
            "quantiles_sq_distance": {
                str(q): float(np.quantile(d2_off, q)) for q in (0.01, 0.1, 0.5, 0.9, 0.99)
            },
        },
        "eps": {"chosen": choice.as_dict() | {"curve": None, "scan": None}, "rules": rules},
        "kernel_sum": curve.as_dict(),
        "scan": scan.as_dict(),
        "dimension": dim.as_dict(),
        "rolling": rolling,
        "reference_dimensions": references,
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


def _epsilon_rolling(sq, settings: DiffusionSettings, eps, **kw):
    from landscope.diffusion._rolling import rolling_dimension

    return rolling_dimension(
        sq,
        settings.rolling_window,
        settings.rolling_stride,
        eps=eps,
        num=settings.eps_grid_points,
        **kw,
    )
