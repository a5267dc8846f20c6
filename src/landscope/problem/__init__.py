"""Problems: a model, a loss and data as functions of one flat parameter vector."""

from landscope.problem._attention import attention_for_derivatives, describe_attention
from landscope.problem._batch import OutputAdapter
from landscope.problem._layout import ParameterLayout, ParameterSlot
from landscope.problem._losses import (
    CLASSIFICATION_LOSSES,
    LOSSES,
    SEQUENCE_LOSSES,
    LossName,
    SequenceCrossEntropy,
    resolve_loss,
)
from landscope.problem._problem import Problem, module_mode

__all__ = [
    # the problem
    "Problem",
    "module_mode",
    "OutputAdapter",
    # losses
    "CLASSIFICATION_LOSSES",
    "LOSSES",
    "SEQUENCE_LOSSES",
    "LossName",
    "SequenceCrossEntropy",
    "resolve_loss",
    # parameters
    "ParameterLayout",
    "ParameterSlot",
    # attention kernels for derivatives
    "attention_for_derivatives",
    "describe_attention",
]
