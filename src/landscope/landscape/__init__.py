"""Loss along lines and planes: Goodfellow, Vinyals & Saxe (2015), *Qualitatively
characterizing neural network optimization problems*, with the controls and options of
Li et al. (2018), *Visualizing the loss landscape of neural nets*.

Pure functions over a :class:`~landscope.problem.Problem` and parameter tensors; results are
data objects (``save`` writes .npz + .json) drawn by :mod:`landscope.plotting`.  How the points
are evaluated (sample subset, BatchNorm, batching, progress) is one :class:`Evaluation` passed
as ``evaluation=``; surfaces carry their default grids (``spec.default_grid()``).

>>> import torch
>>> from landscope import Problem
>>> model = torch.nn.Linear(2, 1, bias=False).double()
>>> x = torch.eye(2, dtype=torch.float64)
>>> problem = Problem(model, "mse", (x, torch.zeros(2, 1, dtype=torch.float64)))
>>> theta = torch.tensor([1.0, 0.0], dtype=torch.float64)
>>> line = interpolate(problem, theta, -theta, [0.0, 0.5, 1.0], evaluation=Evaluation(subset=1))
>>> line["train_loss"].shape
(3,)
"""

from landscope.landscape._directions import (
    NORMALIZATIONS,
    ONE_DIM_RULES,
    filter_normalize,
    orthogonalize,
    parameter_mask,
    pca_directions,
    random_direction,
)
from landscope.landscape._evaluate import (
    BN_MODES,
    Evaluation,
    GridStore,
    PointEvaluator,
    evaluate_points,
    has_batchnorm,
)
from landscope.landscape._interpolation import (
    HIGH_RESOLUTION_RANGES,
    barrier_height,
    high_resolution_interpolations,
    interpolate,
    interpolation_points,
    local_minima,
    random_point,
)
from landscope.landscape._linear import (
    factored_gradient_descent,
    factored_hessian,
    factored_interpolation,
    factored_loss,
    factored_problem,
)
from landscope.landscape._results import InterpolationResult, SurfaceResult
from landscope.landscape._surfaces import (
    AlphaBetaSurface,
    Plane,
    alpha_beta_plane,
    alpha_beta_surface,
    alpha_random_plane,
    evaluate_surface,
    pca_plane,
    random_plane,
    surface,
)

# 1-D: lines (sec. 2-3, Fig. 1-5)
__all__ = [
    "HIGH_RESOLUTION_RANGES",
    "barrier_height",
    "high_resolution_interpolations",
    "interpolate",
    "interpolation_points",
    "local_minima",
    "random_point",
]

# 2-D: surfaces (App. C, D; Li et al. 2018)
__all__ += [
    "AlphaBetaSurface",
    "Plane",
    "alpha_beta_plane",
    "alpha_beta_surface",
    "alpha_random_plane",
    "evaluate_surface",
    "pca_plane",
    "random_plane",
    "surface",
]

# directions
__all__ += [
    "NORMALIZATIONS",
    "ONE_DIM_RULES",
    "filter_normalize",
    "orthogonalize",
    "parameter_mask",
    "pca_directions",
    "random_direction",
]

# how points are evaluated (one settings object), batched evaluation, resumable grids
__all__ += [
    "BN_MODES",
    "Evaluation",
    "GridStore",
    "PointEvaluator",
    "evaluate_points",
    "has_batchnorm",
]

# the factored linear model in closed form (sec. 5, Fig. 9, 10, 14)
__all__ += [
    "factored_gradient_descent",
    "factored_hessian",
    "factored_interpolation",
    "factored_loss",
    "factored_problem",
]

# results
__all__ += [
    "InterpolationResult",
    "SurfaceResult",
]
