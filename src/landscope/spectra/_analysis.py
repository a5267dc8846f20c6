"""The random-matrix analyses of a recorded run (Haink ch. 4, 6.1, 7.1-7.6), by the analysis
contract: ``run_svd_analysis``, ``run_overlaps_analysis``, ``run_eigvec_stats_analysis`` each take
a :class:`~landscope.runs.Run`, a settings model and an output folder, write ``results.json`` and
the raw arrays (``*.npz``), and return the ``results.json`` dict.  Figures are drawn by
``landscope.plotting.plot_svd_results`` etc. from these files only.

Hessians here are of the *data* loss of the run's problem (its config's loss, on a seeded subset
of ``eval_size`` training samples, in ``dtype``); an L2 weight decay lambda ||w||^2 would add
2 lambda to every eigenvalue (Haink sec. 7.5) and is not included.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from landscope._results_io import save_arrays, write_json_atomic
from landscope.spectra._eigvec_stats import (
    inverse_participation_ratio,
    layer_concentration,
    loss_along_eigenvector,
    neighbour_average,
    porter_thomas_pvalues,
    smoothed_density,
    weight_product,
)
from landscope.spectra._marchenko_pastur import TW1_QUANTILES, MarchenkoPastur
from landscope.spectra._outliers import ZERO_RTOL
from landscope.spectra._overlaps import abs_overlaps, layer_overlaps, overlap_summary
from landscope.spectra._singular import remove_bulk, singular_matrices, weight_matrices
from landscope.spectra._spacing import spacing_test

if TYPE_CHECKING:  # pragma: no cover
    from landscope.runs import Run

__all__ = [
    "EigvecStatsSettings",
    "OverlapsSettings",
    "SVDSettings",
    "run_eigvec_stats_analysis",
    "run_overlaps_analysis",
    "run_svd_analysis",
]

PAPER = "Haink (2023), master's thesis"
Step = int | Literal["init", "last"]


def _resolve_step(run: Run, step: Step) -> int:
    recorded = run.param_steps()
    if not len(recorded):
        raise ValueError(f"run {run.path} recorded no parameters")
    if step == "init":
        return int(recorded[0])
    if step == "last":
        return int(recorded[-1])
    if int(step) not in set(recorded.tolist()):
        raise ValueError(
            f"step {step} was not recorded in {run.path} (params at {recorded[0]}..{recorded[-1]})"
        )
    return int(step)


def _indices(problem, eval_size: int | None, seed: int):
    from landscope.data import subset_indices

    return subset_indices(problem.num_selected(), eval_size, seed)


def _weight_param(layout, name: str | None, max_size: int | None) -> str:
    """The weight parameter ``name`` names (a parameter or its module), or the largest 2-D weight
    with at most ``max_size`` entries."""
    weights = [s for s in layout if s.kind.endswith("weight") and len(s.shape) >= 2]
    if not weights:
        raise ValueError("the model has no weight matrices")
    if name is None:
        fit = [s for s in weights if max_size is None or s.numel <= max_size] or weights[-1:]
        return max(fit, key=lambda s: s.numel).name
    for s in weights:
        if name in (s.name, s.layer):
            return s.name
    raise ValueError(
        f"no weight matrix named {name!r}; the run has {[s.name for s in weights]} "
        f"(or their layers {[s.layer for s in weights]})"
    )


# =============================================================================================
# svd: Marchenko-Pastur bulk, outliers, level spacings, accuracy with the bulk removed (ch. 4)
# =============================================================================================
class SVDSettings(BaseModel):
    """Settings of ``landscope analyze svd`` (Haink ch. 4, eq. 4.1-4.3; ref. [37])."""

    model_config = ConfigDict(extra="forbid")

    step: Step = Field("last", description="recorded step analysed: an int, 'init' or 'last'")
    layers: list[str] | None = Field(
        None, description="module or parameter names to analyse (default: every weight matrix)"
    )
    conv: Literal["thesis", "output", "per_position"] = Field(
        "thesis", description="reshape of conv kernels (landscope.spectra.CONV_RESHAPES)"
    )
    criterion: Literal["tracy_widom", "edge"] = Field(
        "tracy_widom", description="outlier criterion of the MP fit"
    )
    tw_quantile: float = Field(TW1_QUANTILES[0.01], description="TW1 quantile of the margin")
    margin: float = Field(0.0, ge=0, description="relative margin above lambda_+ for 'edge'")
    sigma_fit: Literal["median", "mean", "ks"] = Field("median", description="sigma_mp estimator")
    min_size: int = Field(
        8, ge=2, description="skip matrices with fewer rows or columns (too few singular values)"
    )
    spacing_window: int = Field(10, ge=1, description="neighbours each side for local unfolding")
    spacing_trim: float = Field(
        0.05, ge=0, lt=0.5, description="fraction of levels dropped at each end before unfolding"
    )
    compare_init: bool = Field(True, description="also fit the first recorded step (init)")
    bulk_removal: bool = Field(
        True, description="accuracy with each matrix's bulk removed, and all at once (ref. [37])"
    )
    bulk_min_singular: int = Field(
        20,
        ge=2,
        description="bulk removal leaves matrices with fewer singular values intact (a "
        "10-class output layer has no meaningful bulk)",
    )
    eval_size: int | None = Field(
        None, ge=1, description="training samples for the accuracies (None: all)"
    )
    seed: int = Field(0, description="seed of the evaluation subset")


def _svd_of(theta, layout, s: SVDSettings) -> list[dict]:
    out = []
    for wm in weight_matrices(theta, layout, conv=s.conv, layers=s.layers, min_size=s.min_size):
        mp = MarchenkoPastur(
            s.criterion, tw_quantile=s.tw_quantile, margin=s.margin, sigma_fit=s.sigma_fit
        ).fit(wm.matrix)
        entry = {"name": wm.name, "layer": wm.layer, "reshape": wm.reshape, "mp": mp, "wm": wm}
        try:
            entry["spacing"] = spacing_test(
                mp.singular_values_, window=s.spacing_window, trim=s.spacing_trim
            ).to_dict()
        except ValueError:  # too few singular values for spacings
            entry["spacing"] = None
        out.append(entry)
    return out


def run_svd_analysis(
    run: Run, settings: SVDSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """Singular values of every weight matrix, their Marchenko-Pastur fit (eq. 4.2) with outliers,
    unfolded level spacings against the Wigner surmise (eq. 4.3), and train / test accuracy with
    the bulk removed (each matrix alone and all together).

    Writes ``results.json`` and ``spectra.npz`` (``sv/<name>`` singular values of the analysed
    step, ``sv_init/<name>`` of the first one, ``spacings/<name>`` the unfolded spacings).
    """
    from landscope._progress import progress_bar
    from landscope.spectra._spacing import unfolded_spacings

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = run.problems()
    layout = train.layout
    step = _resolve_step(run, settings.step)
    theta = run.theta(step, like=train)
    fits = _svd_of(theta, layout, settings)
    if not fits:
        raise ValueError(
            f"no weight matrix with at least {settings.min_size} rows and columns in {run.path}"
        )
    init_step = _resolve_step(run, "init")
    init_fits = (
        _svd_of(run.theta(init_step, like=train), layout, settings) if settings.compare_init else []
    )
    arrays: dict[str, np.ndarray] = {}
    matrices = []
    summary: dict = {"step": step, "matrices": len(fits)}
    for i, f in enumerate(fits):
        mp, name = f["mp"], f["name"]
        arrays[f"sv/{name}"] = mp.singular_values_
        try:
            arrays[f"spacings/{name}"] = unfolded_spacings(
                mp.singular_values_, window=settings.spacing_window, trim=settings.spacing_trim
            )
        except ValueError:
            pass
        entry = {"name": name, "layer": f["layer"], "reshape": f["reshape"], **mp.summary()}
        entry["spacing"] = f["spacing"]
        if init_fits:
            mi = init_fits[i]["mp"]
            arrays[f"sv_init/{name}"] = mi.singular_values_
            entry["init"] = mi.summary()
            entry["init"]["spacing"] = init_fits[i]["spacing"]
        matrices.append(entry)
        summary[f"{name}.shape"] = f"{mp.shape_[0]}x{mp.shape_[1]}"
        summary[f"{name}.n_outliers"] = mp.n_outliers_
        summary[f"{name}.sigma_mp"] = mp.sigma_
        summary[f"{name}.bulk_ks"] = mp.bulk_ks_
        if f["spacing"]:
            summary[f"{name}.wigner_p"] = f["spacing"]["p_wigner"]
            summary[f"{name}.mean_ratio"] = f["spacing"]["mean_ratio"]
        if init_fits:
            summary[f"{name}.n_outliers_init"] = init_fits[i]["mp"].n_outliers_

    bulk = None
    if settings.bulk_removal and train.task == "classification":
        idx = _indices(train, settings.eval_size, settings.seed)
        base = {"train": train.evaluate(theta, idx)}
        if test is not None:
            base["test"] = test.evaluate(theta)

        def removed(which: list[dict]) -> torch.Tensor:
            t = theta.clone()
            for f in which:
                wm = f["wm"]
                kept = remove_bulk(wm.matrix.to(torch.float64), f["mp"].outlier_indices_)
                t[wm.index] = kept.flatten().to(t.dtype)
            return t

        per = {}
        removable = [f for f in fits if min(f["mp"].shape_) >= settings.bulk_min_singular]
        for f in progress_bar(removable, enabled=progress, desc="bulk removed", unit="matrix"):
            t = removed([f])
            per[f["name"]] = {"train": train.evaluate(t, idx)}
            if test is not None:
                per[f["name"]]["test"] = test.evaluate(t)
        t_all = removed(removable)
        every = {"train": train.evaluate(t_all, idx)}
        if test is not None:
            every["test"] = test.evaluate(t_all)
        bulk = {
            "original": base,
            "per_matrix": per,
            "all": every,
            "matrices": [f["name"] for f in removable],
        }
        split = "test" if test is not None else "train"
        summary[f"{split}_accuracy"] = base[split]["accuracy"]
        summary[f"{split}_accuracy_bulk_removed_all"] = every[split]["accuracy"]
        for name, v in per.items():
            summary[f"{name}.{split}_accuracy_bulk_removed"] = v[split]["accuracy"]

    save_arrays(out_dir / "spectra", arrays, {"step": step, "init_step": init_step})
    results = {
        "analysis": "svd",
        "title": "Singular values of weight matrices: Marchenko-Pastur bulk, outliers, spacings",
        "paper": f"{PAPER}, ch. 4 (eq. 4.1-4.3), Fig. 6.1 context; bulk removal after ref. [37]",
        "settings": settings.model_dump(),
        "summary": summary,
        "normalisation": "eigenvalue = singular_value^2 / max(rows, cols); Q = max / min",
        "matrices": matrices,
        "bulk_removal": bulk,
        "provenance": {
            "run": str(run.path),
            "steps": [init_step, step] if init_fits else [step],
            "seconds": time.perf_counter() - t0,
        },
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


# =============================================================================================
# overlaps: S_ij (eq. 6.2), F_ij (eq. 7.4), PCs vs Hessian eigenvectors (Fig. 7.1), eq. 7.5
# =============================================================================================
class OverlapsSettings(BaseModel):
    """Settings of ``landscope analyze overlaps`` (Haink eq. 6.2, 7.4, 7.5; Fig. 6.1, 7.1, 7.5, 7.7)."""

    model_config = ConfigDict(extra="forbid")

    layer: str | None = Field(
        None,
        description="weight parameter (or its module) to analyse; default the largest weight "
        "matrix with at most max_dense entries",
    )
    step: Step = Field("last", description="step of the Hessian and the singular matrices")
    pca_snapshots: int | None = Field(
        500,
        ge=3,
        description="PCA over the last this many recorded snapshots (None: all; the thesis "
        "uses the 450 steps of 10 post-training epochs)",
    )
    max_dense: int = Field(
        3000, ge=2, description="largest layer (entries) whose Hessian block is built densely"
    )
    network_k: int = Field(
        40, ge=0, description="whole-network Hessian eigenvectors for eq. 7.5 (0: skip)"
    )
    network_dense_max: int = Field(
        2000, description="build the whole-network Hessian densely up to this many parameters"
    )
    eval_size: int | None = Field(512, ge=1, description="training samples for the Hessians")
    seed: int = Field(0, description="seed of the sample subset and of Lanczos")
    dtype: Literal["float32", "float64"] = Field("float64", description="Hessian dtype")
    criterion: Literal["tracy_widom", "edge"] = Field("tracy_widom", description="MP outliers")


def _weighted_index(o: np.ndarray) -> np.ndarray:
    """Per column j: sum_i i O_ij^2 / sum_i O_ij^2, the mean row index a column lives on."""
    w = o**2
    rows = np.arange(o.shape[0])[:, None]
    return (rows * w).sum(0) / np.maximum(w.sum(0), np.finfo(float).tiny)


def _column_spearman(o: np.ndarray) -> float:
    """Spearman correlation of the column index j with its weighted mean row index: 1 when the
    columns (e.g. PCs, singular matrices) live on rows (Hessian eigenvectors) in the same order."""
    from scipy.stats import spearmanr

    idx = _weighted_index(o)
    if o.shape[1] < 3 or np.ptp(idx) == 0:
        return float("nan")
    return float(spearmanr(np.arange(o.shape[1]), idx).statistic)


def _column_index_width(o: np.ndarray) -> float:
    """The width of the band a map's columns occupy: per column j the O_ij^2-weighted standard
    deviation of the row index i around its mean (:func:`_weighted_index`), averaged over the
    columns and divided by the number of rows (0: each column on one row; ~0.29 for columns
    spread evenly).  Smaller is a sharper diagonal (Haink Fig. 7.1's "velocities sharper"),
    where the Spearman correlation of the mean indices saturates at 1 for any ordered band."""
    w = o**2
    mass = np.maximum(w.sum(0), np.finfo(float).tiny)
    rows = np.arange(o.shape[0])[:, None]
    mean = (rows * w).sum(0) / mass
    var = ((rows - mean[None, :]) ** 2 * w).sum(0) / mass
    return float(np.sqrt(var).mean() / o.shape[0])


def _columns_summary(o: np.ndarray, outliers: np.ndarray, prefix: str) -> dict:
    idx = _weighted_index(o)
    bulk = np.setdiff1d(np.arange(o.shape[1]), outliers)
    d = {
        f"{prefix}.mean_row_index_outliers": float(idx[outliers].mean()) if outliers.size else None,
        f"{prefix}.mean_row_index_bulk": float(idx[bulk].mean()) if bulk.size else None,
    }
    return {k: v for k, v in d.items() if v is not None}


def run_overlaps_analysis(
    run: Run, settings: OverlapsSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """Overlap maps of one weight matrix's bases at ``step``: principal components of the weights
    and of the updates (over the recorded snapshots), flattened singular matrices, eigenvectors
    of the layer's Hessian block, and the top whole-network Hessian eigenvectors.

    Writes ``results.json`` and ``overlaps.npz`` with ``S`` (PCs of weights x singular matrices,
    eq. 6.2), ``F`` (layer Hessian eigenvectors x singular matrices, eq. 7.4), ``HP_weights`` and
    ``HP_updates`` (layer Hessian eigenvectors x PCs, Fig. 7.1), ``L`` (network x layer
    eigenvectors, eq. 7.5), and the eigenvalues, variances and singular values.
    """
    from landscope.curvature import HessianOperator, hessian_eigh, top_eigenpairs

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, _ = run.problems(dtype=settings.dtype)
    layout = train.layout
    pname = _weight_param(layout, settings.layer, settings.max_dense)
    slot = layout[pname]
    if slot.numel > settings.max_dense:
        raise ValueError(
            f"{pname} has {slot.numel} entries, more than max_dense={settings.max_dense}: raise "
            "max_dense (memory ~ 8 numel^2 bytes) or pick a smaller --layer"
        )
    step = _resolve_step(run, settings.step)
    theta = run.theta(step, like=train)
    idx = _indices(train, settings.eval_size, settings.seed)

    # singular matrices of the (thesis-reshaped) weight, in the parameter's own coordinates
    W = theta[slot.slice].reshape(slot.shape)
    W2 = W.reshape(W.shape[0] * W.shape[1], -1) if W.ndim > 2 else W
    mp = MarchenkoPastur(settings.criterion).fit(W2)
    sm = singular_matrices(W2.to(torch.float64))

    # PCA of weights and of updates over the recorded snapshots of this parameter
    steps = [int(s) for s in run.param_steps() if s <= step]
    if settings.pca_snapshots is not None:
        steps = steps[-settings.pca_snapshots :]
    if len(steps) < 3:
        raise ValueError(f"need at least 3 recorded snapshots up to step {step}, got {len(steps)}")
    from landscope.trajectory import TrajectoryPCA

    # eq. 3.3-3.5 on the weights and on the updates v(t) = w(t+1) - w(t) of this parameter
    pcas = {
        target: TrajectoryPCA(target=target, params=pname, steps=steps).fit(run)
        for target in ("weights", "updates")
    }
    pw, var_w = (torch.from_numpy(pcas["weights"].components_), pcas["weights"].explained_variance_)
    pv, var_v = (torch.from_numpy(pcas["updates"].components_), pcas["updates"].explained_variance_)

    # the layer's Hessian block, dense
    evals, evecs = hessian_eigh(train, theta, indices=idx, params=pname, max_params=slot.numel)
    H = evecs.T.to(torch.float64)  # (n, n) rows, decreasing eigenvalue

    maps = {
        "S": abs_overlaps(pw, sm).numpy(),
        "F": abs_overlaps(H, sm).numpy(),
        "HP_weights": abs_overlaps(H, pw).numpy(),
        "HP_updates": abs_overlaps(H, pv).numpy(),
    }
    arrays = dict(maps)
    arrays.update(
        hessian_eigenvalues=evals.cpu().numpy(),
        singular_values=mp.singular_values_,
        variances_weights=var_w,
        variances_updates=var_v,
        pca_steps=np.asarray(steps),
    )
    network = None
    if settings.network_k > 0:
        p = train.num_params
        k = min(settings.network_k, p)
        if p <= settings.network_dense_max:
            nvals, nvecs = hessian_eigh(train, theta, indices=idx, max_params=p)
            nvals, nvecs, backend = nvals[:k], nvecs[:, :k], "dense"
        else:
            op = HessianOperator(train, theta, indices=idx)
            res = top_eigenpairs(op, k, seed=settings.seed)
            nvals, nvecs, backend = res.eigenvalues, res.eigenvectors, "lanczos"
        nv = nvecs.T.to(torch.float64)
        L = layer_overlaps(nv, H, slot.slice).cpu().numpy()
        arrays["L"] = L
        # Fig. 7.14: network eigenvectors (restricted to the layer) vs its singular matrices
        arrays["F_network"] = layer_overlaps(nv, sm / sm.norm(dim=1, keepdim=True), slot.slice)
        arrays["F_network"] = arrays["F_network"].cpu().numpy()
        arrays["network_eigenvalues"] = nvals.cpu().numpy()
        network = {"k": k, "backend": backend, "summary": overlap_summary(L)}

    outl = mp.outlier_indices_
    summary: dict = {
        "layer": pname,
        "shape": "x".join(str(d) for d in slot.shape),
        "step": step,
        "pca_snapshots": len(steps),
        "n_outliers": mp.n_outliers_,
        "top_hessian_eigenvalue": float(evals[0]),
    }
    details = {}
    for key, o in maps.items():
        s = overlap_summary(o)
        details[key] = s
        summary[f"{key}.near_diagonal_fraction"] = s["near_diagonal_fraction"]
        summary[f"{key}.argmax_spearman"] = s["argmax_spearman"]
        summary[f"{key}.column_index_spearman"] = _column_spearman(o)
        summary[f"{key}.column_index_width"] = _column_index_width(o)
    summary.update(_columns_summary(maps["S"], outl, "S"))
    summary.update(_columns_summary(maps["F"], outl, "F"))
    if network:
        summary["L.top_subspace_overlap"] = network["summary"]["top_subspace_overlap"]
        summary["L.mean_diagonal"] = network["summary"]["mean_diagonal"]
        summary["L.random_top_subspace_overlap"] = min(10, k) / p
        summary.update(_columns_summary(arrays["F_network"], outl, "F_network"))
    save_arrays(
        out_dir / "overlaps", arrays, {"layer": pname, "step": step}, json_exclude=tuple(arrays)
    )
    results = {
        "analysis": "overlaps",
        "title": f"Overlap maps of {pname}: PCs, singular matrices, Hessian eigenvectors",
        "paper": f"{PAPER}, eq. 6.2, 7.4, 7.5; Fig. 6.1, 7.1, 7.5, 7.7",
        "settings": settings.model_dump(),
        "summary": summary,
        "maps": details,
        "network": network,
        "mp": mp.summary(),
        "provenance": {"run": str(run.path), "steps": steps, "seconds": time.perf_counter() - t0},
    }
    write_json_atomic(out_dir / "results.json", results)
    return results


# =============================================================================================
# eigvec-stats: density, spacings, Porter-Thomas, layer shares, IPR, weight product, eq. 7.6
# =============================================================================================
class EigvecStatsSettings(BaseModel):
    """Settings of ``landscope analyze eigvec-stats`` (Haink sec. 7.2, 7.5, 7.6)."""

    model_config = ConfigDict(extra="forbid")

    layer: str | None = Field(
        None,
        description="a parameter or module name (its Hessian block); None: the whole network, "
        "or, when it has more than max_dense parameters, its largest layer that fits",
    )
    steps: list[Step] = Field(["init", "last"], description="steps to analyse")
    max_dense: int = Field(
        3000, ge=2, description="refuse Hessians larger than this (full spectrum needed)"
    )
    eval_size: int | None = Field(512, ge=1, description="training samples for the Hessian")
    seed: int = Field(0, description="seed of the sample subset")
    dtype: Literal["float32", "float64"] = Field("float64", description="Hessian dtype")
    density_width: float | None = Field(
        None, gt=0, description="Gaussian kernel std (None: 1 % of the spectrum's range)"
    )
    pt_neighbours: int = Field(15, ge=0, description="Porter-Thomas p-values averaged over +-k")
    spacing_window: int = Field(10, ge=1, description="local unfolding window (Fig. 7.16: 10)")
    spacing_trim: float = Field(0.05, ge=0, lt=0.5, description="levels dropped at each end")
    loss_lines: int = Field(
        4, ge=0, description="top eigenvectors for eq. 7.6 (plus the largest weight product)"
    )
    alpha_points: int = Field(21, ge=3, description="points per line of eq. 7.6")
    alpha_span: float = Field(
        1.0, gt=0, description="alpha range: +- max(alpha_span, 2 |w.h|) around 0"
    )
    save_eigenvectors: bool = Field(
        False, description="also write the eigenvectors (n x n) to eigenvectors_<step>.npz"
    )


def _resolve_layer(layout, s: EigvecStatsSettings) -> tuple[str | None, str]:
    """The parameter group analysed: ``s.layer``, the whole network if it fits ``max_dense``, else
    the largest layer (module) that does; with a note saying which and why."""
    if s.layer is not None or layout.num_params <= s.max_dense:
        return s.layer, ""
    sizes = {name: layout.layer_slice(name) for name in layout.layers}
    fits = {n: sl.stop - sl.start for n, sl in sizes.items() if sl.stop - sl.start <= s.max_dense}
    if not fits:
        raise ValueError(
            f"the network has {layout.num_params} parameters and no layer has <= max_dense="
            f"{s.max_dense}: raise max_dense (memory ~ 8 n^2 bytes)"
        )
    name = max(fits, key=fits.get)
    return name, (
        f"the whole network ({layout.num_params} parameters) exceeds max_dense={s.max_dense}; "
        f"analysed its largest layer that fits, {name!r} ({fits[name]} parameters)"
    )


def _eig_at(train, theta, s: EigvecStatsSettings, idx):
    from landscope.curvature import hessian_eigh, select_parameters

    sel = select_parameters(train.layout, s.layer)
    if sel.size > s.max_dense:
        raise ValueError(
            f"the Hessian {'of ' + s.layer if s.layer else 'of the network'} has size "
            f"{sel.size} > max_dense={s.max_dense}: pick a --layer or raise max_dense"
        )
    evals, evecs = hessian_eigh(train, theta, indices=idx, params=s.layer, max_params=sel.size)
    return sel, evals.to(torch.float64), evecs.T.to(torch.float64)


def run_eigvec_stats_analysis(
    run: Run, settings: EigvecStatsSettings, out_dir: Path, *, progress: bool = True
) -> dict:
    """Statistics of the full (dense) Hessian spectrum of the network or one layer at each step:
    smoothed density (Fig. 7.15, 7.20b), level spacings vs the Wigner surmise (Fig. 7.16),
    Porter-Thomas p-values averaged over neighbours (eq. 7.7, Fig. 7.17), layer shares against
    n_l / n (eq. 7.8, Fig. 7.18), inverse participation ratio (Fig. 7.21), weight products
    (eq. 7.2, Fig. 7.19, 7.20a; also w(init) on the last step's eigenvectors, Fig. 7.19a), and
    the loss along the top eigenvectors against the quadratic model (eq. 7.6, Fig. 7.12, 7.13).

    Writes ``results.json`` and ``stats_<step>.npz`` per step.
    """
    from landscope._progress import progress_bar

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = run.problems(dtype=settings.dtype)
    layer, note = _resolve_layer(train.layout, settings)
    requested = settings
    settings = settings.model_copy(update={"layer": layer})
    idx = _indices(train, settings.eval_size, settings.seed)
    steps = list(dict.fromkeys(_resolve_step(run, s) for s in settings.steps))
    init_theta = run.theta("init", like=train)
    per_step = {}
    summary: dict = {"layer": settings.layer or "network"}
    last_vecs = None
    for step in progress_bar(steps, enabled=progress, desc="eigvec-stats", unit="step"):
        theta = run.theta(step, like=train)
        sel, evals, V = _eig_at(train, theta, settings, idx)
        n = sel.size
        lam = evals.numpy()
        w = sel.restrict(theta).to(torch.float64)
        width = settings.density_width or max(1e-12, 0.01 * float(lam.max() - lam.min()))
        grid, dens = smoothed_density(lam, width=width)
        try:
            spacing = spacing_test(
                lam, window=settings.spacing_window, trim=settings.spacing_trim
            ).to_dict()
        except ValueError:
            spacing = None
        pt = porter_thomas_pvalues(V)
        pt_avg = neighbour_average(pt, settings.pt_neighbours)
        ipr = inverse_participation_ratio(V)
        wp = weight_product(V, w)
        arrays = {
            "eigenvalues": lam,
            "density_grid": grid,
            "density": dens,
            "porter_thomas_p": pt,
            "porter_thomas_p_avg": pt_avg,
            "ipr": ipr,
            "weight_product": wp,
        }
        if len(steps) > 1 and step == steps[-1]:
            arrays["weight_product_init"] = weight_product(V, sel.restrict(init_theta))
        # layer shares over the groups inside the selection
        if settings.layer is None:
            shares, names, expected = layer_concentration(V, train.layout)
        else:
            slots = [s for s in train.layout if s.offset >= int(sel.index[0])]
            slots = [s for s in slots if s.stop <= int(sel.index[-1]) + 1]
            base = int(sel.index[0])
            groups = {s.name: slice(s.offset - base, s.stop - base) for s in slots}
            shares, names, expected = layer_concentration(V, groups)
        arrays["layer_shares"] = shares
        arrays["layer_expected"] = expected
        # eq. 7.6 along the top eigenvectors and the largest |weight product|
        lines = []
        picks = list(range(min(settings.loss_lines, n)))
        big = int(np.argmax(np.abs(wp)))
        if big not in picks:
            picks.append(big)
        for i in picks:
            h = V[i].to(theta.dtype)
            proj = float(w @ V[i])
            span = max(settings.alpha_span, 2 * abs(proj))
            alphas = np.union1d(np.linspace(-span, span, settings.alpha_points), [0.0, proj])
            res = loss_along_eigenvector(
                train,
                theta,
                h,
                float(lam[i]),
                alphas,
                index=sel.index,
                test_problem=test,
                indices=idx,
            )
            near = np.abs(res["delta"]) <= 0.1
            rel = np.abs(res["loss"] - res["quadratic"]) / np.maximum(np.abs(res["loss"]), 1e-12)
            lines.append(
                {
                    "index": i,
                    "eigenvalue": float(lam[i]),
                    "projection": res["projection"],
                    "largest_weight_product": i == big,
                    "loss_at_removed": float(res["loss"][np.argmin(np.abs(res["alpha"]))]),
                    "loss_at_w": float(res["loss"][np.argmin(np.abs(res["delta"]))]),
                    "alpha_at_min": float(res["alpha"][np.argmin(res["loss"])]),
                    "alpha_step": float(2 * span / (settings.alpha_points - 1)),
                    "max_rel_error_quadratic_near": float(rel[near].max()) if near.any() else None,
                }
            )
            for key in ("alpha", "loss", "quadratic", "accuracy", "test_accuracy", "test_loss"):
                if key in res:
                    arrays[f"line{i}/{key}"] = np.asarray(res[key])
        label = "init" if step == steps[0] and len(steps) > 1 else f"step{step}"
        if step == steps[-1] and len(steps) > 1:
            label = "last"
        save_arrays(out_dir / f"stats_{label}", arrays, {"step": step}, json_exclude=tuple(arrays))
        third = max(1, n // 10)
        if settings.save_eigenvectors:
            save_arrays(
                out_dir / f"eigenvectors_{label}",
                {"eigenvalues": lam, "eigenvectors": V.cpu().numpy(), "index": sel.index.numpy()},
                {"step": step, "rows": "eigenvectors, decreasing eigenvalue"},
                json_exclude=("eigenvalues", "eigenvectors", "index"),
            )
        zero = ZERO_RTOL * abs(float(lam[0]))
        wp_ms = (
            float((wp[:third] ** 2).mean()),
            float((wp[third:] ** 2).mean()) if n > third else None,
        )
        info = {
            "step": step,
            "label": label,
            "n": n,
            "top_eigenvalue": float(lam[0]),
            "n_negative": int((lam < 0).sum()),
            "negative_fraction": float((lam < 0).mean()),
            "negative_fraction_nonzero": float((lam < -zero).mean()),
            "zero_fraction": float((np.abs(lam) <= zero).mean()),
            "top_over_median_abs": float(lam[0] / max(np.median(np.abs(lam)), 1e-300)),
            "density_width": width,
            "spacing": spacing,
            "porter_thomas_max_avg_p": float(pt_avg.max()),
            "porter_thomas_median_p": float(np.median(pt)),
            "porter_thomas_fraction_rejected_1pct": float((pt < 0.01).mean()),
            "ipr_random_expected": 3.0 / (n + 2),
            "ipr_delocalised": 1.0 / n,
            "ipr_top10pct_mean": float(ipr[:third].mean()),
            "ipr_middle_mean": float(ipr[third:-third].mean()) if n > 2 * third else None,
            "ipr_bottom10pct_mean": float(ipr[-third:].mean()),
            "weight_product_ms_top10pct": wp_ms[0],
            "weight_product_ms_rest": wp_ms[1],
            "weight_product_random_ms": 1.0 / n,
            "argmax_weight_product": big,
            "layer_names": names,
            "layer_expected": expected.tolist(),
            "layer_shares_top_eigvec": shares[0].tolist(),
            "layer_shares_top10pct": shares[:third].mean(0).tolist(),
            "layer_shares_bottom10pct": shares[-third:].mean(0).tolist(),
            "loss_lines": lines,
        }
        if "weight_product_init" in arrays:
            wpi = arrays["weight_product_init"]
            info["weight_product_init_ms_top10pct"] = float((wpi[:third] ** 2).mean())
            info["weight_product_init_ms_rest"] = float((wpi[third:] ** 2).mean())
        per_step[label] = info
        for key in (
            "n",
            "top_eigenvalue",
            "negative_fraction_nonzero",
            "top_over_median_abs",
            "porter_thomas_max_avg_p",
            "ipr_top10pct_mean",
            "ipr_middle_mean",
            "ipr_random_expected",
        ):
            if info[key] is not None:
                summary[f"{label}.{key}"] = info[key]
        if spacing:
            summary[f"{label}.wigner_p"] = spacing["p_wigner"]
            summary[f"{label}.mean_ratio"] = spacing["mean_ratio"]
        last_vecs = V
    del last_vecs
    results = {
        "analysis": "eigvec-stats",
        "title": "Hessian eigenvalue and eigenvector statistics",
        "paper": f"{PAPER}, sec. 7.2, 7.5, 7.6 (eq. 7.2, 7.6-7.9; Fig. 7.12-7.21)",
        "settings": requested.model_dump(),
        "layer": settings.layer,
        "note": note,
        "summary": summary,
        "steps": per_step,
        "provenance": {"run": str(run.path), "steps": steps, "seconds": time.perf_counter() - t0},
    }
    write_json_atomic(out_dir / "results.json", results)
    return results
