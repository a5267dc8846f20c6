"""Measurements of Gur-Ari, Roberts & Dyer (2018), *Gradient descent happens in a tiny subspace*.

Pure functions over tensors.  ``V`` denotes a (p, k) matrix whose columns are orthonormal
Hessian eigenvectors ordered by decreasing eigenvalue (``V[:, 0]`` the top one).
"""

from __future__ import annotations

import torch

__all__ = [
    "basis_gram",
    "eigenvector_weights",
    "gradient_hessian_overlap",
    "overlap_vs_dimension",
    "random_vertex_overlap_estimate",
    "subspace_overlap",
    "subspace_overlap_grid",
    "top_subspace_fraction",
]


def _check_basis(V: torch.Tensor, p: int | None = None) -> torch.Tensor:
    if V.ndim != 2:
        raise ValueError(f"V must be a (p, k) matrix of column vectors, got shape {tuple(V.shape)}")
    if p is not None and V.shape[0] != p:
        raise ValueError(f"V has {V.shape[0]} rows but the vector has {p} entries")
    return V


def top_subspace_fraction(g: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """f_top = ||g_top||^2 / ||g||^2 (Gur-Ari eq. 2): the fraction of the gradient's squared norm
    in the span of the orthonormal columns of ``V`` (p, k).  Returns a 0-d tensor in [0, 1].

    >>> import torch
    >>> round(float(top_subspace_fraction(torch.tensor([3.0, 4.0]), torch.eye(2)[:, :1])), 6)
    0.36
    """
    V = _check_basis(V, g.shape[0])
    coeffs = V.T @ g
    return coeffs.square().sum() / g.square().sum()


def eigenvector_weights(g: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """c_i^2 = (v_i . g)^2 / ||g||^2 for each column v_i of ``V`` (Gur-Ari eq. 12); shape (k,).
    Summed over a complete eigenbasis they give 1; their partial sums over the top k and the
    next k eigenvectors are what the paper quotes (Fig. 11)."""
    V = _check_basis(V, g.shape[0])
    return (V.T @ g).square() / g.square().sum()


def gradient_hessian_overlap(g: torch.Tensor, Hg: torch.Tensor) -> torch.Tensor:
    """overlap(g, Hg) = g^T H g / (||g|| ||H g||) (Gur-Ari eq. 3), in [-1, 1]; 0-d tensor.
    ``Hg`` is the Hessian-vector product with the same ``g``."""
    if g.shape != Hg.shape:
        raise ValueError(
            f"g and Hg must have the same shape, got {tuple(g.shape)} and {tuple(Hg.shape)}"
        )
    return (g @ Hg) / (g.norm() * Hg.norm())


def subspace_overlap(V1: torch.Tensor, V2: torch.Tensor) -> torch.Tensor:
    """Overlap of the subspaces spanned by the orthonormal columns of ``V1`` (p, k1) and ``V2``
    (p, k2) (Gur-Ari eq. 5): Tr(P1 P2) / sqrt(Tr P1 Tr P2) = ||V1^T V2||_F^2 / sqrt(k1 k2).
    1 for equal subspaces, 0 for orthogonal ones, symmetric; 0-d tensor."""
    _check_basis(V1)
    _check_basis(V2, V1.shape[0])
    k1, k2 = V1.shape[1], V2.shape[1]
    return (V1.T @ V2).square().sum() / (k1 * k2) ** 0.5


def random_vertex_overlap_estimate(eigenvalues: torch.Tensor) -> torch.Tensor:
    """The estimate of Gur-Ari eq. 4: overlap(w, Hw) for w at a random vertex of the unit cube in
    the top subspace, sum_i lambda_i / sqrt(k sum_i lambda_i^2); 0-d tensor.
    (For lambda_i proportional to i and large k it tends to sqrt(3/4) ~ 0.87.)"""
    lam = torch.as_tensor(eigenvalues)
    k = lam.numel()
    return lam.sum() / (k * lam.square().sum()).sqrt()


def basis_gram(bases: torch.Tensor) -> torch.Tensor:
    """All pairwise Gram matrices ``G[s, t] = V_s^T V_t`` of a stack of bases ``bases`` (T, p, m);
    shape (T, T, m, m), from one (T m x p)(p x T m) product.  Every subspace overlap between the
    leading ``d <= m`` columns of two bases follows from it without p-sized work:
    ``overlap_d(s, t) = ||G[s, t, :d, :d]||_F^2 / d`` (eq. 5)."""
    if bases.ndim != 3:
        raise ValueError(f"bases must have shape (T, p, m), got {tuple(bases.shape)}")
    T, p, m = bases.shape
    flat = bases.permute(1, 0, 2).reshape(p, T * m)
    return (flat.T @ flat).reshape(T, m, T, m).permute(0, 2, 1, 3)


def subspace_overlap_grid(
    bases: torch.Tensor, columns: slice | range | tuple[int, int] = slice(None)
) -> torch.Tensor:
    """Subspace overlap (eq. 5) between the subspaces spanned by ``bases[s][:, columns]`` and
    ``bases[t][:, columns]`` for every pair of times (s, t): Gur-Ari Fig. 2 (top k: columns
    ``(0, k)``; "next k": ``(k, 2k)``).  ``bases`` (T, p, m) with orthonormal columns; returns a
    symmetric (T, T) tensor with ones on the diagonal."""
    if isinstance(columns, tuple):
        columns = slice(*columns)
    elif isinstance(columns, range):
        columns = slice(columns.start, columns.stop)
    sub = bases[:, :, columns]
    d = sub.shape[2]
    if d == 0:
        raise ValueError(f"columns {columns} select no column of bases with m={bases.shape[2]}")
    return basis_gram(sub).square().sum((-1, -2)) / d


def overlap_vs_dimension(
    bases: torch.Tensor,
    steps: torch.Tensor | list[int],
    t1: list[int] | torch.Tensor,
    *,
    max_dim: int | None = None,
    min_interval: int = 1,
) -> torch.Tensor:
    """Gur-Ari Fig. 3 (and 9, 10 summarised): for each start time ``t1`` and subspace dimension
    d = 1..max_dim, the overlap (eq. 5) of the top-d subspaces at t1 and t2 averaged over all
    recorded later times t2 with ``t2 - t1 >= min_interval``.

    Args:
        bases: (T, p, m) eigenvector bases at ``steps`` (T,), columns ordered by decreasing
            eigenvalue.
        t1: start steps (each must be in ``steps``).
        max_dim: largest d (default m).

    Returns:
        (len(t1), max_dim) tensor; row i, column d-1 is the mean overlap at dimension d.  A t1
        with no later time gives NaN.
    """
    steps_list = [int(s) for s in torch.as_tensor(steps).tolist()]
    T, _, m = bases.shape
    if len(steps_list) != T:
        raise ValueError(f"{len(steps_list)} steps for {T} bases")
    max_dim = m if max_dim is None else int(max_dim)
    if not 1 <= max_dim <= m:
        raise ValueError(f"max_dim must be in [1, {m}], got {max_dim}")
    position = {s: i for i, s in enumerate(steps_list)}
    G = basis_gram(bases[:, :, :max_dim])  # (T, T, D, D)
    # Cumulative squared Frobenius norms of the leading d x d blocks, d = 1..D.
    sq = G.square()
    lead = sq.cumsum(-1).cumsum(-2).diagonal(dim1=-2, dim2=-1)  # (T, T, D)
    dims = torch.arange(1, max_dim + 1, dtype=bases.dtype, device=bases.device)
    overlaps = lead / dims
    out = torch.full((len(t1), max_dim), float("nan"), dtype=bases.dtype)
    for row, start in enumerate(torch.as_tensor(t1).tolist()):
        if int(start) not in position:
            raise ValueError(f"t1={start} is not a recorded step")
        i = position[int(start)]
        later = [position[s] for s in steps_list if s - int(start) >= min_interval]
        if later:
            out[row] = overlaps[i, later].mean(0).cpu()
    return out
