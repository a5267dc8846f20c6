"""Per-sample gradients ``nabla f_i(theta)``, the building block of the SGD noise covariance
(Fjellstrom eq. 2.6-2.8) and of the empirical Fisher."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from landscope.curvature._hessian import Params, check_theta, select_parameters
from landscope.problem._problem import Indices, Problem

__all__ = ["per_sample_gradients"]

# Default memory bound of one vmap chunk: chunk_size * p_sub entries of the result block.
_MAX_BLOCK_ENTRIES = 2**25


def _has_train_batchnorm(problem: Problem) -> bool:
    return problem.train_mode and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in problem.model.modules()
    )


def per_sample_gradients(
    problem: Problem,
    theta: torch.Tensor,
    indices: Indices = None,
    *,
    chunk_size: int | None = None,
    params: Params = None,
    method: Literal["auto", "vmap", "loop"] = "auto",
) -> torch.Tensor:
    """Gradients of the per-sample losses ``f_i`` at ``theta``, one row per selected sample.

    Row i is ``nabla f_i(theta)`` (not divided by n): their mean over the rows is the gradient of
    the Problem's mean loss, ``Problem.gradient(theta, indices)``.

    Args:
        problem: the model, loss and data.
        theta: parameters (p,).
        indices: sample subset (default: all samples, in order).
        chunk_size: samples per vectorized chunk (bounds memory: a chunk holds chunk_size x p_sub
            gradient entries and chunk_size copies of one sample's activations).  Default: the
            Problem's chunk size, capped so that one chunk's block has at most 2^25 entries.
        params: restrict to a parameter group (see :func:`select_parameters`): columns p_sub.
        method: ``"vmap"`` (default; ``torch.func.vmap(torch.func.grad(...))`` over the samples
            of a chunk, each sample evaluated as a batch of one) or ``"loop"`` (one backward per
            sample through its chunk's graph; slow, but works for any model) or ``"auto"``
            (default: vmap, and the loop where vmap cannot vectorize the model, e.g. the
            data-dependent checks of Hugging Face attention masks).  Attention runs through the
            math kernel of ``scaled_dot_product_attention``, the one vmap batches
            (:meth:`Problem.derivatives`).  With BatchNorm in train mode a sample's loss depends on the other samples of its chunk through the
            batch statistics, so vmap (batches of one) is refused; ``"loop"`` returns the
            gradient of each sample's loss term *as evaluated within its chunk*, whose sum over a
            chunk is that chunk's gradient.

    Returns:
        Tensor (n, p_sub) on the Problem's device, in its dtype.

    Examples:
        >>> import torch
        >>> from landscope import Problem
        >>> x, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
        >>> problem = Problem(torch.nn.Linear(3, 2).double(), "cross_entropy", (x, y))
        >>> theta = problem.theta_from_model()
        >>> G = per_sample_gradients(problem, theta)
        >>> G.shape, torch.allclose(G.mean(0), problem.gradient(theta))
        (torch.Size([6, 8]), True)
    """
    theta = check_theta(problem, theta)
    selection = select_parameters(problem.layout, params)
    if chunk_size is None:
        cap = max(1, _MAX_BLOCK_ENTRIES // selection.size)
        chunk_size = cap if problem.chunk_size is None else min(problem.chunk_size, cap)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    if method not in ("auto", "vmap", "loop"):
        raise ValueError(f"method must be 'auto', 'vmap' or 'loop', got {method!r}")
    if method != "loop" and _has_train_batchnorm(problem):
        raise ValueError(
            "per-sample gradients with vmap are undefined for BatchNorm in train mode: each "
            "sample's loss depends on the other samples of its batch through the batch "
            "statistics. Use a Problem with train_mode=False (BatchNorm uses its running "
            "statistics), or method='loop' for the gradient of each sample's loss term within "
            "its chunk (one backward per sample, slow)."
        )
    sub0 = selection.restrict(theta).detach()
    idx = problem._indices(indices)
    n = problem.num_selected(idx)
    # Our own chunking (not the Problem's): a per-sample block costs chunk_size * p_sub memory.
    starts = range(0, n, chunk_size)
    order = torch.arange(n) if idx is None else idx
    rows = []
    # Works inside no_grad / inference_mode blocks too; attention through a kernel that vmap
    # batches (Problem.derivatives: the fused ones run sample by sample under vmap).
    with torch.inference_mode(False), problem.derivatives():
        for start in starts:
            sel = order[start : start + chunk_size]
            for x, y in problem.chunks(sel):
                if method != "loop":
                    try:
                        rows.append(_vmap_chunk(problem, theta, sub0, selection, x, y))
                        continue
                    except _NotVectorizable:
                        if method == "vmap":
                            raise
                        method = "loop"  # this chunk and the rest
                rows.append(_loop_chunk(problem, theta, sub0, selection, x, y))
        return torch.cat(rows).detach()


class _NotVectorizable(RuntimeError):
    """vmap could not vectorize the model over samples."""


def _vmap_chunk(problem, theta, sub0, selection, x, y) -> torch.Tensor:
    from torch.func import grad, vmap
    from torch.utils._pytree import tree_map

    def f_i(sub: torch.Tensor, xi, yi: torch.Tensor) -> torch.Tensor:
        full = selection.embed(theta, sub)
        batch = tree_map(lambda t: t.unsqueeze(0), xi)  # a batch of one (tensor, tuple, dict)
        return problem.chunk_loss_sum(full, batch, yi.unsqueeze(0))

    try:
        return vmap(grad(f_i), in_dims=(None, 0, 0))(sub0, x, y)
    except RuntimeError as exc:
        raise _NotVectorizable(
            f"torch.func.vmap could not vectorize this model over samples ({exc}). Typical "
            "causes: in-place updates of buffers, data-dependent Python control flow, .item() "
            "calls, or random layers in train mode. Use per_sample_gradients(..., method='loop') "
            "(one backward per sample)."
        ) from exc


def _loop_chunk(problem, theta, sub0, selection, x, y) -> torch.Tensor:
    with torch.enable_grad():
        sub = sub0.clone().requires_grad_(True)
        losses = problem.per_sample_loss(problem.output(selection.embed(theta, sub), x), y)
        rows = []
        for i in range(losses.shape[0]):
            (g,) = torch.autograd.grad(losses[i], sub, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(sub) if g is None else g)
    return torch.stack(rows).detach()
