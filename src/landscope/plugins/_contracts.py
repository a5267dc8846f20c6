"""What the training engine hands its plugins, and what it expects back.

- an **online analysis** is called at steps ``0, every, 2 every, ...`` and the last step with a
  :class:`StepContext`; each returned value is appended to the run series ``"<name>.<key>"``;
- an **update transform** maps the optimizer's proposed update to the applied one
  (:class:`UpdateContext` in, a (p,) tensor out), e.g. projected SGD (Gur-Ari sec. 4);
- a **loss penalty** adds ``penalty(theta)`` (a scalar tensor, differentiable in ``theta``) to
  every minibatch loss before the gradient is taken; :meth:`LossPenalty.setup` sees a
  :class:`PenaltyContext` once before the first step (e.g. to store an anchor theta).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from landscope.problem import Problem

__all__ = [
    "LossPenalty",
    "OnlineAnalysis",
    "PenaltyContext",
    "StepContext",
    "UpdateContext",
    "UpdateTransform",
]


@dataclass
class StepContext:
    """What an online analysis sees at step ``step`` (before the update of that step).

    Attributes:
        step: number of updates applied so far; ``theta`` is theta(step).
        epoch: epoch of this step.
        theta: parameters, shape (p,), on the problem's device (do not modify in place).
        problem: the training-set Problem (full-dataset loss, gradient, curvature).
        test_problem: the test-set Problem or ``None``.
        lr: learning rate of this step.
        state: a dict the analysis may keep between calls (e.g. last eigenvectors for a warm
            start); it is not checkpointed.
    """

    step: int
    epoch: int
    theta: torch.Tensor
    problem: Problem
    test_problem: Problem | None
    lr: float
    state: dict


@dataclass
class UpdateContext:
    """What an update transform sees: the proposed update ``update`` (shape (p,)) computed from
    the minibatch gradient ``gradient`` (including penalties) at ``theta``; it returns the update
    to apply (e.g. its projection onto the top Hessian subspace, Gur-Ari sec. 4)."""

    step: int
    epoch: int
    theta: torch.Tensor
    gradient: torch.Tensor
    update: torch.Tensor
    lr: float
    problem: Problem
    batch: torch.Tensor


@dataclass
class PenaltyContext:
    """What a loss penalty sees once, before training starts (or resumes).

    Attributes:
        problem: the training-set Problem (layout, dtype, device).
        theta_init: theta(0), the run's initialization, shape (p,) (also on resume).
        theta_start: theta at the step training starts from (theta(0), or the resume step).
        run_dir: the run folder being written.
    """

    problem: Problem
    theta_init: torch.Tensor
    theta_start: torch.Tensor
    run_dir: Path


@runtime_checkable
class OnlineAnalysis(Protocol):
    name: str
    every: int

    def __call__(self, ctx: StepContext) -> Mapping[str, Any] | None: ...


@runtime_checkable
class UpdateTransform(Protocol):
    def __call__(self, ctx: UpdateContext) -> torch.Tensor: ...


@runtime_checkable
class LossPenalty(Protocol):
    """``penalty(theta) -> scalar tensor`` added to the minibatch loss (its gradient to the
    update); ``name`` names its recorded series ``penalty.<name>``."""

    name: str

    def setup(self, ctx: PenaltyContext) -> None: ...

    def __call__(self, theta: torch.Tensor) -> torch.Tensor: ...
