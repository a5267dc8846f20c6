"""The engine's own online analyses (cheap measurements any run can record).

An online analysis is any callable ``analysis(ctx) -> dict | None`` with attributes ``name`` and
``every`` (:class:`landscope.plugins.OnlineAnalysis`).  The training loop calls it at steps
``0, every, 2 every, ...`` and at the last step, and appends each returned value to the series
``"<name>.<key>"`` of the run, so users with big models get the measurements without storing
every parameter vector.  Analyses named in a config's ``analyses:`` list are looked up in
:data:`landscope.plugins.ONLINE_ANALYSES`; analysis packages (e.g. :mod:`landscope.subspace`)
register theirs there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from landscope.plugins import ONLINE_ANALYSES, OnlineAnalysis, StepContext

__all__ = ["GradientNorm", "LayerNorms", "make_online_analysis"]


@ONLINE_ANALYSES.register("gradient_norm")
class GradientNorm:
    """Norm of the full-dataset gradient ||grad f(theta)|| (and the full-dataset loss)."""

    def __init__(self, every: int = 100, name: str = "gradient_norm"):
        self.every, self.name = every, name

    def __call__(self, ctx: StepContext) -> dict[str, float]:
        loss, grad = ctx.problem.loss_and_gradient(ctx.theta)
        return {"norm": float(grad.norm()), "loss": float(loss)}


@ONLINE_ANALYSES.register("layer_norms")
class LayerNorms:
    """Frobenius norm of each parameter tensor (vector of length len(layout))."""

    def __init__(self, every: int = 100, name: str = "layer_norms"):
        self.every, self.name = every, name

    def __call__(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        pieces = ctx.theta.split(ctx.problem.layout.numels)
        return {"norms": torch.stack([p.norm() for p in pieces])}


def make_online_analysis(name: str, every: int, options: Mapping[str, Any]) -> OnlineAnalysis:
    """The registered online analysis ``name`` built with ``every`` and ``options``.

    Raises:
        ValueError: unknown name (the message lists the registered ones) or bad options.
    """
    return ONLINE_ANALYSES.build(name, every=every, name=name, **dict(options))
