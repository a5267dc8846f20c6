"""The training engine: SGD / Adam on a Problem, recording the trajectory to a run folder
(crash-safe, resumable).  Plugins (online analyses, update transforms, loss penalties) come from
:mod:`landscope.plugins`; the engine imports no analysis package."""

from landscope.plugins import StepContext, UpdateContext
from landscope.training._callbacks import GradientNorm, LayerNorms, make_online_analysis
from landscope.training._loop import NonFiniteLossError, TrainingInterrupted, selected_steps, train
from landscope.training._optim import (
    SGD,
    Adam,
    FlatOptimizer,
    MinibatchSchedule,
    batch_indices,
    learning_rate,
    steps_per_epoch,
)
from landscope.training._penalties import L2Anchor

__all__ = [
    # the loop
    "NonFiniteLossError",
    "TrainingInterrupted",
    "selected_steps",
    "train",
    # optimizers and sampling
    "SGD",
    "Adam",
    "FlatOptimizer",
    "MinibatchSchedule",
    "batch_indices",
    "learning_rate",
    "steps_per_epoch",
    # the engine's own plugins
    "GradientNorm",
    "L2Anchor",
    "LayerNorms",
    "make_online_analysis",
    # contexts handed to plugins (defined in landscope.plugins)
    "StepContext",
    "UpdateContext",
]
