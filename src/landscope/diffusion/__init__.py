"""Diffusion maps of SGD trajectories (Fjellstrom & Nystrom): the point cloud of recorded iterates,
the SGD-noise covariance per point (eq. 2.6-2.9), the modified Mahalanobis distance (eq. 2.5),
the diffusion map (eq. 2.10-2.14), and the analysis that ties them to a recorded run."""

from landscope.diffusion._dimension import (
    AUC_READINGS,
    DimensionResult,
    auc_ratio,
    energy_dimension,
    energy_ratio,
    intrinsic_dimension,
    mds_coordinates,
    reference_dimensions,
    significant_count,
)
from landscope.diffusion._distances import (
    DEFAULT_CUTOFF,
    WhiteningFactors,
    euclidean_sq_distances,
    mahalanobis_sq_distances,
    whitening_factor,
    whitening_factors,
)
from landscope.diffusion._epsilon import (
    EPSILON_RULES,
    EpsilonChoice,
    EpsilonScan,
    KernelSumCurve,
    choose_epsilon,
    corner_choice,
    default_epsilon_grid,
    kernel_sum_curve,
    lafon_epsilon,
    scan_epsilon,
)
from landscope.diffusion._map import DiffusionMap, kernel_matrix
from landscope.diffusion._rolling import RollingDimension, rolling_dimension, window_starts

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
    # dimension of the slow manifold (sec. 3.2: eq. 3.1, 3.3, AUC ratio; skdim comparison)
    "AUC_READINGS",
    "DimensionResult",
    "auc_ratio",
    "energy_dimension",
    "energy_ratio",
    "intrinsic_dimension",
    "mds_coordinates",
    "reference_dimensions",
    "significant_count",
    # choosing epsilon (sec. 3.3: eq. 3.4-3.7, Lafon, the (d, AUC) corner)
    "EPSILON_RULES",
    "EpsilonChoice",
    "EpsilonScan",
    "KernelSumCurve",
    "choose_epsilon",
    "corner_choice",
    "default_epsilon_grid",
    "kernel_sum_curve",
    "lafon_epsilon",
    "scan_epsilon",
    # rolling window over training (Fig. 13, 14)
    "RollingDimension",
    "rolling_dimension",
    "window_starts",
]
