"""Geometry of training trajectories: where the iterates theta(t) go.

- projection on the line from initialization to solution and its random-walk control
  (Goodfellow et al. 2015, App. B, Fig. 11-13).

Trajectories come from a recorded run (:mod:`landscope.runs`) or any (T, p) array.
"""

from landscope.trajectory._projection import (
    as_trajectory,
    project_trajectory,
    projection_residuals,
    random_walk,
    random_walk_control,
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
]
