"""Trace of a symmetric operator: Hutchinson's estimator and Hutch++.

Hutchinson (1989): for Rademacher ``z``, ``E[z^T A z] = tr(A)``; the mean of n independent
samples has standard error ``std / sqrt(n)``.  Hutch++ (Meyer, Musco, Musco & Woodruff 2021,
Alg. 1): spend a third of the products on a sketch ``Q = orth(A S)`` of the top of the
spectrum, take its trace exactly, and run Hutchinson on the deflated rest
``(I - QQ^T) A (I - QQ^T)``: the variance drops sharply when a few eigenvalues dominate, as for
Hessians with outliers.  Probes come from a private ``torch.Generator(seed)``; the caller's
random state is never touched.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from landscope.curvature._base import CurvatureOperator
from landscope.curvature._slq import rademacher

__all__ = ["TraceEstimate", "hutchinson_trace", "hutchpp_trace"]


@dataclass
class TraceEstimate:
    """A stochastic estimate of ``tr(A)``.

    Attributes:
        estimate: the trace estimate.
        standard_error: its estimated standard error (sample std of the Monte-Carlo terms over
            sqrt of their number).
        samples: (n,) float64 Monte-Carlo terms (Hutchinson: ``z_i^T A z_i``; Hutch++: the
            deflated terms ``g_i^T (I-QQ^T) A (I-QQ^T) g_i``).
        num_matvecs: operator-vector products used.
        seconds: wall time.
        method: ``"hutchinson"`` or ``"hutch++"``.
        exact_part: Hutch++ only: ``tr(Q^T A Q)`` of the sketched subspace (0 for Hutchinson).
    """

    estimate: float
    standard_error: float
    samples: torch.Tensor
    num_matvecs: int
    seconds: float
    method: str
    exact_part: float = 0.0

    @property
    def running_mean(self) -> torch.Tensor:
        """(n,) estimate after 1, 2, ..., n samples (convergence plots)."""
        n = torch.arange(1, len(self.samples) + 1, dtype=torch.float64)
        return self.exact_part + torch.cumsum(self.samples, 0) / n

    @property
    def running_standard_error(self) -> torch.Tensor:
        """(n,) standard error after 1, 2, ..., n samples (NaN for the first)."""
        s = self.samples
        n = torch.arange(1, len(s) + 1, dtype=torch.float64)
        mean = torch.cumsum(s, 0) / n
        sq = torch.cumsum(s * s, 0) / n
        var = (sq - mean * mean).clamp_min(0) * n / (n - 1).clamp_min(1)
        out = (var / n).sqrt()
        out[0] = float("nan")
        return out

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "estimate": self.estimate,
            "standard_error": self.standard_error,
            "num_samples": len(self.samples),
            "num_matvecs": self.num_matvecs,
            "seconds": self.seconds,
        }


def _check(op: CurvatureOperator, name: str, value: int) -> None:
    if not isinstance(op, CurvatureOperator):
        raise TypeError(f"op must be a CurvatureOperator, got {type(op).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")


def _quadratic_forms(op: CurvatureOperator, Z: torch.Tensor, block_size: int) -> torch.Tensor:
    """``diag(Z^T A Z)`` (n,) in float64, applying the operator to blocks of columns."""
    out = []
    for s in range(0, Z.shape[1], block_size):
        B = Z[:, s : s + block_size]
        out.append((B * op.matmat(B)).sum(dim=0).double().cpu())
    return torch.cat(out)


def hutchinson_trace(
    op: CurvatureOperator, num_probes: int = 100, *, seed: int = 0, block_size: int = 16
) -> TraceEstimate:
    """Hutchinson's estimate of ``tr(A)`` from Rademacher probes.

    Args:
        op: symmetric operator of size p.
        num_probes: number of probes n (= products).
        seed: seed of the probes.
        block_size: probes per operator call.

    Returns:
        A :class:`TraceEstimate` (estimate = mean of ``z_i^T A z_i``; unbiased; variance
        ``2 (||A||_F^2 - sum_i A_ii^2) / n``).

    Examples:
        >>> import torch
        >>> from landscope.curvature import DenseOperator
        >>> est = hutchinson_trace(DenseOperator(torch.eye(50, dtype=torch.float64)), 8)
        >>> est.estimate, est.standard_error  # exact for a diagonal matrix
        (50.0, 0.0)
    """
    _check(op, "num_probes", num_probes)
    _check(op, "block_size", block_size)
    gen = torch.Generator().manual_seed(int(seed))
    start, t0 = op.num_matvecs, time.perf_counter()
    p = op.shape[0]
    samples = []
    for s in range(0, num_probes, block_size):
        Z = rademacher(p, min(block_size, num_probes - s), gen, op.dtype, op.device)
        samples.append(_quadratic_forms(op, Z, block_size))
    x = torch.cat(samples)
    se = float(x.std(unbiased=True) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return TraceEstimate(
        estimate=float(x.mean()),
        standard_error=se,
        samples=x,
        num_matvecs=op.num_matvecs - start,
        seconds=time.perf_counter() - t0,
        method="hutchinson",
    )


def hutchpp_trace(
    op: CurvatureOperator, num_matvecs: int = 99, *, seed: int = 0, block_size: int = 16
) -> TraceEstimate:
    """Hutch++ estimate of ``tr(A)`` (Meyer et al. 2021, Alg. 1) with ``num_matvecs`` products.

    A third of the budget sketches ``Q = orth(A S)`` (S Rademacher, p x m/3); ``tr(Q^T A Q)``
    is computed exactly (m/3 products) and Hutchinson with m/3 probes estimates the trace of
    the deflated ``(I - QQ^T) A (I - QQ^T)``.  The standard error is that of the deflated part.

    Args:
        op: symmetric operator of size p.
        num_matvecs: total product budget (at least 3).
        seed: seed of the random sketch and probes.
        block_size: vectors per operator call.

    Examples:
        >>> import torch
        >>> from landscope.curvature import DenseOperator
        >>> A = torch.diag(torch.tensor([100.0, 50.0] + [0.0] * 48, dtype=torch.float64))
        >>> round(hutchpp_trace(DenseOperator(A), 9).estimate, 8)  # rank 2 <= m/3: exact
        150.0
    """
    _check(op, "num_matvecs", num_matvecs)
    if num_matvecs < 3:
        raise ValueError(f"hutch++ needs num_matvecs >= 3, got {num_matvecs}")
    _check(op, "block_size", block_size)
    gen = torch.Generator().manual_seed(int(seed))
    start, t0 = op.num_matvecs, time.perf_counter()
    p = op.shape[0]
    r = num_matvecs // 3
    n = num_matvecs - 2 * r
    S = rademacher(p, r, gen, op.dtype, op.device)
    AS = torch.cat([op.matmat(S[:, i : i + block_size]) for i in range(0, r, block_size)], dim=1)
    Q, _ = torch.linalg.qr(AS)
    AQ = torch.cat(
        [op.matmat(Q[:, i : i + block_size]) for i in range(0, Q.shape[1], block_size)], dim=1
    )
    exact = float((Q * AQ).sum().double())
    G = rademacher(p, n, gen, op.dtype, op.device)
    G = G - Q @ (Q.T @ G)
    x = _quadratic_forms(op, G, block_size)
    se = float(x.std(unbiased=True) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return TraceEstimate(
        estimate=exact + float(x.mean()),
        standard_error=se,
        samples=x,
        num_matvecs=op.num_matvecs - start,
        seconds=time.perf_counter() - t0,
        method="hutch++",
        exact_part=exact,
    )
