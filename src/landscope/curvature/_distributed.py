"""Data-parallel curvature operators over ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Each rank holds a shard of the data as its own Problem (shards may have unequal sizes) and the
same ``theta``.  The Hessian and GGN are means over samples, so with ``n_r`` samples on rank r
and ``N = sum_r n_r``,

    H V = sum_r (n_r / N) H_r V,

one all-reduce of a (p, k) block per product.  Every rank must call the same products in the same
order (collectives); seeded solvers do so naturally.
"""

from __future__ import annotations

import torch

from landscope.curvature._base import CurvatureOperator
from landscope.curvature._ggn import GGNOperator
from landscope.curvature._hessian import HessianOperator
from landscope.curvature._noise import NoiseCovarianceOperator

__all__ = [
    "DataParallelOperator",
    "DistributedGGNOperator",
    "DistributedHessianOperator",
    "DistributedNoiseCovarianceOperator",
]


class DataParallelOperator(CurvatureOperator):
    """The sample-weighted mean over ranks of per-rank operators that are each a mean over their
    own ``num_samples`` samples (a :class:`HessianOperator` or :class:`GGNOperator` on a shard).

    Args:
        local: this rank's operator; must have ``num_samples`` and the same shape on all ranks.
        group: process group (default: the default group).

    Attributes:
        local: the wrapped operator.  num_samples: N, the total over ranks.
        num_local_samples: this rank's n_r.
    """

    def __init__(self, local: CurvatureOperator, *, group=None):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                "torch.distributed is not initialized: call torch.distributed.init_process_group "
                "(backend 'gloo' on CPU, 'nccl' on GPU) on every rank first"
            )
        if not hasattr(local, "num_samples"):
            raise TypeError(
                f"{type(local).__name__} has no num_samples; it cannot be weighted by shard size"
            )
        super().__init__(local.shape[0], local.dtype, local.device)
        self.local = local
        self.group = group
        self.num_local_samples = int(local.num_samples)
        info = torch.tensor(
            [float(self.num_local_samples), float(local.shape[0])],
            dtype=torch.float64,
            device=local.device,
        )
        sizes = [torch.zeros_like(info) for _ in range(dist.get_world_size(group))]
        dist.all_gather(sizes, info, group=group)
        if any(int(s[1]) != local.shape[0] for s in sizes):
            raise ValueError(f"operator sizes differ across ranks: {[int(s[1]) for s in sizes]}")
        self.num_samples: int = int(sum(int(s[0]) for s in sizes))
        self._weight = self.num_local_samples / self.num_samples

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = self.local.matmat(V) * self._weight
        dist.all_reduce(out, group=self.group)
        return out

    @property
    def param_index(self) -> torch.Tensor:
        return self.local.param_index

    def __repr__(self) -> str:
        return f"DataParallelOperator({self.local!r}, N={self.num_samples})"


class DistributedHessianOperator(DataParallelOperator):
    """:class:`~landscope.curvature.HessianOperator` data-parallel over ranks: this rank's
    ``problem_shard`` holds its shard of the samples; products are all-reduced, weighted by
    shard sizes.  Keyword arguments are those of ``HessianOperator``."""

    def __init__(self, problem_shard, theta: torch.Tensor, *, group=None, **kwargs):
        super().__init__(HessianOperator(problem_shard, theta, **kwargs), group=group)


class DistributedGGNOperator(DataParallelOperator):
    """:class:`~landscope.curvature.GGNOperator` data-parallel over ranks (as
    :class:`DistributedHessianOperator`)."""

    def __init__(self, problem_shard, theta: torch.Tensor, *, group=None, **kwargs):
        super().__init__(GGNOperator(problem_shard, theta, **kwargs), group=group)


class DistributedNoiseCovarianceOperator(NoiseCovarianceOperator):
    """:class:`~landscope.curvature.NoiseCovarianceOperator` over ranks: N and the mean gradient
    are global (all-reduced); each rank keeps its own columns of the factor (:attr:`factor`)
    and products ``sum_r U_r (U_r^T V)`` are all-reduced."""

    def __init__(
        self, problem_shard, theta: torch.Tensor, *, batch_size: int, group=None, **kwargs
    ):
        super().__init__(
            problem_shard, theta, batch_size=batch_size, distributed=True, group=group, **kwargs
        )
