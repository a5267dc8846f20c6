"""The factored linear model in closed form (Goodfellow, Vinyals & Saxe 2015, sec. 5, Fig. 9, 10,
14): the independent references the generic analyses of the model are checked against.

The factored linear model ``y = w1 w2 x`` (the model zoo's ``factored_scalar``,
:func:`landscope.models.factored_scalar`) trained to output 1 at ``x = 1`` with the squared error
has the cost ``J(w1, w2) = (1 - w1 w2)^2``: a saddle at the origin (Hessian eigenvalues +-2), the
hyperbola ``w1 w2 = 1`` of global minima in two connected branches (``w1 > 0`` and ``w1 < 0``), and
a barrier on the straight line between two of its points.  :func:`factored_problem` is that model
as a :class:`Problem` (so the generic analyses run on it); the other functions are its loss,
Hessian, interpolation curve and gradient descent in closed form.  The deep linear network of
Fig. 15 is the zoo's ``deep_linear`` (:func:`landscope.models.deep_linear`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from landscope.problem import Problem

__all__ = [
    "factored_gradient_descent",
    "factored_hessian",
    "factored_interpolation",
    "factored_loss",
    "factored_problem",
]


def factored_problem(
    w1: float = 0.0, w2: float = 0.0, dtype: torch.dtype = torch.float64
) -> Problem:
    """The factored model (the zoo's ``factored_scalar``: ``layers.0.weight`` = w1,
    ``layers.1.weight`` = w2) as a :class:`Problem` whose loss is exactly ``(1 - w1 w2)^2``:
    one sample ``x = 1``, target 1, squared error.  theta = (w1, w2), shape (2,).

    >>> problem = factored_problem()
    >>> float(problem.loss(torch.tensor([2.0, 0.5], dtype=torch.float64)))
    0.0
    """
    from landscope.models import factored_scalar

    model = factored_scalar((1,), 1).to(dtype)
    with torch.no_grad():
        model.layers[0].weight.fill_(float(w1))
        model.layers[1].weight.fill_(float(w2))
    x = torch.ones(1, 1, dtype=dtype)
    return Problem(model, "mse", (x, x.clone()), task="regression")


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

    Between two solutions on the same branch of the hyperbola, e.g. (2, 0.5) and (0.5, 2), the
    line leaves the connected manifold of solutions: a barrier ``J = (9/16)^2 = 0.316`` at
    ``alpha = 1/2`` (Fig. 10 left).  Between the two branches, e.g. (1, 1) and (-1, -1), it
    crosses the saddle region instead (``J = 1`` at ``alpha = 1/2``).

    >>> factored_interpolation([2.0, 0.5], [0.5, 2.0], [0.0, 0.5, 1.0]).tolist()
    [0.0, 0.31640625, 0.0]
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
    """Gradient descent on ``(1 - w1 w2)^2`` from ``w0`` with the gradient in closed form,
    ``-2 (1 - w1 w2) (w2, w1)``: the (steps + 1, 2) trajectory of Fig. 14 (negative curvature
    near a small initialization, positive near the solution); the reference for gradient
    descent on :func:`factored_problem`."""
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
