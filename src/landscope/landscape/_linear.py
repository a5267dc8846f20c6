"""Deep linear models (Goodfellow, Vinyals & Saxe 2015, sec. 5, Fig. 9, 10, 14, 15).

The factored linear model ``y = w1 w2 x`` trained to output 1 at ``x = 1`` with the squared
error has the cost ``J(w1, w2) = (1 - w1 w2)^2``: a saddle at the origin (Hessian eigenvalues
+-2), a hyperbola ``w2 = 1 / w1`` of global minima, and a barrier on the straight line between
two of them -- every qualitative feature the paper's interpolation experiments show for deep
non-linear networks.  Here in closed form, and as a :class:`Problem` so the generic analyses
can be checked against the closed form.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from landscope.problem import Problem

__all__ = [
    "FactoredLinear",
    "deep_linear_network",
    "factored_gradient_descent",
    "factored_hessian",
    "factored_interpolation",
    "factored_loss",
    "factored_problem",
]


class FactoredLinear(nn.Module):
    """``y = w2 (w1 x)`` with scalar parameters ``w1``, ``w2`` (shape ()): a depth-2 linear
    network with one unit per layer (Goodfellow et al. sec. 5, Fig. 9, 14)."""

    def __init__(self, w1: float = 0.0, w2: float = 0.0, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(float(w1), dtype=dtype))
        self.w2 = nn.Parameter(torch.tensor(float(w2), dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2 * (self.w1 * x)


def factored_problem(
    w1: float = 0.0, w2: float = 0.0, dtype: torch.dtype = torch.float64
) -> Problem:
    """The factored model as a :class:`Problem` whose loss is exactly ``(1 - w1 w2)^2``:
    one sample ``x = 1``, target 1, squared error.  theta = (w1, w2)."""
    x = torch.ones(1, 1, dtype=dtype)
    return Problem(FactoredLinear(w1, w2, dtype), "mse", (x, x.clone()), task="regression")


def factored_loss(w1: np.ndarray | float, w2: np.ndarray | float) -> np.ndarray:
    """``J(w1, w2) = (1 - w1 w2)^2`` (Goodfellow et al. Fig. 14), elementwise.

    >>> float(factored_loss(0.0, 0.0)), float(factored_loss(2.0, 0.5))
    (1.0, 0.0)
    """
    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    return (1.0 - w1 * w2) ** 2


def factored_hessian(w1: float, w2: float) -> np.ndarray:
    """The Hessian of ``(1 - w1 w2)^2``: ``2 [[w2^2, 2 w1 w2 - 1], [2 w1 w2 - 1, w1^2]]``.  At
    the origin it is ``[[0, -2], [-2, 0]]`` with eigenvalues -2 and +2: a saddle.

    >>> np.linalg.eigvalsh(factored_hessian(0.0, 0.0)).tolist()
    [-2.0, 2.0]
    """
    c = 2.0 * w1 * w2 - 1.0
    return 2.0 * np.array([[w2 * w2, c], [c, w1 * w1]])


def factored_interpolation(
    theta_a: Sequence[float] | np.ndarray, theta_b: Sequence[float] | np.ndarray, alphas: np.ndarray
) -> np.ndarray:
    """The closed-form cost along ``(1 - alpha) theta_a + alpha theta_b`` for
    ``theta = (w1, w2)``: a quartic in alpha (Goodfellow et al. Fig. 9, 10).

    Between two solutions on different branches of the hyperbola (e.g. (1, 1) and (-1, -1))
    the line crosses the saddle region: the barrier of Fig. 10 left.
    """
    a, b = np.asarray(theta_a, dtype=np.float64), np.asarray(theta_b, dtype=np.float64)
    if a.shape != (2,) or b.shape != (2,):
        raise ValueError(
            f"theta_a and theta_b must be (w1, w2) pairs, got shapes {a.shape} and {b.shape}"
        )
    al = np.asarray(alphas, dtype=np.float64)
    w1 = (1 - al) * a[0] + al * b[0]
    w2 = (1 - al) * a[1] + al * b[1]
    return factored_loss(w1, w2)


def factored_gradient_descent(
    w0: Sequence[float], *, lr: float = 0.05, steps: int = 200
) -> np.ndarray:
    """Gradient descent on ``(1 - w1 w2)^2`` from ``w0``: the (steps + 1, 2) trajectory drawn on
    Fig. 14 (negative curvature near a small initialization, positive near the solution)."""
    if steps < 1 or lr <= 0:
        raise ValueError(f"steps and lr must be positive, got {steps} and {lr}")
    w = np.asarray(w0, dtype=np.float64).copy()
    if w.shape != (2,):
        raise ValueError(f"w0 must be a (w1, w2) pair, got shape {w.shape}")
    out = [w.copy()]
    for _ in range(steps):
        r = 1.0 - w[0] * w[1]
        w = w - lr * np.array([-2.0 * r * w[1], -2.0 * r * w[0]])
        out.append(w.copy())
    return np.stack(out)


def deep_linear_network(
    dims: Sequence[int],
    *,
    seed: int = 0,
    init: Literal["orthogonal", "normal"] = "orthogonal",
    gain: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """A deep linear network: ``len(dims) - 1`` bias-free ``nn.Linear`` layers
    ``dims[0] -> dims[1] -> ... -> dims[-1]`` with nothing in between (Goodfellow et al.
    sec. 5, Fig. 15: ten matrices, nine square of the input size, the last to 10 outputs).

    Args:
        dims: layer widths, at least two.
        seed: seed of the initialization (its own ``torch.Generator``).
        init: ``"orthogonal"`` (Saxe et al. 2013: the product stays well conditioned at any
            depth) or ``"normal"`` (i.i.d. N(0, gain^2 / fan_in)).
        gain: scale of the initial matrices (small gains start near the saddle at 0).
    """
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"dims must list at least two positive widths, got {dims}")
    if init not in ("orthogonal", "normal"):
        raise ValueError(f"init must be 'orthogonal' or 'normal', got {init!r}")
    g = torch.Generator().manual_seed(int(seed))
    layers = []
    for fan_in, fan_out in itertools.pairwise(dims):
        layer = nn.Linear(fan_in, fan_out, bias=False, dtype=dtype)
        with torch.no_grad():
            if init == "orthogonal":
                nn.init.orthogonal_(layer.weight, gain=gain, generator=g)
            else:
                layer.weight.copy_(
                    torch.randn(fan_out, fan_in, generator=g, dtype=dtype) * (gain / fan_in**0.5)
                )
        layers.append(layer)
    return nn.Sequential(*layers)
