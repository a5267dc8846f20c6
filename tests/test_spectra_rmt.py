"""Random-matrix checks of weights and Hessians (Haink ch. 4, eq. 4.2-4.3, 6.1-6.2, 7.4-7.9):
Marchenko-Pastur fit, Wigner surmise, singular matrices, overlaps, eigenvector statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.problem import ParameterLayout
from landscope.spectra import (
    R_GOE,
    R_POISSON,
    MarchenkoPastur,
    abs_overlaps,
    inverse_participation_ratio,
    layer_concentration,
    layer_overlaps,
    loss_along_eigenvector,
    marchenko_pastur_cdf,
    marchenko_pastur_pdf,
    neighbour_average,
    overlap_summary,
    porter_thomas_pvalues,
    remove_bulk,
    singular_matrices,
    smoothed_density,
    spacing_test,
    unfolded_spacings,
    weight_matrices,
    weight_product,
    wigner_surmise_cdf,
)


def _gaussian(n, m, sigma, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return sigma * torch.randn(n, m, generator=g, dtype=dtype)


def _spiked(n, m, sigma, strengths, seed):
    """sigma G + sqrt(N) sum_k d_k a_k b_k^T with orthonormal a, b: BBP spikes."""
    g = torch.Generator().manual_seed(seed + 100)
    a = torch.linalg.qr(torch.randn(n, len(strengths), generator=g, dtype=torch.float64))[0]
    b = torch.linalg.qr(torch.randn(m, len(strengths), generator=g, dtype=torch.float64))[0]
    d = torch.tensor(strengths, dtype=torch.float64)
    return _gaussian(n, m, sigma, seed) + math.sqrt(max(n, m)) * (a * d) @ b.T


# --- Marchenko-Pastur (eq. 4.2) ------------------------------------------------------------
def test_mp_density_integrates_to_one_and_cdf_matches_it():
    # independent reference: trapezoid integral of the closed-form density on a fine grid
    for q in (1.0, 2.0, 7.5):
        x = np.linspace(0, 4, 400_001)
        pdf = marchenko_pastur_pdf(x, 0.8, q)
        assert np.trapezoid(pdf, x) == pytest.approx(1.0, abs=2e-3 if q == 1 else 1e-5)
        mid = 0.64 * (1 + 1 / q)
        ref = np.trapezoid(pdf[x <= mid], x[x <= mid])
        assert marchenko_pastur_cdf(mid, 0.8, q) == pytest.approx(ref, abs=2e-3 if q == 1 else 1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sigma_fit", ["median", "mean", "ks"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mp_fit_recovers_sigma_without_outliers(seed, sigma_fit, dtype):
    W = _gaussian(600, 300, 0.37, seed, dtype)
    mp = MarchenkoPastur(sigma_fit=sigma_fit).fit(W)
    # sigma^2 from M = 300 bulk eigenvalues: relative error ~ 1 / sqrt(N M) << 1 %
    assert mp.sigma_ == pytest.approx(0.37, rel=1e-2)
    assert mp.ratio_ == 2.0 and mp.n_outliers_ == 0 and mp.outlier_indices_.size == 0
    lo, hi = mp.bulk_edges_
    assert hi == pytest.approx(mp.sigma_**2 * (1 + 2**-0.5) ** 2, rel=1e-12)
    assert lo == pytest.approx(mp.sigma_**2 * (1 - 2**-0.5) ** 2, rel=1e-12)
    assert mp.bulk_ks_ < 0.05 and mp.converged_
    # transposing W changes nothing (Q = max / min)
    assert MarchenkoPastur(sigma_fit=sigma_fit).fit(W.T).sigma_ == pytest.approx(mp.sigma_)


@pytest.mark.parametrize("criterion", ["tracy_widom", "edge"])
@pytest.mark.parametrize("seed", [0, 1])
def test_mp_fit_finds_exactly_the_planted_spikes(criterion, seed):
    n, m, sigma = 1000, 500, 0.3
    c = m / n
    # BBP threshold of the rectangular spiked model: d_c = sigma c^(1/4); plant above it
    strengths = [3.0 * sigma * c**0.25, 2.5 * sigma * c**0.25, 2.0 * sigma * c**0.25]
    W = _spiked(n, m, sigma, strengths, seed)
    mp = MarchenkoPastur(criterion, margin=0.02).fit(W)
    assert mp.n_outliers_ == 3 and mp.outlier_indices_.tolist() == [0, 1, 2]
    assert mp.sigma_ == pytest.approx(sigma, rel=2e-2)
    # spike positions against the BBP formula lambda = (d^2 + s^2)(d^2 + c s^2) / d^2
    s2 = sigma**2
    pred = [(d**2 + s2) * (d**2 + c * s2) / d**2 for d in strengths]
    np.testing.assert_allclose(mp.eigenvalues_[:3], pred, rtol=0.08)
    # below the threshold a spike is invisible: d = 0.5 d_c gives no outlier
    weak = _spiked(n, m, sigma, [0.5 * sigma * c**0.25], seed)
    assert MarchenkoPastur(criterion, margin=0.02).fit(weak).n_outliers_ == 0


def test_mp_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D matrix"):
        MarchenkoPastur().fit(torch.ones(3))
    with pytest.raises(ValueError, match="criterion"):
        MarchenkoPastur("nope").fit(torch.ones(3, 3))
    W = _gaussian(50, 20, 1.0, 0)
    a, b = MarchenkoPastur().fit(W), MarchenkoPastur().fit(W)
    assert a.sigma_ == b.sigma_  # refit gives the same result


# --- singular matrices (eq. 6.1) and weight matrices ---------------------------------------
def test_singular_matrices_sum_back_to_w_and_are_orthogonal():
    W = _gaussian(7, 4, 1.0, 3)
    S = singular_matrices(W)
    assert S.shape == (4, 28)
    torch.testing.assert_close(S.sum(0).reshape(7, 4), W, rtol=0, atol=1e-12)
    gram = S @ S.T
    sv = torch.linalg.svdvals(W)
    torch.testing.assert_close(gram, torch.diag(sv**2), rtol=0, atol=1e-12)
    torch.testing.assert_close(singular_matrices(W, [2, 0]), S[[2, 0]])
    kept = remove_bulk(W, [0, 1])
    torch.testing.assert_close(torch.linalg.svdvals(kept)[:2], sv[:2])
    assert torch.linalg.matrix_rank(kept) == 2


@pytest.mark.parametrize("conv", ["thesis", "output", "per_position"])
def test_weight_matrices_index_theta(conv):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 5), torch.nn.Flatten(), torch.nn.Linear(4 * 4, 6)
    )
    layout = ParameterLayout.from_module(net)
    theta = torch.cat([p.detach().flatten() for p in net.parameters()])
    mats = weight_matrices(theta, layout, conv=conv)
    conv_shape = {"thesis": (12, 25), "output": (4, 75), "per_position": (4, 3)}[conv]
    assert mats[0].shape == conv_shape and mats[-1].shape == (6, 16)
    assert len(mats) == (26 if conv == "per_position" else 2)
    for wm in mats:
        assert torch.equal(theta[wm.index], wm.matrix.flatten())
    # the thesis reshape equals the Keras (kh kw, in out) one up to a transpose: same spectrum
    if conv == "thesis":
        keras = net[0].weight.detach().permute(2, 3, 1, 0).reshape(25, 12)
        torch.testing.assert_close(
            torch.linalg.svdvals(keras), torch.linalg.svdvals(mats[0].matrix)
        )
    assert len(weight_matrices(net, conv=conv, layers=["2"])) == 1
    with pytest.raises(ValueError, match="unknown layer"):
        weight_matrices(net, layers=["nope"])


# --- level spacings vs the Wigner surmise (eq. 4.3) ----------------------------------------
def _goe(n, seed):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return np.linalg.eigvalsh((a + a.T) / 2)


def test_wigner_cdf_is_the_integral_of_eq_4_3():
    s = np.linspace(0, 5, 200_001)
    pdf = math.pi * s / 2 * np.exp(-math.pi * s**2 / 4)
    cum = np.concatenate([[0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(s))])
    np.testing.assert_allclose(wigner_surmise_cdf(s), cum, atol=1e-8)


@pytest.mark.parametrize("unfold", ["local", "polynomial"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spacing_test_accepts_goe_and_rejects_poisson(unfold, seed):
    goe = spacing_test(_goe(300, seed), unfold=unfold, trim=0.05)
    assert goe.closer_to == "wigner" and goe.p_wigner > 0.05 and goe.p_poisson < 1e-6
    assert goe.mean_ratio == pytest.approx(R_GOE, abs=0.04)
    # Poisson levels: sorted independent uniform points
    u = np.random.default_rng(seed).uniform(size=1000)
    poisson = spacing_test(u, unfold=unfold, trim=0.05)
    assert poisson.closer_to == "poisson" and poisson.p_wigner < 1e-3
    assert poisson.mean_ratio == pytest.approx(R_POISSON, abs=0.04)
    # singular values of a Gaussian matrix also follow the surmise (Haink ref. [38])
    sv = np.linalg.svd(np.random.default_rng(seed).standard_normal((400, 200)), compute_uv=False)
    assert spacing_test(sv, unfold=unfold, trim=0.05).p_wigner > 0.05


def test_local_unfolding_normalises_a_uniform_ladder():
    s = unfolded_spacings(np.arange(50.0) ** 1.0 * 0.3, window=5)
    np.testing.assert_allclose(s, 1.0)
    with pytest.raises(ValueError, match="at least 4 levels"):
        unfolded_spacings([1.0, 2.0])


# --- overlaps (eq. 6.2, 7.4, 7.5) -----------------------------------------------------------
def test_a_basis_against_itself_is_the_identity():
    q = torch.linalg.qr(_gaussian(30, 30, 1.0, 4))[0].T  # rows orthonormal
    o = abs_overlaps(q, q)
    torch.testing.assert_close(o, torch.eye(30, dtype=torch.float64), rtol=0, atol=1e-12)
    summ = overlap_summary(o)
    assert summ["mean_diagonal"] == pytest.approx(1.0) and summ["near_diagonal_fraction"] == 1.0
    assert summ["argmax_spearman"] == pytest.approx(1.0)
    assert summ["top_subspace_overlap"] == pytest.approx(1.0)
    # against a rotated basis of the same space: rows of O^2 sum to one
    r = torch.linalg.qr(_gaussian(30, 30, 1.0, 5))[0].T
    torch.testing.assert_close(
        (abs_overlaps(q, r) ** 2).sum(1), torch.ones(30, dtype=torch.float64)
    )


def test_eq_6_2_normalises_by_the_singular_matrix_norm():
    W = _gaussian(6, 5, 1.0, 6)
    S = singular_matrices(W)
    p = torch.linalg.qr(_gaussian(30, 4, 1.0, 7))[0].T  # 4 unit "principal components"
    ref = (p @ S.T).abs() / S.norm(dim=1)
    torch.testing.assert_close(abs_overlaps(p, S), ref)


def test_layer_overlaps_equal_padded_vectors():
    full = torch.linalg.qr(_gaussian(12, 12, 1.0, 8))[0].T[:5]
    layer = torch.linalg.qr(_gaussian(4, 4, 1.0, 9))[0].T
    padded = torch.zeros(4, 12, dtype=torch.float64)
    padded[:, 3:7] = layer
    torch.testing.assert_close(
        layer_overlaps(full, layer, slice(3, 7)), abs_overlaps(full, padded, normalize=False)
    )


# --- eigenvector statistics (sec. 7.5, 7.6) -------------------------------------------------
def test_porter_thomas_accepts_random_and_rejects_localized_vectors():
    g = torch.Generator().manual_seed(11)
    rand = torch.randn(40, 2000, generator=g, dtype=torch.float64)
    p = porter_thomas_pvalues(rand)
    # p-values of a true null are uniform: the mean about 0.5, few below 1 %
    assert 0.35 < p.mean() < 0.65 and (p < 0.01).mean() <= 0.1
    local = torch.zeros(5, 2000, dtype=torch.float64)
    local[:, :50] = torch.randn(5, 50, generator=g, dtype=torch.float64)
    assert porter_thomas_pvalues(local).max() < 1e-10
    np.testing.assert_allclose(neighbour_average([1.0, 2, 3, 4], 1), [1.5, 2, 3, 3.5])


def test_ipr_concentration_and_weight_product_against_closed_forms():
    e = torch.eye(8, dtype=torch.float64)
    flat = torch.full((1, 8), 8**-0.5, dtype=torch.float64)
    np.testing.assert_allclose(inverse_participation_ratio(e), 1.0)
    np.testing.assert_allclose(inverse_participation_ratio(flat), 1 / 8)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))  # 8 + 3 params
    layout = ParameterLayout.from_module(net)
    q = torch.linalg.qr(_gaussian(11, 11, 1.0, 12))[0].T
    shares, names, expected = layer_concentration(q, layout)
    assert names == ["0", "1"] and shares.shape == (11, 2)
    np.testing.assert_allclose(shares.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(expected, [8 / 11, 3 / 11])
    # summed over a complete basis each layer gets exactly its size (sum_i h_ij^2 = 1)
    np.testing.assert_allclose(shares.sum(0), [8, 3], rtol=1e-12)
    w = _gaussian(1, 11, 1.0, 13)[0]
    wp = weight_product(q, w)
    np.testing.assert_allclose((wp**2).sum(), 1.0, rtol=1e-12)  # Parseval
    grid, dens = smoothed_density([0.0, 10.0], width=1.0, grid=np.linspace(-10, 20, 3001))
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-9)
    assert dens[1000] == pytest.approx(0.5 / math.sqrt(2 * math.pi), rel=1e-9)  # at x = 0


def test_loss_along_eigenvector_matches_the_quadratic_model_of_a_quadratic_loss():
    from landscope.curvature import hessian_eigh
    from landscope.problem import Problem

    g = torch.Generator().manual_seed(14)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64)
    y = torch.randn(32, 1, generator=g, dtype=torch.float64)
    problem = Problem(torch.nn.Linear(4, 1).double(), "mse", (x, y))
    theta = problem.theta_from_model()
    evals, evecs = hessian_eigh(problem, theta)
    h = evecs[:, 0]
    proj = float(theta @ h)
    alphas = proj + np.linspace(-1, 1, 5)
    res = loss_along_eigenvector(problem, theta, h, float(evals[0]), alphas)
    # least squares is exactly quadratic: eq. 7.6 equals its Taylor expansion
    np.testing.assert_allclose(res["loss"], res["quadratic"], rtol=1e-10)
    assert res["projection"] == pytest.approx(proj)
    assert res["delta"][2] == pytest.approx(0.0, abs=1e-12)


# --- the analyses and their CLI on a tiny recorded run -------------------------------------
TINY_RUN = {
    "name": "rmt-tiny",
    "seed": 0,
    "dtype": "float32",
    "data": {"name": "digits"},
    "model": {"name": "mlp", "options": {"widths": [16, 12], "activation": "relu"}},
    "init": {"weight": "glorot_uniform", "bias": "zeros"},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"steps": 60, "batch_size": 32},
    "record": {"params": {"every": 5}, "eval": {"every": 30}},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import landscope

    return landscope.train(TINY_RUN, tmp_path_factory.mktemp("rmt") / "run", progress=False)


def _invoke(args):
    from typer.testing import CliRunner

    from landscope.cli._app import _register_all, app

    _register_all()
    return CliRunner().invoke(app, args)


def _figures_exist(out):
    import json

    figs = json.loads((out / "figures.json").read_text())
    assert figs and all((out / f["file"]).exists() and f["caption"] for f in figs)
    return figs


def test_cli_svd_writes_results_and_figures(tiny_run, tmp_path):
    import json

    out = tmp_path / "svd"
    res = _invoke(["analyze", "svd", str(tiny_run.path), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert r["analysis"] == "svd" and r["provenance"]["run"] == str(tiny_run.path)
    names = [m["name"] for m in r["matrices"]]
    assert names == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
    with np.load(out / "spectra.npz") as f:
        sv = f["sv/layers.0.weight"]
    w = tiny_run.theta("last")[: 16 * 64].reshape(16, 64).to(torch.float64)
    np.testing.assert_allclose(sv, torch.linalg.svdvals(w).numpy(), rtol=1e-10)
    # a freshly initialised Glorot matrix is random: no outliers at the 1 % Tracy-Widom level
    assert all(m["init"]["n_outliers"] == 0 for m in r["matrices"])
    assert "test_accuracy_bulk_removed_all" in r["summary"]
    _figures_exist(out)
    bad = _invoke(["analyze", "svd", str(tiny_run.path), "--out", str(out), "--layer", "x"])
    assert bad.exit_code == 2 and "--layer 'x'" in bad.output


def test_overlaps_analysis_invariants(tiny_run, tmp_path):
    from landscope.plotting import plot_overlaps_results
    from landscope.spectra import OverlapsSettings, run_overlaps_analysis

    out = tmp_path / "ov"
    s = OverlapsSettings(layer="layers.1", network_k=8, network_dense_max=0, eval_size=128)
    r = run_overlaps_analysis(tiny_run, s, out, progress=False)
    assert r["summary"]["layer"] == "layers.1.weight" and r["network"]["backend"] == "lanczos"
    with np.load(out / "overlaps.npz") as a:
        maps = {k: a[k] for k in a.files}
    # the layer Hessian's eigenvectors are a complete basis of the 12 x 16 weights: every
    # unit vector (normalised singular matrix, principal component) has sum_i O_ij^2 = 1
    np.testing.assert_allclose((maps["F"] ** 2).sum(0), 1.0, rtol=1e-8)
    np.testing.assert_allclose((maps["HP_weights"] ** 2).sum(0), 1.0, rtol=1e-8)
    assert maps["F"].shape == (192, 12) and maps["L"].shape == (8, 192)
    # eq. 7.5 rows: the squared overlaps of a network eigenvector with the layer's basis sum to
    # its squared norm inside the layer
    assert np.all((maps["L"] ** 2).sum(1) <= 1 + 1e-8)
    assert len(plot_overlaps_results(out)) == 6 and len(_figures_exist(out)) == 6


def test_eigvec_stats_against_a_torch_func_hessian(tiny_run, tmp_path):
    from landscope.data import subset_indices
    from landscope.spectra import EigvecStatsSettings, run_eigvec_stats_analysis

    out = tmp_path / "ev"
    s = EigvecStatsSettings(layer="layers.2", eval_size=200, loss_lines=2, alpha_points=5)
    r = run_eigvec_stats_analysis(tiny_run, s, out, progress=False)
    assert set(r["steps"]) == {"init", "last"}
    with np.load(out / "stats_last.npz") as a:
        lam, shares, wp = a["eigenvalues"], a["layer_shares"], a["weight_product"]
    # independent reference: torch.func.hessian of the mean loss in the layer's parameters
    train, _ = tiny_run.problems(dtype="float64")
    theta = tiny_run.theta("last", like=train)
    sl = train.layout.layer_slice("layers.2")
    idx = subset_indices(train.num_selected(), 200, 0)

    chunks = list(train.chunks(idx))
    f = train.loss_function(torch.cat([c[0] for c in chunks]), torch.cat([c[1] for c in chunks]))

    def loss(sub):
        return f(torch.cat([theta[: sl.start], sub, theta[sl.stop :]]))

    H = torch.func.hessian(loss)(theta[sl])
    ref = np.sort(np.linalg.eigvalsh(H.numpy()))[::-1]
    np.testing.assert_allclose(lam, ref, rtol=1e-6, atol=1e-9 * abs(ref).max())
    np.testing.assert_allclose(shares.sum(1), 1.0, rtol=1e-10)  # weight + bias shares
    np.testing.assert_allclose((wp**2).sum(), 1.0, rtol=1e-8)  # complete basis: Parseval
    cli = _invoke(
        [
            "analyze",
            "eigvec-stats",
            str(tiny_run.path),
            "--out",
            str(tmp_path / "c"),
            "--layer",
            "layers.2",
            "--step",
            "last",
            "--loss-lines",
            "1",
            "-q",
        ]
    )
    assert cli.exit_code == 0, cli.output
    assert len(_figures_exist(tmp_path / "c")) == 2  # one step: statistics and loss lines


def test_eigvec_stats_falls_back_to_the_largest_layer_that_fits(tiny_run, tmp_path):
    from landscope.spectra import EigvecStatsSettings, run_eigvec_stats_analysis

    s = EigvecStatsSettings(max_dense=500, steps=["last"], loss_lines=0, eval_size=64)
    r = run_eigvec_stats_analysis(tiny_run, s, tmp_path, progress=False)
    # layers: 0 (1,040 parameters), 1 (204), 2 (130): the largest one <= 500 is layers.1
    assert r["layer"] == "layers.1" and "exceeds max_dense=500" in r["note"]
    assert r["steps"]["step60"]["n"] == 204
    with pytest.raises(ValueError, match="no layer has <= max_dense=100"):
        run_eigvec_stats_analysis(
            tiny_run, s.model_copy(update={"max_dense": 100}), tmp_path, progress=False
        )


def test_column_index_width_measures_the_band():
    """0 for a basis against itself, sqrt((n^2 - 1) / 12) / n for columns spread evenly over
    the n rows, and in between for a band: narrower band, smaller width."""
    from landscope.spectra._analysis import _column_index_width

    n = 40
    assert _column_index_width(np.eye(n)) == 0.0
    even = np.full((n, 5), 1 / np.sqrt(n))
    assert _column_index_width(even) == pytest.approx(np.sqrt((n**2 - 1) / 12) / n, rel=1e-12)
    i = np.arange(n)[:, None]
    narrow = np.exp(-((i - i.T) ** 2) / 2.0)
    wide = np.exp(-((i - i.T) ** 2) / 50.0)
    assert 0 < _column_index_width(narrow) < _column_index_width(wide) < _column_index_width(even)
