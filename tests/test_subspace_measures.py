"""Gur-Ari measurements against dense float64 computations on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscope import Problem
from landscope.subspace import (
    eigenvector_weights,
    gradient_hessian_overlap,
    random_vertex_overlap_estimate,
    subspace_overlap,
    top_subspace_fraction,
)

# All quantities below are ratios of O(1) float64 numbers computed two independent ways
# (projection coefficients vs explicit projector matrices); they agree to ~1e-14, so 1e-8 (the
# issue's tolerance) is comfortable yet catches any wrong normalization.
TOL = 1e-8


@pytest.fixture(scope="module")
def dense_case():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Softplus(), nn.Linear(6, 4)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (40,), generator=g)
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=16)
    theta = problem.theta_from_model()
    H = torch.func.hessian(problem.loss_function(x, y))(theta)
    grad = problem.gradient(theta)
    evals, evecs = np.linalg.eigh(H.numpy())
    order = np.argsort(evals)[::-1]
    return grad, H, torch.from_numpy(evals[order].copy()), torch.from_numpy(evecs[:, order].copy())


@pytest.mark.parametrize("k", [1, 4, 10])
def test_top_subspace_fraction_matches_projector(dense_case, k):
    g, _, _, V = dense_case
    P = V[:, :k] @ V[:, :k].T
    expected = (P @ g).norm() ** 2 / g.norm() ** 2
    assert abs(float(top_subspace_fraction(g, V[:, :k])) - float(expected)) < TOL


def test_eigenvector_weights_sum_to_one_and_match_fraction(dense_case):
    g, _, _, V = dense_case
    c2 = eigenvector_weights(g, V)
    assert abs(float(c2.sum()) - 1.0) < TOL
    assert abs(float(c2[:5].sum()) - float(top_subspace_fraction(g, V[:, :5]))) < TOL
    for i in (0, 3, 7):
        assert abs(float(c2[i]) - float((V[:, i] @ g) ** 2 / (g @ g))) < TOL


def test_gradient_hessian_overlap_dense(dense_case):
    g, H, _, V = dense_case
    Hg = H @ g
    expected = float(g @ Hg) / (float(g.norm()) * float(Hg.norm()))
    assert abs(float(gradient_hessian_overlap(g, Hg)) - expected) < TOL
    # eigenvector of H: overlap is sign(lambda)
    v = V[:, 0]
    assert abs(float(gradient_hessian_overlap(v, H @ v)) - 1.0) < TOL


def test_subspace_overlap_properties(dense_case):
    _, _, _, V = dense_case
    A, B = V[:, :5], V[:, 5:10]
    assert abs(float(subspace_overlap(A, A)) - 1.0) < TOL
    assert abs(float(subspace_overlap(A, B))) < TOL
    # rotated basis of the same subspace still gives 1
    Q, _ = torch.linalg.qr(
        torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    assert abs(float(subspace_overlap(A, A @ Q)) - 1.0) < TOL
    C = V[:, 2:7]
    assert abs(float(subspace_overlap(A, C)) - float(subspace_overlap(C, A))) < TOL
    P1, P2 = A @ A.T, C @ C.T
    expected = torch.trace(P1 @ P2) / torch.sqrt(torch.trace(P1) * torch.trace(P2))
    assert abs(float(subspace_overlap(A, C)) - float(expected)) < TOL
    assert abs(float(subspace_overlap(A, C)) - 3 / 5) < TOL


def test_random_vertex_estimate_eq4():
    lam = torch.arange(1, 2001, dtype=torch.float64)
    assert abs(float(random_vertex_overlap_estimate(lam)) - (3 / 4) ** 0.5) < 1e-3
    # and it equals the overlap of w = sum_i +-v_i in an explicit diagonal H
    k = 6
    lam = torch.tensor([5.0, 3.0, 2.5, 1.0, 0.7, 0.2], dtype=torch.float64)
    H = torch.diag(torch.cat([lam, torch.zeros(4, dtype=torch.float64)]))
    w = torch.cat(
        [
            torch.tensor([1.0, -1, 1, 1, -1, -1], dtype=torch.float64),
            torch.zeros(4, dtype=torch.float64),
        ]
    )
    assert (
        abs(
            float(gradient_hessian_overlap(w, H @ w))
            - float(random_vertex_overlap_estimate(lam[:k]))
        )
        < TOL
    )


def test_shape_errors():
    with pytest.raises(ValueError, match="rows"):
        top_subspace_fraction(torch.ones(3), torch.eye(4))
    with pytest.raises(ValueError, match="same shape"):
        gradient_hessian_overlap(torch.ones(3), torch.ones(4))
