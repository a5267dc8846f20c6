"""Random-matrix checks of weights and Hessians (Haink ch. 4, eq. 4.2-4.3, 6.1-6.2, 7.4-7.9):
Marchenko-Pastur fit, Wigner surmise, singular matrices, overlaps, eigenvector statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.problem import ParameterLayout
from landscope.spectra import (
    MarchenkoPastur,
    marchenko_pastur_cdf,
    marchenko_pastur_pdf,
    remove_bulk,
    singular_matrices,
    weight_matrices,
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
