"""One call that answers "what does the curvature look like here?" for a Problem at theta.

:func:`curvature_summary` is what ``landscope hessian`` runs: the top-k Hessian eigenpairs of
the full-dataset loss (or of one layer's block, Haink sec. 7.5) with explicit residuals, and
optionally the trace (Hutchinson) and the spectral density (stochastic Lanczos quadrature), as
a JSON-ready dict.  :func:`format_table` renders it as plain text.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch

from landscope.curvature._hessian import HessianOperator
from landscope.curvature._lanczos import top_eigenpairs
from landscope.curvature._slq import spectral_density
from landscope.curvature._trace import hutchinson_trace, hutchpp_trace
from landscope.problem._problem import Problem

__all__ = [
    "DensitySettings",
    "SummarySettings",
    "TraceSettings",
    "curvature_summary",
    "format_table",
]

_WHICH = ("LA", "LM", "SA")
_TRACE_METHODS = ("hutchinson", "hutch++")


def _plain(value: Any) -> Any:
    # An Enum choice (the CLI's) stands for its value.
    return value.value if isinstance(value, Enum) else value


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TraceSettings:
    """How :func:`curvature_summary` estimates ``tr(H)``.

    Attributes:
        method: ``"hutchinson"`` (Hutchinson 1989) or ``"hutch++"`` (Meyer et al. 2021).
        probes: Hutchinson probes; for Hutch++ the total number of products (3 if fewer).
    """

    method: str = "hutchinson"
    probes: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", _plain(self.method))
        if self.method not in _TRACE_METHODS:
            raise ValueError(f"trace method must be 'hutchinson' or 'hutch++', got {self.method!r}")
        _positive_int("trace probes", self.probes)


@dataclass(frozen=True)
class DensitySettings:
    """How :func:`curvature_summary` estimates the spectral density (SLQ, Ghorbani et al. 2019).

    Attributes:
        probes: Rademacher probes.
        lanczos_steps: Lanczos steps per probe (capped at the operator's size).
        sigma: Gaussian width of the smoothed density, in eigenvalue units (default: 1% of the
            spread of the nodes).
    """

    probes: int = 10
    lanczos_steps: int = 80
    sigma: float | None = None

    def __post_init__(self) -> None:
        _positive_int("density probes", self.probes)
        _positive_int("lanczos_steps", self.lanczos_steps)
        if self.sigma is not None and not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma!r}")


@dataclass(frozen=True)
class SummarySettings:
    """What :func:`curvature_summary` computes; every field has the documented default.

    Attributes:
        top_k: number of eigenpairs.
        which: ``"LA"`` (largest), ``"LM"`` (largest magnitude) or ``"SA"`` (most negative).
        layer: restrict to this layer's (or parameter's) diagonal block of the Hessian
            (Haink sec. 7.5); None: all parameters.
        tol: relative residual tolerance of the eigenpairs (see :func:`top_eigenpairs`).
        max_matvecs, block_size: passed to :func:`top_eigenpairs` (None: its defaults).
        backend: how Hessian-vector products are computed (``"auto"``, ``"autograd"``,
            ``"structured"``; see :class:`HessianOperator`).
        seed: seed of the Lanczos start vector and of the trace and density probes.
        trace: estimate the trace with these settings; ``True`` means ``TraceSettings()``,
            None / ``False`` skips it.
        density: estimate the spectral density with these settings; ``True`` means
            ``DensitySettings()``, None / ``False`` skips it.

    Examples:
        >>> SummarySettings(top_k=5, trace=True).trace
        TraceSettings(method='hutchinson', probes=100)
    """

    top_k: int = 10
    which: str = "LA"
    layer: str | None = None
    tol: float = 1e-6
    max_matvecs: int | None = None
    block_size: int | None = None
    backend: str = "auto"
    seed: int = 0
    trace: TraceSettings | None = field(default=None)
    density: DensitySettings | None = field(default=None)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "which", _plain(self.which))
        set_(self, "backend", _plain(self.backend))
        for name, default in (("trace", TraceSettings), ("density", DensitySettings)):
            value = getattr(self, name)
            if value is True:
                set_(self, name, default())
            elif value is False:
                set_(self, name, None)
            elif value is not None and not isinstance(value, default):
                raise TypeError(
                    f"{name} must be a {default.__name__}, True or None, got {type(value).__name__}"
                )
        if self.which not in _WHICH:
            raise ValueError(f"which must be 'LA', 'LM' or 'SA', got {self.which!r}")
        _positive_int("top_k", self.top_k)
        if not self.tol > 0:
            raise ValueError(f"tol must be positive, got {self.tol!r}")


def curvature_summary(
    problem: Problem, theta: torch.Tensor, settings: SummarySettings | None = None
) -> dict[str, Any]:
    """Top-k Hessian eigenpairs (and optionally trace and spectral density) as a JSON-ready dict.

    Gur-Ari et al. (2018) App. A (top-k by Lanczos on Hessian-vector products); Ghorbani et al.
    (2019) (density by SLQ); Hutchinson (1989) / Meyer et al. (2021) (trace).

    Args:
        problem: model, loss and data; the Hessian is that of the mean loss over all samples.
        theta: parameters (p,).
        settings: what to compute (default ``SummarySettings()``: the top 10 eigenpairs of the
            whole Hessian to tol 1e-6, no trace, no density).

    Returns:
        A dict with ``eigenvalues``, ``residual_norms``, ``relative_residuals``, ``converged``,
        ``at_floor``, ``num_hvps`` (all Hessian-vector products, every part), ``seconds``, the
        setting (``num_params``, ``dim``, ``layer``, ``dtype``, ``backend`` and
        ``backend_reason``, ...), and ``trace`` /
        ``density`` sub-dicts when asked for.  Eigenvectors are not included.
    """
    s = SummarySettings() if settings is None else settings
    if not isinstance(s, SummarySettings):
        raise TypeError(f"settings must be a SummarySettings, got {type(s).__name__}")
    t0 = time.perf_counter()
    op = HessianOperator(problem, theta, params=s.layer, backend=s.backend)
    dim = op.shape[0]
    if not 1 <= s.top_k <= dim:
        raise ValueError(f"top_k must lie in [1, {dim}] (the operator's size), got {s.top_k}")
    eig = top_eigenpairs(
        op,
        s.top_k,
        which=s.which,
        tol=s.tol,
        seed=s.seed,
        max_matvecs=s.max_matvecs,
        block_size=s.block_size,
    )
    out: dict[str, Any] = {
        "quantity": "hessian",
        "num_params": problem.num_params,
        "dim": dim,
        "layer": s.layer,
        "num_samples": op.num_samples,
        "dtype": str(problem.dtype).replace("torch.", ""),
        "device": str(problem.device),
        "backend": op.backend,
        "backend_reason": op.backend_reason,
        "which": s.which,
        "top_k": s.top_k,
        "tol": s.tol,
        "seed": s.seed,
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
    if s.trace is not None:
        if s.trace.method == "hutchinson":
            est = hutchinson_trace(op, s.trace.probes, seed=s.seed)
        else:
            est = hutchpp_trace(op, max(3, s.trace.probes), seed=s.seed)
        out["trace"] = est.to_dict()
    if s.density is not None:
        d = s.density
        sd = spectral_density(op, num_probes=d.probes, lanczos_steps=d.lanczos_steps, seed=s.seed)
        out["density"] = sd.to_dict(sigma=d.sigma)
        out["density"]["trace_estimate"] = sd.trace()
        # standard error over the probes (p x the std. error of the first moment): the SLQ trace
        # is an estimate, never printed without its spread
        out["density"]["trace_standard_error"] = sd.dim * sd.moment_standard_error(1)
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
            f"trace estimate {d['trace_estimate']:.6g} +- "
            f"{d.get('trace_standard_error', float('nan')):.2g} (std. error over the probes)"
        )
    lines.append(
        f"total: {summary['num_hvps']} Hessian-vector products, {summary['seconds']:.3f} s"
    )
    return "\n".join(lines)
