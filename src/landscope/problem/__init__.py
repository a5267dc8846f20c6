"""Problems: a model, a loss and data as functions of one flat parameter vector."""

from landscope.problem._layout import ParameterLayout, ParameterSlot
from landscope.problem._losses import CLASSIFICATION_LOSSES, LOSSES, LossName, resolve_loss
from landscope.problem._problem import Problem, module_mode

__all__ = [
    "CLASSIFICATION_LOSSES",
    "LOSSES",
    "LossName",
    "ParameterLayout",
    "ParameterSlot",
    "Problem",
    "module_mode",
    "resolve_loss",
]
