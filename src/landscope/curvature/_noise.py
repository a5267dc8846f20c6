"""The covariance of the SGD gradient noise, Fjellstrom & Nystrom sec. 2.1, eq. 2.6-2.8.

A mini-batch of n samples drawn *without replacement* from the N samples defining the loss gives
the stochastic gradient ``(1/n) sum_{i in batch} nabla f_i``; its covariance (eq. 2.6, proof in
their App. A) is

    C = (N - n) / (n (N - 1)) * [ (1/N) sum_i g_i g_i^T  -  g g^T ],   g_i = nabla f_i, g = mean g_i

with the finite-population factor ``(N - n)/(N - 1)`` (C = 0 for full-batch GD, n = N).  Near
critical points the mean term is dropped (eq. 2.7), and for N >> n the factor is ~1, leaving
``C ~ F / n`` with F the empirical Fisher ``(1/N) sum_i g_i g_i^T`` (eq. 2.8; the paper's further
``~ H / n`` is ``HessianOperator`` scaled by 1/n).  All three are ``U U^T`` for a p x N factor U
(eq. 2.6: ``(1/N) sum_i g_i g_i^T - g g^T = (1/N) sum_i (g_i - g)(g_i - g)^T``), kept as such:
products cost two thin matrix products and no p x p matrix is ever formed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from landscope.curvature._base import CurvatureOperator
from landscope.curvature._hessian import Params, check_theta
from landscope.curvature._per_sample import per_sample_gradients
from landscope.problem._problem import Indices, Problem

__all__ = ["NoiseCovarianceOperator", "noise_covariance_scale"]

Form = Literal["exact", "critical_point", "fisher"]
_FORMS = {
    "exact": "exact",
    "2.6": "exact",
    "critical_point": "critical_point",
    "2.7": "critical_point",
    "fisher": "fisher",
    "2.8": "fisher",
}


def noise_covariance_scale(num_samples: int, batch_size: int, form: str = "exact") -> float:
    """The scalar in front of the bracket of eq. 2.6 / 2.7, ``(N - n) / (n (N - 1))``, or ``1/n``
    for eq. 2.8.

    Examples:
        >>> noise_covariance_scale(10, 10), noise_covariance_scale(10, 1), noise_covariance_scale(10, 4, "fisher")
        (0.0, 1.0, 0.25)
    """
    form = _check_form(form)
    N, n = int(num_samples), int(batch_size)
    if not 1 <= n <= N:
        raise ValueError(f"batch_size must lie in [1, N = {N}], got {n}")
    if form == "fisher":
        return 1.0 / n
    if N < 2:
        raise ValueError("eq. 2.6 / 2.7 need at least N = 2 samples (the factor has N - 1 below)")
    return (N - n) / (n * (N - 1))


def _check_form(form: str) -> str:
    try:
        return _FORMS[form]
    except KeyError:
        raise ValueError(
            f"form must be 'exact' (eq. 2.6), 'critical_point' (eq. 2.7) or 'fisher' (eq. 2.8), got {form!r}"
        ) from None


class NoiseCovarianceOperator(CurvatureOperator):
    """The SGD noise covariance C(theta) of Fjellstrom eq. 2.6 (exact), 2.7 or 2.8, as ``U U^T``.

    Args:
        problem: the model, loss and data; the N samples SGD draws its batches from are the
            selected ones.
        theta: parameters (p,).
        batch_size: n, the SGD mini-batch size (1 <= n <= N).
        form: ``"exact"`` (eq. 2.6, default), ``"critical_point"`` (eq. 2.7: without the
            ``- g g^T`` term) or ``"fisher"`` (eq. 2.8: ``F / n``).  ``"2.6"``, ``"2.7"``,
            ``"2.8"`` are accepted too.
        indices: the N samples (default: all).
        params: restrict to a parameter group (see :func:`select_parameters`): the
            (p_sub x p_sub) block of C.
        chunk_size, method: passed to :func:`per_sample_gradients`.
        group: a ``torch.distributed`` process group (or ``None``, the default group) when
            ``distributed=True``: each rank's Problem holds a shard of the N samples; N, the mean
            gradient and products are all-reduced, and :attr:`factor` holds this rank's columns.
        distributed: see ``group``.

    Attributes:
        factor: U, shape (p_sub, N_local) with ``C = U U^T`` (columns
            ``sqrt(c / N) (g_i - g)`` for eq. 2.6, ``sqrt(c / N) g_i`` for 2.7,
            ``g_i / sqrt(n N)`` for 2.8, with c = ``noise_covariance_scale(N, n)``).
        mean_gradient: g (p_sub,).  num_samples: N.  batch_size: n.  scale: c.

    Examples:
        >>> import torch
        >>> from landscope import Problem
        >>> x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
        >>> problem = Problem(torch.nn.Linear(2, 1).double(), "mse", (x, y))
        >>> C = NoiseCovarianceOperator(problem, problem.theta_from_model(), batch_size=5)
        >>> float(C.to_dense().abs().max())   # full batch: no noise
        0.0
    """

    def __init__(
        self,
        problem: Problem,
        theta: torch.Tensor,
        *,
        batch_size: int,
        form: Form | str = "exact",
        indices: Indices = None,
        params: Params = None,
        chunk_size: int | None = None,
        method: Literal["auto", "vmap", "loop"] = "auto",
        distributed: bool = False,
        group=None,
    ):
        self.form = _check_form(form)
        theta = check_theta(problem, theta)
        G = per_sample_gradients(
            problem, theta, indices, chunk_size=chunk_size, params=params, method=method
        )
        super().__init__(G.shape[1], problem.dtype, problem.device)
        self.distributed = bool(distributed)
        self.group = group
        n_local = G.shape[0]
        total = G.sum(dim=0)
        if self.distributed:
            import torch.distributed as dist

            count = torch.tensor([float(n_local)], dtype=G.dtype, device=G.device)
            dist.all_reduce(count, group=group)
            dist.all_reduce(total, group=group)
            N = round(float(count))
        else:
            N = n_local
        self.num_samples: int = N
        self.batch_size: int = int(batch_size)
        self.scale: float = noise_covariance_scale(N, batch_size, self.form)
        self.mean_gradient = total / N
        if self.form == "exact":
            G = G - self.mean_gradient
        weight = (
            1.0 / math.sqrt(N * batch_size) if self.form == "fisher" else math.sqrt(self.scale / N)
        )
        # U = weight * G^T, stored (p_sub, N): products are U (U^T V), never a p x p matrix.
        self.factor = (G * weight).T.contiguous()

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.factor @ (self.factor.T @ V)
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(out, group=self.group)
        return out

    def to_dense(self) -> torch.Tensor:
        """C as a dense (p_sub, p_sub) matrix ``U U^T`` (small p only; all-reduced if
        distributed)."""
        out = self.factor @ self.factor.T
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(out, group=self.group)
        return out

    def __repr__(self) -> str:
        return (
            f"NoiseCovarianceOperator(form={self.form!r}, p={self.shape[0]}, N={self.num_samples}, "
            f"batch_size={self.batch_size}, scale={self.scale:.4g})"
        )
