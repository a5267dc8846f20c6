"""Diffusion maps of SGD trajectories (Fjellstrom & Nystrom), the core: distances (eq. 2.5),
covariances (eq. 2.6-2.9), the diffusion map (eq. 2.10-2.14), the cache, the analysis and CLI.

Each check is against an independent reference with its tolerance stated where it is used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _dense_references import dense_pinv_sq_distances
from _gloo import spawn_gloo
from landscope.diffusion import (
    DiffusionMap,
    WhiteningFactors,
    euclidean_sq_distances,
    mahalanobis_sq_distances,
    whitening_factors,
)


def _low_rank_case(seed=0, M=9, m=7, N=4, far=50.0):
    """M points far from the origin (centring matters) with rank-N covariances whose eigenvalues
    spread over 1..1e-3, so the dense pinv is itself accurate to ~1e-13."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, m)) + far
    scales = np.array([1.0, 0.3, 0.1, 0.03])[:N]
    Us = [rng.standard_normal((m, N)) * scales for _ in range(M)]
    return X, Us


# --- eq. 2.5 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("block_entries", [10, 2**23])
def test_low_rank_pinv_distance_equals_dense_pinv(seed, block_entries):
    # Tolerance 1e-10 relative to the largest distance (float64; both sides are rounding-level
    # exact for eigenvalue spreads of 1e3): the low-rank route never forms C or its pinv.
    X, Us = _low_rank_case(seed)
    wf = whitening_factors(Us, cutoff=1e-12)
    D = mahalanobis_sq_distances(X, wf, block_entries=block_entries)
    ref = dense_pinv_sq_distances(X, [U @ U.T for U in Us], rcond=1e-12)
    assert np.abs(D - ref).max() <= 1e-10 * np.abs(ref).max()
    assert wf.ranks.tolist() == [4] * len(X)


def test_cutoff_and_fixed_rank_select_the_same_directions_as_dense_pinv():
    # With C's eigenvalues (1, 0.09, 0.01, 9e-4) x spread, cut-off 0.05 keeps 2 directions:
    # dense pinv with rcond=0.05 and the fixed rank 2 agree with it to 1e-10.
    X, Us = _low_rank_case(2)
    Us = [U / np.linalg.norm(U, axis=0) * np.array([1.0, 0.3, 0.1, 0.03]) for U in Us]
    ref = dense_pinv_sq_distances(X, [U @ U.T for U in Us], rcond=0.05)
    for wf in (whitening_factors(Us, cutoff=0.05), whitening_factors(Us, inverse="rank", rank=2)):
        D = mahalanobis_sq_distances(X, wf)
        assert np.abs(D - ref).max() <= 1e-10 * np.abs(ref).max()
        assert set(wf.ranks.tolist()) == {2}


def test_ridge_inverse_equals_dense_inverse():
    X, Us = _low_rank_case(3)
    delta = 1e-3
    wf = whitening_factors(Us, inverse="ridge", delta=delta)
    D = mahalanobis_sq_distances(X, wf)
    m = X.shape[1]
    invs = [np.linalg.inv(U @ U.T + delta * np.eye(m)) for U in Us]
    ref = np.array(
        [
            [0.5 * (a - b) @ (invs[i] + invs[j]) @ (a - b) for j, b in enumerate(X)]
            for i, a in enumerate(X)
        ]
    )
    assert np.abs(D - ref).max() <= 1e-10 * np.abs(ref).max()


def test_identity_metric_is_euclidean_and_float32_path_is_close():
    X, Us = _low_rank_case(4)
    M, m = X.shape
    E = ((X[:, None] - X[None]) ** 2).sum(-1)
    D = mahalanobis_sq_distances(X, WhiteningFactors.identity(M, m))
    assert np.abs(D - E).max() <= 1e-10 * E.max()
    assert np.abs(euclidean_sq_distances(X) - E).max() <= 1e-10 * E.max()
    wf = whitening_factors(Us)
    d64 = mahalanobis_sq_distances(X, wf)
    d32 = mahalanobis_sq_distances(X, wf, dtype=torch.float32)
    # float32 products on centred coordinates: relative error ~1e-6 of the largest entry
    assert np.abs(d32 - d64).max() <= 1e-4 * d64.max()


def test_streamed_blocks_equal_the_stacked_factors():
    # Factors streamed in blocks of 4, 3, 2 points (out of order) give the same d^2 to rounding
    # (1e-12 relative: the same products, regrouped) and the same per-point ranks.
    from landscope.diffusion import streamed_sq_distances

    X, Us = _low_rank_case(7)
    Us[2] = Us[2][:, :2]  # ragged ranks
    ref = mahalanobis_sq_distances(X, whitening_factors(Us))
    parts = [(4, Us[4:7]), (0, Us[0:4]), (7, Us[7:9])]
    got, summary = streamed_sq_distances(X, ((s, whitening_factors(u)) for s, u in parts))
    assert np.abs(got - ref).max() <= 1e-12 * ref.max()
    assert summary.ranks.tolist() == whitening_factors(Us).ranks.tolist()
    with pytest.raises(ValueError, match="cover"):
        streamed_sq_distances(X, iter([(0, whitening_factors(Us[:4]))]))


def test_zero_covariance_gives_rank_zero_and_bad_settings_fail():
    X, Us = _low_rank_case(5)
    Us[0] = np.zeros_like(Us[0])
    wf = whitening_factors(Us)
    assert wf.ranks[0] == 0 and wf.top_eigenvalues[0] == 0.0
    with pytest.raises(ValueError, match="cutoff"):
        whitening_factors(Us, cutoff=2.0)
    with pytest.raises(ValueError, match="rank"):
        whitening_factors(Us, inverse="rank")
    with pytest.raises(ValueError, match="points"):
        mahalanobis_sq_distances(X[:3], wf)


# --- eq. 2.10-2.14 -----------------------------------------------------------------------------
def _circle(M=200):
    t = np.linspace(0, 2 * np.pi, M, endpoint=False)
    return np.c_[np.cos(t), np.sin(t)]


def test_circle_reproduces_laplacian_spectrum():
    # Uniform points on the unit circle: P ~ exp(eps/4 * Laplacian), whose eigenvalues are
    # exp(-eps k^2 / 4), k = 0, 1, 1, 2, 2, ... (cos k t and sin k t).  Tolerance: -4 log(lam)/eps
    # within 1 % of k^2 for k = 1..4 (measured 0.3 % at eps = 0.01, M = 200; the error is
    # O(eps k^2) from the chord-vs-arc and the Gaussian's higher moments).
    dm = DiffusionMap(eps=0.01).fit(euclidean_sq_distances(_circle()))
    mu = -4 * np.log(dm.eigenvalues_[:9]) / 0.01
    k2 = np.array([0, 1, 1, 4, 4, 9, 9, 16, 16], dtype=float)
    assert abs(mu[0]) < 1e-9
    np.testing.assert_allclose(mu[1:], k2[1:], rtol=1e-2)
    # The pair for k = 1 spans cos t, sin t: the embedding is a circle (radius constant to 1 %).
    r = np.linalg.norm(dm.embedding(1, 2), axis=1)
    assert r.std() / r.mean() < 1e-2


def test_flat_strip_reproduces_neumann_laplacian_spectrum():
    # A grid on the rectangle [0, 1] x [0, 0.4] (spacing 0.02): the Neumann Laplacian has
    # eigenvalues pi^2 (k^2 + l^2 / 0.4^2).  Tolerance 3 % on the first 7 nontrivial ones (measured
    # <= 1.4 % at eps = 0.002; the boundary layer and grid spacing give O(sqrt(eps)) errors).
    h, a, b = 0.02, 1.0, 0.4
    G = np.array([(x, y) for x in np.arange(h / 2, a, h) for y in np.arange(h / 2, b, h)])
    dm = DiffusionMap(eps=0.002, n_components=10, random_state=0).fit(euclidean_sq_distances(G))
    mu = -4 * np.log(dm.eigenvalues_[:8]) / 0.002
    ana = sorted(np.pi**2 * (k**2 / a**2 + j**2 / b**2) for k in range(6) for j in range(4))[:8]
    np.testing.assert_allclose(mu[1:], ana[1:], rtol=3e-2)


@pytest.mark.parametrize("alpha", [0.5, 0.0, 1.0])
def test_transition_matrix_is_row_stochastic_and_eigenpairs_hold(alpha):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    dm = DiffusionMap(eps=3.0, alpha=alpha).fit(euclidean_sq_distances(X))
    P = dm.transition_matrix()
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    # right eigenvectors: P psi = lam psi; left: phi^T P = lam phi^T; psi_0 = 1, phi_0 = pi
    np.testing.assert_allclose(P @ dm.eigenvectors_, dm.eigenvectors_ * dm.eigenvalues_, atol=1e-10)
    np.testing.assert_allclose(
        dm.left_eigenvectors_.T @ P, dm.left_eigenvectors_.T * dm.eigenvalues_[:, None], atol=1e-10
    )
    np.testing.assert_allclose(dm.eigenvectors_[:, 0], 1.0, atol=1e-10)
    np.testing.assert_allclose(dm.stationary_ @ P, dm.stationary_, atol=1e-12)
    assert dm.eigenvalues_[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(np.abs(dm.eigenvalues_)) <= 1e-12)


def test_paper_normalisation_matches_explicit_matrices():
    # eq. 2.10-2.11 written out with dense matrices: K (diagonal 1), D, K~, D~, P.
    rng = np.random.default_rng(1)
    d2 = euclidean_sq_distances(rng.standard_normal((30, 3)))
    K = np.exp(-d2 / 2.0)
    Dm = np.diag(K.sum(1) ** -0.5)
    Kt = Dm @ K @ Dm
    P = np.diag(1 / Kt.sum(1)) @ Kt
    dm = DiffusionMap(eps=2.0).fit(d2)
    np.testing.assert_allclose(dm.transition_matrix(), P, atol=1e-14)
    np.testing.assert_allclose(
        np.sort(dm.eigenvalues_), np.sort(np.linalg.eigvals(P).real), atol=1e-10
    )
    assert dm.kernel_sum_ == pytest.approx(K.sum(), rel=1e-14)


def test_diffusion_distance_equals_eq_2_13_left_side():
    X = _circle(60) + 0.05 * np.random.default_rng(2).standard_normal((60, 2))
    dm = DiffusionMap(eps=0.2).fit(euclidean_sq_distances(X))
    for tau in (1, 3):
        Pt = np.linalg.matrix_power(dm.transition_matrix(), tau)
        lhs = ((Pt[:, None, :] - Pt[None, :, :]) ** 2 / dm.stationary_).sum(-1)
        assert np.abs(dm.diffusion_distance(tau) - lhs).max() <= 1e-9 * lhs.max()


def test_fit_is_deterministic_and_iterative_solver_matches_dense():
    rng = np.random.default_rng(3)
    d2 = euclidean_sq_distances(rng.standard_normal((600, 4)))
    full = DiffusionMap(eps=2.0).fit(d2)
    again = DiffusionMap(eps=2.0).fit(d2)
    np.testing.assert_array_equal(full.eigenvectors_, again.eigenvectors_)
    top = DiffusionMap(eps=2.0, n_components=6, random_state=0).fit(d2)
    np.testing.assert_allclose(top.eigenvalues_, full.eigenvalues_[:6], atol=1e-10)
    # deterministic signs: the same vectors, not just the same projectors
    np.testing.assert_allclose(top.eigenvectors_, full.eigenvectors_[:, :6], atol=1e-7)


def test_knn_sparsification_reports_dropped_mass():
    X = _circle(200)
    d2 = euclidean_sq_distances(X)
    dense = DiffusionMap(eps=0.01, n_components=6).fit(d2)
    sparse = DiffusionMap(eps=0.01, n_components=6, knn=25).fit(d2)
    K = np.exp(-d2 / 0.01)
    nearest = np.argsort(d2, axis=1)[:, :25]
    mask = np.zeros_like(K, dtype=bool)
    mask[np.repeat(np.arange(200), 25), nearest.ravel()] = True
    mask |= mask.T
    assert sparse.dropped_mass_ == pytest.approx(K[~mask].sum() / K.sum(), rel=1e-9)
    # 12 neighbours each side at spacing 2 pi / 200: the first dropped entry is exp(-14) ~ 1e-6
    assert 0 < sparse.dropped_mass_ < 1e-5
    np.testing.assert_allclose(sparse.eigenvalues_, dense.eigenvalues_, atol=1e-5)
    assert DiffusionMap(eps=0.01, knn=5).fit(d2).dropped_mass_ > 1e-3


def test_euclidean_metric_agrees_with_pydiffmap():
    # pydiffmap's kernel is exp(-d^2 / (4 eps_pd)) and it returns the generator (P - I)/eps_pd
    # with P = D~^-1 K D^-alpha (right-normalised only), the same P as eq. 2.11 for alpha = 1/2.
    # So eps_pd = eps / 4 and lam = 1 + eps_pd * evals_pd.  Tolerance 1e-6: pydiffmap uses ARPACK
    # eigs (non-symmetric) with its default tolerance.
    pdm = pytest.importorskip("pydiffmap.diffusion_map", reason="pydiffmap not installed")
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 3))
    eps = 2.0
    ref = pdm.DiffusionMap.from_sklearn(alpha=0.5, k=59, epsilon=eps / 4, n_evecs=6)
    ref.fit(X)
    ours = DiffusionMap(eps=eps).fit(euclidean_sq_distances(X))
    np.testing.assert_allclose(1 + eps / 4 * ref.evals, ours.eigenvalues_[1:7], atol=1e-6)
    for j in range(6):  # eigenvectors up to scale and sign
        a, b = ref.evecs[:, j], ours.eigenvectors_[:, j + 1]
        assert abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 1 - 1e-6


def test_bad_distance_matrices_fail_with_one_line_reason():
    with pytest.raises(ValueError, match="square"):
        DiffusionMap(eps=1.0).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="symmetric"):
        DiffusionMap(eps=1.0).fit(np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="eps"):
        DiffusionMap(eps=0.0).fit(np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="fit"):
        DiffusionMap(eps=1.0).embedding()


# --- the all-pairs stage over torch.distributed -------------------------------------------------
def _dist_worker(rank: int, world_size: int, port: int, out_path: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        X, Us = _low_rank_case(6, M=11)
        D = mahalanobis_sq_distances(X, whitening_factors(Us), distributed=True, block_entries=40)
        if rank == 0:
            np.save(out_path, D)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_gloo_processes_equal_single_process(tmp_path):
    # Each rank computes its rows of q; one all-reduce gathers them.  Tolerance 1e-12 relative:
    # the same arithmetic per row; a missing or doubled block would be an O(1) error.
    out_path = str(tmp_path / "rank0.npy")
    spawn_gloo(_dist_worker, out_path)
    got = np.load(out_path)
    X, Us = _low_rank_case(6, M=11)
    ref = mahalanobis_sq_distances(X, whitening_factors(Us))
    assert np.abs(got - ref).max() <= 1e-12 * ref.max()


# --- covariances (eq. 2.6-2.9) -----------------------------------------------------------------
def _small_problem(loss="cross_entropy", N=12, seed=0):
    from landscope import Problem

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, generator=g, dtype=torch.float64)
    if loss == "cross_entropy":
        y = torch.randint(0, 3, (N,), generator=g)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    else:
        y = torch.randn(N, 1, generator=g, dtype=torch.float64)
        model = torch.nn.Linear(3, 1)
    torch.manual_seed(seed)
    problem = Problem(model.double(), loss, (x, y))
    return problem, problem.theta_from_model()


def test_exact_covariance_equals_sampled_minibatch_gradient_covariance():
    # eq. 2.6 is the covariance of the mini-batch gradient for batches of n drawn WITHOUT
    # replacement.  Draw K = 20,000 such batches (numpy Generator, seed 0) and compare the
    # empirical covariance (about the known full gradient) entry by entry: each entry's standard
    # error is std(X_a X_b) / sqrt(K), estimated from the same samples; tolerance 5 standard
    # errors (+1e-14).  The with-replacement covariance (1/n)(F - g g^T), 37.5 % larger here
    # (N = 12, n = 4), is outside that tolerance: the test can fail.
    from landscope.curvature import per_sample_gradients
    from landscope.diffusion import noise_covariance_factors

    problem, theta = _small_problem()
    N, n, K = 12, 4, 20_000
    U = noise_covariance_factors(problem, theta[None], batch_size=n)[0].numpy()
    C = U @ U.T
    G = per_sample_gradients(problem, theta).numpy()
    g = G.mean(0)
    rng = np.random.default_rng(0)
    batches = np.argsort(rng.random((K, N)), axis=1)[:, :n]  # K draws without replacement
    X = G[batches].mean(1) - g
    emp = X.T @ X / K
    se = (X[:, :, None] * X[:, None, :]).std(0) / np.sqrt(K)
    assert np.all(np.abs(emp - C) <= 5 * se + 1e-14)
    with_replacement = (G - g).T @ (G - g) / N / n
    assert not np.all(np.abs(emp - with_replacement) <= 5 * se + 1e-14)


@pytest.mark.parametrize("form", ["exact", "critical_point", "fisher"])
@pytest.mark.parametrize("params", [None, "2", ["0.bias", "2.weight"]])
def test_batched_factors_equal_noise_covariance_operator(form, params):
    from landscope.curvature import NoiseCovarianceOperator
    from landscope.diffusion import noise_covariance_factors

    problem, theta = _small_problem()
    thetas = torch.stack([theta, theta + 0.1, theta - 0.2])
    U = noise_covariance_factors(problem, thetas, batch_size=3, form=form, params=params)
    for b in range(3):
        ref = NoiseCovarianceOperator(
            problem, thetas[b], batch_size=3, form=form, params=params
        ).factor
        assert torch.allclose(U[b], ref, rtol=1e-12, atol=1e-14)


def test_mae_uses_the_sign_subgradient():
    # Linear model with MAE: nabla f_i = sign(w.x_i + b - y_i) (x_i, 1); eq. 2.6 from these.
    from landscope.diffusion import noise_covariance_factors

    problem, theta = _small_problem("mae")
    x, y = problem.data.x, problem.data.y
    w, b = theta[:3], theta[3]
    G = torch.sign(x @ w + b - y[:, 0])[:, None] * torch.cat([x, torch.ones(12, 1)], 1)
    c = (12 - 4) / (4 * 11)
    ref = (G - G.mean(0)).T * np.sqrt(c / 12)
    U = noise_covariance_factors(problem, theta[None], batch_size=4)[0]
    assert torch.allclose(U, ref.to(U.dtype), atol=1e-14)


def test_full_batch_noise_is_an_error_but_fisher_is_not():
    from landscope.diffusion import noise_covariance_factors

    problem, theta = _small_problem()
    with pytest.raises(ValueError, match="n = N = 12"):
        noise_covariance_factors(problem, theta[None], batch_size=12)
    U = noise_covariance_factors(problem, theta[None], batch_size=12, form="fisher")
    assert U.abs().max() > 0


def test_window_covariance_is_eq_2_9():
    from landscope.diffusion import window_covariance_factors

    X = np.random.default_rng(0).standard_normal((9, 4))
    Us = list(window_covariance_factors(X, 2))
    for t, U in enumerate(Us):
        W = X[max(0, t - 2) : t + 3]
        mu = W.mean(0)
        ref = sum(np.outer(v - mu, v - mu) for v in W)  # the paper's sum, not a mean
        np.testing.assert_allclose(U.numpy() @ U.numpy().T, ref, atol=1e-12)
    assert [U.shape[1] for U in Us] == [3, 4, 5, 5, 5, 5, 5, 4, 3]
    with pytest.raises(ValueError, match="half-width"):
        next(window_covariance_factors(X, 0))


# --- recorded runs: point clouds, the cache, the analysis, the CLI --------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The paper's Iris net (experiments/fjellstrom/iris.yaml) for 4 epochs: 25 recorded steps."""
    from pathlib import Path

    import yaml

    from landscope.training import train

    cfg = yaml.safe_load(
        (Path(__file__).parents[1] / "experiments" / "fjellstrom" / "iris.yaml").read_text()
    )
    cfg["training"]["epochs"] = 4
    cfg["record"] = {"params": {"every": 1}, "eval": {"every": 6}, "flush_every": 24}
    out = tmp_path_factory.mktemp("diffusion") / "iris"
    train(cfg, out, progress=False)
    return out


def test_point_cloud_selects_steps_layers_and_merges_runs(tiny_run):
    from landscope.diffusion import point_cloud
    from landscope.runs import Series, open_run

    run = open_run(tiny_run)
    full = point_cloud(run)
    assert full.points.shape == (25, 515) and full.steps.tolist() == list(range(25))
    layer = point_cloud(run, every=4, params="layers.1")
    np.testing.assert_array_equal(
        layer.points, run.read(Series.PARAMS, steps=layer.steps.tolist(), layer="layers.1")
    )
    assert layer.steps.tolist() == [0, 4, 8, 12, 16, 20, 24]
    both = point_cloud([run, tiny_run], max_points=5)
    assert both.points.shape == (10, 515) and both.run_index.tolist() == [0] * 5 + [1] * 5
    assert both.steps[:5].tolist() == [0, 6, 12, 18, 24]


def test_analysis_reuses_cached_distances(tiny_run, tmp_path, monkeypatch):
    import landscope.diffusion._covariance as cov
    from landscope.diffusion import DiffusionSettings, run_diffusion_analysis

    first = run_diffusion_analysis(
        tiny_run, DiffusionSettings(eps="max_slope"), tmp_path / "a", progress=False
    )
    assert first["summary"]["distances cached"] is False

    def boom(*args, **kwargs):
        raise AssertionError("distances were recomputed")

    monkeypatch.setattr(cov, "covariance_whitening", boom)
    monkeypatch.setattr(cov, "iter_whitening_blocks", boom)
    # eps, beta and the rolling window are not part of the key: read from the cache
    again = run_diffusion_analysis(
        tiny_run,
        DiffusionSettings(eps=2.0, beta=0.9, rolling_window=12, rolling_stride=6),
        tmp_path / "b",
        progress=False,
    )
    assert again["summary"]["distances cached"] is True
    assert again["provenance"]["distance_cache"] == first["provenance"]["distance_cache"]
    a = np.load(tmp_path / "a" / "diffusion.npz")["ranks"]
    np.testing.assert_array_equal(a, np.load(tmp_path / "b" / "diffusion.npz")["ranks"])
    # another cut-off is another key: it would recompute (and here fails loudly)
    with pytest.raises(AssertionError, match="recomputed"):
        run_diffusion_analysis(
            tiny_run, DiffusionSettings(cutoff=1e-6), tmp_path / "c", progress=False
        )


def test_analysis_results_follow_the_contract(tiny_run, tmp_path):
    from landscope.diffusion import DiffusionMap, DiffusionSettings, run_diffusion_analysis
    from landscope.diffusion._cache import load_arrays

    res = run_diffusion_analysis(
        tiny_run, DiffusionSettings(metric="window", half_width=2), tmp_path, progress=False
    )
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["analysis"] == "diffusion" and set(on_disk) >= {
        "title",
        "paper",
        "settings",
        "summary",
        "provenance",
    }
    assert on_disk["summary"] == json.loads(json.dumps(res["summary"]))
    # the saved spectrum is the diffusion map of the cached distances at the chosen eps
    arrays, _ = load_arrays(tmp_path / "diffusion")
    cached, _ = load_arrays(Path(res["provenance"]["distance_cache"]) / "distances")
    lam = DiffusionMap(eps=res["summary"]["eps"]).fit(cached["sq_distances"]).eigenvalues_
    np.testing.assert_allclose(arrays["eigenvalues"], lam, atol=1e-12)
    assert res["summary"]["points M"] == 25 and res["summary"]["coordinates m"] == 515


def test_cli_analyze_diffusion_on_a_recorded_run(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from landscope.cli._app import _register_all, app

    _register_all()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "diffusion",
            str(tiny_run),
            "--out",
            str(out),
            "--metric",
            "fisher",
            "--eps",
            "lafon",
            "--window",
            "12",
            "--stride",
            "6",
            "--layer",
            "layers.2",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "d=" in result.output
    figures = json.loads((out / "figures.json").read_text())
    assert {f["file"] for f in figures} >= {
        "eigenvalues.png",
        "kernel_sum.png",
        "eps_scan.png",
        "embedding_step.png",
        "rolling.png",
    }
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["coordinates m"] == 14 * 3 + 3
    assert res["eps"]["chosen"]["rule"] == "lafon"
    bad = CliRunner().invoke(
        app, ["analyze", "diffusion", str(tiny_run), "--out", str(out), "--batch-size", "120"]
    )
    assert bad.exit_code == 2 and "n = N = 120" in bad.output
