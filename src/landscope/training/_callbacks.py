"""Online analyses: measurements computed during training every k steps.

An online analysis is any callable ``analysis(ctx) -> dict | None`` with attributes ``name`` and
``every``.  The training loop calls it at steps ``0, every, 2 every, ...`` and at the last step,
and appends each returned value to the series ``"<name>.<key>"`` of the run's trajectory store,
so users with big models get the measurements without storing every parameter vector.

Analyses named in a config's ``analyses:`` list are looked up in :data:`ONLINE_ANALYSES`;
later modules (curvature, subspace) register theirs with :func:`register_online_analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from landscope.problem import Problem

__all__ = [
    "ONLINE_ANALYSES",
    "GradientNorm",
    "LayerNorms",
    "OnlineAnalysis",
    "StepContext",
    "UpdateContext",
    "make_online_analysis",
    "register_online_analysis",
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
    the minibatch gradient ``gradient`` at ``theta``; it returns the update to apply (e.g. its
    projection onto the top Hessian subspace, Gur-Ari sec. 4)."""

    step: int
    epoch: int
    theta: torch.Tensor
    gradient: torch.Tensor
    update: torch.Tensor
    lr: float
    problem: Problem
    batch: torch.Tensor


class OnlineAnalysis(Protocol):
    name: str
    every: int

    def __call__(self, ctx: StepContext) -> Mapping[str, Any] | None: ...


class GradientNorm:
    """Norm of the full-dataset gradient ||grad f(theta)|| (and the full-dataset loss)."""

    def __init__(self, every: int = 100, name: str = "gradient_norm"):
        self.every, self.name = every, name

    def __call__(self, ctx: StepContext) -> dict[str, float]:
        loss, grad = ctx.problem.loss_and_gradient(ctx.theta)
        return {"norm": float(grad.norm()), "loss": float(loss)}


class LayerNorms:
    """Frobenius norm of each parameter tensor (vector of length len(layout))."""

    def __init__(self, every: int = 100, name: str = "layer_norms"):
        self.every, self.name = every, name

    def __call__(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        pieces = ctx.theta.split(ctx.problem.layout.numels)
        return {"norms": torch.stack([p.norm() for p in pieces])}


ONLINE_ANALYSES: dict[str, Callable[..., OnlineAnalysis] | str] = {
    "gradient_norm": GradientNorm,
    "layer_norms": LayerNorms,
    # Analyses of later layers are named here as "module:attribute" and imported on first use,
    # so the training engine does not import the analysis modules it never runs.
    "top_subspace": "landscope.subspace._tracker:TopSubspaceTracker",
    "gradient_overlap": "landscope.subspace._tracker:GradientOverlapTracker",
}


def register_online_analysis(name: str, factory: Callable[..., OnlineAnalysis] | str) -> None:
    """Make ``factory(every=..., name=..., **options)`` available to configs as ``name``
    (``factory`` may be a ``"module:attribute"`` string, imported on first use)."""
    ONLINE_ANALYSES[name] = factory


def make_online_analysis(name: str, every: int, options: Mapping[str, Any]) -> OnlineAnalysis:
    try:
        factory = ONLINE_ANALYSES[name]
    except KeyError:
        raise ValueError(
            f"unknown online analysis {name!r}; allowed: {', '.join(sorted(ONLINE_ANALYSES))}"
        ) from None
    if isinstance(factory, str):
        import importlib

        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    try:
        return factory(every=every, name=name, **options)
    except TypeError as exc:
        raise ValueError(f"bad options for online analysis {name!r}: {exc}") from None
