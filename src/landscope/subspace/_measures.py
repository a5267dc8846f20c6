"""Measurements of Gur-Ari, Roberts & Dyer (2018), *Gradient descent happens in a tiny subspace*.

Pure functions over tensors.  ``V`` denotes a (p, k) matrix whose columns are orthonormal
Hessian eigenvectors ordered by decreasing eigenvalue (``V[:, 0]`` the top one).
"""

from __future__ import annotations

import torch

__all__ = [
    "eigenvector_weights",
    "gradient_hessian_overlap",
    "random_vertex_overlap_estimate",
    "subspace_overlap",
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
    >>> float(top_subspace_fraction(torch.tensor([3.0, 4.0]), torch.eye(2)[:, :1]))
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
