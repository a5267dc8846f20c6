"""Training runs that record their trajectory to disk (crash-safe, resumable)."""

from landscope.training._callbacks import (
    ONLINE_ANALYSES,
    GradientNorm,
    LayerNorms,
    OnlineAnalysis,
    StepContext,
    UpdateContext,
    make_online_analysis,
    register_online_analysis,
)
from landscope.training._loop import NonFiniteLossError, TrainingInterrupted, selected_steps, train
from landscope.training._optim import (
    SGD,
    Adam,
    FlatOptimizer,
    batch_indices,
    learning_rate,
    steps_per_epoch,
)

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
    "batch_indices",
    "learning_rate",
    "steps_per_epoch",
    # online analyses
    "ONLINE_ANALYSES",
    "GradientNorm",
    "LayerNorms",
    "OnlineAnalysis",
    "StepContext",
    "UpdateContext",
    "make_online_analysis",
    "register_online_analysis",
]
