"""The shared registry of tiny seeded test problems (model x loss x data) that tests fan out over.

Every case is float64, has p <= ~200 parameters and N = 23 samples split into chunks of 10 (so
the last chunk is ragged and chunk weighting is exercised), and is fully determined by its name
(fixed seeds), so a failure reproduces exactly.

Usage::

    from _problems import CASE_NAMES, make, reference_loss, assert_close_report
    # (or ``from tests._problems import ...``: both work under ``python -m pytest``)

    @pytest.mark.parametrize("name", CASE_NAMES)
    def test_something(name):
        problem, theta = make(name)
        ref = torch.func.hessian(reference_loss(problem))(theta)   # independent of chunking
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from landscope import Problem

__all__ = [
    "CASES",
    "CASE_NAMES",
    "assert_close_report",
    "cases",
    "make",
    "reference_loss",
]

NUM_SAMPLES = 23
CHUNK_SIZE = 10


def _seeded(model: nn.Module, seed: int, scale: float = 0.8) -> nn.Module:
    """Parameters drawn N(0, scale^2 / fan_in) from a private generator (never the global one)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p.shape[1:].numel() if p.ndim > 1 else p.shape[0]
            p.copy_(
                torch.randn(p.shape, generator=g, dtype=torch.float64)
                * scale
                / max(fan_in, 1) ** 0.5
                * 2
            )
    return model


def _inputs(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + seed)
    return torch.randn((NUM_SAMPLES, *shape), generator=g, dtype=torch.float64)


def _classes(num_classes: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(2000 + seed)
    return torch.randint(0, num_classes, (NUM_SAMPLES,), generator=g)


def _targets(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3000 + seed)
    return torch.randn(NUM_SAMPLES, dim, generator=g, dtype=torch.float64)


def _mlp(widths: list[int], act: type[nn.Module], bias: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers).double()


def _conv() -> nn.Sequential:
    # 1x6x6 images -> 3 channels 4x4 -> softplus -> 3 classes; p = 30 + 147 = 177.
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Softplus(), nn.Flatten(), nn.Linear(48, 3)).double()


# name -> (model builder, loss, inputs, targets); seeds are the case's index.
CASES: dict[str, Callable[[], tuple[nn.Module, str, torch.Tensor, torch.Tensor]]] = {
    # p = 40 + 27 = 67
    "mlp_relu_ce": lambda: (
        _seeded(_mlp([4, 8, 3], nn.ReLU, True), 0),
        "cross_entropy",
        _inputs((4,), 0),
        _classes(3, 0),
    ),
    # p = 32 + 48 + 18 = 98, no biases
    "mlp_softplus_ce_nobias": lambda: (
        _seeded(_mlp([4, 8, 6, 3], nn.Softplus, False), 1),
        "cross_entropy",
        _inputs((4,), 1),
        _classes(3, 1),
    ),
    # p = 40 + 18 = 58
    "mlp_softplus_mse": lambda: (
        _seeded(_mlp([4, 8, 2], nn.Softplus, True), 2),
        "mse",
        _inputs((4,), 2),
        _targets(2, 2),
    ),
    # p = 32 + 48 + 12 = 92, no biases
    "mlp_relu_mse_nobias": lambda: (
        _seeded(_mlp([4, 8, 6, 2], nn.ReLU, False), 3),
        "mse",
        _inputs((4,), 3),
        _targets(2, 3),
    ),
    # multinomial logistic regression, p = 20 + 4 = 24
    "softmax_regression": lambda: (
        _seeded(_mlp([5, 4], nn.Identity, True), 4),
        "cross_entropy",
        _inputs((5,), 4),
        _classes(4, 4),
    ),
    # p = 30 + 147 = 177
    "conv_softplus_ce": lambda: (
        _seeded(_conv(), 5),
        "cross_entropy",
        _inputs((1, 6, 6), 5),
        _classes(3, 5),
    ),
}
CASE_NAMES: list[str] = list(CASES)


def make(
    name: str, *, chunk_size: int | None = CHUNK_SIZE, **problem_kwargs
) -> tuple[Problem, torch.Tensor]:
    """The registry case ``name`` as ``(problem, theta)`` (theta = the model's seeded parameters)."""
    try:
        build = CASES[name]
    except KeyError:
        raise KeyError(f"no test problem {name!r}; cases are {CASE_NAMES}") from None
    model, loss, x, y = build()
    problem = Problem(model, loss, (x, y), chunk_size=chunk_size, **problem_kwargs)
    return problem, problem.theta_from_model()


def cases(names: list[str] | None = None, **kwargs) -> Iterator[tuple[str, Problem, torch.Tensor]]:
    """``(name, problem, theta)`` for every case (or the given names)."""
    for name in names or CASE_NAMES:
        yield (name, *make(name, **kwargs))


_REFERENCE_LOSSES = {
    "cross_entropy": lambda out, y: F.cross_entropy(out, y),
    "mse": lambda out, y: F.mse_loss(out, y),
}


def reference_loss(
    problem: Problem, indices: torch.Tensor | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``theta -> mean loss`` over the selected samples in *one* batch, with the loss from
    ``torch.nn.functional`` (mean reduction), independent of the Problem's chunking and
    per-sample losses: the reference that ``torch.func.hessian`` differentiates."""
    data = problem.data
    x, y = (data.x, data.y) if indices is None else (data.x[indices], data.y[indices])
    loss = _REFERENCE_LOSSES[problem.loss_name]
    layout, model = problem.layout, problem.model

    def f(theta: torch.Tensor) -> torch.Tensor:
        return loss(functional_call(model, layout.unflatten(theta), (x,)), y)

    return f


def assert_close_report(
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    rtol: float,
    atol: float | None = None,
    label: str = "",
    max_show: int = 8,
) -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` entrywise, with ``atol``
    defaulting to ``rtol * max|expected|`` (i.e. relative to the matrix's scale, so entries that
    should be ~0 are judged against the matrix, not against themselves).  On failure, the message
    lists the worst disagreeing entries (index, actual, expected, difference)."""
    assert actual.shape == expected.shape, (
        f"{label}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    scale = float(e.abs().max()) if e.numel() else 0.0
    tol_abs = rtol * scale if atol is None else atol
    diff = (a - e).abs()
    bad = diff > tol_abs + rtol * e.abs()
    if bool(bad.any()):
        order = torch.argsort(diff.reshape(-1), descending=True)[:max_show]
        lines = [
            f"{label}: {int(bad.sum())} of {bad.numel()} entries disagree (rtol={rtol:g}, "
            f"atol={tol_abs:.3g}, max |expected|={scale:.3g}, max |diff|={float(diff.max()):.3g}):"
        ]
        for flat in order.tolist():
            idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape))
            lines.append(
                f"  {idx}: actual {float(a[idx]):+.12e}  expected {float(e[idx]):+.12e}  "
                f"diff {float(diff[idx]):.3e}"
            )
        raise AssertionError("\n".join(lines))
