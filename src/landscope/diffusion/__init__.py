"""Diffusion maps of SGD trajectories (Fjellstrom & Nystrom): the point cloud of recorded iterates,
the SGD-noise covariance per point (eq. 2.6-2.9), the modified Mahalanobis distance (eq. 2.5),
the diffusion map (eq. 2.10-2.14), and the analysis that ties them to a recorded run."""

from landscope.diffusion._distances import (
    DEFAULT_CUTOFF,
    WhiteningFactors,
    euclidean_sq_distances,
    mahalanobis_sq_distances,
    whitening_factor,
    whitening_factors,
)
from landscope.diffusion._map import DiffusionMap, kernel_matrix

__all__ = [
    # distances (eq. 2.5)
    "DEFAULT_CUTOFF",
    "WhiteningFactors",
    "euclidean_sq_distances",
    "mahalanobis_sq_distances",
    "whitening_factor",
    "whitening_factors",
    # diffusion map (eq. 2.10-2.14)
    "DiffusionMap",
    "kernel_matrix",
]
