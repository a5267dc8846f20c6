"""Generated token sequences: an offline stand-in for the Penn Treebank language-modelling task of
Goodfellow, Vinyals & Saxe (2015) (Fig. 8, 16), small enough for a CPU.

Sequences come from a random sparse Markov chain of order ``order`` over ``vocab`` tokens: each
context (the last ``order`` tokens) allows ``branching`` next tokens with Dirichlet(1) weights.
A sample is a window of ``length`` tokens and the label is the token that follows, so the task is
next-token classification and the model must remember the last ``order`` tokens; with
``targets="sequence"`` the label is the window shifted by one (the next token at every
position, language modelling for a transformer, loss ``token_cross_entropy``).  The best
achievable mean cross-entropy (the Bayes loss, in nats) is the average entropy of the true
next-token distribution over the samples' contexts, stored in ``meta["bayes_loss"]``.
"""

from __future__ import annotations

import numpy as np
import torch

from landscope.data._split import check_test_fraction, rng, split_indices
from landscope.data._types import SplitDataset, TensorData

__all__ = ["load_markov_sequences"]


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def load_markov_sequences(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    vocab: int = 10,
    order: int = 2,
    branching: int = 3,
    length: int = 12,
    num_sequences: int = 2000,
    targets: str = "next",
) -> SplitDataset:
    """Next-token classification on sequences of a random order-``order`` Markov chain.

    Shapes: ``x`` (N, length) int64 token ids in [0, vocab); ``y`` (N,) int64 next token, or
    with ``targets="sequence"`` (N, length): ``y[:, t]`` is the token after ``x[:, t]``.
    ``meta``: ``transitions`` shape (vocab**order, vocab) (row = context in base-``vocab``
    digits, oldest first), ``bayes_loss`` (nats; the loss of the true conditional
    distribution given the true context, averaged over the samples' targets; for
    ``"sequence"`` the first ``order - 1`` positions see only part of their context, so it is
    a lower bound there), ``uniform_loss`` = log(vocab).

    >>> ds = load_markov_sequences(num_sequences=50, length=6)
    >>> ds.train.x.dtype, ds.input_shape, ds.num_classes
    (torch.int64, (6,), 10)
    """
    check_test_fraction(test_fraction)
    vocab, order = _positive(vocab, "vocab"), _positive(order, "order")
    branching, length = _positive(branching, "branching"), _positive(length, "length")
    num_sequences = _positive(num_sequences, "num_sequences")
    if targets not in ("next", "sequence"):
        raise ValueError(f"targets must be 'next' or 'sequence', got {targets!r}")
    if vocab < 2 or branching > vocab:
        raise ValueError(
            f"need 2 <= vocab and branching <= vocab, got vocab={vocab}, branching={branching}"
        )
    if length < order:
        raise ValueError(f"length must be >= order, got length={length}, order={order}")
    if vocab**order > 1_000_000:
        raise ValueError(f"vocab**order = {vocab**order} contexts is too many (max 1,000,000)")
    g = rng(seed, "markov_sequences/chain")
    contexts = vocab**order
    P = np.zeros((contexts, vocab))
    for c in range(contexts):
        allowed = g.choice(vocab, size=branching, replace=False)
        P[c, allowed] = g.dirichlet(np.ones(branching))
    s = rng(seed, "markov_sequences/samples")
    total = length + 1
    burn = 2 * order
    seqs = np.empty((num_sequences, burn + total), dtype=np.int64)
    seqs[:, :order] = s.integers(0, vocab, size=(num_sequences, order))
    weights = vocab ** np.arange(order - 1, -1, -1)  # oldest token is the most significant digit
    cum = P.cumsum(axis=1)
    for t in range(order, burn + total):
        ctx = seqs[:, t - order : t] @ weights
        u = s.random(num_sequences)[:, None]
        seqs[:, t] = np.minimum((u > cum[ctx]).sum(axis=1), vocab - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -(np.where(P > 0, P * np.log(P), 0.0)).sum(axis=1)
    if targets == "sequence":
        # Context of each target seqs[:, burn + 1 + t]: the order tokens before it.
        ctx = np.stack(
            [seqs[:, burn + 1 + t - order : burn + 1 + t] @ weights for t in range(length)], 1
        )
        seqs = seqs[:, burn:]
        x, y = seqs[:, :length], seqs[:, 1 : length + 1]
    else:
        seqs = seqs[:, burn:]
        x, y = seqs[:, :length], seqs[:, length]
        ctx = x[:, length - order :] @ weights
    task = (
        f"next token at every position of {length}"
        if targets == "sequence"
        else f"next token after {length}"
    )
    train, test = split_indices(num_sequences, test_fraction, seed)
    to = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.int64)  # noqa: E731
    return SplitDataset(
        name="markov_sequences",
        train=TensorData(to(x[train]), to(y[train])),
        test=TensorData(to(x[test]), to(y[test])),
        task="classification",
        num_classes=vocab,
        description=(
            f"{task} tokens of a random order-{order} Markov chain over {vocab} "
            f"tokens ({branching} successors per context); offline stand-in for Penn Treebank"
        ),
        meta={
            "source": "synthetic",
            "seed": seed,
            "vocab": vocab,
            "order": order,
            "branching": branching,
            "length": length,
            "targets": targets,
            "transitions": P.tolist(),
            "bayes_loss": float(ent[ctx].mean()),
            "uniform_loss": float(np.log(vocab)),
        },
    )
