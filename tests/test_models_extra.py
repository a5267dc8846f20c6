"""Tests for the maxout MLP (Goodfellow et al. 2013 eq. 1) used in Goodfellow et al. 2015."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope import Problem
from landscope.landscape import interpolate
from landscope.models import MODELS, MaxoutMLP, build_model


def test_maxout_parameter_count_by_formula() -> None:
    model = build_model("maxout_mlp", input_shape=(1, 4, 4), output_dim=3, widths=[5, 4], pieces=3)
    # (d_in + 1) * width * pieces per hidden layer, then (d_last + 1) * out.
    expected = (16 + 1) * 5 * 3 + (5 + 1) * 4 * 3 + (4 + 1) * 3
    assert sum(p.numel() for p in model.parameters()) == expected
    assert "maxout_mlp" in MODELS


def test_maxout_forward_is_max_over_pieces() -> None:
    torch.manual_seed(0)
    model = MaxoutMLP(6, [4], 2, pieces=3).double()
    x = torch.randn(7, 6, dtype=torch.float64)
    pre = model.layers[0](x).view(7, 4, 3)
    # Hand-written reference: explicit loop over units and pieces.
    h = torch.stack(
        [torch.stack([pre[:, i, j] for j in range(3)]).max(0).values for i in range(4)], 1
    )
    out = model(x)
    assert out.shape == (7, 2)
    torch.testing.assert_close(out, model.layers[1](h), rtol=0, atol=1e-12)


def test_maxout_rejects_bad_pieces() -> None:
    with pytest.raises(ValueError, match="pieces"):
        MaxoutMLP(3, [2], 2, pieces=0)


def _problem() -> tuple[Problem, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (20,), generator=g)
    model = MaxoutMLP(5, [4], 3, pieces=2).double()
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=7, dtype=torch.float64)
    return problem, problem.theta_from_model()


def test_maxout_gradient_matches_autograd_on_module() -> None:
    problem, theta = _problem()
    _, grad = problem.loss_and_gradient(theta, None)
    model = problem.model
    model.zero_grad()
    x, y = problem.data.x, problem.data.y
    torch.nn.functional.cross_entropy(model(x), y).backward()
    ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    # float64, same arithmetic up to chunk summation order: 1e-10 is ample.
    torch.testing.assert_close(grad, ref, rtol=1e-10, atol=1e-10)


def test_maxout_interpolation_endpoints_exact() -> None:
    problem, theta_a = _problem()
    theta_b = theta_a + 0.3 * torch.randn(
        theta_a.shape, generator=torch.Generator().manual_seed(2), dtype=theta_a.dtype
    )
    result = interpolate(problem, theta_a, theta_b, np.array([0.0, 0.5, 1.0]))
    for alpha_index, theta in ((0, theta_a), (2, theta_b)):
        expected = problem.loss(theta, None)
        assert abs(result.values["train_loss"][alpha_index] - float(expected)) < 1e-10
