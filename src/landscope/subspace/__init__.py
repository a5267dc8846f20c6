"""Gradient descent in a tiny subspace (Gur-Ari, Roberts & Dyer 2018).

- measures (pure functions over tensors): f_top (eq. 2), overlap(g, Hg) (eq. 3), the random-
  vertex estimate (eq. 4), subspace overlap (eq. 5) and its (t1, t2) grid / dimension summary
  (Fig. 2, 3), c_i^2 (eq. 12);
- one measurement at a point (:func:`measure_top_subspace`), online analyses for training
  (``top_subspace``, ``gradient_overlap``), the offline analysis of a recorded run;
- the softmax-regression toy model with its closed-form solution (sec. 3, App. E);
- the optimizers of sec. 4 (projected SGD, low-rank Newton, eq. 11) as update transforms.
"""

from landscope.subspace._analysis import (
    SubspaceAnalysis,
    WindowMean,
    analyze_run,
    analyze_trajectory,
    read_tracked,
)
from landscope.subspace._optimizers import (
    LowRankNewton,
    TopSubspaceProjection,
)
from landscope.subspace._overlaps import (
    basis_gram,
    eigenvector_weights,
    gradient_hessian_overlap,
    overlap_vs_dimension,
    random_vertex_overlap_estimate,
    subspace_overlap,
    subspace_overlap_grid,
    top_subspace_fraction,
)
from landscope.subspace._top_subspace import (
    GradientOverlap,
    TopSubspaceMeasurement,
    infer_num_classes,
    measure_gradient_overlap,
    measure_top_subspace,
)
from landscope.subspace._toy import (
    ToyFlow,
    ToySimulation,
    simulate_toy,
    toy_hessian,
    two_class_flow,
)
from landscope.subspace._tracker import GradientOverlapTracker, TopSubspaceTracker

__all__ = [
    # measures (eq. 2-5, 12)
    "basis_gram",
    "eigenvector_weights",
    "gradient_hessian_overlap",
    "overlap_vs_dimension",
    "random_vertex_overlap_estimate",
    "subspace_overlap",
    "subspace_overlap_grid",
    "top_subspace_fraction",
    # one point
    "GradientOverlap",
    "TopSubspaceMeasurement",
    "infer_num_classes",
    "measure_gradient_overlap",
    "measure_top_subspace",
    # along training
    "GradientOverlapTracker",
    "SubspaceAnalysis",
    "WindowMean",
    "TopSubspaceTracker",
    "analyze_run",
    "analyze_trajectory",
    "read_tracked",
    # toy model (sec. 3, App. E)
    "ToyFlow",
    "ToySimulation",
    "simulate_toy",
    "toy_hessian",
    "two_class_flow",
    # optimizers (sec. 4)
    "LowRankNewton",
    "TopSubspaceProjection",
]
