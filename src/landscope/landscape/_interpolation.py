"""Linear interpolation experiments (Goodfellow, Vinyals & Saxe 2015, sec. 2-3, Fig. 1-5, 9, 10).

The loss is evaluated at ``theta(alpha) = (1 - alpha) theta_0 + alpha theta_1`` for alphas on
any range (the paper goes beyond [0, 1]).  Every point is computed from the two endpoints with
that formula -- never by walking in place -- so that ``alpha = 0`` gives ``theta_0`` and
``alpha = 1`` gives ``theta_1`` bitwise, and no rounding accumulates along the line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch

from landscope.landscape._evaluate import (
    Evaluation,
    RowBuffer,
    affine_rows,
    check_grid,
    check_vector,
    evaluate_cells,
    selected_indices,
)
from landscope.landscape._results import InterpolationResult
from landscope.problem import Problem

__all__ = [
    "HIGH_RESOLUTION_RANGES",
    "barrier_height",
    "high_resolution_interpolations",
    "interpolate",
    "interpolation_points",
    "local_minima",
    "random_point",
]

HIGH_RESOLUTION_RANGES: dict[str, tuple[float, float]] = {
    "full": (0.0, 1.0),
    "start": (0.0, 0.01),
    "end": (0.99, 1.0),
}
"""The tilings of Goodfellow et al. Fig. 4: [0, 1] (a, b), [0, .01] (c), [.99, 1] (d)."""


def interpolation_points(
    theta_a: torch.Tensor,
    theta_b: torch.Tensor,
    alphas: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(1 - alpha) theta_a + alpha theta_b`` for each alpha: shape (len(alphas), p).

    Computed row by row from the endpoints (elementwise, so the same whatever the batch), with
    ``alpha = 0`` giving ``theta_a`` and ``alpha = 1`` giving ``theta_b`` exactly.

    >>> a, b = torch.tensor([0.1, 0.2]), torch.tensor([0.3, -0.7])
    >>> pts = interpolation_points(a, b, torch.tensor([0.0, 1.0]))
    >>> bool(torch.equal(pts[0], a)), bool(torch.equal(pts[1], b))
    (True, True)
    """
    al = alphas.reshape(-1)
    return affine_rows(
        [(1 - al, theta_a), (al, theta_b)], dtype=theta_a.dtype, device=theta_a.device, out=out
    )


def interpolate(
    problem: Problem,
    theta_a: torch.Tensor,
    theta_b: torch.Tensor,
    alphas: Iterable[float] | np.ndarray | torch.Tensor | None = None,
    *,
    test_problem: Problem | None = None,
    evaluation: Evaluation | None = None,
    label: str = "",
) -> InterpolationResult:
    """Train (and test) loss and accuracy along the line from ``theta_a`` to ``theta_b``.

    Goodfellow, Vinyals & Saxe (2015), sec. 2: ``J((1 - alpha) theta_0 + alpha theta_1)``.
    Use ``theta_a`` = initialization and ``theta_b`` = solution for the main experiment
    (Fig. 1-3), two solutions of different seeds (Fig. 5 left), or :func:`random_point` and a
    solution (Fig. 5 right).

    Args:
        problem: the training loss (model, loss, data).
        theta_a, theta_b: the endpoints, shape (p,).
        alphas: the line coordinates (any range; default: 41 points on [-0.5, 1.5]).
        test_problem: also evaluate this Problem (same model, test data).
        evaluation: on which samples and how the points are evaluated (subset, BatchNorm,
            batching, progress bar): an :class:`Evaluation`, default ``Evaluation()``.
        label: a name stored in ``meta`` (used as the legend by the plots).

    Returns:
        An :class:`InterpolationResult`; ``values["train_loss"]`` etc. have shape (len(alphas),).
        ``alpha = 0`` and ``alpha = 1`` are evaluated one by one, so their losses equal
        :meth:`Problem.loss` at ``theta_a`` and ``theta_b`` bitwise.

    >>> import torch
    >>> from landscope import Problem
    >>> model = torch.nn.Linear(1, 1, bias=False).double()
    >>> x = torch.ones(1, 1, dtype=torch.float64)
    >>> problem = Problem(model, "mse", (x, torch.zeros(1, 1, dtype=torch.float64)))
    >>> a, b = torch.tensor([0.0], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    >>> interpolate(problem, a, b, [0.0, 0.5, 1.0])["train_loss"].tolist()  # (2 alpha)^2
    [0.0, 1.0, 4.0]
    """
    evaluation = Evaluation() if evaluation is None else evaluation
    theta_a = check_vector("theta_a", theta_a, problem.num_params).to(problem.device, problem.dtype)
    theta_b = check_vector("theta_b", theta_b, problem.num_params).to(problem.device, problem.dtype)
    grid = check_grid("alphas", np.linspace(-0.5, 1.5, 41) if alphas is None else alphas)
    evaluators = evaluation.evaluators(problem, test_problem)
    grid_t = torch.as_tensor(grid, dtype=torch.float64)
    buffer = RowBuffer()

    def points(cells: np.ndarray) -> torch.Tensor:
        out = buffer.get(len(cells), problem.num_params, problem.dtype, problem.device)
        return interpolation_points(theta_a, theta_b, grid_t[torch.as_tensor(cells)], out=out)

    start = time.perf_counter()
    values = evaluate_cells(
        evaluators,
        points,
        (grid.size,),
        progress=evaluation.progress,
        description="interpolate",
        exact_cells=np.flatnonzero((grid == 0.0) | (grid == 1.0)),
    )
    seconds = time.perf_counter() - start
    meta = {
        "label": label,
        "distance": float((theta_b - theta_a).double().norm()),
        "norm_a": float(theta_a.double().norm()),
        "norm_b": float(theta_b.double().norm()),
        "indices": selected_indices(evaluators),
        "seed": evaluation.seed,
        "bn": evaluation.bn,
        "seconds": seconds,
        "num_points": int(grid.size),
    }
    return InterpolationResult(grid, values, meta)


def high_resolution_interpolations(
    problem: Problem,
    theta_a: torch.Tensor,
    theta_b: torch.Tensor,
    *,
    num: int = 200,
    ranges: dict[str, tuple[float, float]] | None = None,
    test_problem: Problem | None = None,
    evaluation: Evaluation | None = None,
) -> dict[str, InterpolationResult]:
    """Goodfellow et al. Fig. 4: the line tiled with ``num`` alphas on each range of
    :data:`HIGH_RESOLUTION_RANGES` ([0, 1], [0, 0.01], [0.99, 1]) or of ``ranges``; one
    :func:`interpolate` per range (with ``test_problem`` and ``evaluation``), labelled by the
    range's name."""
    if num < 2:
        raise ValueError(f"num must be at least 2, got {num}")
    ranges = HIGH_RESOLUTION_RANGES if ranges is None else ranges
    out = {}
    for name, (lo, hi) in ranges.items():
        if not hi > lo:
            raise ValueError(f"range {name!r} must have stop > start, got ({lo}, {hi})")
        out[name] = interpolate(
            problem,
            theta_a,
            theta_b,
            np.linspace(lo, hi, num),
            test_problem=test_problem,
            evaluation=evaluation,
            label=name,
        )
    return out


def random_point(
    like: torch.Tensor,
    *,
    seed: int = 0,
    norm: float | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """A random parameter vector with i.i.d. Gaussian entries, rescaled to a given norm.

    For the "random point -> solution" experiment (Goodfellow et al. Fig. 5 right, Fig. 10
    right: "a random point with large norm").  Its norm is ``norm`` if given, else
    ``scale * ||like||``.  Drawn on the CPU from ``torch.Generator(seed)`` (the same on any
    device), returned with ``like``'s dtype and device.

    >>> v = random_point(torch.ones(4), seed=0, norm=3.0)
    >>> round(float(v.norm()), 6)
    3.0
    """
    like = like.detach()
    target = float(norm) if norm is not None else scale * float(like.double().norm())
    if target < 0:
        raise ValueError(f"the norm of the random point must be non-negative, got {target}")
    g = torch.Generator().manual_seed(int(seed))
    v = torch.randn(like.shape, generator=g, dtype=torch.float64)
    v = v * (target / float(v.norm()))
    return v.to(device=like.device, dtype=like.dtype)


def barrier_height(result: InterpolationResult, metric: str = "train_loss") -> float:
    """The largest excess of the loss over the straight line between the endpoint values,
    ``max_{alpha in [0, 1]} J(alpha) - ((1 - alpha) J(0) + alpha J(1))`` (>= 0 up to the grid;
    0 for a convex curve).  Needs alpha = 0 and 1 on the grid.  The barrier between two
    solutions (Goodfellow et al. Fig. 5 left, Fig. 10 left) is this number."""
    alphas, values = result.alphas, result[metric]
    ends = [np.flatnonzero(np.isclose(alphas, a, rtol=0.0, atol=1e-9)) for a in (0.0, 1.0)]
    if any(e.size == 0 for e in ends):
        raise ValueError("barrier_height needs alpha = 0 and alpha = 1 on the grid")
    j0, j1 = values[ends[0][0]], values[ends[1][0]]
    inside = (alphas >= 0) & (alphas <= 1)
    a = alphas[inside]
    return float(np.max(values[inside] - ((1 - a) * j0 + a * j1)))


def local_minima(values: np.ndarray, *, rtol: float = 0.0) -> np.ndarray:
    """Indices of strict local minima of a 1-D curve (interior points lower than both
    neighbours by more than ``rtol * |value|``; endpoints lower than their one neighbour).
    Used to check "no local minima other than the solution" along a line (Fig. 5, 10)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D array of at least 2 entries, got shape {v.shape}")
    tol = rtol * np.abs(v)
    left = np.concatenate([[np.inf], v[:-1]])
    right = np.concatenate([v[1:], [np.inf]])
    return np.flatnonzero((v < left - tol) & (v < right - tol))
