"""Curvature-based defences against catastrophic forgetting (Haink sec. 3.3, 7.7), with EWC as
the baseline: loss penalties and an update transform for the training engine, fitted on a
finished task A, and the split-task protocol that compares them.

Importing this package registers its plugins (``landscope.plugins``): the penalties
``hessian_eigen`` (eq. 3.11 / 7.10), ``pca_flatness`` (eq. 3.10), ``singular_value``
(eq. 7.11), ``ewc`` (Kirkpatrick et al. 2017) and the update transform ``gradient_constraint``
(eq. 7.12).
"""

from landscope.forgetting._directions import (
    ConservedDirections,
    DirectionGroup,
    fisher_diagonal,
    flatness,
    hessian_directions,
    parameter_groups,
    pca_directions,
    singular_directions,
)
from landscope.forgetting._penalties import (
    DIRECTION_SOURCES,
    EWCPenalty,
    GradientConstraint,
    HessianEigenPenalty,
    PCAFlatnessPenalty,
    SingularValuePenalty,
    task_from_run,
)
from landscope.forgetting._protocol import (
    METHODS,
    ForgettingSettings,
    best_epochs,
    build_defence,
    run_forgetting_analysis,
)
from landscope.forgetting._tasks import DEFAULT_TASKS, split_tasks

__all__ = [
    # engine plugins (registered on import)
    "EWCPenalty",
    "GradientConstraint",
    "HessianEigenPenalty",
    "PCAFlatnessPenalty",
    "SingularValuePenalty",
    "DIRECTION_SOURCES",
    # conserved directions of a finished task
    "ConservedDirections",
    "DirectionGroup",
    "fisher_diagonal",
    "flatness",
    "hessian_directions",
    "parameter_groups",
    "pca_directions",
    "singular_directions",
    "task_from_run",
    # split tasks and the protocol (Haink sec. 7.7)
    "DEFAULT_TASKS",
    "METHODS",
    "ForgettingSettings",
    "best_epochs",
    "build_defence",
    "run_forgetting_analysis",
    "split_tasks",
]
