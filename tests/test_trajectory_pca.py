"""Trajectory PCA, drift mode and rebuilding (Haink 2023 eq. 3.3-3.9, 6.3-6.14, 7.2, 7.3), each
against an independent reference: the explicit covariance's eigendecomposition (numpy, float64),
closed forms (eq. 6.6, 6.12), a trajectory summed directly, exact rebuilding with a complete
basis; and the analyses and the CLI on a tiny recorded run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscope.trajectory import (
    DriftSettings,
    PCASettings,
    TrajectoryPCA,
    drift_mode_variance,
    fit_drift,
    fit_drift_scaling,
    h_cross,
    linear_drift_variance,
    minimum_from_gradient,
    order_basis,
    quadratic_drift,
    quadratic_drift_variance,
    rebuild_curve,
    run_drift_analysis,
    run_pca_analysis,
    sigma_vs_hessian,
    weight_product,
)

RTOL_EXACT = 1e-9  # float64 Gram path against numpy's eigh of the P x P covariance


def _trajectory(seed: int, T: int = 40, P: int = 90) -> np.ndarray:
    """A drift plus a random walk plus a fixed offset, float64 (T, P)."""
    rng = np.random.default_rng(seed)
    drift = np.outer(np.arange(T), rng.normal(size=P)) * 0.3
    walk = np.cumsum(rng.normal(size=(T, P)), axis=0) * 0.1
    return drift + walk + rng.normal(size=P)


def _reference(X: np.ndarray, center: bool = True):
    Xc = X - X.mean(0) if center else X
    C = Xc.T @ Xc / X.shape[0]  # eq. 3.3 with 1/T
    evals, evecs = np.linalg.eigh(C)
    return evals[::-1], evecs[:, ::-1], C


def _assert_components(got: np.ndarray, want: np.ndarray, atol: float) -> None:
    """Rows of ``got`` against columns of ``want`` up to sign, via |<p_i, q_i>| = 1."""
    overlaps = np.abs(np.sum(got * want.T, axis=1))
    worst = int(np.argmin(overlaps))
    assert np.all(overlaps > 1 - atol), f"component {worst}: |overlap| = {overlaps[worst]:.3g}"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("block", [None, 7])
@pytest.mark.parametrize("center", [True, False])
def test_pca_equals_explicit_covariance(seed, block, center):
    X = _trajectory(seed)
    k = 6
    pca = TrajectoryPCA(k, center=center, block_columns=block).fit_matrix(X)
    evals, evecs, C = _reference(X, center)
    np.testing.assert_allclose(pca.explained_variance_, evals[:k], rtol=RTOL_EXACT)
    _assert_components(pca.components_, evecs[:, :k], 1e-9)
    np.testing.assert_allclose(pca.total_variance_, np.trace(C), rtol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_ratio_, evals[:k] / np.trace(C), rtol=1e-9)
    # eq. 3.5: projections of the uncentred w(t); their variance is sigma_i^2 (eq. 3.4)
    np.testing.assert_allclose(pca.projections_, X @ pca.components_.T, rtol=0, atol=1e-9)
    if center:
        np.testing.assert_allclose(pca.projections_.var(axis=0), evals[:k], rtol=1e-9)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(k), atol=1e-12)


def test_all_components_by_default_and_float32_input():
    X = _trajectory(3, T=12, P=30).astype(np.float32)
    pca = TrajectoryPCA().fit_matrix(X)
    assert pca.n_components_ == 11  # rank T - 1 of a centred trajectory
    evals = _reference(X.astype(np.float64))[0]
    np.testing.assert_allclose(pca.explained_variance_, evals[:11], rtol=1e-9)


@pytest.mark.parametrize("method", ["randomized", "krylov"])
@pytest.mark.parametrize("seed", [0, 1])
def test_randomized_agrees_with_exact(seed, method):
    """Randomized subspace iteration (7 power iterations) and randomized block Krylov (4
    blocks) on a trajectory whose spectrum decays: the top 5 variances within 1e-6 relative,
    components within 1e-6 in |overlap|; the same seed gives the same result."""
    X = _trajectory(seed, T=60, P=200)
    exact = TrajectoryPCA(5).fit_matrix(X)
    state = torch.random.get_rng_state()
    rand = TrajectoryPCA(5, method=method, random_state=seed, block_columns=33).fit_matrix(X)
    assert torch.equal(state, torch.random.get_rng_state()), "global random state touched"
    np.testing.assert_allclose(rand.explained_variance_, exact.explained_variance_, rtol=1e-6)
    _assert_components(rand.components_, exact.components_.T, 1e-6)
    np.testing.assert_allclose(rand.projections_, exact.projections_, rtol=1e-5, atol=1e-8)
    again = TrajectoryPCA(5, method=method, random_state=seed, block_columns=33)
    np.testing.assert_array_equal(again.fit_matrix(X).components_, rand.components_)


@pytest.mark.parametrize("rank", [1, 3])
def test_krylov_on_a_low_rank_trajectory(rank):
    """A trajectory of rank 1 (a straight line) or 3 exhausts the Krylov space after the second
    block (the first one's images hold the whole range of M): the basis stays orthonormal (no
    spurious copies of the top variance), the loop stops, and the result equals the exact PCA."""
    rng = np.random.default_rng(rank)
    T, P = 80, 300
    X = rng.normal(size=(T, rank)) @ rng.normal(size=(rank, P)) + rng.normal(size=P)
    exact = TrajectoryPCA(rank).fit_matrix(X)
    kry = TrajectoryPCA(rank, method="krylov", n_oversamples=5).fit_matrix(X)
    np.testing.assert_allclose(kry.explained_variance_, exact.explained_variance_, rtol=1e-9)
    _assert_components(kry.components_, exact.components_.T, 1e-9)
    assert kry.n_iter_ == 1 and kry.passes_ == 3  # 2 Krylov blocks, then the components
    with pytest.raises(ValueError, match=f"fewer than {rank + 1} directions"):
        TrajectoryPCA(rank + 1, method="krylov").fit_matrix(X)


@pytest.mark.parametrize("method", ["randomized", "krylov"])
@pytest.mark.parametrize("T", [3, 8, 29])
def test_short_trajectories_are_exact(method, T):
    """T between l and 2 l (and below l): the Krylov basis must still iterate (it once stopped
    at one random block there, 60 % off); both methods equal the exact PCA to 1e-9."""
    rng = np.random.default_rng(T)
    X = rng.normal(size=(T, 500)) * (0.8 ** np.arange(500))
    k = min(5, T - 1)
    exact = TrajectoryPCA(k).fit_matrix(X)
    got = TrajectoryPCA(k, method=method).fit_matrix(X)
    np.testing.assert_allclose(got.explained_variance_, exact.explained_variance_, rtol=1e-9)
    _assert_components(got.components_, exact.components_.T, 1e-9)


@pytest.mark.parametrize("method", ["exact", "randomized", "krylov"])
def test_total_variance_with_a_large_offset(method):
    """Weights of size 1 moving by 1e-8 (late training): the total variance (and with it the
    explained-variance ratio) is computed from centred values, not as sum x^2 - T m^2."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=1000) + 1e-8 * np.cumsum(rng.normal(size=(100, 1000)), axis=0)
    Xc = X - X.mean(0)
    want = float((Xc**2).sum()) / X.shape[0]
    got = TrajectoryPCA(3, method=method).fit_matrix(X)
    assert got.total_variance_ == pytest.approx(want, rel=1e-6)


def test_randomized_rank_deficiency_is_an_error():
    X = np.outer(np.arange(3.0), np.random.default_rng(1).normal(size=5)) + 1.0  # rank 1
    for method in ("randomized", "krylov", "exact"):
        with pytest.raises(ValueError, match="fewer than 2 directions"):
            TrajectoryPCA(2, method=method).fit_matrix(X)


def test_updates_of_a_matrix_carry_the_later_step():
    pca = TrajectoryPCA(2, target="updates").fit_matrix(_trajectory(0, T=10, P=20))
    assert pca.steps_.tolist() == list(range(1, 10))


def test_krylov_with_one_block_is_worse():
    """n_iter=0 (one Krylov block: Rayleigh-Ritz on M G alone) is far less accurate than the
    default 4 blocks, so the test above would notice a Krylov loop that did nothing."""
    X = _trajectory(1, T=60, P=200)
    exact = TrajectoryPCA(5).fit_matrix(X)
    one = TrajectoryPCA(5, method="krylov", n_iter=0).fit_matrix(X)
    assert one.passes_ == 2 and one.n_iter_ == 0
    rel = np.abs(one.explained_variance_ / exact.explained_variance_ - 1).max()
    assert rel > 1e-3


@pytest.mark.parametrize("method", ["randomized", "krylov"])
@pytest.mark.parametrize("center", [True, False])
def test_randomized_centring_by_rank_one_corrections(center, method):
    """The randomized products run on uncentred blocks with the mean subtracted as rank-one
    corrections: with an offset 1000x the trajectory's spread (float64) they still agree with the
    exact PCA of the centred (or, center=False, uncentred) matrix to 1e-6, as without offset."""
    X = _trajectory(3, T=60, P=200) + 1e3
    exact = TrajectoryPCA(5, center=center).fit_matrix(X)
    rand = TrajectoryPCA(5, method=method, center=center, block_columns=41).fit_matrix(X)
    np.testing.assert_allclose(rand.explained_variance_, exact.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(rand.total_variance_, exact.total_variance_, rtol=1e-10)
    np.testing.assert_allclose(rand.mean_, exact.mean_, rtol=1e-12)
    _assert_components(rand.components_, exact.components_.T, 1e-6)


@pytest.mark.parametrize("method", ["randomized", "krylov"])
def test_randomized_float32_snapshots_keep_float32_precision(method):
    """float32 snapshots (as a run stores them) are multiplied in float32: against the exact
    float64 PCA of the same float32 values, variances agree to 1e-4 relative and components to
    1e-5 in |overlap|.  The bound: float32 rounding is 6e-8 of ||w|| per entry, the offset here
    is ~20x the spread, and sums over 200 columns grow it by at most ~sqrt(200): ~2e-5."""
    X = (_trajectory(5, T=60, P=200) + 20.0).astype(np.float32)
    exact = TrajectoryPCA(5).fit_matrix(X.astype(np.float64))
    rand = TrajectoryPCA(5, method=method, block_columns=64).fit_matrix(X)
    assert rand.components_.dtype == np.float64
    # orthonormal in float64 whatever the products' precision (the analyses check it)
    gram = rand.components_ @ rand.components_.T
    np.testing.assert_allclose(gram, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(rand.explained_variance_, exact.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(rand.total_variance_, exact.total_variance_, rtol=1e-5)
    _assert_components(rand.components_, exact.components_.T, 1e-5)
    # the exact method reads float32 the same as float64
    np.testing.assert_allclose(
        TrajectoryPCA(5).fit_matrix(X).explained_variance_, exact.explained_variance_, rtol=1e-12
    )


def test_power_iterations_auto_is_sklearns_rule():
    X = _trajectory(0, T=60, P=200)
    assert TrajectoryPCA(5, method="randomized").fit_matrix(X).n_iter_ == 7  # 5 < 0.1 * 60
    assert TrajectoryPCA(6, method="randomized").fit_matrix(X).n_iter_ == 4
    pca = TrajectoryPCA(5, method="randomized", n_iter=2).fit_matrix(X)
    assert pca.n_iter_ == 2 and pca.passes_ == 4  # sketch, 2 power iterations, projection
    with pytest.raises(ValueError, match="n_iter"):
        TrajectoryPCA(5, method="randomized", n_iter=-1).fit_matrix(X)
    pca = TrajectoryPCA(5, method="krylov").fit_matrix(X)  # auto: 4 blocks, 3 products beyond
    assert pca.n_iter_ == 3 and pca.passes_ == 5  # 4 Krylov passes, the components' pass
    # more blocks than the T-dimensional space holds: the basis is trimmed, the loop ends early
    many = TrajectoryPCA(5, method="krylov", n_iter=10).fit_matrix(X)
    assert many.n_iter_ < 10
    np.testing.assert_allclose(
        many.explained_variance_, TrajectoryPCA(5).fit_matrix(X).explained_variance_, rtol=1e-9
    )
    with pytest.raises(ValueError, match="n_oversamples"):
        TrajectoryPCA(5, method="krylov", n_oversamples=-1).fit_matrix(X)


def test_updates_target_is_pca_of_differences():
    X = _trajectory(4)
    a = TrajectoryPCA(4, target="updates").fit_matrix(X)
    b = TrajectoryPCA(4).fit_matrix(np.diff(X, axis=0))
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-12)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-12)


def test_errors_name_the_problem():
    X = _trajectory(0, T=5, P=8)
    with pytest.raises(ValueError, match="exceeds the rank"):
        TrajectoryPCA(5).fit_matrix(X)
    with pytest.raises(ValueError, match="target must be"):
        TrajectoryPCA(2, target="velocity").fit_matrix(X)
    with pytest.raises(ValueError, match="shape"):
        TrajectoryPCA(2).fit_matrix(X[0])
    with pytest.raises(RuntimeError, match="not fitted"):
        TrajectoryPCA(2).transform(X)


# --- drift mode -----------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [2, 7, 50])
def test_eq66_exact_for_a_linear_drift(T):
    """w(t) = w0 + a t p: PC1's variance is a^2 (T^2 - 1) / 12 exactly (eq. 6.6) and the fit
    recovers a with R^2 = 1."""
    rng = np.random.default_rng(T)
    p = rng.normal(size=30)
    p /= np.linalg.norm(p)
    a = 0.37
    X = rng.normal(size=30) + a * np.arange(T)[:, None] * p
    pca = TrajectoryPCA(1).fit_matrix(X)
    np.testing.assert_allclose(pca.explained_variance_[0], a**2 * (T**2 - 1) / 12, rtol=1e-12)
    fit = fit_drift(pca.projections_[:, 0], steps=np.arange(T) * 5)
    assert abs(abs(fit.slope) - a) < 1e-12 and fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.ratio == pytest.approx(1.0, abs=1e-12) and fit.stride == 5.0
    assert fit.slope_per_step == pytest.approx(fit.slope / 5)
    assert linear_drift_variance(a, T) == pytest.approx(np.var(a * np.arange(T)), rel=1e-12)


def test_eq66_ratio_equals_r2_with_noise():
    rng = np.random.default_rng(1)
    y = 0.2 * np.arange(100) + rng.normal(size=100)
    fit = fit_drift(y)
    slope, intercept = np.polyfit(np.arange(100), y, 1)
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10)
    assert fit.ratio == pytest.approx(fit.r2, rel=1e-10) and 0.5 < fit.r2 < 1


def test_drift_scaling_recovers_exponents():
    eta = np.array([0.005, 0.01, 0.02, 0.005, 0.01, 0.02])
    T = np.array([50, 50, 50, 200, 200, 200])
    rng = np.random.default_rng(0)
    s = fit_drift_scaling(eta, T, 0.7 * eta**2 * T**2 * np.exp(rng.normal(0, 1e-3, 6)))
    assert abs(s.exponent_lr - 2) < 0.01 and abs(s.exponent_T - 2) < 0.01 and s.r2 > 0.999
    only_T = fit_drift_scaling([0.01] * 3, [10, 20, 40], [1.0, 4.0, 16.0])
    assert np.isnan(only_T.exponent_lr) and only_T.exponent_T == pytest.approx(2.0)


@pytest.mark.parametrize("wd", [0.0, 1e-3, 0.05])
def test_quadratic_model_against_direct_sum_and_gradient_flow(wd):
    """eq. 6.12 (geometric sums) equals the variance of eq. 6.11's trajectory summed directly;
    eq. 6.11 solves dw/dt = -lr (h (w - mu) + wd w) (checked by a finite difference)."""
    w0 = np.array([1.0, 2.0, -1.0, 0.3])
    mu = np.array([0.5, 0.0, 3.0, -2.0])
    h = np.array([10.0, 0.1, 1e-7, 2.0])
    times = np.arange(60) * 3.0
    traj = quadratic_drift(w0, mu, h, lr=0.01, weight_decay=wd, times=times)
    var = quadratic_drift_variance(w0, mu, h, lr=0.01, weight_decay=wd, num_points=60, stride=3)
    np.testing.assert_allclose(var, traj.var(axis=0), rtol=1e-8)
    eps = 1e-4
    t = np.array([7.0 - eps, 7.0 + eps])
    w = quadratic_drift(w0, mu, h, lr=0.01, weight_decay=wd, times=t)
    flow = -0.01 * (h * (w.mean(0) - mu) + wd * w.mean(0))
    np.testing.assert_allclose((w[1] - w[0]) / (2 * eps), flow, rtol=1e-6, atol=1e-12)
    # eq. 6.13 and the minimum from the gradient g = H (w - mu)
    assert drift_mode_variance(np.array([0.6, 0.8, 0, 0]), var) == pytest.approx(
        0.36 * var[0] + 0.64 * var[1]
    )
    np.testing.assert_allclose(minimum_from_gradient(w0, h * (w0 - mu), h), mu, rtol=1e-9)


def test_h_cross_and_sigma_vs_hessian():
    assert h_cross(batch_size=32, lr=0.01, num_train=60000) == pytest.approx(3 * 32 / 600)
    h = np.geomspace(10, 0.01, 12)
    hc = 0.5
    sigma2 = np.where(h < hc, h, hc)  # eq. 3.9: ~h below h_cross, constant above
    rel = sigma_vs_hessian(sigma2, h, h_cross=hc)
    assert rel.alpha_below == pytest.approx(1.0, abs=1e-9)
    assert rel.alpha_above == pytest.approx(0.0, abs=1e-9)
    assert sigma_vs_hessian(h**2, h[::-1]).alpha == pytest.approx(2.0, abs=1e-12)


# --- rebuilding from components -------------------------------------------------------------------
def _problem(seed: int = 0):
    from landscope import Problem

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(60, 4, generator=gen, dtype=torch.float64)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    torch.manual_seed(seed)
    problem = Problem(model.double(), "cross_entropy", (x, y), chunk_size=25)
    theta = torch.randn(problem.num_params, generator=gen, dtype=torch.float64)
    return problem, theta


@pytest.mark.parametrize("order", ["given", "eigenvalue", "abs_eigenvalue", "weight_product"])
def test_rebuild_from_a_complete_basis_gives_the_original(order):
    problem, theta = _problem()
    test = problem.with_data((torch.randn(30, 4, dtype=torch.float64), torch.randint(0, 3, (30,))))
    P = 25  # layer "0": weight 5x4 + bias 5
    gen = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=gen, dtype=torch.float64))
    values = torch.randn(P, generator=gen, dtype=torch.float64)
    curve = rebuild_curve(
        problem, theta, Q.T, test=test, params="0", order=order, values=values.numpy()
    )
    want = problem.evaluate(theta)
    assert curve.counts[-2] == P and curve.counts[0] == 0
    assert curve.train_accuracy[-2] == want["accuracy"]
    assert curve.train_loss[-2] == pytest.approx(want["loss"], rel=1e-12)
    assert curve.test_accuracy[-2] == test.evaluate(theta)["accuracy"]
    assert curve.remainder_norm < 1e-12
    zeroed = theta.clone()
    zeroed[:P] = 0
    assert curve.train_loss[0] == pytest.approx(problem.evaluate(zeroed)["loss"], rel=1e-12)
    # the order used is the documented one
    if order == "weight_product":
        wp = weight_product(Q.T, theta[:P])
        assert np.all(np.diff(np.abs(wp[curve.permutation])) <= 0)


def test_rebuild_with_pcs_ends_at_the_original_through_the_remainder():
    problem, theta = _problem(2)
    X = theta[:25].numpy() + _trajectory(0, T=10, P=25) * 0.01
    pca = TrajectoryPCA(4).fit_matrix(X)
    curve = rebuild_curve(problem, theta, pca.components_, params="0")
    want = problem.evaluate(theta)
    assert curve.counts[-1] == 5 and curve.remainder_norm > 0.1
    assert curve.train_loss[-1] == pytest.approx(want["loss"], rel=1e-12)
    # partial sums: i components give sum_{j<=i} (w . p_j) p_j
    i = 2
    manual = theta.clone()
    P = torch.as_tensor(pca.components_[:i])
    manual[:25] = P.T @ (P @ theta[:25])
    assert curve.train_loss[i] == pytest.approx(problem.evaluate(manual)["loss"], rel=1e-10)


def test_rebuild_rejects_a_non_orthonormal_basis_and_orders():
    problem, theta = _problem()
    with pytest.raises(ValueError, match="orthonormal"):
        rebuild_curve(problem, theta, 2 * np.eye(25), params="0")
    with pytest.raises(ValueError, match="entries"):
        rebuild_curve(problem, theta, np.eye(3), params="0")
    assert order_basis("eigenvalue", values=[1.0, -3.0, 2.0]).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="needs values"):
        order_basis("eigenvalue")


# --- on a recorded run ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from landscope.training import train

    cfg = {
        "name": "tiny-pca",
        "seed": 0,
        "dtype": "float64",
        "data": {"name": "digits"},
        "model": {"name": "mlp", "options": {"widths": [6], "activation": "relu"}},
        "loss": "cross_entropy",
        "optimizer": {"name": "sgd", "lr": 0.05, "weight_decay": 1e-3},
        "training": {"batch_size": 64, "steps": 40},
        "record": {"params": {"every": 2}, "eval": {"every": 20}, "flush_every": 20},
    }
    path = tmp_path_factory.mktemp("pca") / "run"
    train(cfg, path, overwrite=True, progress=False)
    return path


def test_fit_on_a_run_equals_fit_on_its_matrix(tiny_run):
    from landscope.runs import open_run

    run = open_run(tiny_run)
    X = run.read("params", layer="layers.1")
    for target in ("weights", "updates"):
        a = TrajectoryPCA(4, target=target, layer="layers.1", block_columns=13).fit(run)
        b = TrajectoryPCA(4, target=target).fit_matrix(X)
        np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(a.projections_, b.projections_, rtol=1e-9, atol=1e-12)
    rec = TrajectoryPCA(3, target="recorded_updates", layer="layers.1").fit(run)
    c = TrajectoryPCA(3).fit_matrix(run.read("updates", layer="layers.1"))
    np.testing.assert_allclose(rec.explained_variance_, c.explained_variance_, rtol=1e-10)


def test_analyses_write_the_contract(tiny_run, tmp_path):
    res = run_pca_analysis(
        tiny_run,
        PCASettings(layer="layers.1", n_components=5, hessian_k=3),
        tmp_path / "pca",
        progress=False,
    )
    on_disk = json.loads((tmp_path / "pca" / "results.json").read_text())
    assert on_disk["analysis"] == "pca" and set(on_disk) >= {
        "title",
        "paper",
        "settings",
        "summary",
        "provenance",
    }
    assert res["summary"]["components"] == 5
    from landscope.runs import open_run

    run = open_run(tiny_run)
    train, _ = run.problems()
    theta = run.theta("last", like=train)
    assert res["rebuild"]["original"]["train_accuracy"] == train.evaluate(theta)["accuracy"]
    res = run_drift_analysis(
        tiny_run,
        DriftSettings(layer="layers.1", hessian_k=3, line_points=5, scale_points=5),
        tmp_path / "drift",
        progress=False,
    )
    assert res["analysis"] == "drift" and res["weight_decay"]["value"] == 1e-3
    with np.load(tmp_path / "drift" / "scaling.npz") as z:
        # penalty = wd / 2 ||alpha w||^2 over all entries (weight_decay_on_bias defaults to True)
        a = float(z["network_alpha"][2])
        assert a == 1.5
        want = 0.5e-3 * a**2 * float(theta @ theta)
        assert z["network_penalty"][2] == pytest.approx(want, rel=1e-12)
        assert z["network_loss"][2] == pytest.approx(train.loss(a * theta).item(), rel=1e-12)


def test_drift_on_the_whole_network_has_one_scaling_curve(tiny_run, tmp_path):
    """layer=None: the group is the network, so L(alpha w) is evaluated and drawn once (the
    results still answer for "group", with the network's numbers)."""
    from landscope.plotting import plot_drift_results

    res = run_drift_analysis(
        tiny_run,
        DriftSettings(hessian_k=0, line_points=3, scale_points=4),
        tmp_path / "drift",
        progress=False,
    )
    assert res["scaling"]["group_is_network"] is True
    assert res["scaling"]["group"] == res["scaling"]["network"]
    with np.load(tmp_path / "drift" / "scaling.npz") as z:
        assert "group_alpha" not in z.files and z["network_alpha"].size == 4
    figures = plot_drift_results(tmp_path / "drift")
    scaling = [f for f in figures if f.file.startswith("drift_loss_scaling")]
    assert len(scaling) == 1 and "all weights are multiplied" in scaling[0].caption


def test_cli_pca_and_drift(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from landscope.cli._app import _register_all, app

    _register_all()
    runner = CliRunner()
    out = tmp_path / "cli_pca"
    r = runner.invoke(
        app,
        [
            "analyze",
            "pca",
            str(tiny_run),
            "--layer",
            "layers.1",
            "--components",
            "4",
            "--randomized",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    figures = json.loads((out / "figures.json").read_text())
    assert {f["paper_figure"] for f in figures} >= {"Haink Fig. 6.3", "Haink Fig. 6.4"}
    assert all((out / f["file"]).exists() for f in figures)
    r = runner.invoke(
        app,
        [
            "analyze",
            "drift",
            str(tiny_run),
            "--layer",
            "layers.1",
            "--hessian-k",
            "0",
            "--out",
            str(tmp_path / "d"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "d" / "results.json").read_text())["analysis"] == "drift"
    r = runner.invoke(
        app, ["analyze", "pca", str(tiny_run), "--layer", "nope", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "not a layer" in r.output
