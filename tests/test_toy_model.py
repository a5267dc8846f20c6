"""The toy model of Gur-Ari, Roberts & Dyer (2018) sec. 3 / App. E: closed form vs autograd and
gradient descent on the actual cross-entropy problem, and the paper's empirical statements."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope import Problem
from landscope.curvature import dense_hessian, hessian_eigh
from landscope.data import mixture_means
from landscope.models import softmax_regression
from landscope.spectra import count_outliers
from landscope.subspace._toy import (
    simulate_toy,
    toy_hessian,
    two_class_flow,
)

D = 20  # input dimension of the two-class closed-form checks: p = 2 d = 40


def two_class_problem(seed: int = 0) -> tuple[Problem, torch.Tensor]:
    """sigma = 0, orthonormal means, one sample per class (balanced), no bias, float64.

    The data are the float64 means themselves (``load_gaussian_mixture`` stores float32 inputs,
    whose rounding, ~1e-8, would exceed the 1e-10 tolerances below)."""
    means = torch.as_tensor(mixture_means(2, D, "orthonormal", seed=seed))
    data = (means, torch.tensor([0, 1]))
    problem = Problem(softmax_regression((D,), 2), "cross_entropy", data, dtype=torch.float64)
    return problem, means


def start(seed: int, std: float = 1.5) -> torch.Tensor:
    # std 1.5 puts the margins a0, b0 at O(1) with either sign: an asymmetric, generic start.
    return std * torch.randn(
        2 * D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


# Steps at lr = 0.1: eta t from 0 to 1e4 (loss from O(1) to 1e-4).
STEPS = [0, 3, 30, 300, 3000, 100_000]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_hessian_matches_autograd(seed):
    problem, means = two_class_problem(seed)
    flow = two_class_flow(start(seed), means, lr=0.1, steps=STEPS)
    for i in range(len(STEPS)):
        H = dense_hessian(problem, flow.theta[i])
        H_closed = toy_hessian(means, flow.a[i], flow.b[i])
        # Entries are <= 1/8; both sides are float64 evaluations of the same function, so they
        # agree to rounding (~1e-16); 1e-10 is the brief's bar, far above rounding, far below
        # any error of the formula (a wrong factor 2 would show at ~1e-2 at the first steps).
        torch.testing.assert_close(H_closed, H, rtol=0, atol=1e-10)
        # eq. 19: the eigenvectors (mu_i, -mu_i)/sqrt 2 with eigenvalues s'(a), s'(b).
        V, lam = flow.hessian_eigenvectors, flow.hessian_eigenvalues[i]
        torch.testing.assert_close(H @ V, V * lam, rtol=0, atol=1e-10)
        # rank 2: the remaining eigenvalues vanish.
        evals = torch.linalg.eigvalsh(H)
        assert evals[:-2].abs().max() <= 1e-12 * evals[-1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_gradient_and_loss_match_autograd(seed):
    problem, means = two_class_problem(seed)
    flow = two_class_flow(start(seed), means, lr=0.1, steps=STEPS)
    for i in range(len(STEPS)):
        loss, grad = problem.loss_and_gradient(flow.theta[i])
        # Same reasoning as for the Hessian: rounding-level agreement, tolerance 1e-10.
        torch.testing.assert_close(flow.gradient[i], grad, rtol=0, atol=1e-10)
        torch.testing.assert_close(flow.loss[i], loss, rtol=0, atol=1e-10)
        # f_top = 1: the gradient lies in the span of the two eigenvectors (sec. 3, item 2).
        V = flow.hessian_eigenvectors
        assert (V @ (V.T @ grad) - grad).norm() <= 1e-12 * grad.norm()
    assert torch.equal(flow.gradient_fraction, torch.ones(len(STEPS), dtype=torch.float64))


def test_flow_solves_gradient_flow_equation():
    """d theta/dt = -eta grad L along the closed form, by central differences in t."""
    problem, means = two_class_problem(0)
    lr, h = 0.1, 1e-3  # h in steps
    for t in [0.5, 20.0, 2000.0]:
        flow = two_class_flow(start(0), means, lr=lr, steps=[t - h, t, t + h])
        dtheta = (flow.theta[2] - flow.theta[0]) / (2 * h)
        rhs = -lr * problem.gradient(flow.theta[1])
        # central difference: truncation ~ h^2 |theta'''| <= 1e-6 |theta'|, rounding
        # ~ eps |theta| / h ~ 1e-12: relative 1e-6 passes, while a wrong rate (say eta/2) fails.
        torch.testing.assert_close(dtheta, rhs, rtol=0, atol=1e-6 * rhs.norm().item())
        # the implicit solution of App. E: a + e^a = eta t + a0 + e^{a0}.
        a, a0 = flow.a[1].item(), two_class_flow(start(0), means, lr=lr, steps=0).a.item()
        assert a + math.exp(a) == pytest.approx(lr * t + a0 + math.exp(a0), rel=1e-12)


def test_gradient_descent_tracks_the_flow():
    lr = 0.05
    steps = [0, 500, 1000, 2000, 3000]
    sim = simulate_toy(
        k=2, d=D, sigma=0.0, bias=False, lr=lr, steps=steps, n_per_class=1, seed=1,
        means="orthonormal", init_std=1.5,
    )  # fmt: skip
    mu = sim.means
    flow = two_class_flow(sim.theta[0], mu, lr=lr, steps=steps)
    u = sim.theta[:, :D] - sim.theta[:, D:]
    a_gd, b_gd = u @ mu[0], u @ mu[1]
    # Euler error.  Gradient descent moves a exactly by the Euler step of da/dtau = sigmoid(-a)
    # (tau = eta t, step h = eta).  Each step's local error is -h^2 a''/2 > 0 (a'' =
    # -s'(a) sigmoid(-a) < 0), and the step contracts errors (1 - h s'(a) in (0, 1]), so to
    # first order in h:  0 < a_GD - a <= (h/2) int |a''| dtau = (eta/2)(sigmoid(a) - sigmoid(a0)),
    # and the same for b' = -b.  20% headroom covers O(eta^2).
    for x_gd, x_flow, sign in ((a_gd, flow.a, 1.0), (b_gd, flow.b, -1.0)):
        err = sign * (x_gd - x_flow)
        bound = lr / 2 * (torch.sigmoid(sign * x_flow) - torch.sigmoid(sign * x_flow[0]))
        assert torch.all(err[1:] > 0)  # overshoot: the sign of the Euler error
        assert torch.all(err <= 1.2 * bound + 1e-12), (err, bound)
    # Directions outside span(mu_1, mu_2) in u, and theta_1 + theta_2, never move (exactly, in
    # gradient descent as in the flow): rounding only.
    P = (
        torch.eye(2 * D, dtype=torch.float64)
        - flow.hessian_eigenvectors @ flow.hessian_eigenvectors.T
    )
    torch.testing.assert_close(
        (sim.theta - flow.theta) @ P, torch.zeros_like(sim.theta), rtol=0, atol=1e-10
    )
    # Eigenvalues s'(a): d log s'/da = 1 - 2 sigmoid(a), |.| <= 1, so their relative error is at
    # most the error in the margin, bounded by eta/2 above (+20%).
    lam_gd, lam = sim.eigenvalues[:, :2], flow.sorted_eigenvalues()
    assert torch.all((lam_gd - lam).abs() <= 1.2 * lr / 2 * lam)
    # rank 2 and f_top = 1 on the actual problem.
    assert torch.all(sim.eigenvalues[:, 2:].abs().amax(1) <= 1e-12 * sim.eigenvalues[:, 0])
    assert torch.all((sim.top_fraction - 1).abs() <= 1e-10)
    assert torch.all(sim.outliers == 2)


def test_late_times_eigenvalues_and_gradient():
    """eq. 15-18 vs the exact solution and autograd; the paper's factors 2 and 4 (docstring)."""
    problem, means = two_class_problem(0)
    lr = 0.1
    eta_t = torch.tensor([1e2, 1e4, 1e6], dtype=torch.float64)
    flow = two_class_flow(start(0), means, lr=lr, steps=eta_t / lr)
    scaled = flow.hessian_eigenvalues * eta_t[:, None]
    # Exact: s'(x) = 1/(e^x + 2 + e^-x) and e^x = eta t + C - x (x = a or -b, C = x0 + e^{x0}),
    # so lambda eta t = 1/(1 + delta), delta = (C - x + 2 + e^-x)/(eta t) = O(log(eta t)/eta t).
    x = torch.stack([flow.a, -flow.b], dim=1)
    u0 = start(0)[:D] - start(0)[D:]
    x0 = torch.stack([u0 @ means[0], -(u0 @ means[1])])
    delta = (x0 + x0.exp() - x + 2 + (-x).exp()) / eta_t[:, None]
    assert torch.all(delta.abs()[1:] <= torch.tensor([2e-3, 3e-5])[:, None])  # small late
    assert torch.all((scaled - 1).abs() <= 1.001 * delta.abs() / (1 - delta.abs()))
    assert torch.all((scaled[1:] - 1).abs() < (scaled[:-1] - 1).abs())  # converging to 1
    # eq. 18's late-time form 1/(eta t + c_i), c_i = e^{x0}: the ratio to the exact eigenvalue is
    # 1 + (x0 - x + 2 + e^-x)/(eta t + c_i) (same algebra).
    ratio = flow.late_time_eigenvalues / flow.hessian_eigenvalues
    expected = 1 + (x0 - x + 2 + (-x).exp()) / (eta_t[:, None] + x0.exp())
    torch.testing.assert_close(ratio, expected, rtol=1e-9, atol=0)
    assert torch.all((ratio[1:] - 1).abs() <= torch.tensor([2e-3, 3e-5])[:, None])
    # On the actual problem (autograd) at eta t = 1e4: top eigenvalues 1/(eta t) to |delta| <=
    # 2e-3, not 1/(2 eta t).
    top = hessian_eigh(problem, flow.theta[1])[0][:2] * eta_t[1]
    assert torch.all((top - 1).abs() < 2e-3)
    assert torch.all((2 * top - 1).abs() > 0.9)  # the reading "1/(2 eta t)" is off by 2
    # Gradient: -mu1/(2(eta t + c1)) + mu2/(2(eta t + c2)) = (mu2 - mu1)/(2 eta t) + O(t^-2).
    g = problem.gradient(flow.theta[1])
    late = (means[1] - means[0]) / (2 * eta_t[1])
    # sigmoid(-x) = 1/(1 + e^x) = 1/(eta t + C - x + 1): relative deviation from 1/(eta t) of
    # |C - x + 1|/(eta t) <= 2e-3 (as delta above)
    torch.testing.assert_close(g[:D], late, rtol=0, atol=2e-3 * late.norm().item())
    torch.testing.assert_close(g[D:], -late, rtol=0, atol=2e-3 * late.norm().item())
    paper = 2 * (means[1] - means[0]) / eta_t[1]  # eq. 8 / 17 as printed
    assert g[:D].norm() / paper.norm() == pytest.approx(0.25, rel=2e-3)


def test_biases_break_the_degeneracy_and_gradient_aligns_with_smaller_eigenvector():
    """Paper sec. 3: with biases the two top eigenvalues split and the gradient aligns with the
    eigenvector of the smaller one (k = 2, sigma = 0.02, random means)."""
    sim = simulate_toy(
        k=2, d=50, sigma=0.02, bias=True, lr=0.5, steps=[0, 200, 1000], n_per_class=10, seed=3,
        init_std=1.5,
    )  # fmt: skip
    # Measured c_2^2 (weight on the smaller top eigenvector): 0.112 at step 0, then 0.999999 at
    # steps 200 and 1000; the start is far from aligned, so this is the dynamics.
    assert sim.weights[0, 1] < 0.5
    assert torch.all(sim.weights[1:, 1] > 0.999)
    # Measured lambda_1 / lambda_2 = 4.99, 3.45, 3.46 (with random means, sigma > 0 the limit is
    # not exactly the 3 derived below); degenerate would be 1.
    assert torch.all(sim.eigenvalues[:, 0] / sim.eigenvalues[:, 1] > 2)
    assert torch.all(sim.outliers == 2)


def test_biases_orthonormal_limit_ratio_three():
    """Derived: with biases, sigma = 0 and orthonormal means, a + b obeys
    d(a + b)/dt = 3 eta (sigmoid(-a) - sigmoid(b)), so the flow goes to a = -b; there
    s'(a) = s'(b) = s and the top eigenvalues are s * eig([[2, 1], [1, 2]]) = 3s and s (the
    features (mu_c, 1) have Gram [[2, 1], [1, 2]]), with the gradient along the smaller one."""
    sim = simulate_toy(
        k=2, d=D, sigma=0.0, bias=True, lr=0.5, steps=[0, 1000], n_per_class=1, seed=3,
        means="orthonormal", init_std=1.5,
    )  # fmt: skip
    ratio = sim.eigenvalues[:, 0] / sim.eigenvalues[:, 1]
    assert ratio[0] > 10  # measured 158.7: the generic start is far from the symmetric manifold
    # |a + b| contracts at rate >= 3 eta s'(.)/..., measured ratio 3 to ~1e-10 at step 1000.
    assert ratio[1].item() == pytest.approx(3.0, rel=1e-6)
    assert sim.weights[1, 1] > 1 - 1e-10
    assert sim.eigenvalues[1, 2].abs() <= 1e-12 * sim.eigenvalues[1, 0]  # still rank 2


@pytest.mark.parametrize("bias", [False, True])
def test_k_classes_outliers(bias):
    """k = 5, sigma = 0.02, random means (d = 50): what the spectrum looks like, measured.

    The Hessian has k(k-1) = 20 eigenvalues above a sigma^2-suppressed bulk (footnote 14: the
    k(k-1) nontrivial directions; measured gap lambda_20 / lambda_21 = 12-45), and among them
    the top k dominate (lambda_5 / lambda_6 = 2.9-3.3) without bias, as the paper says.  With
    biases there are k - 1 large ones (lambda_4 / lambda_5 = 2.9-3.0) and one smaller
    (lambda_5 / lambda_6 = 1.8-1.9), the one the gradient aligns with (c_5^2 = 0.9994, 0.9999).
    Not in the paper: without bias the gradient *also* aligns with the 5th, the smallest of the
    top k (c_5^2 = 0.993, 0.9998 at steps 100, 1000): with random means the k top eigenvalues
    are not degenerate (they spread by ~30%).
    """
    k = 5
    sim = simulate_toy(
        k=k, d=50, sigma=0.02, bias=bias, lr=0.5, steps=[100, 1000], n_per_class=10, seed=0
    )
    lam = sim.eigenvalues
    # Above the sigma^2 bulk: k(k - 1) = 20 outliers (gap 12-45 measured), the largest gap
    # among the top 25 or 100 (the tail of the dense spectrum, not used: near-zero eigenvalues
    # down to 1e-10 lambda_1 and rounding-level zeros from N (k - 1) = 200 < p, make the gap
    # there unbounded; see count_outliers' docstring).
    for row in lam:
        assert count_outliers(row, max_outliers=k * k) == k * (k - 1)
        assert count_outliers(row, max_outliers=100) == k * (k - 1)
        assert row[k * (k - 1) - 1] / row[k * (k - 1)] > 10
    # the top: k outliers (k - 1 with biases) within the first 2k, as recorded by simulate_toy
    assert torch.all(sim.outliers == (k - 1 if bias else k))
    if bias:
        assert torch.all(lam[:, k - 1] / lam[:, k] > 1.5)  # the smaller one is still separate
    assert torch.all(sim.top_fraction > 0.999)
    assert torch.all(sim.weights[:, k - 1] > 0.99)


def test_count_outliers_hand_built():
    outliers_and_bulk = [10.0, 9.0, 8.5, 0.1, 0.09, 0.08, 0.07]
    for method in ("largest_gap", "first_gap", "bulk_edge"):
        assert count_outliers(outliers_and_bulk, method=method) == 3
    # order does not matter
    assert count_outliers(np.random.default_rng(0).permutation(outliers_and_bulk)) == 3
    # smooth: no gap reaches min_ratio (largest ratio 1.14)
    assert count_outliers([1.0, 0.9, 0.8, 0.7, 0.6]) == 0
    assert count_outliers([1.0, 0.9, 0.8, 0.7, 0.6], method="first_gap") == 0
    # the threshold: a gap of 1.9 does not count, 2.1 does
    assert count_outliers([1.9, 1.0, 0.99, 0.98]) == 0
    assert count_outliers([2.1, 1.0, 0.99, 0.98]) == 1
    assert count_outliers([1.9, 1.0, 0.99, 0.98], min_ratio=1.5) == 1
    # an exactly zero bulk (rounding noise, negative values): count the nonzero ones
    assert count_outliers([2.0, 1.0, 1e-17, -3e-17, 0.0, 0.0]) == 2
    # nested: 3 large, 7 medium, a small bulk.  largest_gap sees the bulk edge (ratio 1000 vs
    # 10); restricted to the top 5, or with first_gap, the first level.
    nested = [100.0, 95.0, 90.0] + [9.0 - 0.1 * i for i in range(7)] + [0.008] * 10
    assert count_outliers(nested) == 10
    assert count_outliers(nested, max_outliers=5) == 3
    assert count_outliers(nested, method="first_gap") == 3
    # power law 1/n: largest ratio 2 at n = 1 (documented), n^-1/2: none
    n = np.arange(1, 51)
    assert count_outliers(1.0 / n) == 1
    assert count_outliers(n**-0.5) == 0
    # bulk_edge: above 10 x median |lambda|
    bulk = [5.0, 4.0, 0.9] + [0.1] * 20
    assert count_outliers(bulk, method="bulk_edge") == 2  # 0.9 < 10 * 0.1
    # nothing positive
    assert count_outliers([-1.0, -2.0, 0.0]) == 0
    for kwargs in ({"method": "nope"}, {"min_ratio": 1.0}, {"max_outliers": 0}):
        with pytest.raises(ValueError):
            count_outliers(outliers_and_bulk, **kwargs)
    with pytest.raises(ValueError):
        count_outliers([1.0])


def test_invalid_inputs():
    _, means = two_class_problem(0)
    with pytest.raises(ValueError, match="orthonormal"):
        two_class_flow(start(0), 2 * means, lr=0.1, steps=[0])
    rand = mixture_means(2, D, "random")
    with pytest.raises(ValueError, match="orthonormal"):
        two_class_flow(start(0), rand, lr=0.1, steps=[0])
    with pytest.raises(ValueError, match="bias"):
        two_class_flow(torch.zeros(2 * D + 2), means, lr=0.1, steps=[0])
    with pytest.raises(ValueError, match="shape"):
        two_class_flow(start(0), torch.eye(3, D), lr=0.1, steps=[0])
    with pytest.raises(ValueError, match="lr"):
        two_class_flow(start(0), means, lr=0.0, steps=[0])
    with pytest.raises(ValueError, match="steps"):
        two_class_flow(start(0), means, lr=0.1, steps=[-1])
