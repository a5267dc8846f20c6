"""Gradient descent in a tiny subspace (Gur-Ari, Roberts & Dyer 2018): measurements."""

from landscope.subspace._measures import (
    eigenvector_weights,
    gradient_hessian_overlap,
    random_vertex_overlap_estimate,
    subspace_overlap,
    top_subspace_fraction,
)

__all__ = [
    "eigenvector_weights",
    "gradient_hessian_overlap",
    "random_vertex_overlap_estimate",
    "subspace_overlap",
    "top_subspace_fraction",
]
