"""The modified Mahalanobis distance of Fjellstrom & Nystrom eq. 2.5, for all pairs of points.

    d_ij^2 = 1/2 (x_i - x_j)^T (C_i^+ + C_j^+) (x_i - x_j) = 1/2 (q_i(j) + q_j(i)),
    q_i(j) = ||W_i^T (x_j - x_i)||^2,   C_i^+ = W_i W_i^T                       (eq. 2.5)

Each covariance comes as a low-rank factor ``C_i = U_i U_i^T`` (U_i of shape (m, N): per-sample
gradients, eq. 2.6-2.8, or window deviations, eq. 2.9); no m x m matrix is formed.  Its nonzero
eigenpairs come from the N x N Gram matrix in float64: ``U^T U = Q diag(lam) Q^T`` gives the
eigenvectors ``V = U Q diag(lam^-1/2)`` of C with the same eigenvalues, hence

    W = V diag(lam^-1/2) = U Q diag(1/lam)    (m x r, over the r retained eigenvalues).

Which eigenvalues are retained decides everything (the issue's Iris numbers: a relative cut-off
of 1e-20 / 1e-10 / 1e-6 / 1e-3 keeps ~109 / 99 / 67 / 18 directions and changes the median
d^2 by eight orders of magnitude).  Three inverses, recorded with the retained ranks per point:

* ``"pinv"`` (default): the Moore-Penrose pseudo-inverse the paper names, eigenvalues
  ``lam > cutoff * lam_max`` kept.  Default ``cutoff = DEFAULT_CUTOFF = 1e-12``, see below.
* ``"rank"``: the top ``rank`` eigenpairs (a fixed-rank pseudo-inverse).
* ``"ridge"``: ``(C + delta I)^-1 = (1/delta) (I - V diag(lam / (lam + delta)) V^T)``, full
  rank: ``q_i(j) = ||d||^2 / delta - ||W'^T d||^2`` with ``W' = V diag(sqrt(lam / (delta (lam +
  delta))))``.
* ``"identity"``: the Euclidean control, ``q_i(j) = ||x_j - x_i||^2``.

Why ``DEFAULT_CUTOFF = 1e-12`` (relative to the largest eigenvalue of each C_i): the
Moore-Penrose pseudo-inverse of a numerically computed matrix is only defined up to its numerical
rank, and the eigenvalues of C that the arithmetic resolves end near ``max(m, N) * eps`` of the
largest.  For C formed in float64 (numpy's and scipy's ``pinv`` / ``matrix_rank`` tolerance
``max(m, N) * eps_64``) that is ~1e-13 for the paper's m = 515; the Gram route (eigh of U^T U in
float64, error ~ N * eps_64 * lam_max) resolves about the same.  We round up to 1e-12 so that
the retained set does not move with the last digits of the gradients, and record it.  Any
eigenvalue below this is rounding noise whose inverse would dominate every distance (the issue's
1e-20 row).  It is *not* a statistical choice: the paper gives none; the cut-off grid of the
reproductions shows how d and the AUC move with it.

All pairs are computed by blocked matrix products: for a block of points the stacked factors
``W_B`` (m x R_B) give ``A = W_B^T X^T`` (R_B x M) and ``q_i(j) = ||A_i[:, j] - A_i[:, i]||^2``
(``M * sum_i r_i * m`` multiply-adds in all; never an M x M x m array).  Coordinates are centred
(the mean point subtracted) before any arithmetic so the differences do not cancel.  The rows of
q can be split over ``torch.distributed`` ranks (:func:`mahalanobis_sq_distances` with
``distributed=True``); one all-reduce gathers them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

__all__ = [
    "DEFAULT_CUTOFF",
    "WhiteningFactors",
    "euclidean_sq_distances",
    "mahalanobis_sq_distances",
    "streamed_sq_distances",
    "whitening_factor",
    "whitening_factors",
]

#: Default relative eigenvalue cut-off of the pseudo-inverse (see the module docstring).
DEFAULT_CUTOFF = 1e-12

Inverse = Literal["pinv", "rank", "ridge", "identity"]
_INVERSES = ("pinv", "rank", "ridge", "identity")

# Entries of one block of A = W_B^T X^T (float64): 2^23 entries = 64 MiB.
_BLOCK_ENTRIES = 2**23


def _check_inverse(inverse: str, cutoff: float | None, rank: int | None, delta: float | None):
    if inverse not in _INVERSES:
        raise ValueError(f"inverse must be one of {_INVERSES}, got {inverse!r}")
    if inverse == "pinv" and not (cutoff is not None and 0 <= cutoff < 1):
        raise ValueError(
            f"cutoff must lie in [0, 1) (relative to the top eigenvalue), got {cutoff}"
        )
    if inverse == "rank" and not (isinstance(rank, int) and rank >= 1):
        raise ValueError(f"inverse='rank' needs a positive integer rank, got {rank!r}")
    if inverse == "ridge" and not (delta is not None and delta > 0):
        raise ValueError(f"inverse='ridge' needs delta > 0, got {delta!r}")


def whitening_factor(
    U: torch.Tensor | np.ndarray,
    *,
    inverse: Inverse = "pinv",
    cutoff: float = DEFAULT_CUTOFF,
    rank: int | None = None,
    delta: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The whitening factor W of one covariance ``C = U U^T`` (eq. 2.5's ``C^+ = W W^T``).

    Args:
        U: the factor, shape (m, N) (any float dtype; computed in float64).
        inverse: ``"pinv"`` (eigenvalues above ``cutoff * lam_max``), ``"rank"`` (top ``rank``),
            ``"ridge"`` (``(C + delta I)^-1``, returns W' of the module docstring).
        cutoff, rank, delta: see ``inverse``.

    Returns:
        ``(W, lam, lam_max)``: W float64 (m, r); the retained eigenvalues of C (r,), decreasing;
        the largest eigenvalue of C (0.0 when C = 0, then r = 0).

    Examples:
        >>> U = torch.tensor([[1.0, 0.0], [0.0, 1e-9], [0.0, 0.0]], dtype=torch.float64)
        >>> W, lam, top = whitening_factor(U)         # eigenvalues 1 and 1e-18: the second is cut
        >>> W.shape, lam.tolist(), top
        (torch.Size([3, 1]), [1.0], 1.0)
    """
    if inverse == "identity":
        raise ValueError("inverse='identity' has no factor (the Euclidean control)")
    _check_inverse(inverse, cutoff, rank, delta)
    U = torch.as_tensor(U).to(torch.float64)
    if U.ndim != 2:
        raise ValueError(f"U must have shape (m, N), got {tuple(U.shape)}")
    gram = U.T @ U
    lam, Q = torch.linalg.eigh(gram)
    lam, Q = lam.flip(0), Q.flip(1)  # decreasing
    top = float(lam[0]) if lam.numel() else 0.0
    if top <= 0.0:
        return U.new_zeros(U.shape[0], 0), lam[:0], 0.0
    if inverse == "pinv":
        keep = lam > cutoff * top
    elif inverse == "rank":
        keep = torch.arange(lam.numel()) < rank
        keep &= lam > 0
    else:  # ridge: every resolved direction (the weights lam / (lam + delta) vanish below)
        keep = lam > 64 * torch.finfo(torch.float64).eps * lam.numel() * top
    lam, Q = lam[keep], Q[:, keep]
    if inverse == "ridge":
        # V = U Q lam^-1/2; W' = V diag(sqrt(lam / (delta (lam + delta))))
        scale = 1.0 / torch.sqrt(delta * (lam + delta))
    else:
        scale = 1.0 / lam  # W = V lam^-1/2 = U Q lam^-1
    return U @ (Q * scale), lam, top


@dataclass
class WhiteningFactors:
    """The factors W_i of all M points, stacked: ``columns[:, offsets[i]:offsets[i+1]]`` is W_i.

    For ``inverse="pinv"`` / ``"rank"``: ``q_i(j) = ||W_i^T (x_j - x_i)||^2``.  For ``"ridge"``:
    ``q_i(j) = ||x_j - x_i||^2 / delta - ||W_i^T (x_j - x_i)||^2``.  For ``"identity"``: no
    columns, ``q_i(j) = ||x_j - x_i||^2``.

    Attributes:
        columns: float64 tensor (m, sum_i r_i).
        offsets: int64 array (M + 1,).
        ranks: retained directions per point r_i (M,).
        top_eigenvalues: largest eigenvalue of each C_i (M,).
        smallest_retained: smallest retained eigenvalue of each C_i (M,), NaN when r_i = 0.
        inverse, cutoff, rank, delta: the settings that made them.
    """

    columns: torch.Tensor
    offsets: np.ndarray
    ranks: np.ndarray
    top_eigenvalues: np.ndarray
    smallest_retained: np.ndarray
    inverse: str = "pinv"
    cutoff: float | None = DEFAULT_CUTOFF
    rank: int | None = None
    delta: float | None = None
    dim: int = field(default=0)

    def __len__(self) -> int:
        return len(self.ranks)

    def factor(self, i: int) -> torch.Tensor:
        """W_i, shape (m, r_i)."""
        return self.columns[:, int(self.offsets[i]) : int(self.offsets[i + 1])]

    @property
    def euclid_weight(self) -> float:
        """The weight of ``||x_j - x_i||^2`` in q_i(j): 1/delta (ridge), 1 (identity), else 0."""
        return {"ridge": 1.0 / self.delta if self.delta else 0.0, "identity": 1.0}.get(
            self.inverse, 0.0
        )

    @property
    def sign(self) -> float:
        """The sign of ``||W_i^T d||^2`` in q_i(j): -1 for ridge, else +1."""
        return -1.0 if self.inverse == "ridge" else 1.0

    def settings(self) -> dict:
        """The settings as a JSON-able dict (recorded with the results)."""
        return {
            "inverse": self.inverse,
            "cutoff": self.cutoff if self.inverse == "pinv" else None,
            "rank": self.rank if self.inverse == "rank" else None,
            "delta": self.delta if self.inverse == "ridge" else None,
        }

    @classmethod
    def identity(cls, num_points: int, dim: int) -> WhiteningFactors:
        """The Euclidean control: no factors, ``q_i(j) = ||x_j - x_i||^2``."""
        z = np.zeros(num_points)
        return cls(
            torch.zeros(dim, 0, dtype=torch.float64),
            np.zeros(num_points + 1, dtype=np.int64),
            z.astype(np.int64),
            z.copy(),
            np.full(num_points, np.nan),
            inverse="identity",
            cutoff=None,
            dim=dim,
        )


def whitening_factors(
    factors: Iterable[torch.Tensor | np.ndarray],
    *,
    inverse: Inverse = "pinv",
    cutoff: float = DEFAULT_CUTOFF,
    rank: int | None = None,
    delta: float | None = None,
) -> WhiteningFactors:
    """:func:`whitening_factor` of each covariance factor U_i (m, N_i), stacked.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> Us = [torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(4)]
        >>> wf = whitening_factors(Us)
        >>> wf.ranks.tolist(), wf.columns.shape
        ([3, 3, 3, 3], torch.Size([5, 12]))
    """
    _check_inverse(inverse, cutoff, rank, delta)
    if inverse == "identity":
        raise ValueError("use WhiteningFactors.identity(M, m) for the Euclidean control")
    cols, ranks, tops, smallest = [], [], [], []
    dim = None
    for U in factors:
        W, lam, top = whitening_factor(U, inverse=inverse, cutoff=cutoff, rank=rank, delta=delta)
        if dim is None:
            dim = W.shape[0]
        elif W.shape[0] != dim:
            raise ValueError(f"factor {len(ranks)} has {W.shape[0]} rows, the first had {dim}")
        cols.append(W)
        ranks.append(W.shape[1])
        tops.append(top)
        smallest.append(float(lam[-1]) if lam.numel() else math.nan)
    if dim is None:
        raise ValueError("no covariance factors given")
    offsets = np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64)
    return WhiteningFactors(
        torch.cat(cols, dim=1),
        offsets,
        np.asarray(ranks, dtype=np.int64),
        np.asarray(tops, dtype=np.float64),
        np.asarray(smallest, dtype=np.float64),
        inverse=inverse,
        cutoff=cutoff,
        rank=rank,
        delta=delta,
        dim=dim,
    )


def _centred(X: torch.Tensor | np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.ndim != 2:
        raise ValueError(f"points must have shape (M, m), got {tuple(X.shape)}")
    X64 = X.to(torch.float64)
    return (X64 - X64.mean(dim=0)).to(dtype)


def euclidean_sq_distances(X: torch.Tensor | np.ndarray) -> np.ndarray:
    """All squared Euclidean distances ``||x_i - x_j||^2`` of the rows of X (M, m), float64
    (M, M), computed on centred coordinates; exact zeros on the diagonal.

    >>> euclidean_sq_distances(np.array([[0.0, 0.0], [3.0, 4.0]])).tolist()
    [[0.0, 25.0], [25.0, 0.0]]
    """
    Xc = _centred(X, torch.float64)
    sq = (Xc * Xc).sum(dim=1)
    D = (sq[:, None] + sq[None, :] - 2.0 * (Xc @ Xc.T)).clamp_min_(0.0)
    D.fill_diagonal_(0.0)
    D = (D + D.T) / 2
    return D.numpy()


def _row_range(num_points: int, rank: int, world: int) -> tuple[int, int]:
    per = -(-num_points // world)
    return min(rank * per, num_points), min((rank + 1) * per, num_points)


def mahalanobis_sq_distances(
    X: torch.Tensor | np.ndarray,
    factors: WhiteningFactors,
    *,
    dtype: torch.dtype = torch.float64,
    block_entries: int = _BLOCK_ENTRIES,
    return_q: bool = False,
    distributed: bool = False,
    group=None,
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """All squared modified Mahalanobis distances of eq. 2.5, ``d_ij^2 = (q_i(j) + q_j(i)) / 2``.

    Args:
        X: the points, shape (M, m) (theta at M steps; a layer's coordinates).
        factors: the W_i of the M points (:func:`whitening_factors`), or
            ``WhiteningFactors.identity(M, m)`` for the Euclidean control.
        dtype: arithmetic of the products ``W_B^T X^T``: float64 (default) or float32 (about twice
            as fast; coordinates are centred and factors scaled in float64 first).
        block_entries: memory bound of one block ``A`` (R_B x M entries).
        return_q: also return the one-sided q (M, M), ``q[i, j] = q_i(j)``.
        distributed: split the rows i over the ranks of ``group`` (``torch.distributed`` must be
            initialized; every rank passes the same X and at least its own rows' factors);
            the rows are gathered by one all-reduce, so every rank returns the full matrix.
        progress: a progress bar over the blocks.

    Returns:
        d^2 as float64 (M, M), symmetric, zero diagonal; with ``return_q`` also q.

    Examples:
        >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
        >>> Us = [np.diag([1.0, 2.0])] * 3        # C = diag(1, 4) at every point
        >>> mahalanobis_sq_distances(X, whitening_factors(Us))[0].tolist()
        [0.0, 1.0, 1.0]
    """
    from landscope._progress import progress_bar

    Xc = _centred(X, torch.float64)
    M, m = Xc.shape
    if len(factors) != M:
        raise ValueError(f"{len(factors)} factors for {M} points")
    if factors.dim and factors.dim != m:
        raise ValueError(f"factors have {factors.dim} rows, the points have m = {m} coordinates")
    lo, hi = 0, M
    if distributed:
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                "torch.distributed is not initialized: call init_process_group on every rank"
            )
        lo, hi = _row_range(M, dist.get_rank(group), dist.get_world_size(group))
    q = torch.zeros(M, M, dtype=torch.float64)
    _add_euclid(q, Xc, factors.euclid_weight, lo, hi)
    Xw = Xc.to(dtype)
    max_cols = max(1, block_entries // max(M, 1))
    blocks = _blocks(factors.ranks, lo, hi, max_cols)
    bar = progress_bar(total=len(blocks), enabled=progress, desc="all pairs", unit="block")
    _add_factor_rows(q, Xw, factors, 0, blocks, bar)
    bar.close()
    if distributed:
        import torch.distributed as dist

        dist.all_reduce(q, group=group)
    return _finish(q, factors.sign, return_q)


def streamed_sq_distances(
    X: torch.Tensor | np.ndarray,
    blocks,
    *,
    dtype: torch.dtype = torch.float64,
    block_entries: int = _BLOCK_ENTRIES,
    progress: bool = False,
) -> tuple[np.ndarray, WhiteningFactors]:
    """eq. 2.5 for all pairs, with the factors streamed: ``blocks`` yields ``(start,
    WhiteningFactors of points start, start + 1, ...)`` in any order covering all M points once
    (e.g. :func:`~landscope.diffusion.iter_whitening_blocks`).  Rows q_i(.) only need W_i, so
    each block's factors are used once and dropped: memory is one block of factors plus the
    (M, M) result, whatever M x mean rank x m would be.

    Returns:
        ``(d2, summary)``: d2 as :func:`mahalanobis_sq_distances`; ``summary`` the per-point
        ranks, top and smallest retained eigenvalues and settings (its ``columns`` empty).
    """
    from landscope._progress import progress_bar

    Xc = _centred(X, torch.float64)
    M, m = Xc.shape
    q = torch.zeros(M, M, dtype=torch.float64)
    Xw = Xc.to(dtype)
    max_cols = max(1, block_entries // max(M, 1))
    ranks = np.full(M, -1, dtype=np.int64)
    tops, smallest = np.full(M, np.nan), np.full(M, np.nan)
    bar = progress_bar(total=M, enabled=progress, desc="all pairs (streamed)", unit="point")
    first = None
    for start, wf in blocks:
        first = first or wf
        n = len(wf)
        if wf.dim and wf.dim != m:
            raise ValueError(f"factors have {wf.dim} rows, the points have m = {m} coordinates")
        if start < 0 or start + n > M or np.any(ranks[start : start + n] >= 0):
            raise ValueError(f"block of points [{start}, {start + n}) is outside [0, {M}) or seen")
        _add_euclid(q[start : start + n], Xc, wf.euclid_weight, start, start + n, local=True)
        _add_factor_rows(q, Xw, wf, start, _blocks(wf.ranks, 0, n, max_cols), None)
        ranks[start : start + n] = wf.ranks
        tops[start : start + n] = wf.top_eigenvalues
        smallest[start : start + n] = wf.smallest_retained
        bar.update(n)
    bar.close()
    if first is None or np.any(ranks < 0):
        raise ValueError(f"the blocks did not cover all {M} points")
    summary = WhiteningFactors(
        torch.zeros(m, 0, dtype=torch.float64),
        np.zeros(M + 1, dtype=np.int64),
        ranks,
        tops,
        smallest,
        inverse=first.inverse,
        cutoff=first.cutoff,
        rank=first.rank,
        delta=first.delta,
        dim=m,
    )
    return _finish(q, first.sign, False), summary


def _add_euclid(q, Xc, weight: float, lo: int, hi: int, local: bool = False) -> None:
    """q[rows lo:hi] += weight * ||x_j - x_i||^2 (``local``: q holds only those rows)."""
    if not weight:
        return
    sq = (Xc * Xc).sum(dim=1)
    E = (sq[lo:hi, None] + sq[None, :] - 2.0 * (Xc[lo:hi] @ Xc.T)).clamp_min_(0.0)
    if local:
        q += weight * E
    else:
        q[lo:hi] += weight * E


def _add_factor_rows(q, Xw, factors: WhiteningFactors, start: int, blocks, bar) -> None:
    """q[start + i, :] += sign * ||W_i^T (x_j - x_i)||^2 for the points i of ``factors`` in
    ``blocks`` (local index ranges), one (R_B, M) product per block."""
    cols = factors.columns
    dtype = Xw.dtype
    M = Xw.shape[0]
    for b0, b1 in blocks:
        c0, c1 = int(factors.offsets[b0]), int(factors.offsets[b1])
        if c1 > c0:
            A = (cols[:, c0:c1].to(dtype).T @ Xw.T).to(torch.float64)  # (R_B, M)
            owner = torch.as_tensor(
                np.repeat(np.arange(b0, b1), factors.ranks[b0:b1]), dtype=torch.long
            )
            own = A[torch.arange(c1 - c0), owner + start]  # A_i[:, i]
            A.sub_(own[:, None]).square_()
            part = torch.zeros(b1 - b0, M, dtype=torch.float64)
            part.index_add_(0, owner - b0, A)
            q[start + b0 : start + b1] += factors.sign * part
        if bar is not None:
            bar.update(1)


def _finish(q: torch.Tensor, sign: float, return_q: bool):
    q.fill_diagonal_(0.0)
    if sign < 0:
        q.clamp_min_(0.0)
    D = ((q + q.T) / 2).numpy()
    return (D, q.numpy()) if return_q else D


def _blocks(ranks: np.ndarray, lo: int, hi: int, max_cols: int) -> list[tuple[int, int]]:
    """Consecutive point ranges in [lo, hi) whose factors have at most ``max_cols`` columns in
    all (a single point may exceed it)."""
    out, start, cols = [], lo, 0
    for i in range(lo, hi):
        r = int(ranks[i])
        if i > start and cols + r > max_cols:
            out.append((start, i))
            start, cols = i, 0
        cols += r
    if hi > start:
        out.append((start, hi))
    return out
