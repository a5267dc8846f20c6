"""The covariance C(x_i) at each point of the cloud, as a low-rank factor, and its whitening.

Forms (Fjellstrom & Nystrom sec. 2.1), each ``C = U U^T`` with U of shape (m, N) or (m, 2L+1):

* ``"exact"`` (eq. 2.6): ``c [ (1/N) sum_i g_i g_i^T - g g^T ]``, ``c = (N - n) / (n (N - 1))``,
  from the per-sample gradients g_i at x (for the MAE loss autograd's derivative of |r| is
  sign(r), a subgradient, 0 at r = 0).  Columns ``sqrt(c / N) (g_i - g)``.
* ``"critical_point"`` (eq. 2.7): without ``- g g^T``; columns ``sqrt(c / N) g_i``.
* ``"fisher"`` (eq. 2.8): ``F / n``; columns ``g_i / sqrt(n N)``.
* ``"window"`` (eq. 2.9): ``sum_{tau = t-L}^{t+L} (x_tau - mu)(x_tau - mu)^T`` over the
  neighbouring iterates of the cloud (mu their mean; clipped at the ends of the cloud, so the
  first and last L points have fewer neighbours; the paper's sum, not a mean: a constant factor
  rescales every distance by the same amount).
* ``"euclidean"``: the identity, the control.

The factors are the columns of :class:`landscope.curvature.NoiseCovarianceOperator` (same
scale, same forms; tested equal), computed for a block of points at once with a nested
``torch.func.vmap`` (over the points and over the samples): one operator per point costs a
Python-level vmap each (measured ~30 ms per point for the Iris net, float32), the nested vmap
~3 ms per point in blocks of 270 (float64; both on a loaded 2-core machine, 1 thread).
Models it cannot vectorize (BatchNorm in train mode) fall back
to the operator per point.  n = N (full batch) makes eq. 2.6 / 2.7 zero: a ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch

from landscope.diffusion._distances import DEFAULT_CUTOFF, WhiteningFactors, whitening_factor

__all__ = [
    "METRICS",
    "covariance_whitening",
    "iter_whitening_blocks",
    "noise_covariance_factors",
    "window_covariance_factors",
]

Metric = Literal["exact", "critical_point", "fisher", "window", "euclidean"]
METRICS = ("exact", "critical_point", "fisher", "window", "euclidean")

# Entries of one (B, N, p_sub) block of per-sample gradients: 2^24 (128 MiB in float64).
_GRAD_BLOCK_ENTRIES = 2**24


def _check_batch(num_samples: int, batch_size: int, form: str) -> float:
    from landscope.curvature import noise_covariance_scale

    scale = noise_covariance_scale(num_samples, batch_size, form)
    if form != "fisher" and scale == 0.0:
        raise ValueError(
            f"batch size n = N = {num_samples} (full-batch gradient descent): the SGD noise "
            f"covariance (eq. 2.6 / 2.7) is zero and has no inverse; use the metric 'window' "
            "(eq. 2.9), 'fisher' (eq. 2.8) or 'euclidean'"
        )
    return scale


def noise_covariance_factors(
    problem,
    thetas: torch.Tensor,
    *,
    batch_size: int,
    form: str = "exact",
    params=None,
    indices=None,
) -> torch.Tensor:
    """The factors U(x) of eq. 2.6 / 2.7 / 2.8 at a block of points, ``C(x_b) = U_b U_b^T``.

    Args:
        problem: the :class:`~landscope.problem.Problem` (its samples are the N of eq. 2.6).
        thetas: (B, p) full parameter vectors.
        batch_size: n, the SGD mini-batch size.
        form: ``"exact"`` (eq. 2.6), ``"critical_point"`` (eq. 2.7), ``"fisher"`` (eq. 2.8).
        params: a parameter group (:func:`~landscope.curvature.select_parameters`): the block of C.
        indices: a subset of the samples (then N is its size).

    Returns:
        (B, p_sub, N) in the Problem's dtype; ``U_b`` equals
        ``NoiseCovarianceOperator(problem, thetas[b], ...).factor``.
    """
    from landscope.curvature import NoiseCovarianceOperator, select_parameters

    form = {"2.6": "exact", "2.7": "critical_point", "2.8": "fisher"}.get(form, form)
    if form not in ("exact", "critical_point", "fisher"):
        raise ValueError(f"form must be exact, critical_point or fisher, got {form!r}")
    thetas = torch.as_tensor(thetas).to(device=problem.device, dtype=problem.dtype)
    if thetas.ndim != 2 or thetas.shape[1] != problem.num_params:
        raise ValueError(
            f"thetas must have shape (B, {problem.num_params}), got {tuple(thetas.shape)}"
        )
    N = problem.num_selected(problem._indices(indices))
    scale = _check_batch(N, batch_size, form)
    data = problem.data
    if data is None or (problem.train_mode and _has_batchnorm(problem)):
        ops = [
            NoiseCovarianceOperator(
                problem, t, batch_size=batch_size, form=form, params=params, indices=indices
            ).factor
            for t in thetas
        ]
        return torch.stack(ops)
    selection = select_parameters(problem.layout, params)
    idx = problem._indices(indices)
    x, y = (data.x, data.y) if idx is None else (data.x[idx], data.y[idx])
    G = _batched_per_sample_gradients(problem, thetas, selection, x, y)  # (B, N, p_sub)
    if form == "exact":
        G = G - G.mean(dim=1, keepdim=True)
    weight = 1.0 / math.sqrt(N * batch_size) if form == "fisher" else math.sqrt(scale / N)
    return (G * weight).transpose(1, 2)


def _has_batchnorm(problem) -> bool:
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in problem.model.modules()
    )


def _batched_per_sample_gradients(problem, thetas, selection, x, y) -> torch.Tensor:
    from torch.func import grad, vmap

    def f_i(sub, theta, xi, yi):
        return problem.chunk_loss_sum(selection.embed(theta, sub), xi.unsqueeze(0), yi.unsqueeze(0))

    per_point = vmap(grad(f_i), in_dims=(None, None, 0, 0))
    both = vmap(per_point, in_dims=(0, 0, None, None))
    subs = selection.restrict(thetas.T).T if not selection.is_full else thetas
    with torch.inference_mode(False), problem.derivatives():
        try:
            return both(subs.detach(), thetas.detach(), x, y).detach()
        except RuntimeError as exc:
            raise RuntimeError(
                f"torch.func.vmap could not vectorize this model over points and samples ({exc})"
            ) from exc


def window_covariance_factors(points: np.ndarray | torch.Tensor, half_width: int) -> Iterator:
    """The factors of eq. 2.9 at each point: columns ``x_tau - mu(t)`` for the iterates
    ``tau = t - L .. t + L`` of the cloud (clipped at its ends), ``mu(t)`` their mean.

    Yields float64 tensors (m, n_t), n_t <= 2L + 1, one per point in order.

    >>> X = np.arange(8.0).reshape(4, 2)
    >>> [tuple(U.shape) for U in window_covariance_factors(X, 1)]
    [(2, 2), (2, 3), (2, 3), (2, 2)]
    """
    L = int(half_width)
    if L < 1:
        raise ValueError(f"the window half-width L (eq. 2.9) must be >= 1, got {half_width}")
    X = torch.as_tensor(points).to(torch.float64)
    M = X.shape[0]
    for t in range(M):
        W = X[max(0, t - L) : min(M, t + L + 1)]
        yield (W - W.mean(dim=0)).T


def iter_whitening_blocks(
    cloud,
    *,
    metric: Metric = "exact",
    batch_size: int | None = None,
    inverse: str = "pinv",
    cutoff: float = DEFAULT_CUTOFF,
    rank: int | None = None,
    delta: float | None = None,
    half_width: int = 5,
    dtype: str = "float64",
    samples: int | None = None,
    seed: int = 0,
    block_points: int | None = None,
    info: dict | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, WhiteningFactors]]:
    """The whitening factors W_i (eq. 2.5) of the points of a :class:`PointCloud`, block by
    block: yields ``(start, factors of points start, start + 1, ...)``, computed from the run's
    parameters streamed in blocks (only one block of per-sample gradients, (B, N, m), is ever
    in memory).  Feed it to :func:`~landscope.diffusion.streamed_sq_distances`.

    Args:
        cloud: the :class:`~landscope.diffusion.PointCloud` (its runs give the Problems).
        metric: ``"exact"``, ``"critical_point"``, ``"fisher"``, ``"window"`` or
            ``"euclidean"`` (module docstring).
        batch_size: n of eq. 2.6 (default: each run's training batch size).
        inverse, cutoff, rank, delta: the inverse of C (:func:`whitening_factor`).
        half_width: L of eq. 2.9 (``metric="window"``).
        dtype: precision of the per-sample gradients (default float64: the cut-off resolves
            eigenvalues down to ~1e-13 of the largest only in float64).
        samples: estimate C from a seeded subset of this many training samples
            (:func:`landscope.data.subset_indices`; N is then the subset's size).
        block_points: points per block (default: as many as fit 2^24 gradient entries).
        info: a dict filled with ``metric``, ``num_samples`` (N), ``batch_size`` (n), ``scale``
            (c) or ``half_width``.
    """
    from landscope._progress import progress_bar
    from landscope.diffusion._distances import whitening_factors
    from landscope.runs import open_run

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    info = {} if info is None else info
    M, m = cloud.points.shape
    info["metric"] = metric
    if metric == "euclidean":
        yield 0, WhiteningFactors.identity(M, m)
        return
    kw = dict(inverse=inverse, cutoff=cutoff, rank=rank, delta=delta)
    if metric == "window":
        info["half_width"] = int(half_width)
        for k in np.unique(cloud.run_index):  # windows never cross from one run into the next
            rows = np.flatnonzero(cloud.run_index == k)
            Us = window_covariance_factors(cloud.points[rows], half_width)
            yield int(rows[0]), whitening_factors(Us, **kw)
        return
    bar = progress_bar(total=M, enabled=progress, desc=f"covariances ({metric})", unit="point")
    for k, path in enumerate(cloud.runs):
        run = open_run(path)
        problem, _ = run.problems(dtype=dtype)
        n = int(batch_size or run.run_config().training.batch_size)
        indices = None
        if samples is not None and samples < problem.num_samples:
            from landscope.data import subset_indices

            indices = subset_indices(problem.num_samples, samples, seed)
        N = problem.num_selected(problem._indices(indices))
        info.update(num_samples=N, batch_size=n, scale=_check_batch(N, n, metric))
        rows = np.flatnonzero(cloud.run_index == k)
        block = block_points or max(1, _GRAD_BLOCK_ENTRIES // max(1, N * m))
        start = int(rows[0])
        for _, thetas in run.iter_thetas(cloud.steps[rows], rows=block, like=problem):
            U = noise_covariance_factors(
                problem, thetas, batch_size=n, form=metric, params=cloud.params, indices=indices
            )
            cols, ranks, tops, smallest = [], [], [], []
            for W, lam, top in _whiten_block(U, **kw):
                cols.append(W.cpu())
                ranks.append(W.shape[1])
                tops.append(top)
                smallest.append(float(lam[-1]) if lam.numel() else math.nan)
            yield (
                start,
                WhiteningFactors(
                    torch.cat(cols, dim=1),
                    np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64),
                    np.asarray(ranks, dtype=np.int64),
                    np.asarray(tops),
                    np.asarray(smallest),
                    dim=m,
                    **kw,
                ),
            )
            start += len(U)
            bar.update(len(U))
    bar.close()


def covariance_whitening(cloud, **kwargs) -> tuple[WhiteningFactors, dict]:
    """All the blocks of :func:`iter_whitening_blocks` (same arguments) stacked into one
    :class:`WhiteningFactors` (M x mean rank x m float64 in memory: for large clouds stream
    the blocks into :func:`~landscope.diffusion.streamed_sq_distances` instead).

    Returns:
        ``(factors, info)`` (info: see :func:`iter_whitening_blocks`).
    """
    info: dict = {}
    parts = [wf for _, wf in iter_whitening_blocks(cloud, info=info, **kwargs)]
    return _concat(parts), info


def _whiten_block(U: torch.Tensor, **kw):
    """:func:`whitening_factor` of each U_b of a (B, m, N) block, the B Gram eigendecompositions
    batched (one LAPACK call; the same float64 arithmetic as the per-point function)."""
    U = U.to(torch.float64)
    if kw["inverse"] not in ("pinv", "rank"):
        yield from (whitening_factor(Ub, **kw) for Ub in U)
        return
    lam_all, Q_all = torch.linalg.eigh(U.transpose(1, 2) @ U)
    lam_all, Q_all = lam_all.flip(-1), Q_all.flip(-1)
    for Ub, lam, Q in zip(U, lam_all, Q_all, strict=True):
        top = float(lam[0])
        if top <= 0.0:
            yield Ub.new_zeros(Ub.shape[0], 0), lam[:0], 0.0
            continue
        if kw["inverse"] == "pinv":
            keep = lam > kw["cutoff"] * top
        else:
            keep = (torch.arange(lam.numel()) < kw["rank"]) & (lam > 0)
        lam, Q = lam[keep], Q[:, keep]
        yield Ub @ (Q / lam), lam, top


def _concat(parts: list[WhiteningFactors]) -> WhiteningFactors:
    if len(parts) == 1:
        return parts[0]
    ranks = np.concatenate([p.ranks for p in parts])
    return WhiteningFactors(
        torch.cat([p.columns for p in parts], dim=1),
        np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64),
        ranks,
        np.concatenate([p.top_eigenvalues for p in parts]),
        np.concatenate([p.smallest_retained for p in parts]),
        inverse=parts[0].inverse,
        cutoff=parts[0].cutoff,
        rank=parts[0].rank,
        delta=parts[0].delta,
        dim=parts[0].dim,
    )
