"""Optimizers on the flat parameter vector, learning-rate schedules and minibatch sampling.

The optimizers are written out on ``theta`` (rather than wrapping ``torch.optim``) so that the
update rule is exactly the papers' and its state is a few flat tensors that checkpoint and
resume bitwise.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "SGD",
    "Adam",
    "FlatOptimizer",
    "MinibatchSchedule",
    "batch_indices",
    "learning_rate",
    "steps_per_epoch",
]


class FlatOptimizer:
    """An update rule on a flat ``theta``; :meth:`update` returns the step to add to theta."""

    def update(self, theta: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError


class SGD(FlatOptimizer):
    """SGD with momentum in Haink's convention (eq. 2.5)::

        v(t+1) = -lr * g(t) + momentum * v(t)
        theta(t+1) = theta(t) + v(t+1)

    With ``decoupled_weight_decay`` lambda, theta additionally shrinks by ``lr * lambda * theta``
    (SGDW).  L2 weight decay in the loss is applied to ``g`` by the caller.
    """

    def __init__(
        self,
        momentum: float = 0.0,
        decoupled_weight_decay: float = 0.0,
        decay_mask: torch.Tensor | None = None,
    ):
        self.momentum = float(momentum)
        self.decoupled_weight_decay = float(decoupled_weight_decay)
        self.decay_mask = decay_mask
        self.velocity: torch.Tensor | None = None

    def update(self, theta: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
        if self.momentum != 0.0:
            v = -lr * grad if self.velocity is None else -lr * grad + self.momentum * self.velocity
            self.velocity = v
        else:
            v = -lr * grad
        if self.decoupled_weight_decay:
            shrink = lr * self.decoupled_weight_decay * theta
            if self.decay_mask is not None:
                shrink = shrink * self.decay_mask
            v = v - shrink
        return v

    def state_dict(self) -> dict:
        return {"velocity": self.velocity}

    def load_state_dict(self, state: dict) -> None:
        self.velocity = state.get("velocity")


class Adam(FlatOptimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as ``torch.optim.Adam``::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        step = -lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``decoupled_weight_decay`` gives AdamW's ``- lr * lambda * theta``.
    """

    def __init__(
        self,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        decoupled_weight_decay: float = 0.0,
        decay_mask: torch.Tensor | None = None,
    ):
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.decoupled_weight_decay = float(decoupled_weight_decay)
        self.decay_mask = decay_mask
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.t = 0

    def update(self, theta: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
        if self.m is None:
            self.m = torch.zeros_like(grad)
            self.v = torch.zeros_like(grad)
        assert self.v is not None
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        step = -lr * m_hat / (v_hat.sqrt() + self.eps)
        if self.decoupled_weight_decay:
            shrink = lr * self.decoupled_weight_decay * theta
            if self.decay_mask is not None:
                shrink = shrink * self.decay_mask
            step = step - shrink
        return step

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.m, self.v, self.t = state.get("m"), state.get("v"), int(state.get("t", 0))


def learning_rate(schedule, lr0: float, epoch: int) -> float:
    """Learning rate at (integer) ``epoch`` for a :class:`~landscope.config.ScheduleConfig`."""
    if schedule.kind == "constant":
        return lr0
    if schedule.kind == "exponential":
        return lr0 * schedule.decay**epoch
    if schedule.kind == "piecewise":
        for boundary, value in zip(schedule.boundaries, schedule.values, strict=False):
            if epoch < boundary:
                return value
        return schedule.values[-1]
    raise ValueError(f"unknown schedule kind {schedule.kind!r}")


def steps_per_epoch(num_samples: int, batch_size: int, drop_last: bool) -> int:
    if batch_size > num_samples:
        raise ValueError(
            f"training.batch_size={batch_size} exceeds the {num_samples} training samples"
        )
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def _generator(seed: int, stream: int, counter: int) -> torch.Generator:
    # A counter-based stream: each epoch (or step) gets its own generator, so the minibatch of
    # any step can be recomputed from (seed, step) alone -- what makes resume exact and lets
    # analyses recover the minibatch of step t without stored indices.
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + stream * 7919 + counter) % (2**63 - 1))
    return g


class MinibatchSchedule:
    """The minibatch of every SGD step, a function of ``(seed, step)`` alone.

    ``without_replacement``: each epoch is a fresh random permutation of the N samples, cut into
    consecutive batches (the last one ragged unless ``drop_last``; Fjellstrom uses batch sizes
    that divide N); ``with_replacement``: each step draws ``batch_size`` indices uniformly with
    replacement.  The current epoch's permutation is cached, so stepping through an epoch draws
    it once; any step can still be asked for in any order (resume, analyses that recover the
    minibatch of step t without stored indices).

    >>> s = MinibatchSchedule(num_samples=10, batch_size=4, seed=0, drop_last=False)
    >>> s.steps_per_epoch, [len(s.indices(t)) for t in range(3)]
    (3, [4, 4, 2])
    >>> sorted(torch.cat([s.indices(t) for t in range(3)]).tolist()) == list(range(10))
    True
    """

    def __init__(
        self,
        *,
        num_samples: int,
        batch_size: int,
        seed: int,
        sampling: str = "without_replacement",
        drop_last: bool = True,
    ):
        if sampling not in ("without_replacement", "with_replacement"):
            raise ValueError(f"unknown sampling {sampling!r}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.sampling = sampling
        # with replacement there are no epochs to cut: every "epoch" is N // batch_size steps
        self.steps_per_epoch = steps_per_epoch(
            num_samples, batch_size, drop_last if sampling == "without_replacement" else True
        )
        self._perm: tuple[int, torch.Tensor] | None = None

    def indices(self, step: int) -> torch.Tensor:
        """Indices (int64, shape (batch,)) of the minibatch used at step ``step``."""
        if self.sampling == "with_replacement":
            return torch.randint(
                0, self.num_samples, (self.batch_size,), generator=_generator(self.seed, 2, step)
            )
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (
                epoch,
                epoch_permutation(epoch, num_samples=self.num_samples, seed=self.seed),
            )
        b = self.batch_size
        return self._perm[1][position * b : (position + 1) * b]


def batch_indices(
    step: int,
    *,
    num_samples: int,
    batch_size: int,
    seed: int,
    sampling: str,
    drop_last: bool = True,
) -> torch.Tensor:
    """Indices (int64, shape (batch,)) of the minibatch used at SGD step ``step`` (see
    :class:`MinibatchSchedule`, which the training loop uses)."""
    return MinibatchSchedule(
        num_samples=num_samples,
        batch_size=batch_size,
        seed=seed,
        sampling=sampling,
        drop_last=drop_last,
    ).indices(step)


def epoch_permutation(epoch: int, *, num_samples: int, seed: int) -> torch.Tensor:
    """The random order of the N samples in ``epoch`` (sampling without replacement)."""
    return torch.randperm(num_samples, generator=_generator(seed, 1, epoch))
