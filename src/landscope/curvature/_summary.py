"""One call that answers "what does the curvature look like here?" for a Problem at theta.

:func:`curvature_summary` is what ``landscope hessian`` runs: the top-k Hessian eigenpairs of
the full-dataset loss (or of one layer's block, Haink sec. 7.5) with explicit residuals, and
optionally the trace (Hutchinson) and the spectral density (stochastic Lanczos quadrature), as
a JSON-ready dict.  :func:`format_table` renders it as plain text.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from landscope.curvature._hessian import HessianOperator
from landscope.curvature._lanczos import top_eigenpairs
from landscope.curvature._slq import spectral_density
from landscope.curvature._trace import hutchinson_trace, hutchpp_trace
from landscope.problem._problem import Problem

__all__ = ["curvature_summary", "format_table"]


def curvature_summary(
    problem: Problem,
    theta: torch.Tensor,
    *,
    top_k: int = 10,
    which: str = "LA",
    layer: str | None = None,
    density: bool = False,
    trace: bool = False,
    seed: int = 0,
    tol: float = 1e-6,
    trace_method: str = "hutchinson",
    trace_probes: int = 100,
    density_probes: int = 10,
    lanczos_steps: int = 80,
    sigma: float | None = None,
    max_matvecs: int | None = None,
    block_size: int | None = None,
    backend: str = "auto",
) -> dict[str, Any]:
    """Top-k Hessian eigenpairs (and optionally trace and spectral density) as a JSON-ready dict.

    Gur-Ari et al. (2018) App. A (top-k by Lanczos on Hessian-vector products); Ghorbani et al.
    (2019) (density by SLQ); Hutchinson (1989) / Meyer et al. (2021) (trace).

    Args:
        problem: model, loss and data; the Hessian is that of the mean loss over all samples.
        theta: parameters (p,).
        top_k: number of eigenpairs.
        which: ``"LA"`` (largest), ``"LM"`` (largest magnitude) or ``"SA"`` (most negative).
        layer: restrict to this layer's (or parameter's) diagonal block of the Hessian.
        density: also estimate the spectral density (SLQ).
        trace: also estimate the trace.
        seed: seed of the Lanczos start vector and the probes.
        tol: relative residual tolerance of the eigenpairs (see :func:`top_eigenpairs`).
        trace_method: ``"hutchinson"`` or ``"hutch++"``.
        trace_probes: Hutchinson probes (Hutch++: total products).
        density_probes, lanczos_steps: SLQ probes and Lanczos steps per probe.
        sigma: Gaussian width of the smoothed density (default 1% of the spectrum's spread).
        max_matvecs, block_size: passed to :func:`top_eigenpairs`.
        backend: how Hessian-vector products are computed (``"auto"``, ``"autograd"``,
            ``"structured"``; see :class:`HessianOperator`).

    Returns:
        A dict with ``eigenvalues``, ``residual_norms``, ``relative_residuals``, ``converged``,
        ``at_floor``, ``num_hvps`` (all Hessian-vector products, every part), ``seconds``, the
        setting (``num_params``, ``dim``, ``layer``, ``dtype``, ``backend`` and
        ``backend_reason``, ...), and ``trace`` /
        ``density`` sub-dicts when asked for.  Eigenvectors are not included.
    """
    if which not in ("LA", "LM", "SA"):
        raise ValueError(f"which must be 'LA', 'LM' or 'SA', got {which!r}")
    if trace_method not in ("hutchinson", "hutch++"):
        raise ValueError(f"trace_method must be 'hutchinson' or 'hutch++', got {trace_method!r}")
    t0 = time.perf_counter()
    op = HessianOperator(problem, theta, params=layer, backend=backend)
    dim = op.shape[0]
    if not 1 <= top_k <= dim:
        raise ValueError(f"top_k must lie in [1, {dim}] (the operator's size), got {top_k}")
    eig = top_eigenpairs(
        op, top_k, which=which, tol=tol, seed=seed, max_matvecs=max_matvecs, block_size=block_size
    )
    out: dict[str, Any] = {
        "quantity": "hessian",
        "num_params": problem.num_params,
        "dim": dim,
        "layer": layer,
        "num_samples": op.num_samples,
        "dtype": str(problem.dtype).replace("torch.", ""),
        "device": str(problem.device),
        "backend": op.backend,
        "backend_reason": op.backend_reason,
        "which": which,
        "top_k": top_k,
        "tol": tol,
        "seed": seed,
        "eigenvalues": eig.eigenvalues.tolist(),
        "residual_norms": eig.residual_norms.tolist(),
        "relative_residuals": eig.relative_residuals.tolist(),
        "converged": eig.converged.tolist(),
        "at_floor": eig.at_floor.tolist() if eig.at_floor is not None else None,
        "all_converged": eig.all_converged,
        "eigen_hvps": eig.num_matvecs,
        "eigen_seconds": eig.seconds,
        "eigen_iterations": eig.num_iterations,
        "block_size": eig.block_size,
    }
    if trace:
        if trace_method == "hutchinson":
            est = hutchinson_trace(op, trace_probes, seed=seed)
        else:
            est = hutchpp_trace(op, max(3, trace_probes), seed=seed)
        out["trace"] = est.to_dict()
    if density:
        sd = spectral_density(op, num_probes=density_probes, lanczos_steps=lanczos_steps, seed=seed)
        out["density"] = sd.to_dict(sigma=sigma)
        out["density"]["trace_estimate"] = sd.trace()
    out["num_hvps"] = op.num_matvecs
    out["seconds"] = time.perf_counter() - t0
    return out


def format_table(summary: dict[str, Any]) -> str:
    """Plain-text table of a :func:`curvature_summary` dict (what ``landscope hessian`` prints)."""
    which = {"LA": "largest", "LM": "largest |.|", "SA": "smallest"}.get(
        summary.get("which", ""), ""
    )
    where = f"layer {summary['layer']!r}" if summary.get("layer") else "all parameters"
    head = (
        f"Hessian: top-{summary['top_k']} eigenvalues ({which}) of {where}, "
        f"dim {summary['dim']} of p = {summary['num_params']}, N = {summary['num_samples']}, "
        f"{summary['dtype']} on {summary['device']}"
        + (f", {summary['backend']} products" if "backend" in summary else "")
    )
    lines = [head]
    if "step" in summary:
        lines.append(
            f"target {summary.get('target', '')}, step {summary['step']}, split {summary.get('split', '')}"
        )
    lines.append(f"{'#':>3}  {'eigenvalue':>14}  {'residual':>9}  {'rel.resid':>9}  converged")
    for i, (lam, r, rr, c) in enumerate(
        zip(
            summary["eigenvalues"],
            summary["residual_norms"],
            summary["relative_residuals"],
            summary["converged"],
            strict=True,
        )
    ):
        if c:
            status = "yes" if rr <= summary["tol"] else "yes (rounding floor)"
        else:
            status = "no"
        lines.append(f"{i + 1:>3}  {lam:>14.7g}  {r:>9.2e}  {rr:>9.2e}  {status}")
    lines.append(
        f"eigenpairs: {summary['eigen_hvps']} Hessian-vector products, {summary['eigen_seconds']:.3f} s "
        f"(tol {summary['tol']:g}, block size {summary['block_size']})"
    )
    if "trace" in summary:
        t = summary["trace"]
        lines.append(
            f"trace ({t['method']}, {t['num_samples']} samples): {t['estimate']:.6g} +- "
            f"{t['standard_error']:.2g} (std. error), {t['num_matvecs']} products, {t['seconds']:.3f} s"
        )
    if "density" in summary:
        d = summary["density"]
        lines.append(
            f"spectral density (SLQ): {d['num_probes']} probes x {d['lanczos_steps']} Lanczos steps, "
            f"sigma {d['sigma']:.3g}, {d['num_matvecs']} products, {d['seconds']:.3f} s; "
            f"trace estimate {d['trace_estimate']:.6g}"
        )
    lines.append(
        f"total: {summary['num_hvps']} Hessian-vector products, {summary['seconds']:.3f} s"
    )
    return "\n".join(lines)
