"""Per-sample loss functions.

landscope works with the empirical risk ``f(theta) = (1/N) sum_i f_i(theta)`` (Fjellstrom eq. 1.1).
Chunked evaluation therefore needs *per-sample* losses ``f_i``; a loss is resolved here into a
function ``(output, target) -> tensor of shape (n,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["CLASSIFICATION_LOSSES", "LOSSES", "LossName", "PerSampleLoss", "resolve_loss"]

LossName = Literal["cross_entropy", "mse", "mae", "bce_with_logits"]
PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _match_target(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Regression targets of shape (n,) against outputs (n, 1): reshape, never broadcast."""
    if target.shape != output.shape:
        if target.numel() != output.numel():
            raise ValueError(
                f"target shape {tuple(target.shape)} does not match model output shape "
                f"{tuple(output.shape)}"
            )
        target = target.reshape(output.shape)
    return target.to(output.dtype)


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of logits (n, C) against class indices (n,); shape (n,)."""
    return F.cross_entropy(output, target, reduction="none")


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error averaged over output dimensions (Keras' ``mean_squared_error``); shape (n,)."""
    diff = output - _match_target(output, target)
    return diff.square().reshape(diff.shape[0], -1).mean(dim=1)


def mae(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Absolute error averaged over output dimensions (Keras' ``mean_absolute_error``); shape (n,)."""
    diff = output - _match_target(output, target)
    return diff.abs().reshape(diff.shape[0], -1).mean(dim=1)


def bce_with_logits(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of logits against {0, 1} targets, averaged over outputs; shape (n,)."""
    loss = F.binary_cross_entropy_with_logits(
        output, _match_target(output, target), reduction="none"
    )
    return loss.reshape(loss.shape[0], -1).mean(dim=1)


LOSSES: dict[str, PerSampleLoss] = {
    "cross_entropy": cross_entropy,
    "mse": mse,
    "mae": mae,
    "bce_with_logits": bce_with_logits,
}
assert tuple(LOSSES) == LossName.__args__  # the one list of loss names (config, Problem, curvature)

#: Named losses whose targets are class labels (the rest are regression losses).
CLASSIFICATION_LOSSES = ("cross_entropy", "bce_with_logits")


def resolve_loss(loss: str | Callable) -> tuple[str, PerSampleLoss]:
    """Turn a loss name or callable into ``(name, per_sample_loss)``.

    A user callable ``loss(output, target)`` may return per-sample losses of shape (n,) or a
    scalar; a scalar is taken to be the *mean* over the n samples of the batch (as
    ``nn.CrossEntropyLoss()`` and other ``reduction="mean"`` losses return), and is turned into
    per-sample form by spreading it evenly, so sums over chunks stay exact.
    """
    if isinstance(loss, str):
        try:
            return loss, LOSSES[loss]
        except KeyError:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {sorted(LOSSES)} or pass a callable"
            ) from None
    if not callable(loss):
        raise TypeError(f"loss must be a name or a callable, got {type(loss).__name__}")

    def per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        value = loss(output, target)
        n = output.shape[0]
        if value.ndim == 0:
            return value.expand(n) if n > 0 else value.reshape(0)
        if value.shape != (n,):
            raise ValueError(
                f"loss callable returned shape {tuple(value.shape)}; expected a scalar (batch mean) or ({n},)"
            )
        return value

    name = getattr(loss, "__name__", type(loss).__name__)
    return name, per_sample
