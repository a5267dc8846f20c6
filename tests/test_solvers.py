"""Solvers on curvature operators: top-k eigenpairs (Lanczos), warm start, SLQ density, trace.

References are independent: ``torch.linalg.eigh`` of the dense matrix (synthetic matrices with
known spectra, and dense float64 Hessians from ``torch.func.hessian`` of the shared registry's
tiny problems), closed forms of the estimators' variances.  Tolerances (float64):

* eigenvalues to relative 1e-8 and eigenvector projectors ``V V^T`` to 1e-6 (the issue's
  acceptance numbers); the solver runs at tol 1e-10, whose residual bound gives eigenvalue
  errors ~1e-20 / gap, so the comparisons are limited by the reference's own rounding;
* Monte-Carlo estimators: within 5 (exact) standard deviations of the truth, a false-failure
  probability below 1e-6 under the CLT, at fixed seeds (so each test is deterministic).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from tests._problems import CASE_NAMES, assert_close_report, make, reference_loss
from torch.func import hessian

from landscope.curvature import (
    DenseOperator,
    DensitySettings,
    EigenResult,
    HessianOperator,
    SummarySettings,
    TraceSettings,
    curvature_summary,
    format_table,
    hutchinson_trace,
    hutchpp_trace,
    spectral_density,
    top_eigenpairs,
)

F64 = torch.float64


# --- helpers -----------------------------------------------------------------------------------
def matrix_with_spectrum(eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``U diag(eigenvalues) U^T`` with a seeded random orthogonal U (float64)."""
    p = eigenvalues.numel()
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=F64))
    return (U * eigenvalues) @ U.T


def hessian_like_spectrum(p: int = 300, seed: int = 0) -> torch.Tensor:
    """A few outliers above a bulk near zero with a negative tail, as in trained networks."""
    g = torch.Generator().manual_seed(seed)
    outliers = torch.tensor([40.0, 25.0, 18.0, 13.0, 9.0, 7.5, 6.0, 4.0], dtype=F64)
    bulk = torch.rand(p - outliers.numel(), generator=g, dtype=F64) ** 3 * 2.0 - 0.6
    return torch.cat([outliers, bulk])


def reference_pairs(
    A: torch.Tensor, k: int, which: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k wanted eigenpairs of dense A by eigh, plus the full sorted spectrum."""
    lam, U = torch.linalg.eigh(A)
    if which == "LA":
        order = torch.argsort(lam, descending=True)
    elif which == "SA":
        order = torch.argsort(lam)
    else:
        order = torch.argsort(lam.abs(), descending=True)
    return lam[order[:k]], U[:, order[:k]], lam[order]


def assert_pairs_match(
    res: EigenResult, A: torch.Tensor, k: int, which: str, label: str = ""
) -> None:
    ref_vals, ref_vecs, spectrum = reference_pairs(A, k, which)
    scale = float(spectrum.abs().max())
    # Eigenvalues: relative 1e-8 (floored at 1e-8 ||A|| for eigenvalues that are ~0).
    assert_close_report(
        res.eigenvalues, ref_vals, rtol=1e-8, atol=1e-8 * scale * 1e-2, label=f"{label} eigenvalues"
    )
    # Projector onto the k-dimensional wanted subspace: defined when a gap separates the k-th
    # wanted eigenvalue from the next one.
    key = spectrum if which != "LM" else spectrum.abs()
    gap = float((key[k - 1] - key[k]).abs()) if k < len(spectrum) else scale
    assert gap > 1e-6 * scale, f"{label}: test matrix has no gap after the k-th eigenvalue"
    V = res.eigenvectors
    assert_close_report(
        V @ V.T, ref_vecs @ ref_vecs.T, rtol=1e-6, atol=1e-6, label=f"{label} projector"
    )
    # Orthonormal vectors and explicit residuals that are small and correct.
    assert_close_report(
        V.T @ V, torch.eye(k, dtype=F64), rtol=0, atol=1e-10, label=f"{label} V^T V"
    )
    true_res = torch.linalg.vector_norm(A @ V - V * res.eigenvalues, dim=0)
    assert_close_report(
        res.residual_norms, true_res, rtol=0, atol=1e-12 * scale, label=f"{label} residuals"
    )
    assert bool(res.converged.all()), (
        f"{label}: not converged, relative residuals {res.relative_residuals}"
    )
    assert bool(((res.relative_residuals <= res.tol) | res.at_floor).all())


# --- top-k eigenpairs on dense matrices ----------------------------------------------------------
@pytest.mark.parametrize("which", ["LA", "LM", "SA"])
@pytest.mark.parametrize("block_size", [1, 3, 10])
def test_top_eigenpairs_dense_matches_eigh(which, block_size):
    lam = hessian_like_spectrum()
    if which != "LA":
        # Make the negative end matter: large negative eigenvalues (saddle directions) below
        # the bulk, so that the 10 wanted ones are separated from the rest by a gap.
        neg = torch.tensor(
            [-30.0, -22.0, -11.0, -8.0, -5.0, -3.5, -2.8, -2.2, -1.9, -1.5], dtype=F64
        )
        lam = torch.cat([lam[: -neg.numel()], neg])
    A = matrix_with_spectrum(lam, seed=1)
    res = top_eigenpairs(DenseOperator(A), 10, which=which, tol=1e-10, block_size=block_size)
    assert (
        res.which == which
        and res.eigenvalues.shape == (10,)
        and res.eigenvectors.shape == (300, 10)
    )
    assert res.eigenvalues.dtype == F64
    assert_pairs_match(res, A, 10, which, label=f"{which} b={block_size}")
    # Products are counted by the operator and reported.
    assert res.num_matvecs > 0 and res.seconds > 0 and res.num_iterations >= 1


def test_clustered_spectrum_has_no_ghosts_or_missing_copies():
    # A triple eigenvalue at the top, a near-degenerate pair (gap 1e-7), then a bulk: classical
    # Lanczos without reorthogonalization reports copies of converged eigenvalues (ghosts) and
    # single-vector Krylov spaces miss copies of multiple ones.  Block size 3 >= multiplicity.
    top = torch.tensor([10.0, 10.0, 10.0, 9.0 + 1e-7, 9.0, 8.0, 7.0, 7.0], dtype=F64)
    lam = torch.cat([top, torch.linspace(-1.0, 5.0, 192, dtype=F64)])
    A = matrix_with_spectrum(lam, seed=2)
    for b in (3, 8):
        res = top_eigenpairs(DenseOperator(A), 8, tol=1e-10, block_size=b)
        assert_close_report(res.eigenvalues, top, rtol=1e-8, label=f"clustered b={b}")
        # The whole 8-dimensional top subspace (gap 2 to the bulk) is found exactly once.
        _, U8, _ = reference_pairs(A, 8, "LA")
        V = res.eigenvectors
        assert_close_report(
            V @ V.T, U8 @ U8.T, rtol=1e-6, atol=1e-6, label=f"clustered projector b={b}"
        )
        assert_close_report(
            V.T @ V, torch.eye(8, dtype=F64), rtol=0, atol=1e-10, label="orthonormal"
        )


def test_single_vector_lanczos_recovers_multiplicity_on_small_problems():
    # p = 12 with a triple top eigenvalue: the Krylov space of one vector closes early
    # (breakdown); the solver continues with fresh random directions and finds every copy.
    lam = torch.tensor([5.0, 5.0, 5.0, 4.0, 3.0, 3.0, 2.0, 1.0, 0.5, 0.0, -1.0, -2.0], dtype=F64)
    A = matrix_with_spectrum(lam, seed=3)
    res = top_eigenpairs(DenseOperator(A), 10, tol=1e-10, block_size=1)
    assert_close_report(res.eigenvalues, lam[:10], rtol=1e-8, atol=1e-10, label="small p")
    assert bool(res.converged.all())


@pytest.mark.parametrize("block_size", [1, 3, 12])
def test_k_close_to_p_spans_the_whole_space(block_size):
    lam = torch.linspace(-3.0, 8.0, 12, dtype=F64)
    A = matrix_with_spectrum(lam, seed=16)
    res = top_eigenpairs(DenseOperator(A), 10, tol=1e-10, block_size=block_size)
    assert_close_report(res.eigenvalues, lam.flip(0)[:10], rtol=1e-8, atol=1e-10, label="k ~ p")
    assert bool(res.converged.all()) and res.num_matvecs <= 12 + 1


def test_verify_recomputes_residuals_from_fresh_products():
    A = matrix_with_spectrum(hessian_like_spectrum(), seed=4)
    op = DenseOperator(A)
    a = top_eigenpairs(op, 6, tol=1e-10, verify=False)
    b = top_eigenpairs(op, 6, tol=1e-10, verify=True)
    assert b.num_matvecs == a.num_matvecs + 6  # one extra block product of the 6 vectors
    torch.testing.assert_close(a.eigenvalues, b.eigenvalues, rtol=0, atol=0)
    # Residuals from stored products equal those from fresh products up to rounding.
    assert float((a.residual_norms - b.residual_norms).abs().max()) <= 1e-12 * 40.0


def test_float32_is_preserved_and_reports_rounding_floor():
    A = matrix_with_spectrum(hessian_like_spectrum(), seed=5)
    op = DenseOperator(A.float())
    res = top_eigenpairs(op, 8, tol=1e-12, max_matvecs=400)  # unattainable in float32
    assert res.eigenvalues.dtype == torch.float32 and res.eigenvectors.dtype == torch.float32
    ref = torch.linalg.eigvalsh(A).flip(0)[:8]
    # float32 products: eigenvalue errors of order eps32 * ||A|| = 5e-6.
    assert_close_report(res.eigenvalues.double(), ref, rtol=0, atol=2e-5, label="float32")
    # The solver stops at the rounding floor instead of spending the whole budget, and says so:
    # converged to working precision, though the relative residual is above the asked tol.
    assert bool(res.at_floor.all()) and res.all_converged
    assert float(res.relative_residuals.max()) > 1e-12
    assert res.num_matvecs < 400


def test_bad_arguments_raise_clear_errors():
    op = DenseOperator(torch.eye(5, dtype=F64))
    with pytest.raises(ValueError, match="which"):
        top_eigenpairs(op, 2, which="BE")
    with pytest.raises(ValueError, match="k must"):
        top_eigenpairs(op, 6)
    with pytest.raises(ValueError, match="warm_start"):
        top_eigenpairs(op, 2, warm_start=torch.ones(4, 2, dtype=F64))
    with pytest.raises(TypeError, match="CurvatureOperator"):
        top_eigenpairs(torch.eye(5), 2)
    with pytest.raises(ValueError, match="tol"):
        top_eigenpairs(op, 2, tol=0.0)


# --- the Lanczos steps that top_eigenpairs and SLQ share ----------------------------------------
def test_lanczos_state_projection_residuals_and_restart_match_dense():
    from landscope.curvature._lanczos import LanczosState, orthonormalize

    A = matrix_with_spectrum(hessian_like_spectrum(60), seed=17)
    g = torch.Generator().manual_seed(0)
    state = LanczosState(60, 20, F64, torch.device("cpu"))
    W = orthonormalize(torch.randn(60, 3, generator=g, dtype=F64), None, 1e-13)
    for _ in range(4):  # blocks of 3: block Krylov space of dimension 12
        state.extend(W, A @ W)
        W = orthonormalize(A @ W, state.Q, 1e-13)
    Q = state.Q
    assert state.m == 12
    assert_close_report(Q.T @ Q, torch.eye(12, dtype=F64), rtol=0, atol=1e-13, label="Q^T Q")
    assert_close_report(state.M, Q.T @ A @ Q, rtol=0, atol=1e-12, label="M = Q^T A Q")
    assert_close_report(state.G, Q.T @ A @ A @ Q, rtol=0, atol=1e-10, label="G = (AQ)^T AQ")
    theta, Y = state.ritz("LA")
    assert_close_report(theta, torch.linalg.eigvalsh(Q.T @ A @ Q).flip(0), rtol=1e-12, label="ritz")
    X = state.vectors(Y[:, :4])
    exact = A @ X - X * theta[:4]
    assert_close_report(state.residuals(Y[:, :4], theta[:4]), exact, rtol=0, atol=1e-12)
    # The Gram-matrix screen agrees with the explicit residual norms where they are large.
    assert_close_report(
        state.screen(Y[:, :4], theta[:4]), torch.linalg.vector_norm(exact, dim=0), rtol=1e-6
    )
    # A thick restart to the leading 5 Ritz vectors keeps them (and their values) exactly.
    X5 = state.vectors(Y[:, :5])
    state.restart(Y[:, :5])
    assert state.m == 5
    assert_close_report(state.Q, X5, rtol=0, atol=1e-12, label="restart basis")
    assert_close_report(state.ritz("LA")[0], theta[:5], rtol=1e-12, label="restart Ritz values")


def test_slq_and_top_eigenpairs_run_the_same_lanczos_process():
    # From one start vector, single-vector top_eigenpairs (Ritz-residual expansion) and SLQ's
    # three-term recurrence build the same Krylov spaces: after j products the top Ritz values
    # agree.  Two drivers of one process, compared step by step.
    from landscope.curvature._slq import _block_of_lanczos

    A = matrix_with_spectrum(hessian_like_spectrum(200), seed=18)
    v = torch.randn(200, 1, generator=torch.Generator().manual_seed(1), dtype=F64)
    v = v / v.norm()
    res = top_eigenpairs(
        DenseOperator(A),
        3,
        tol=1e-15,
        block_size=1,
        v0=v,
        max_basis=40,
        max_matvecs=14,
        record_history=True,
    )
    assert res.num_restarts == 0 and len(res.history) == 14
    for j in (4, 9, 14):
        nodes, weights = _block_of_lanczos(DenseOperator(A), v, j)
        top3 = nodes[0].sort(descending=True).values[:3]
        hist = torch.tensor(res.history[j - 1]["theta"], dtype=F64)
        assert_close_report(top3, hist, rtol=1e-10, label=f"Ritz values after {j} steps")
        assert abs(float(weights.sum()) - 1.0) < 1e-12


def test_lanczos_step_stops_when_the_krylov_space_closes():
    # Three distinct eigenvalues (with multiplicities): every probe's Krylov space closes after
    # three steps; the quadrature is then exact with three nodes, and no product is wasted.
    lam = torch.tensor([4.0] * 10 + [1.0] * 20 + [-2.0] * 10, dtype=F64)
    A = matrix_with_spectrum(lam, seed=19)
    sd = spectral_density(DenseOperator(A), num_probes=5, lanczos_steps=20, seed=0)
    assert sd.num_matvecs == 5 * 3
    assert bool((sd.weights[:, 3:] == 0).all())
    assert_close_report(
        sd.nodes[:, :3], torch.tensor([[-2.0, 1.0, 4.0]] * 5, dtype=F64), rtol=0, atol=1e-12
    )


# --- on the Hessians of the shared registry ------------------------------------------------------
@pytest.mark.parametrize("name", CASE_NAMES)
def test_top10_hessian_matches_dense_float64(name):
    problem, theta = make(name)
    H = hessian(reference_loss(problem))(theta)
    H = 0.5 * (H + H.T)
    res = top_eigenpairs(HessianOperator(problem, theta), 10, tol=1e-10)
    assert_pairs_match(res, H, 10, "LA", label=name)


@pytest.mark.parametrize("which", ["SA", "LM"])
def test_hessian_negative_end(which):
    problem, theta = make("mlp_softplus_ce_nobias")
    H = hessian(reference_loss(problem))(theta)
    H = 0.5 * (H + H.T)
    assert float(torch.linalg.eigvalsh(H)[0]) < 0  # the case has negative curvature
    res = top_eigenpairs(HessianOperator(problem, theta), 5, which=which, tol=1e-10)
    assert_pairs_match(res, H, 5, which, label=which)


def test_layer_block_matches_dense_block():
    problem, theta = make("mlp_relu_ce")
    H = hessian(reference_loss(problem))(theta)
    sl = problem.layout.layer_slice("0")
    block = H[sl, sl]
    res = top_eigenpairs(HessianOperator(problem, theta, params="0"), 5, tol=1e-10)
    assert_pairs_match(res, 0.5 * (block + block.T), 5, "LA", label="layer 0")


# --- warm start ------------------------------------------------------------------------------------
def test_warm_start_converges_to_same_subspace_with_fewer_products():
    lam = hessian_like_spectrum()
    A = matrix_with_spectrum(lam, seed=6)
    g = torch.Generator().manual_seed(7)
    E = torch.randn(300, 300, generator=g, dtype=F64) * 1e-3
    A1 = A + 0.5 * (E + E.T)  # the next training step's Hessian: the subspace moved a little
    prev = top_eigenpairs(DenseOperator(A), 8, tol=1e-10)
    for b in (1, 8):
        cold = top_eigenpairs(DenseOperator(A1), 8, tol=1e-10, block_size=b, seed=1)
        warm = top_eigenpairs(
            DenseOperator(A1), 8, tol=1e-10, block_size=b, warm_start=prev.eigenvectors
        )
        assert_pairs_match(warm, A1, 8, "LA", label=f"warm b={b}")
        assert warm.num_matvecs < cold.num_matvecs, (b, warm.num_matvecs, cold.num_matvecs)


def test_warm_start_with_exact_eigenvectors_costs_one_block_and_a_probe():
    A = matrix_with_spectrum(hessian_like_spectrum(), seed=8)
    _, U, _ = reference_pairs(A, 8, "LA")
    res = top_eigenpairs(DenseOperator(A), 8, tol=1e-10, block_size=8, warm_start=U)
    # One block, plus one random probe: span(U) is invariant, and an invariant start space
    # could hide further copies of the wanted eigenvalues outside it.
    assert res.num_matvecs == 8 + 1
    assert_pairs_match(res, A, 8, "LA", label="exact warm start")


def test_warm_start_after_one_sgd_step_on_registry_problem():
    problem, theta = make("mlp_softplus_mse")
    prev = top_eigenpairs(HessianOperator(problem, theta), 5, tol=1e-10)
    theta1 = theta - 0.05 * problem.gradient(theta)
    H1 = hessian(reference_loss(problem))(theta1)
    warm = top_eigenpairs(
        HessianOperator(problem, theta1), 5, tol=1e-10, warm_start=prev.eigenvectors
    )
    assert_pairs_match(warm, 0.5 * (H1 + H1.T), 5, "LA", label="after one step")


# --- reproducibility and random state ----------------------------------------------------------
def test_same_seed_same_result_and_caller_rng_untouched():
    A = matrix_with_spectrum(hessian_like_spectrum(), seed=9)
    op = DenseOperator(A)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    r1 = top_eigenpairs(op, 5, tol=1e-8, seed=3)
    r2 = top_eigenpairs(op, 5, tol=1e-8, seed=3)
    s1 = spectral_density(op, num_probes=4, lanczos_steps=20, seed=3)
    s2 = spectral_density(op, num_probes=4, lanczos_steps=20, seed=3)
    h1 = hutchinson_trace(op, 20, seed=3)
    h2 = hutchinson_trace(op, 20, seed=3)
    p1 = hutchpp_trace(op, 30, seed=3)
    p2 = hutchpp_trace(op, 30, seed=3)
    assert torch.equal(torch.get_rng_state(), state), "the caller's global RNG state changed"
    assert torch.equal(r1.eigenvalues, r2.eigenvalues) and torch.equal(
        r1.eigenvectors, r2.eigenvectors
    )
    assert torch.equal(s1.nodes, s2.nodes) and torch.equal(s1.weights, s2.weights)
    assert h1.estimate == h2.estimate and p1.estimate == p2.estimate
    # A different seed draws different probes.
    assert hutchinson_trace(op, 20, seed=4).estimate != h1.estimate
    assert not torch.equal(
        spectral_density(op, num_probes=4, lanczos_steps=20, seed=4).nodes, s1.nodes
    )


# --- spectral density (SLQ) --------------------------------------------------------------------------
def test_slq_quadrature_is_exact_per_probe_and_density_integrates_to_one():
    lam = hessian_like_spectrum(120)
    A = matrix_with_spectrum(lam, seed=10)
    sd = spectral_density(DenseOperator(A), num_probes=6, lanczos_steps=15, seed=0)
    assert sd.nodes.shape == (6, 15) and sd.num_matvecs == 6 * 15
    torch.testing.assert_close(sd.weights.sum(dim=1), torch.ones(6, dtype=F64), rtol=0, atol=1e-12)
    # Gauss quadrature with m nodes is exact for degree < 2m: per probe, sum tau theta^j equals
    # v^T A^j v for the probe v = z / sqrt(p) (same seeded Rademacher draws).
    from landscope.curvature._slq import rademacher

    Z = rademacher(120, 6, torch.Generator().manual_seed(0), F64, "cpu") / math.sqrt(120)
    Aj = torch.eye(120, dtype=F64)
    for j in range(0, 8):
        exact = (Z * (Aj @ Z)).sum(dim=0)
        assert_close_report(sd.moment_samples(j), exact, rtol=1e-9, label=f"moment {j} per probe")
        Aj = A @ Aj
    # The smoothed density integrates to 1 on its default grid (trapezoid rule).
    for sigma in (None, 0.05, 1.0):
        t, phi = sd.density(sigma=sigma, num_points=4000)
        assert abs(float(torch.trapezoid(phi, t)) - 1.0) < 1e-6
        assert bool((phi >= 0).all())


def test_slq_moments_match_traces_of_powers_within_standard_error():
    lam = hessian_like_spectrum(200)
    A = matrix_with_spectrum(lam, seed=11)
    P = 40
    sd = spectral_density(DenseOperator(A), num_probes=P, lanczos_steps=12, seed=5)
    Aj = torch.eye(200, dtype=F64)
    for j in range(1, 5):
        Aj = A @ Aj
        truth = float(Aj.trace()) / 200
        # Exact variance of z^T B z / p for Rademacher z: 2 (||B||_F^2 - sum B_ii^2) / p^2.
        var = 2 * (float((Aj * Aj).sum()) - float((Aj.diagonal() ** 2).sum())) / 200**2
        assert abs(sd.moment(j) - truth) <= 5 * math.sqrt(var / P) + 1e-12, j
        # The reported standard error estimates that spread (loosely: 40 samples).
        assert 0.5 < sd.moment_standard_error(j) / math.sqrt(var / P) < 2.0
    assert abs(sd.trace() - float(lam.sum())) <= 5 * math.sqrt(
        2 * (float((A * A).sum()) - float((A.diagonal() ** 2).sum())) / P
    )


def test_slq_with_full_krylov_space_returns_the_spectrum():
    lam = torch.tensor([3.0, 1.0, -2.0, 0.5, 7.0, 2.0], dtype=F64)
    A = matrix_with_spectrum(lam, seed=12)
    sd = spectral_density(DenseOperator(A), num_probes=3, lanczos_steps=50, seed=0)
    assert sd.nodes.shape == (3, 6)  # steps capped at p
    for i in range(3):
        used = sd.nodes[i][sd.weights[i] > 1e-14]
        # Every node with weight is an eigenvalue.
        assert float((used[:, None] - lam[None, :]).abs().min(dim=1).values.max()) < 1e-10


# --- trace -----------------------------------------------------------------------------------------
def test_hutchinson_converges_to_trace_within_standard_error():
    A = matrix_with_spectrum(hessian_like_spectrum(100), seed=13)
    n = 2000
    est = hutchinson_trace(DenseOperator(A), n, seed=0, block_size=250)
    exact_sd = math.sqrt(2 * (float((A * A).sum()) - float((A.diagonal() ** 2).sum())))
    assert abs(est.estimate - float(A.trace())) <= 5 * exact_sd / math.sqrt(n)
    assert 0.9 < est.standard_error / (exact_sd / math.sqrt(n)) < 1.1
    assert est.num_matvecs == n and est.samples.shape == (n,)
    rm = est.running_mean
    assert rm.shape == (n,) and abs(float(rm[-1]) - est.estimate) < 1e-9
    assert abs(float(est.running_standard_error[-1]) - est.standard_error) < 1e-9 * exact_sd


def test_hutchpp_beats_hutchinson_on_outlier_spectrum():
    lam = hessian_like_spectrum(200)
    A = matrix_with_spectrum(lam, seed=14)
    truth = float(lam.sum())
    errs_h, errs_pp = [], []
    for seed in range(5):
        h = hutchinson_trace(DenseOperator(A), 60, seed=seed)
        pp = hutchpp_trace(DenseOperator(A), 60, seed=seed)
        assert pp.num_matvecs == 60
        assert abs(pp.estimate - truth) <= 5 * pp.standard_error + 1e-9
        errs_h.append(abs(h.estimate - truth))
        errs_pp.append(abs(pp.estimate - truth))
    assert sum(errs_pp) < 0.5 * sum(errs_h)


# --- the summary the CLI prints ------------------------------------------------------------------
def test_curvature_summary_is_json_ready_and_correct():
    problem, theta = make("mlp_softplus_mse")
    H = hessian(reference_loss(problem))(theta)
    ref = torch.linalg.eigvalsh(0.5 * (H + H.T)).flip(0)
    s = curvature_summary(
        problem, theta, SummarySettings(top_k=4, tol=1e-10, trace=True, density=True)
    )
    json.dumps(s)  # JSON-ready: plain floats, ints, lists, bools
    assert_close_report(
        torch.tensor(s["eigenvalues"], dtype=F64), ref[:4], rtol=1e-8, label="summary"
    )
    assert s["all_converged"] and s["dim"] == problem.num_params
    assert (
        s["num_hvps"] == s["eigen_hvps"] + s["trace"]["num_matvecs"] + s["density"]["num_matvecs"]
    )
    # Trace: within 5 standard errors of tr(H); density integrates to 1 on its grid.
    assert abs(s["trace"]["estimate"] - float(H.trace())) <= 5 * s["trace"]["standard_error"]
    t, phi = torch.tensor(s["density"]["grid"]), torch.tensor(s["density"]["density"])
    assert abs(float(torch.trapezoid(phi, t)) - 1.0) < 1e-3
    table = format_table(s)
    assert "Hessian" in table and f"{s['eigenvalues'][0]:.7g}" in table and "trace" in table


def test_curvature_summary_layer_and_bad_layer():
    problem, theta = make("mlp_relu_ce")
    H = hessian(reference_loss(problem))(theta)
    sl = problem.layout.layer_slice("2")
    ref = torch.linalg.eigvalsh(H[sl, sl]).flip(0)
    s = curvature_summary(
        problem, theta, SummarySettings(top_k=3, which="LA", layer="2", tol=1e-10)
    )
    assert s["dim"] == sl.stop - sl.start and s["layer"] == "2"
    assert_close_report(
        torch.tensor(s["eigenvalues"], dtype=F64), ref[:3], rtol=1e-8, label="layer summary"
    )
    with pytest.raises(KeyError, match="nope"):
        curvature_summary(problem, theta, SummarySettings(layer="nope"))
    with pytest.raises(ValueError, match="which"):
        SummarySettings(which="XX")


def test_summary_settings_defaults_and_checks():
    s = SummarySettings()
    assert (s.top_k, s.which, s.layer, s.tol, s.seed, s.backend) == (
        10,
        "LA",
        None,
        1e-6,
        0,
        "auto",
    )
    assert s.trace is None and s.density is None and s.max_matvecs is None
    assert SummarySettings(trace=True).trace == TraceSettings("hutchinson", 100)
    assert SummarySettings(density=True).density == DensitySettings(10, 80, None)
    assert SummarySettings(trace=False).trace is None
    with pytest.raises(AttributeError):
        s.top_k = 3  # frozen
    for bad, match in (
        (dict(top_k=0), "top_k"),
        (dict(tol=0.0), "tol"),
        (dict(trace="hutchinson"), "TraceSettings"),
    ):
        with pytest.raises((ValueError, TypeError), match=match):
            SummarySettings(**bad)
    with pytest.raises(ValueError, match="trace method"):
        TraceSettings("exact")
    with pytest.raises(ValueError, match="lanczos_steps"):
        DensitySettings(lanczos_steps=0)
    with pytest.raises(ValueError, match="sigma"):
        DensitySettings(sigma=-1.0)


def test_curvature_summary_settings_reach_the_solvers():
    # Hutch++ and a chosen sigma / probe count arrive where they are used.
    problem, theta = make("mlp_softplus_mse")
    settings = SummarySettings(
        top_k=2,
        which="SA",
        tol=1e-8,
        trace=TraceSettings("hutch++", 30),
        density=DensitySettings(probes=3, lanczos_steps=7, sigma=0.5),
    )
    s = curvature_summary(problem, theta, settings)
    assert s["which"] == "SA" and s["trace"]["method"] == "hutch++"
    assert s["trace"]["num_matvecs"] == 30
    assert s["density"]["sigma"] == 0.5 and s["density"]["num_probes"] == 3
    assert s["density"]["lanczos_steps"] == 7
    H = hessian(reference_loss(problem))(theta)
    ref = torch.linalg.eigvalsh(0.5 * (H + H.T))[:2]
    assert_close_report(torch.tensor(s["eigenvalues"], dtype=F64), ref, rtol=1e-6, label="SA")
    with pytest.raises(TypeError, match="SummarySettings"):
        curvature_summary(problem, theta, {"top_k": 2})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_solvers_on_cuda_match_cpu():
    A = matrix_with_spectrum(hessian_like_spectrum(), seed=15)
    cpu = top_eigenpairs(DenseOperator(A), 8, tol=1e-10, block_size=8)
    gpu = top_eigenpairs(DenseOperator(A.cuda()), 8, tol=1e-10, block_size=8)
    assert gpu.eigenvectors.device.type == "cuda" and gpu.eigenvalues.dtype == F64
    torch.testing.assert_close(gpu.eigenvalues.cpu(), cpu.eigenvalues, rtol=1e-10, atol=0)
    sd = spectral_density(DenseOperator(A.cuda()), num_probes=3, lanczos_steps=10, seed=0)
    sd_cpu = spectral_density(DenseOperator(A), num_probes=3, lanczos_steps=10, seed=0)
    torch.testing.assert_close(sd.nodes, sd_cpu.nodes, rtol=1e-9, atol=1e-9)
    h = hutchinson_trace(DenseOperator(A.cuda()), 32, seed=0)
    assert abs(h.estimate - hutchinson_trace(DenseOperator(A), 32, seed=0).estimate) < 1e-9 * abs(
        h.estimate
    )
