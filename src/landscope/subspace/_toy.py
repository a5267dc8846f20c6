"""The solvable toy model of Gur-Ari, Roberts & Dyer (2018), sec. 3 and App. E.

Softmax regression (no bias) on a two-class Gaussian mixture in R^d with class means mu_1, mu_2.
In the limit sigma -> 0 with orthonormal means and balanced classes (n/2 samples at each mean)
the cross-entropy loss (eq. 6) reduces to eq. 13,

    L(theta) = 1/2 log(1 + e^{-a}) + 1/2 log(1 + e^{b}),   a = u . mu_1,  b = u . mu_2,

with u = theta_1 - theta_2 (theta_y in R^d the weights feeding logit y; the flat parameter vector
is theta = [theta_1; theta_2], the row-major flattening of ``softmax_regression``'s (2, d) weight).

**Exact gradient flow.**  Under d theta / dt = -eta grad L (the continuous-time limit of App. E,
t counted in steps, eta the learning rate) only a and b move:

    da/dt = eta sigmoid(-a),     db/dt = -eta sigmoid(b),

and every direction orthogonal to mu_1, mu_2 in u, as well as theta_1 + theta_2, is constant.
Separating variables, (1 + e^a) da = eta dt, so

    a + e^a = eta t + C_1,  C_1 = a_0 + e^{a_0};     b' + e^{b'} = eta t + C_2,  b' = -b,

solved by the Wright omega function omega(s) = W(e^s) (W the Lambert W), which satisfies
omega + log omega = s:  a(t) = log omega(eta t + C_1) (= s - omega(s), without the cancellation
of that form at large s).  This is exact, not only the late-time solution of eq. 15-16:

    theta_1(t) = theta_1(0) + (a - a_0)/2 mu_1 + (b - b_0)/2 mu_2,   theta_2(t) = theta_2(0) - (same),

    grad_{theta_1} L = -grad_{theta_2} L = -1/2 sigmoid(-a) mu_1 + 1/2 sigmoid(b) mu_2,

    H = [[1, -1], [-1, 1]] (x) [1/2 s'(a) mu_1 mu_1^T + 1/2 s'(b) mu_2 mu_2^T],
        s'(z) = sigmoid(z) sigmoid(-z).

H has rank 2; the (1, -1) block has eigenvalue 2, which cancels the 1/2, so the eigenpairs are
lambda_1 = s'(a) on (mu_1, -mu_1)/sqrt 2 and lambda_2 = s'(b) on (mu_2, -mu_2)/sqrt 2 (eq. 19,
normalized).  The gradient lies in their span at all times (sec. 3, statement 2).

**Late times (eq. 14-18).**  With the approximate loss of eq. 14 the flow gives
a = log(eta t + c_1), -b = log(eta t + c_2) with c_1 = e^{a_0}, c_2 = e^{-b_0} (eq. 15-16) and
eigenvalues 1/(eta t + c_i) (eq. 18).  The exact eigenvalues s'(a) differ from these by a relative
O(log(eta t) / (eta t)).  Two discrepancies with the paper's text (checked against autograd on the
actual cross-entropy problem in ``tests/test_toy_model.py``):

(i) eq. 17 (and eq. 8, which also writes n for eta) give the late-time gradient as
    2 (mu_2 - mu_1) / (eta t); but -mu_1 / (2(eta t + c_1)) + mu_2 / (2(eta t + c_2)), the middle
    expression of eq. 17 itself, equals (mu_2 - mu_1) / (2 eta t) + O(t^-2): a factor 4 smaller.
(ii) the prefactor 1/(2 eta t) of eq. 9 / 18 multiplies [[1, -1], [-1, 1]] (x) [...], whose
    nonzero eigenvalues are 2: the top eigenvalues are 1/(eta t), not 1/(2 eta t).  The matrix
    of eq. 18 is right; reading the prefactor as the eigenvalue is not.

Also here: :func:`simulate_toy`, full-batch gradient descent on the k-class mixture (sigma > 0, biases,
random means) that measures what the paper's empirical statements (sec. 3, after eq. 9) are
about.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from landscope.spectra import count_outliers
from landscope.subspace._overlaps import eigenvector_weights, top_subspace_fraction

__all__ = [
    "ToyFlow",
    "ToySimulation",
    "simulate_toy",
    "toy_hessian",
    "two_class_flow",
]

#: Tolerance on ``means @ means.T - I`` below which the means count as orthonormal.
ORTHONORMAL_ATOL = 1e-8

#: Largest number of parameters for which :func:`simulate_toy` uses the dense Hessian.
DENSE_MAX_PARAMS = 2000


def _sigmoid_prime(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(z) * torch.sigmoid(-z)


def _check_means(means: torch.Tensor | np.ndarray | Sequence) -> torch.Tensor:
    mu = torch.as_tensor(np.asarray(means, dtype=np.float64))
    if mu.ndim != 2 or mu.shape[0] != 2:
        raise ValueError(
            f"means must have shape (2, d) (mu_1, mu_2 of the two-class toy model), got shape "
            f"{tuple(mu.shape)}"
        )
    err = (mu @ mu.T - torch.eye(2, dtype=mu.dtype)).abs().max().item()
    if not err <= ORTHONORMAL_ATOL:
        raise ValueError(
            "the closed form of the toy model (Gur-Ari et al. App. E) needs orthonormal means "
            f"mu_1, mu_2 (|mu_i . mu_j - delta_ij| <= {ORTHONORMAL_ATOL:g}), got a deviation of "
            f"{err:.3g}; use load_gaussian_mixture(means='orthonormal'), or simulate_toy for "
            "random means"
        )
    return mu


def toy_hessian(
    means: torch.Tensor | np.ndarray | Sequence, a: float | torch.Tensor, b: float | torch.Tensor
) -> torch.Tensor:
    """The closed-form Hessian of the two-class toy loss (eq. 13) at a = u . mu_1, b = u . mu_2.

    H = [[1, -1], [-1, 1]] (x) [1/2 s'(a) mu_1 mu_1^T + 1/2 s'(b) mu_2 mu_2^T],
    s'(z) = sigmoid(z) sigmoid(-z) (eq. 18 before its late-time expansion).  The parameter order
    is theta = [theta_1; theta_2] (``softmax_regression(bias=False)``'s flattening).

    Args:
        means: (2, d) orthonormal rows mu_1, mu_2.
        a, b: the two margins (dimensionless scalars).

    Returns:
        (2d, 2d) float64 tensor, symmetric, rank 2.

    >>> H = toy_hessian([[1.0, 0.0], [0.0, 1.0]], 0.0, 0.0)
    >>> torch.linalg.eigvalsh(H).tolist()  # s'(0) = 1/4 twice, and two zeros
    [0.0, 0.0, 0.25, 0.25]
    """
    mu = _check_means(means)
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    block = 0.5 * (
        _sigmoid_prime(a) * torch.outer(mu[0], mu[0])
        + _sigmoid_prime(b) * torch.outer(mu[1], mu[1])
    )
    pair = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    return torch.kron(pair, block)


@dataclass(frozen=True)
class ToyFlow:
    """The exact gradient flow of the two-class toy model at T times (see the module docstring).

    Eigen-quantities are given per *mode*: column i of ``hessian_eigenvectors`` is
    (mu_i, -mu_i)/sqrt 2 for all times, and column i of ``hessian_eigenvalues`` and
    ``late_time_eigenvalues`` is its eigenvalue.  (Which mode is the larger can change in time,
    because s'(z) peaks at z = 0; :meth:`sorted_eigenvalues` gives them in decreasing order.)

    Attributes:
        steps: (T,) step counts t; the flow time is ``lr * steps``.
        lr: eta.
        means: (2, d) mu_1, mu_2.
        a, b: (T,) margins u . mu_1 and u . mu_2.
        theta: (T, 2d) parameters [theta_1; theta_2].
        loss: (T,) eq. 13 (nats).
        gradient: (T, 2d) grad L.
        hessian_eigenvalues: (T, 2) s'(a), s'(b), the nonzero eigenvalues (all others are 0).
        hessian_eigenvectors: (2d, 2) (mu_1, -mu_1)/sqrt 2 and (mu_2, -mu_2)/sqrt 2 (eq. 19).
        late_time_eigenvalues: (T, 2) 1/(eta t + c_i), c_1 = e^{a_0}, c_2 = e^{-b_0} (eq. 18, the
            solution of the approximate loss eq. 14 through the same start).
        gradient_fraction: (T,) f_top (eq. 2) in the top-2 subspace: 1 identically, by
            construction (the gradient is a combination of the two eigenvectors; it is not
            computed from ``gradient``).
    """

    steps: torch.Tensor
    lr: float
    means: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    theta: torch.Tensor
    loss: torch.Tensor
    gradient: torch.Tensor
    hessian_eigenvalues: torch.Tensor
    hessian_eigenvectors: torch.Tensor
    late_time_eigenvalues: torch.Tensor
    gradient_fraction: torch.Tensor

    def sorted_eigenvalues(self) -> torch.Tensor:
        """(T, 2) the two nonzero Hessian eigenvalues in decreasing order."""
        return self.hessian_eigenvalues.sort(dim=1, descending=True).values


def _margin(s: np.ndarray) -> np.ndarray:
    """The solution x of x + e^x = s, elementwise (float64)."""
    from scipy.special import wrightomega  # lazy: scipy only when the flow is evaluated

    omega = wrightomega(s).real
    # omega + log(omega) = s: log(omega) has no cancellation at large s, s - omega none at s < 1
    # (where omega may underflow).
    with np.errstate(divide="ignore"):
        return np.where(s < 1.0, s - omega, np.log(omega))


def two_class_flow(
    theta0: torch.Tensor | np.ndarray | Sequence,
    means: torch.Tensor | np.ndarray | Sequence,
    lr: float,
    steps: torch.Tensor | np.ndarray | Sequence[int] | int,
) -> ToyFlow:
    """Exact continuous-time gradient descent on the two-class toy model (Gur-Ari App. E).

    Solves d theta/dt = -eta grad L with L the sigma -> 0 loss of eq. 13 (two balanced classes,
    orthonormal means, no bias) in closed form via the Wright omega function; see the module
    docstring for the derivation, eq. 15-19, and the two discrepancies with the paper's eq. 8-9
    / 17.

    Args:
        theta0: (2d,) start [theta_1; theta_2], as ``softmax_regression(input_shape, 2)``
            (``bias=False``) flattens its (2, d) weight.
        means: (2, d) orthonormal means (to 1e-8), e.g.
            ``load_gaussian_mixture(k=2, means="orthonormal").meta["means"]``.
        lr: the learning rate eta > 0 (time is ``lr * step``).
        steps: step counts t >= 0 (scalar or (T,)); need not be integers.

    Returns:
        A :class:`ToyFlow` with float64 tensors.

    Raises:
        ValueError: if the means are not (2, d) orthonormal, if theta0 does not have 2d entries
            (a bias breaks the closed form: use :func:`simulate_toy`), or lr / steps are invalid.

    >>> flow = two_class_flow(torch.zeros(4), torch.eye(2), lr=0.1, steps=[0, 10**6])
    >>> (flow.hessian_eigenvalues[-1] * 0.1 * 10**6).round(decimals=4).tolist()  # eta t lambda
    [1.0001, 1.0001]
    """
    mu = _check_means(means)
    d = mu.shape[1]
    theta0 = torch.as_tensor(np.asarray(theta0, dtype=np.float64))
    if theta0.shape != (2 * d,):
        extra = (
            " (2d + 2 looks like a model with biases, which the closed form does not cover)"
            if theta0.numel() == 2 * d + 2
            else ""
        )
        raise ValueError(
            f"theta0 must have shape (2d,) = ({2 * d},) for the two-class model without bias, "
            f"got {tuple(theta0.shape)}{extra}"
        )
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    t = np.atleast_1d(np.asarray(steps, dtype=np.float64))
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("steps must be finite, non-negative step counts (a scalar or 1-D)")
    eta = float(lr)

    theta1_0, theta2_0 = theta0[:d], theta0[d:]
    u0 = theta1_0 - theta2_0
    a0, b0 = float(u0 @ mu[0]), float(u0 @ mu[1])
    # a + e^a = eta t + a0 + e^{a0}; with b' = -b the same equation (db'/dt = eta sigmoid(-b')).
    a = torch.as_tensor(_margin(eta * t + a0 + math.exp(a0)))
    b = -torch.as_tensor(_margin(eta * t - b0 + math.exp(-b0)))

    shift = 0.5 * ((a - a0)[:, None] * mu[0] + (b - b0)[:, None] * mu[1])  # (T, d)
    theta = torch.cat([theta1_0 + shift, theta2_0 - shift], dim=1)
    g1 = -0.5 * torch.sigmoid(-a)[:, None] * mu[0] + 0.5 * torch.sigmoid(b)[:, None] * mu[1]
    gradient = torch.cat([g1, -g1], dim=1)
    softplus = torch.nn.functional.softplus
    loss = 0.5 * softplus(-a) + 0.5 * softplus(b)
    eigenvalues = torch.stack([_sigmoid_prime(a), _sigmoid_prime(b)], dim=1)
    vectors = torch.cat([mu.T, -mu.T], dim=0) / math.sqrt(2.0)  # (2d, 2)
    time = torch.as_tensor(eta * t)
    c = torch.tensor([math.exp(a0), math.exp(-b0)], dtype=torch.float64)
    late = 1.0 / (time[:, None] + c)
    return ToyFlow(
        steps=torch.as_tensor(t),
        lr=eta,
        means=mu,
        a=a,
        b=b,
        theta=theta,
        loss=loss,
        gradient=gradient,
        hessian_eigenvalues=eigenvalues,
        hessian_eigenvectors=vectors,
        late_time_eigenvalues=late,
        gradient_fraction=torch.ones(len(t), dtype=torch.float64),
    )


@dataclass(frozen=True)
class ToySimulation:
    """Full-batch gradient descent on the Gaussian-mixture toy model (:func:`simulate_toy`).

    Eigenvalue columns are in decreasing order (column 0 the top); T recorded steps, m
    eigenvalues per step, p parameters (k d, + k with biases; weights row-major, then biases).

    Attributes:
        steps: (T,) recorded steps (the state before that step's update).
        lr: the learning rate.
        means: (k, d) class means.
        theta: (T, p) parameters.
        loss: (T,) mean cross-entropy over the training samples (nats).
        gradient_norm: (T,) ||g||.
        eigenvalues: (T, m) top Hessian eigenvalues.
        top_fraction: (T,) f_top (eq. 2) in the top-k eigenvector subspace.
        weights: (T, m) c_i^2 (eq. 12) of the gradient on each computed eigenvector.
        outliers: (T,) :func:`count_outliers` of each row of ``eigenvalues`` with
            ``max_outliers = 2 k`` (method ``largest_gap``).
    """

    steps: torch.Tensor
    lr: float
    means: torch.Tensor
    theta: torch.Tensor
    loss: torch.Tensor
    gradient_norm: torch.Tensor
    eigenvalues: torch.Tensor
    top_fraction: torch.Tensor
    weights: torch.Tensor
    outliers: torch.Tensor


def simulate_toy(
    *,
    steps: Sequence[int] | torch.Tensor | np.ndarray,
    k: int = 2,
    d: int = 1000,
    sigma: float = 0.02,
    bias: bool = False,
    lr: float = 0.1,
    n_per_class: int = 100,
    seed: int = 0,
    means: str | np.ndarray | Sequence = "random",
    init_std: float | None = None,
    theta0: torch.Tensor | None = None,
    num_eigenvalues: int | None = None,
) -> ToySimulation:
    """Gradient descent on softmax regression over a k-class Gaussian mixture (Gur-Ari sec. 3).

    The setting of the paper's empirical statements (after eq. 9; their footnote 13: d = 1000,
    k = 2, 5, 10, sigma = 0 or 0.02, random unit means): data from
    ``load_gaussian_mixture(k, d, sigma, n_per_class, means, test_fraction=0, seed)``, model
    ``softmax_regression((d,), k, bias=bias)``, loss the mean cross-entropy over all k
    ``n_per_class`` samples, float64.  Deterministic full-batch gradient descent
    theta <- theta - lr grad L(theta), gradients by autograd (``Problem.loss_and_gradient``).
    At each recorded step: loss, gradient, the top Hessian eigenpairs (dense ``hessian_eigh``
    for p <= 2000, else Lanczos ``top_eigenpairs`` on the ``HessianOperator``), f_top in the
    top-k subspace (eq. 2), the c_i^2 (eq. 12) and the outlier count.

    Args:
        steps: steps at which to record (run until the largest).
        k, d, sigma, n_per_class, means, seed: the mixture (see ``load_gaussian_mixture``).
        bias: give the model biases (breaks the degeneracy of the top subspace, footnote 12).
        lr: eta.
        init_std: start theta ~ N(0, init_std^2) entrywise, biases included (default d^-1/2),
            from ``torch.Generator().manual_seed(seed)``; the paper does not state its start.
        theta0: an explicit start (p,) instead.
        num_eigenvalues: m, eigenvalues kept per step (default all p on the dense path, else
            2k + 2).

    Returns:
        A :class:`ToySimulation`.
    """
    from landscope.curvature import HessianOperator, hessian_eigh, top_eigenpairs
    from landscope.data import load_gaussian_mixture
    from landscope.models import softmax_regression
    from landscope.problem import Problem

    record = sorted({int(s) for s in torch.as_tensor(np.asarray(steps)).flatten().tolist()})
    if not record or record[0] < 0:
        raise ValueError(f"steps must be non-negative step counts, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    dataset = load_gaussian_mixture(
        k=k, d=d, sigma=sigma, n_per_class=n_per_class, means=means, test_fraction=0.0, seed=seed
    )
    k, d = dataset.meta["k"], dataset.meta["d"]
    mu = torch.tensor(dataset.meta["means"], dtype=torch.float64)
    x32, y = dataset.train.x, dataset.train.y
    # The dataset stores float32 inputs; the closed forms (and the float64 tolerances they are
    # checked to) need the means exactly: x = mu[y] + noise in float64, the noise being the
    # stored sample's deviation from the float32 means (exactly 0 for sigma = 0).
    x = mu[y] + (x32.double() - mu.float().double()[y])
    model = softmax_regression((d,), k, bias=bias)
    problem = Problem(model, "cross_entropy", (x, y), dtype=torch.float64)
    p = problem.num_params
    if theta0 is None:
        std = d**-0.5 if init_std is None else float(init_std)
        gen = torch.Generator().manual_seed(int(seed))
        theta = std * torch.randn(p, generator=gen, dtype=torch.float64)
    else:
        theta = torch.as_tensor(theta0, dtype=torch.float64).clone()
        if theta.shape != (p,):
            raise ValueError(f"theta0 must have shape ({p},), got {tuple(theta.shape)}")
    dense = p <= DENSE_MAX_PARAMS
    m = (p if dense else 2 * k + 2) if num_eigenvalues is None else int(num_eigenvalues)
    if not 1 <= m <= p:
        raise ValueError(f"num_eigenvalues must lie in [1, {p}], got {num_eigenvalues}")

    rows: dict[str, list] = {
        key: [] for key in ("theta", "loss", "gnorm", "evals", "ftop", "weights", "outliers")
    }
    next_record = 0
    for step in range(record[-1] + 1):
        loss, grad = problem.loss_and_gradient(theta)
        if step == record[next_record]:
            next_record += 1
            if dense:
                evals, evecs = hessian_eigh(problem, theta)
                evals, evecs = evals[:m], evecs[:, :m]
            else:
                result = top_eigenpairs(HessianOperator(problem, theta), k=m, tol=1e-8, seed=seed)
                evals, evecs = result.eigenvalues, result.eigenvectors
            rows["theta"].append(theta.clone())
            rows["loss"].append(loss)
            rows["gnorm"].append(grad.norm())
            rows["evals"].append(evals)
            rows["ftop"].append(top_subspace_fraction(grad, evecs[:, : min(k, m)]))
            rows["weights"].append(eigenvector_weights(grad, evecs))
            rows["outliers"].append(count_outliers(evals, max_outliers=2 * k) if m > 1 else 0)
        if step < record[-1]:
            theta = theta - lr * grad
    return ToySimulation(
        steps=torch.tensor(record),
        lr=float(lr),
        means=mu,
        theta=torch.stack(rows["theta"]),
        loss=torch.stack(rows["loss"]),
        gradient_norm=torch.stack(rows["gnorm"]),
        eigenvalues=torch.stack(rows["evals"]),
        top_fraction=torch.stack(rows["ftop"]),
        weights=torch.stack(rows["weights"]),
        outliers=torch.tensor(rows["outliers"]),
    )
