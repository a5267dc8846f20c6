"""Loss along lines and planes (Goodfellow, Vinyals & Saxe 2015): checked against closed forms,
dense references and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscope import Problem
from landscope.data import subset_indices
from landscope.landscape import (
    AlphaBetaSurface,
    Evaluation,
    GridStore,
    InterpolationResult,
    Plane,
    SurfaceResult,
    alpha_beta_plane,
    alpha_beta_surface,
    alpha_random_plane,
    barrier_height,
    evaluate_points,
    evaluate_surface,
    factored_gradient_descent,
    factored_hessian,
    factored_interpolation,
    factored_loss,
    factored_problem,
    filter_normalize,
    high_resolution_interpolations,
    interpolate,
    interpolation_points,
    local_minima,
    pca_directions,
    pca_plane,
    random_direction,
    random_plane,
    random_point,
    surface,
)
from landscope.trajectory import (
    TrajectoryProjection,
    project_trajectory,
    projection_residuals,
    random_walk,
    random_walk_control,
)

# Tolerances.  float64 sums of O(100) terms of size O(1): two algebraically equal evaluation
# orders (batched vs. one-by-one matrix products, a closed-form quadratic vs. the model's
# forward pass) differ by a few hundred ulps at most, so 1e-11 relative (plus 1e-13 absolute for
# values near 0) has a wide margin and still catches any real error (O(1e-3) or more).
RTOL64, ATOL64 = 1e-11, 1e-13
# float32: products of ~100 terms lose ~1e-6 relative.
RTOL32, ATOL32 = 2e-5, 1e-6


def _mlp(dtype=torch.float64, seed=0, width=6, out=3, bias=True) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(4, width, bias=bias), nn.Tanh(), nn.Linear(width, out, bias=bias))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.8)
    return m.to(dtype)


def _data(n=23, dtype=torch.float64, out=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=dtype)
    y = torch.randint(0, out, (n,), generator=g)
    return x, y


def _problem(dtype=torch.float64, chunk_size=None, seed=0, **kw) -> Problem:
    return Problem(
        _mlp(dtype, seed), "cross_entropy", _data(dtype=dtype), chunk_size=chunk_size, **kw
    )


def _snapshot(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    state = [(k, v.detach().clone()) for k, v in model.state_dict().items()]
    return [*state, ("training", torch.tensor([m.training for m in model.modules()]))]


def _assert_unchanged(model: nn.Module, before) -> None:
    after = _snapshot(model)
    assert [k for k, _ in before] == [k for k, _ in after]
    for (k, a), (_, b) in zip(before, after, strict=True):
        assert torch.equal(a, b), f"{k} changed"
        # bitwise, including the sign of zeros and NaN payloads
        assert a.view(torch.uint8).equal(b.view(torch.uint8)) if a.is_floating_point() else True


# --- endpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_points", [1, "auto"])
def test_interpolation_endpoints_are_exact(dtype, batch_points):
    problem = _problem(dtype, chunk_size=5)
    theta_a = problem.theta_from_model()
    theta_b = theta_a + 0.37 * torch.randn(
        theta_a.shape, generator=torch.Generator().manual_seed(3), dtype=dtype
    )
    alphas = np.array([-0.5, 0.0, 0.3, 1.0, 1.7])
    pts = interpolation_points(theta_a, theta_b, torch.as_tensor(alphas))
    assert torch.equal(pts[1], theta_a) and torch.equal(pts[3], theta_b)
    res = interpolate(
        problem, theta_a, theta_b, alphas, evaluation=Evaluation(batch_points=batch_points)
    )
    assert res["train_loss"][1] == problem.loss(theta_a).item()
    assert res["train_loss"][3] == problem.loss(theta_b).item()
    assert res["train_accuracy"][1] == problem.accuracy(theta_a)
    assert res["train_accuracy"][3] == problem.accuracy(theta_b)
    assert res.meta["distance"] == pytest.approx(float((theta_b - theta_a).double().norm()))


def test_plane_with_end_reproduces_both_endpoints_exactly():
    g = torch.Generator().manual_seed(0)
    a, b, v = (torch.randn(50, generator=g, dtype=torch.float32) for _ in range(3))
    plane = Plane(a, None, v, end=b)
    pts = plane.points(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0]))
    assert torch.equal(pts[0], a) and torch.equal(pts[1], b)
    assert torch.equal(plane.dir1, b - a)


# --- a quadratic loss: analytic parabola and quadric ---------------------------------------------


def _quadratic_problem(n=17, d=5, k=2, dtype=torch.float64):
    """A bias-free linear model with squared error: J(W) is exactly quadratic in theta = vec(W),
    J(theta) = theta^T A theta - 2 b^T theta + c with the closed forms below."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randn(n, k, generator=g, dtype=dtype)
    model = nn.Linear(d, k, bias=False).to(dtype)
    problem = Problem(model, "mse", (x, y), chunk_size=6)
    # theta = vec(W) row-major, W (k, d); prediction_i = W x_i; J = (1/(n k)) sum ||W x_i - y_i||^2
    A = torch.kron(torch.eye(k, dtype=dtype), x.T @ x) / (n * k)
    b = (y.T @ x).reshape(-1) / (n * k)
    c = float(y.square().sum()) / (n * k)
    return problem, A, b, c


def _quadratic(A, b, c, theta):
    return theta @ A @ theta - 2 * b @ theta + c


@pytest.mark.parametrize("batch_points", [1, 4, "auto"])
def test_quadratic_loss_gives_the_analytic_parabola_along_a_line(batch_points):
    problem, A, b, c = _quadratic_problem()
    g = torch.Generator().manual_seed(5)
    t0, t1 = (torch.randn(problem.num_params, generator=g, dtype=torch.float64) for _ in range(2))
    alphas = np.linspace(-1.5, 2.5, 23)
    res = interpolate(problem, t0, t1, alphas, evaluation=Evaluation(batch_points=batch_points))
    # J(alpha) = J0 + alpha g1 + alpha^2 q with d = t1 - t0
    d = t1 - t0
    j0 = _quadratic(A, b, c, t0)
    lin = 2 * (t0 @ A @ d) - 2 * b @ d
    quad = d @ A @ d
    expected = (j0 + torch.as_tensor(alphas) * lin + torch.as_tensor(alphas) ** 2 * quad).numpy()
    np.testing.assert_allclose(res["train_loss"], expected, rtol=RTOL64, atol=ATOL64)
    assert "train_accuracy" not in res.values


@pytest.mark.parametrize("with_end", [False, True])
def test_quadratic_loss_gives_the_analytic_quadric_on_a_plane(with_end):
    problem, A, b, c = _quadratic_problem()
    g = torch.Generator().manual_seed(6)
    o, d1, d2 = (
        torch.randn(problem.num_params, generator=g, dtype=torch.float64) for _ in range(3)
    )
    alphas, betas = np.linspace(-1, 2, 7), np.linspace(-0.5, 0.5, 5)
    if with_end:
        res = surface(
            problem, o, None, d2, alphas, betas, end=o + d1, evaluation=Evaluation(batch_points=3)
        )
    else:
        res = surface(problem, o, d1, d2, alphas, betas, evaluation=Evaluation(batch_points=3))
    aa, bb = np.meshgrid(alphas, betas, indexing="ij")
    expected = np.empty_like(aa)
    for i in range(aa.shape[0]):
        for j in range(aa.shape[1]):
            expected[i, j] = float(_quadratic(A, b, c, o + aa[i, j] * d1 + bb[i, j] * d2))
    # closed-form quadric coefficients, an independent second check of the same grid
    q11, q22, q12 = float(d1 @ A @ d1), float(d2 @ A @ d2), float(d1 @ A @ d2)
    l1 = float(2 * o @ A @ d1 - 2 * b @ d1)
    l2 = float(2 * o @ A @ d2 - 2 * b @ d2)
    j0 = float(_quadratic(A, b, c, o))
    quadric = j0 + l1 * aa + l2 * bb + q11 * aa**2 + 2 * q12 * aa * bb + q22 * bb**2
    assert res["train_loss"].shape == (7, 5)
    np.testing.assert_allclose(res["train_loss"], expected, rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(res["train_loss"], quadric, rtol=1e-10, atol=1e-12)


# --- deep linear models ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_factored_model_surface_equals_closed_form():
    problem = factored_problem()
    e1, e2 = torch.eye(2, dtype=torch.float64)
    w = np.linspace(-2, 2, 21)
    res = surface(problem, torch.zeros(2, dtype=torch.float64), e1, e2, w, w)
    W1, W2 = np.meshgrid(w, w, indexing="ij")
    np.testing.assert_allclose(res["train_loss"], factored_loss(W1, W2), rtol=1e-14, atol=1e-15)
    # the saddle at the origin: dense Hessian of the Problem's loss = closed form, eigenvalues +-2
    x, y = next(problem.chunks())
    H = torch.func.hessian(problem.loss_function(x, y))(torch.zeros(2, dtype=torch.float64))
    np.testing.assert_allclose(H.numpy(), factored_hessian(0.0, 0.0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(H.numpy()), [-2.0, 2.0], atol=1e-14)
    theta = torch.tensor([0.7, -1.3], dtype=torch.float64)
    H = torch.func.hessian(problem.loss_function(x, y))(theta)
    np.testing.assert_allclose(H.numpy(), factored_hessian(0.7, -1.3), rtol=1e-14, atol=1e-14)


def test_factored_interpolation_barrier_between_two_solutions():
    problem = factored_problem()
    a, b = (
        torch.tensor([1.0, 1.0], dtype=torch.float64),
        torch.tensor([-1.0, -1.0], dtype=torch.float64),
    )
    alphas = np.linspace(0, 1, 11)
    res = interpolate(problem, a, b, alphas)
    np.testing.assert_allclose(
        res["train_loss"], factored_interpolation([1, 1], [-1, -1], alphas), rtol=1e-14, atol=1e-15
    )
    # (1 - (1 - 2 alpha)^2)^2 peaks at alpha = 1/2 with J = 1: the barrier of Fig. 10 left
    assert barrier_height(res) == pytest.approx(1.0, abs=1e-14)
    assert local_minima(res["train_loss"]).tolist() == [0, 10]
    # from a large random point to a solution: no minimum but the solution (Fig. 10 right)
    start = torch.tensor([2.5, -3.0], dtype=torch.float64)  # w1 w2 rises monotonically to 1
    res = interpolate(
        problem, start, torch.tensor([2.0, 0.5], dtype=torch.float64), np.linspace(0, 1, 101)
    )
    assert local_minima(res["train_loss"]).tolist() == [100]


def test_factored_gradient_descent_escapes_the_saddle_to_the_hyperbola():
    traj = factored_gradient_descent([0.05, 0.02], lr=0.1, steps=400)
    assert traj.shape == (401, 2)
    assert factored_loss(*traj[-1]) < 1e-10
    assert factored_loss(*traj[0]) > 0.99


def test_deep_linear_network_is_a_product_of_matrices():
    from landscope.models import deep_linear, initialize

    net = initialize(deep_linear((6,), 3, depth=3).double(), "orthogonal", seed=1)
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w0, w1, w2 = (layer.weight for layer in net.layers)
    product = w2 @ w1 @ w0
    torch.testing.assert_close(net(x), x @ product.T, rtol=1e-13, atol=1e-13)
    w = w0
    torch.testing.assert_close(w @ w.T, torch.eye(6, dtype=torch.float64), rtol=0, atol=1e-12)
    assert all(p.ndim == 2 for p in net.parameters())


# --- trajectory projection ------------------------------------------------------------------------


def _trajectory(T=30, p=40, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(T - 1, p, generator=g, dtype=dtype) * 0.1 + 0.05
    return torch.cat([torch.zeros(1, p, dtype=dtype), steps.cumsum(0)]) + torch.randn(
        p, generator=g, dtype=dtype
    )


def test_projection_reconstructs_the_trajectory_exactly():
    traj = _trajectory()
    alpha, resid, u = projection_residuals(traj)
    theta_i = traj[0]
    recon = theta_i + alpha[:, None] * u + resid
    # float64: each entry is a sum of three terms of size O(1): agreement to a few ulps
    torch.testing.assert_close(
        recon, traj, rtol=0, atol=8 * torch.finfo(torch.float64).eps * float(traj.abs().max())
    )
    assert float((resid @ u).abs().max()) < 1e-13  # the residual is orthogonal to the line
    proj = project_trajectory(traj)
    np.testing.assert_allclose(proj.alpha, alpha.numpy(), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(proj.beta, resid.norm(dim=1).numpy(), rtol=1e-13, atol=1e-14)
    # endpoints: alpha(0) = 0, alpha(T) = ||theta_f - theta_i||, beta = 0 at both
    assert proj.alpha[0] == 0 and proj.beta[0] == 0
    assert proj.alpha[-1] == pytest.approx(proj.distance, rel=1e-14) and proj.beta[-1] < 1e-12
    np.testing.assert_allclose(proj.alpha_fraction[-1], 1.0, rtol=1e-14)
    np.testing.assert_allclose(
        proj.residual_ratio, proj.beta / traj.norm(dim=1).numpy(), rtol=1e-14
    )


def test_projection_with_explicit_solution_before_the_end():
    traj = _trajectory(T=20)
    proj = project_trajectory(traj.numpy(), traj[0], traj[15])
    assert proj.beta[15] < 1e-12 and proj.alpha[15] == pytest.approx(proj.distance, rel=1e-14)
    with pytest.raises(ValueError, match="theta_f"):
        project_trajectory(traj, traj[0], torch.zeros(3))


def test_random_walk_control_matches_step_norms_and_is_seeded():
    traj = _trajectory(T=25, p=30)
    walk = random_walk(
        24, 30, seed=3, step_norms=(traj[1:] - traj[:-1]).norm(dim=1).numpy(), start=traj[0].numpy()
    )
    np.testing.assert_allclose(
        np.linalg.norm(np.diff(walk, axis=0), axis=1),
        (traj[1:] - traj[:-1]).norm(dim=1).numpy(),
        rtol=1e-12,
    )
    a = random_walk_control(traj, seed=3)
    b = random_walk_control(traj, seed=3)
    np.testing.assert_array_equal(a.beta, b.beta)
    assert a.beta[-1] < 1e-9 and a.meta["solution_step"] == 24
    fig11 = random_walk_control(num_steps=1000, dim=200, seed=0)
    assert fig11.meta["solution_step"] == 900 and fig11.alpha.shape == (1001,)
    assert fig11.beta[900] < 1e-9


# --- the user's model is never touched ----------------------------------------------------------------


def _bn_model(dtype=torch.float64):
    g = torch.Generator().manual_seed(2)
    m = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)).to(dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype))
        m[1].running_mean.copy_(torch.randn(6, generator=g, dtype=dtype))
        m[1].running_var.copy_(torch.rand(6, generator=g, dtype=dtype) + 0.5)
    return m


@pytest.mark.parametrize("bn", ["freeze", "recompute"])
@pytest.mark.parametrize("train_mode", [False, True])
def test_user_model_is_bitwise_unchanged_after_every_analysis(bn, train_mode):
    model = _bn_model()
    model.train()  # a non-default flag that must survive
    before = _snapshot(model)
    x, y = _data()
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=7, train_mode=train_mode)
    test_problem = problem.with_data(_data(seed=9))
    theta = problem.theta_from_model()
    traj = theta + torch.cumsum(
        0.05
        * torch.randn(
            8, theta.numel(), generator=torch.Generator().manual_seed(0), dtype=theta.dtype
        ),
        0,
    )
    kw = dict(test_problem=test_problem, evaluation=Evaluation(bn=bn))
    interpolate(problem, traj[0], traj[-1], np.linspace(-0.2, 1.2, 5), **kw)
    for spec in (
        alpha_beta_surface(traj[0], traj[-1], traj),
        alpha_beta_plane(traj[0], traj[-1], traj),
        random_plane(traj[-1], seed=0, layout=problem.layout, normalization="filter"),
        alpha_random_plane(traj[0], traj[-1], seed=1),
        pca_plane(traj),
    ):
        evaluate_surface(
            problem, spec, np.linspace(-0.5, 1.5, 3), np.linspace(-1, 1, 3), trajectory=traj, **kw
        )
    evaluate_points(problem, traj, bn=bn)
    _assert_unchanged(model, before)
    # no global state leaks either (train and test are evaluated by interleaved generators)
    assert torch.is_grad_enabled()


def test_batchnorm_recompute_matches_a_manual_reference():
    import copy

    model = _bn_model()
    x, y = _data(n=40)
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=None)
    theta = problem.theta_from_model() * 1.3
    out = evaluate_points(problem, theta[None], bn="recompute")
    ref = copy.deepcopy(model)
    problem.load_into(ref, theta)
    ref[1].reset_running_stats()
    ref[1].momentum = None
    ref.train()
    with torch.no_grad():
        ref(x)
        ref.eval()
        expected = nn.functional.cross_entropy(ref(x), y)
    assert out["loss"][0] == pytest.approx(float(expected), rel=1e-13)
    frozen = evaluate_points(problem, theta[None], bn="freeze")
    assert frozen["loss"][0] == pytest.approx(problem.loss(theta).item(), rel=1e-14)
    assert abs(frozen["loss"][0] - out["loss"][0]) > 1e-3  # the two modes are different things


# --- batching over points ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk_size", [None, 5])
def test_vmap_batched_evaluation_equals_point_by_point(dtype, chunk_size):
    problem = _problem(dtype, chunk_size=chunk_size)
    theta = problem.theta_from_model()
    g = torch.Generator().manual_seed(8)
    thetas = theta + torch.randn(11, theta.numel(), generator=g, dtype=dtype)
    one = evaluate_points(problem, thetas, batch_points=1)
    rtol, atol = (RTOL64, ATOL64) if dtype == torch.float64 else (RTOL32, ATOL32)
    for bp in (4, 11, "auto"):
        batched = evaluate_points(problem, thetas, batch_points=bp)
        np.testing.assert_allclose(batched["loss"], one["loss"], rtol=rtol, atol=atol)
        np.testing.assert_array_equal(batched["accuracy"], one["accuracy"])
    # point by point is Problem.evaluate exactly
    for k in range(3):
        ev = problem.evaluate(thetas[k])
        assert one["loss"][k] == ev["loss"] and one["accuracy"][k] == ev["accuracy"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_surface_equals_cpu_surface():
    cpu = _problem(torch.float64, chunk_size=7)
    gpu = Problem(_mlp(), "cross_entropy", _data(), chunk_size=7, device="cuda")
    theta = cpu.theta_from_model()
    g = torch.Generator().manual_seed(2)
    d1, d2 = (torch.randn(theta.numel(), generator=g, dtype=torch.float64) for _ in range(2))
    grid = np.linspace(-1, 1, 5)
    ref = surface(cpu, theta, d1, d2, grid, grid, evaluation=Evaluation(batch_points=1))
    for bp in (1, "auto"):
        res = surface(
            gpu,
            theta.cuda(),
            d1.cuda(),
            d2.cuda(),
            grid,
            grid,
            evaluation=Evaluation(batch_points=bp),
        )
        np.testing.assert_allclose(res["train_loss"], ref["train_loss"], rtol=RTOL64, atol=ATOL64)
        np.testing.assert_array_equal(res["train_accuracy"], ref["train_accuracy"])


def test_seeded_subset_equals_loss_on_those_indices():
    problem = _problem(chunk_size=4)
    theta = problem.theta_from_model()
    idx = subset_indices(problem.num_samples, 9, seed=5)
    assert torch.equal(idx, subset_indices(problem.num_samples, 9, seed=5)) and idx.numel() == 9
    res = interpolate(
        problem, theta, 0.5 * theta, [0.0, 1.0], evaluation=Evaluation(subset=9, seed=5)
    )
    assert res["train_loss"][0] == pytest.approx(problem.loss(theta, idx).item(), rel=1e-14)
    assert res["train_loss"][1] == pytest.approx(problem.loss(0.5 * theta, idx).item(), rel=1e-14)
    assert res.meta["indices"]["train"] == idx.tolist()
    assert subset_indices(10, None) is None and subset_indices(10, 50) is None


# --- resumable grid --------------------------------------------------------------------------------


class _Interrupt(Exception):
    pass


class _RaisingLoss:
    """Cross-entropy that raises after ``limit`` calls (simulates an interruption)."""

    def __init__(self, limit: int | None):
        self.limit, self.calls = limit, 0

    def __call__(self, out, y):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise _Interrupt
        return nn.functional.cross_entropy(out, y, reduction="none")


@pytest.mark.parametrize("batch_points", [1, 3])
def test_resumable_grid_continues_to_the_same_grid(tmp_path, batch_points):
    model = _mlp()
    x, y = _data()
    g = torch.Generator().manual_seed(1)
    theta = Problem(model, "cross_entropy", (x, y)).theta_from_model()
    d1, d2 = (torch.randn(theta.numel(), generator=g, dtype=torch.float64) for _ in range(2))
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    kw = dict(evaluation=Evaluation(batch_points=batch_points, flush_seconds=0.0))

    reference = surface(
        Problem(model, _RaisingLoss(None), (x, y)), theta, d1, d2, alphas, betas, **kw
    )
    store = tmp_path / "grid"
    # one loss call per chunk (the data is one chunk) per batch of points
    interrupted = Problem(model, _RaisingLoss(3), (x, y))
    with pytest.raises(_Interrupt):
        surface(interrupted, theta, d1, d2, alphas, betas, store=store, **kw)
    with np.load(store / "values.npz") as f:
        done, partial = f["done"], f["train_loss"]
    assert done.sum() == 3 * batch_points
    assert np.isnan(partial[~done]).all() and np.isfinite(partial[done]).all()
    np.testing.assert_array_equal(partial[done], reference["train_loss"][done])

    counting = _RaisingLoss(None)
    resumed = surface(
        Problem(model, counting, (x, y)), theta, d1, d2, alphas, betas, store=store, **kw
    )
    assert counting.calls == -(-(20 - 3 * batch_points) // batch_points)  # only the missing cells
    np.testing.assert_array_equal(resumed["train_loss"], reference["train_loss"])
    np.testing.assert_array_equal(resumed["train_accuracy"], reference["train_accuracy"])
    assert resumed.complete
    # a finished grid is read back without any evaluation
    again = _RaisingLoss(0)
    surface(Problem(model, again, (x, y)), theta, d1, d2, alphas, betas, store=store, **kw)
    # other inputs into the same folder are refused
    with pytest.raises(ValueError, match="other inputs"):
        surface(
            Problem(model, _RaisingLoss(None), (x, y)),
            theta,
            d1,
            2 * d2,
            alphas,
            betas,
            store=store,
            **kw,
        )


def test_grid_store_round_trip(tmp_path):
    store = GridStore(tmp_path / "g", (2, 3), ["train_loss"], "abc")
    store.values["train_loss"][0, 1] = 4.0
    store.done[0, 1] = True
    store.flush()
    back = GridStore(tmp_path / "g", (2, 3), ["train_loss"], "abc")
    assert back.num_done == 1 and back.values["train_loss"][0, 1] == 4.0


# --- directions --------------------------------------------------------------------------------------


def test_filter_normalization_gives_each_filter_the_weights_norm():
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3),
        nn.BatchNorm2d(5),
        nn.Flatten(),
        nn.Linear(5 * 4 * 4, 7),
        nn.Linear(7, 2),
    ).double()
    problem = Problem(
        model,
        "cross_entropy",
        (torch.randn(4, 3, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 0, 1])),
    )
    theta = problem.theta_from_model()
    for one_dim in ("zero", "weights", "normalize", "keep"):
        d = random_direction(
            theta, seed=1, layout=problem.layout, normalization="filter", one_dim=one_dim
        )
        raw = random_direction(theta, seed=1)
        for slot in problem.layout:
            dd, ww = d[slot.slice], theta[slot.slice]
            if len(slot.shape) >= 2:
                np.testing.assert_allclose(
                    dd.reshape(slot.shape[0], -1).norm(dim=1).numpy(),
                    ww.reshape(slot.shape[0], -1).norm(dim=1).numpy(),
                    rtol=1e-13,
                )
                # the filter's direction is the random one, only rescaled (cosine 1)
                cos = torch.nn.functional.cosine_similarity(
                    dd.reshape(slot.shape[0], -1), raw[slot.slice].reshape(slot.shape[0], -1)
                )
                np.testing.assert_allclose(cos.numpy(), 1.0, rtol=1e-13)
            elif one_dim == "zero":
                assert torch.equal(dd, torch.zeros_like(dd))
            elif one_dim == "weights":
                assert torch.equal(dd, ww)
            elif one_dim == "normalize":
                assert float(dd.norm()) == pytest.approx(float(ww.norm()), rel=1e-13)
            else:
                assert torch.equal(dd, raw[slot.slice])
    # excluding parameters by name zeroes them
    d = random_direction(theta, seed=1, layout=problem.layout, exclude=["4."])
    assert torch.equal(d[problem.layout["4.weight"].slice], torch.zeros(14, dtype=torch.float64))
    assert float(d[problem.layout["0.weight"].slice].abs().min()) > 0
    with pytest.raises(ValueError, match="layout"):
        random_direction(theta, normalization="filter")
    with pytest.raises(KeyError, match="match no parameter"):
        random_direction(theta, layout=problem.layout, exclude=["nope"])
    with pytest.raises(ValueError, match="one_dim"):
        filter_normalize(theta, theta, problem.layout, one_dim="bad")


def test_pca_directions_match_sklearn():
    from sklearn.decomposition import PCA

    traj = _trajectory(T=25, p=60)
    comps, ratio, mean = pca_directions(traj, 3)
    ref = PCA(3).fit(traj.numpy())
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(mean.numpy(), ref.mean_, rtol=1e-13, atol=1e-13)
    # same subspaces: compare the projectors onto each component (sign-free)
    for k in range(3):
        P = np.outer(comps[k].numpy(), comps[k].numpy())
        Q = np.outer(ref.components_[k], ref.components_[k])
        np.testing.assert_allclose(P, Q, atol=1e-9)
    # T > p goes through the SVD branch
    tall = _trajectory(T=30, p=5)
    comps, ratio, _ = pca_directions(tall, 2)
    ref = PCA(2).fit(tall.numpy())
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(comps.numpy() @ ref.components_.T), np.eye(2), atol=1e-9)
    plane = pca_plane(traj)
    assert torch.equal(plane.origin, traj[-1])
    assert plane.info["explained_variance_ratio"][0] >= plane.info["explained_variance_ratio"][1]


# --- surfaces with the trajectory drawn on them ----------------------------------------------------


def test_alpha_beta_surface_holds_the_trajectory():
    problem = _problem()
    theta = problem.theta_from_model()
    g = torch.Generator().manual_seed(0)
    traj = theta + torch.cumsum(
        0.1 * torch.randn(12, theta.numel(), generator=g, dtype=torch.float64), 0
    )
    ruled = AlphaBetaSurface(traj[0], traj[-1], traj)
    coords, dist = ruled.coordinates()
    assert float(dist.max()) < 1e-12  # each trajectory point lies on the surface
    proj = project_trajectory(traj)
    np.testing.assert_allclose(coords[:, 0], proj.alpha_fraction, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(coords[:, 1], proj.beta, rtol=1e-13, atol=1e-14)
    res = evaluate_surface(
        problem, ruled, np.linspace(0, 1, 4), np.linspace(0, 1, 3), trajectory=traj
    )
    expected = evaluate_points(problem, traj)["loss"]
    np.testing.assert_allclose(res.trajectory_values["train_loss"], expected, rtol=1e-12)
    # column alpha = 0 at beta = 0 is theta_i; alpha = 1 at beta = 0 is theta_f
    assert res["train_loss"][0, 0] == problem.loss(traj[0]).item()
    assert res["train_loss"][-1, 0] == problem.loss(traj[-1]).item()


def test_alpha_beta_plane_and_controls_coordinates():
    theta = _problem().theta_from_model()
    g = torch.Generator().manual_seed(1)
    traj = theta + torch.cumsum(
        0.1 * torch.randn(12, theta.numel(), generator=g, dtype=torch.float64), 0
    )
    plane = alpha_beta_plane(traj[0], traj[-1], traj)
    assert abs(float(plane.dir2 @ plane.dir1)) < 1e-12 and float(
        plane.dir2.norm()
    ) == pytest.approx(1.0)
    coords, dist = plane.coordinates(traj)
    np.testing.assert_allclose(coords[[0, -1]], [[0.0, 0.0], [1.0, 0.0]], atol=1e-12)
    proj = project_trajectory(traj)
    k = int(np.argmax(proj.beta))
    assert coords[k, 1] == pytest.approx(proj.beta[k], rel=1e-12) and dist[k] < 1e-12
    ctrl = alpha_random_plane(traj[0], traj[-1], seed=2)
    assert abs(float(ctrl.dir2 @ ctrl.dir1)) < 1e-12
    rp = random_plane(traj[-1], seed=3)
    assert abs(float(rp.dir1 @ rp.dir2)) < 1e-12 and float(rp.dir1.norm()) == pytest.approx(1.0)
    # least-squares coordinates of points built in the plane are their coordinates
    pts = rp.points(
        torch.tensor([0.3, -1.2], dtype=torch.float64),
        torch.tensor([2.0, 0.5], dtype=torch.float64),
    )
    c, dd = rp.coordinates(pts)
    np.testing.assert_allclose(c, [[0.3, 2.0], [-1.2, 0.5]], rtol=1e-12, atol=1e-12)
    assert float(dd.max()) < 1e-12


def test_high_resolution_ranges_and_random_point():
    problem = _problem()
    theta = problem.theta_from_model()
    out = high_resolution_interpolations(
        problem, theta, 0.2 * theta, num=5, evaluation=Evaluation(batch_points=2)
    )
    assert set(out) == {"full", "start", "end"}
    np.testing.assert_array_equal(out["start"].alphas, np.linspace(0, 0.01, 5))
    assert out["end"]["train_loss"][-1] == problem.loss(0.2 * theta).item()
    r = random_point(theta, seed=4, scale=3.0)
    assert float(r.norm()) == pytest.approx(3.0 * float(theta.norm()), rel=1e-12)
    assert torch.equal(r, random_point(theta, seed=4, scale=3.0))
    assert not torch.equal(r, random_point(theta, seed=5, scale=3.0))


# --- results, errors ---------------------------------------------------------------------------------


def test_results_save_and_load(tmp_path):
    problem = _problem()
    theta = problem.theta_from_model()
    res = interpolate(
        problem,
        theta,
        0.5 * theta,
        np.linspace(0, 1, 3),
        test_problem=problem.with_data(_data(seed=3)),
        label="x",
    )
    res.save(tmp_path / "line")
    back = InterpolationResult.load(tmp_path / "line.npz")
    assert back.label == "x" and set(back.values) == {
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
    }
    np.testing.assert_array_equal(back["test_loss"], res["test_loss"])
    traj = theta + torch.cumsum(
        0.1
        * torch.randn(
            5, theta.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64
        ),
        0,
    )
    surf = evaluate_surface(problem, pca_plane(traj), [0.0, 1.0], [0.0, 1.0], trajectory=traj)
    surf.save(tmp_path / "surf")
    sback = SurfaceResult.load(tmp_path / "surf")
    np.testing.assert_array_equal(sback.trajectory, surf.trajectory)
    np.testing.assert_array_equal(sback["train_loss"], surf["train_loss"])
    np.testing.assert_array_equal(
        sback.trajectory_values["train_loss"], surf.trajectory_values["train_loss"]
    )
    proj = project_trajectory(traj, values={"loss": np.arange(5.0)})
    proj.save(tmp_path / "proj")
    pback = TrajectoryProjection.load(tmp_path / "proj")
    np.testing.assert_array_equal(pback.beta, proj.beta)
    np.testing.assert_array_equal(pback.values["loss"], np.arange(5.0))


def test_bad_inputs_name_the_problem():
    problem = _problem()
    theta = problem.theta_from_model()
    with pytest.raises(ValueError, match="theta_b must have shape"):
        interpolate(problem, theta, theta[:-1], [0.0])
    with pytest.raises(ValueError, match="bn must be one of"):
        Evaluation(bn="update")
    with pytest.raises(ValueError, match="batch_points"):
        Evaluation(batch_points=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Evaluation(memory_mb=0.0)
    with pytest.raises(ValueError, match="alphas is empty"):
        interpolate(problem, theta, theta, [])
    with pytest.raises(ValueError, match="either subset"):
        Evaluation(subset=3, indices=[0, 1])
    with pytest.raises(ValueError, match="subset size"):
        interpolate(problem, theta, theta, [0.0], evaluation=Evaluation(subset=0))
    with pytest.raises(ValueError, match="test_problem has"):
        interpolate(problem, theta, theta, [0.0], test_problem=_quadratic_problem()[0])
    with pytest.raises(ValueError, match="non-zero"):
        surface(problem, theta, torch.zeros_like(theta), theta, [0.0], [0.0])
    with pytest.raises(ValueError, match="theta_f equals theta_i"):
        project_trajectory(torch.ones(3, 4))


# --- command line ------------------------------------------------------------------------------------


def test_cli_interpolate_project_surface_on_a_recorded_run(tmp_path):
    """The three commands on a tiny recorded run write their arrays, JSON and figures, and the
    surface grid resumes (a second call evaluates nothing)."""
    import json

    import typer
    from typer.testing import CliRunner

    import landscope
    from landscope.cli._landscape import register_analyses

    config = {
        "name": "tiny",
        "seed": 0,
        "dtype": "float64",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [6]}},
        "training": {"batch_size": 16, "steps": 30},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "record": {"params": {"every": 1}, "eval": {"every": 10}},
    }
    run_dir = tmp_path / "run"
    landscope.train(config, run_dir, progress=False)
    app = typer.Typer()
    app.callback()(lambda: None)
    register_analyses(app)
    runner = CliRunner()
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        ["interpolate", str(run_dir), "--out", str(out), "--alphas=-0.5:1.5:9", "--no-progress"],
    )
    assert r.exit_code == 0, r.output
    line = InterpolationResult.load(out / "interpolation")
    run = landscope.open_run(run_dir)
    assert line.alphas.tolist() == np.linspace(-0.5, 1.5, 9).tolist()
    # alpha = 1 is the recorded final parameters; its loss is the run's final train loss
    final = run.read_json("summary.json")["final"]["train_loss"]
    assert line["train_loss"][6] == pytest.approx(final, rel=1e-12)
    assert (out / "interpolation.png").stat().st_size > 0 and "test_loss" in line.values
    r = runner.invoke(app, ["project", str(run_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    proj = TrajectoryProjection.load(out / "projection")
    assert proj.alpha.shape == (31,) and proj.beta[-1] < 1e-12
    args = [
        "surface",
        str(run_dir),
        "--out",
        str(out),
        "--alphas=0:1:4",
        "--betas=-1:1:3",
        "--no-progress",
    ]
    for plane in ("alpha-beta", "pca"):
        r = runner.invoke(app, [*args, "--plane", plane])
        assert r.exit_code == 0, r.output
        surf = SurfaceResult.load(out / f"surface_{plane}")
        assert (
            surf["train_loss"].shape == (4, 3)
            and surf.complete
            and surf.trajectory.shape == (31, 2)
        )
    meta = json.loads((out / "grid_pca" / "meta.json").read_text())
    assert meta["surface"] == "pca_plane"
    r = runner.invoke(app, [*args, "--plane", "pca"])  # resumes the finished grid
    assert r.exit_code == 0, r.output
    assert SurfaceResult.load(out / "surface_pca").meta["points_evaluated"] == 0
    r = runner.invoke(app, ["surface", str(run_dir), "--out", str(out), "--plane", "nope"])
    assert r.exit_code == 2 and "Invalid value for '--plane'" in r.output
