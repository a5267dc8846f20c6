"""Geometry of training trajectories: where the iterates theta(t) go.

- projection on the line from initialization to solution and its random-walk control
  (Goodfellow et al. 2015, App. B, Fig. 11-13).

- principal components of weights / updates (Haink 2023 eq. 3.3-3.5), the drift mode and its
  quadratic model (sec. 6.3-6.4), weights rebuilt from the first components of a basis (eq. 6.3,
  7.2, 7.3), and the ``pca`` / ``drift`` analyses of a recorded run.

Trajectories come from a recorded run (:mod:`landscope.runs`) or any (T, p) array.
"""

from landscope.trajectory._drift import (
    DriftFit,
    DriftScaling,
    drift_mode_variance,
    fit_drift,
    fit_drift_scaling,
    linear_drift_variance,
    minimum_from_gradient,
    quadratic_drift,
    quadratic_drift_variance,
)
from landscope.trajectory._pca import (
    SigmaHessianRelation,
    TrajectoryPCA,
    h_cross,
    sigma_vs_hessian,
)
from landscope.trajectory._projection import (
    as_trajectory,
    project_trajectory,
    projection_residuals,
    random_walk,
    random_walk_control,
)
from landscope.trajectory._rebuild import (
    ORDERS,
    RebuildCurve,
    order_basis,
    rebuild_curve,
    weight_product,
)
from landscope.trajectory._results import TrajectoryProjection

__all__ = [
    # projection on the init -> solution line (Goodfellow App. B)
    "TrajectoryProjection",
    "project_trajectory",
    "projection_residuals",
    "random_walk",
    "random_walk_control",
    # input checks
    "as_trajectory",
    # principal components of a trajectory (Haink eq. 3.3-3.9)
    "SigmaHessianRelation",
    "TrajectoryPCA",
    "h_cross",
    "sigma_vs_hessian",
    # the drift mode and its quadratic model (Haink sec. 6.3-6.4)
    "DriftFit",
    "DriftScaling",
    "drift_mode_variance",
    "fit_drift",
    "fit_drift_scaling",
    "linear_drift_variance",
    "minimum_from_gradient",
    "quadratic_drift",
    "quadratic_drift_variance",
    # weights rebuilt from the first vectors of a basis (Haink eq. 6.3, 7.2, 7.3)
    "ORDERS",
    "RebuildCurve",
    "order_basis",
    "rebuild_curve",
    "weight_product",
    # analyses of a recorded run (the analysis contract: settings -> results.json)
    "DriftSettings",
    "PCASettings",
    "run_drift_analysis",
    "run_pca_analysis",
]

#: the analyses of a recorded run, loaded on first use (their settings models need pydantic,
#: which the core import of landscope.trajectory must not pull in)
_LAZY = {"DriftSettings", "PCASettings", "run_drift_analysis", "run_pca_analysis"}


def __getattr__(name: str):
    if name in _LAZY:
        from landscope.trajectory import _analysis

        return getattr(_analysis, name)
    raise AttributeError(f"module 'landscope.trajectory' has no attribute {name!r}")
