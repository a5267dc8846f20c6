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

__all__ = [
    "CLASSIFICATION_LOSSES",
    "LOSSES",
    "SEQUENCE_LOSSES",
    "LossName",
    "PerSampleLoss",
    "SequenceCrossEntropy",
    "resolve_loss",
]

LossName = Literal[
    "cross_entropy",
    "mse",
    "mae",
    "bce_with_logits",
    "token_cross_entropy",
    "next_token_cross_entropy",
]
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


class SequenceCrossEntropy:
    """Cross-entropy of a sequence model, one sample = one sequence (N = number of sequences).

    Logits (n, T, V) are scored against token targets (n, T); targets equal to
    ``ignore_index`` (padding; -100 as in PyTorch and Hugging Face) are left out.  With
    ``shift=True`` (``"next_token_cross_entropy"``, the Hugging Face ``labels = input_ids``
    convention) the logits at position t are scored against the target at t + 1; with
    ``shift=False`` (``"token_cross_entropy"``) targets are already aligned with the logits.

    The per-sample loss f_i of sequence i, with l_it the token losses and m_it = 1 for
    targets that are not ignored (so that the empirical risk is (1/N) sum_i f_i, Fjellstrom
    eq. 1.1, and per-sample gradients are per sequence):

    - ``average="tokens"`` (default; what language-model training reports): f_i =
      sum_t m_it l_it / tbar, with tbar the mean number of scored tokens per sequence over the
      Problem's whole dataset; the empirical risk over the dataset is then exactly the mean over
      all its scored tokens, sum_it m_it l_it / sum_it m_it.  (Over a subset S it is
      sum_{i in S} sum_t m_it l_it / (|S| tbar).)
    - ``average="sequences"``: f_i = sum_t m_it l_it / sum_t m_it, each sequence's own mean,
      and the risk the mean over sequences (a sequence with no scored token contributes 0).

    Without padding the two coincide.  A :class:`~landscope.Problem` sets tbar from its data
    (``with_tokens_per_sequence``); used alone, ``tokens_per_sequence`` defaults to T.

    Examples:
        >>> import torch
        >>> loss = SequenceCrossEntropy(shift=False)
        >>> logits = torch.zeros(2, 3, 4)                  # uniform over 4 tokens
        >>> target = torch.tensor([[1, 2, -100], [0, 1, 2]])
        >>> loss(logits, target)                           # tbar defaults to T = 3
        tensor([0.9242, 1.3863])
    """

    def __init__(
        self,
        *,
        shift: bool = True,
        ignore_index: int = -100,
        average: Literal["tokens", "sequences"] = "tokens",
        tokens_per_sequence: float | None = None,
    ):
        if average not in ("tokens", "sequences"):
            raise ValueError(f"average must be 'tokens' or 'sequences', got {average!r}")
        if tokens_per_sequence is not None and not tokens_per_sequence > 0:
            raise ValueError(f"tokens_per_sequence must be positive, got {tokens_per_sequence}")
        self.shift = bool(shift)
        self.ignore_index = int(ignore_index)
        self.average = average
        self.tokens_per_sequence = tokens_per_sequence
        self.__name__ = "next_token_cross_entropy" if self.shift else "token_cross_entropy"

    def __repr__(self) -> str:
        return (
            f"SequenceCrossEntropy(shift={self.shift}, ignore_index={self.ignore_index}, "
            f"average={self.average!r}, tokens_per_sequence={self.tokens_per_sequence})"
        )

    def aligned(
        self, output: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (n, T', V) and targets (n, T') scored against each other (after the shift)."""
        if output.ndim != 3 or target.ndim != 2 or output.shape[:2] != target.shape:
            raise ValueError(
                f"{self.__name__} needs logits (n, T, V) and targets (n, T), got logits "
                f"{tuple(output.shape)} and targets {tuple(target.shape)}"
            )
        if self.shift:
            return output[:, :-1], target[:, 1:]
        return output, target

    def scored(self, target: torch.Tensor) -> torch.Tensor:
        """Number of scored (not ignored) targets per sequence, (n,), after the shift."""
        target = target[:, 1:] if self.shift else target
        return (target != self.ignore_index).sum(dim=1)

    def with_tokens_per_sequence(self, value: float) -> SequenceCrossEntropy:
        return SequenceCrossEntropy(
            shift=self.shift,
            ignore_index=self.ignore_index,
            average=self.average,
            tokens_per_sequence=value,
        )

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, tgt = self.aligned(output, target)
        n, t, v = logits.shape
        token = F.cross_entropy(
            logits.reshape(n * t, v),
            tgt.reshape(n * t),
            ignore_index=self.ignore_index,
            reduction="none",
        ).reshape(n, t)
        total = token.sum(dim=1)
        if self.average == "sequences":
            count = (tgt != self.ignore_index).sum(dim=1).clamp_min(1)
            return total / count.to(total.dtype)
        return total / (self.tokens_per_sequence or t)

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over sequences of each one's fraction of correctly predicted scored tokens (so
        that ``correct / n`` is the mean per-sequence token accuracy; the token accuracy when
        there is no padding)."""
        logits, tgt = self.aligned(output, target)
        valid = tgt != self.ignore_index
        hits = ((logits.argmax(dim=-1) == tgt) & valid).sum(dim=1)
        return (hits / valid.sum(dim=1).clamp_min(1)).sum()


LOSSES: dict[str, PerSampleLoss] = {
    "cross_entropy": cross_entropy,
    "mse": mse,
    "mae": mae,
    "bce_with_logits": bce_with_logits,
    "token_cross_entropy": SequenceCrossEntropy(shift=False),
    "next_token_cross_entropy": SequenceCrossEntropy(shift=True),
}
assert tuple(LOSSES) == LossName.__args__  # the one list of loss names (config, Problem, curvature)

#: Named losses whose targets are class labels (the rest are regression losses).
CLASSIFICATION_LOSSES = (
    "cross_entropy",
    "bce_with_logits",
    "token_cross_entropy",
    "next_token_cross_entropy",
)
#: Named sequence losses (one sample = one sequence; :class:`SequenceCrossEntropy`).
SEQUENCE_LOSSES = ("token_cross_entropy", "next_token_cross_entropy")


def resolve_loss(loss: str | Callable) -> tuple[str, PerSampleLoss]:
    """Turn a loss name or callable into ``(name, per_sample_loss)``.

    A user callable ``loss(output, target)`` may return per-sample losses of shape (n,) or a
    scalar; a scalar is taken to be the *mean* over the n samples of the batch (as
    ``nn.CrossEntropyLoss()`` and other ``reduction="mean"`` losses return), and is turned into
    per-sample form by spreading it evenly, so sums over chunks stay exact.
    """
    if isinstance(loss, SequenceCrossEntropy):
        return loss.__name__, loss
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
