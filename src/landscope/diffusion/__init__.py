"""Diffusion maps of SGD trajectories (Fjellstrom & Nystrom): the point cloud of recorded iterates,
the SGD-noise covariance per point (eq. 2.6-2.9), the modified Mahalanobis distance (eq. 2.5),
the diffusion map (eq. 2.10-2.14), and the analysis that ties them to a recorded run."""

from landscope.diffusion._analysis import DiffusionSettings, run_diffusion_analysis
from landscope.diffusion._cache import CACHE_VERSION, DistanceCache, cache_key, cached_distances
from landscope.diffusion._covariance import (
    METRICS,
    covariance_whitening,
    iter_whitening_blocks,
    noise_covariance_factors,
    window_covariance_factors,
)
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
    streamed_sq_distances,
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
    markov_eigenvalues,
    scan_epsilon,
)
from landscope.diffusion._map import DiffusionMap, kernel_matrix, transition_eigenvalues
from landscope.diffusion._points import PointCloud, point_cloud, select_cloud_steps
from landscope.diffusion._rolling import RollingDimension, rolling_dimension, window_starts

__all__ = [
    # the analysis of a recorded run (analysis contract)
    "DiffusionSettings",
    "run_diffusion_analysis",
    # point cloud of iterates (sec. 2)
    "PointCloud",
    "point_cloud",
    "select_cloud_steps",
    # covariance per point (eq. 2.6-2.9)
    "METRICS",
    "covariance_whitening",
    "iter_whitening_blocks",
    "noise_covariance_factors",
    "window_covariance_factors",
    # distances (eq. 2.5) and their cache
    "CACHE_VERSION",
    "DistanceCache",
    "cache_key",
    "cached_distances",
    "DEFAULT_CUTOFF",
    "WhiteningFactors",
    "euclidean_sq_distances",
    "mahalanobis_sq_distances",
    "streamed_sq_distances",
    "whitening_factor",
    "whitening_factors",
    # diffusion map (eq. 2.10-2.14)
    "DiffusionMap",
    "kernel_matrix",
    "transition_eigenvalues",
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
    "markov_eigenvalues",
    "scan_epsilon",
    # rolling window over training (Fig. 13, 14)
    "RollingDimension",
    "rolling_dimension",
    "window_starts",
]
