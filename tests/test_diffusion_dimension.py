"""Dimension (Fjellstrom eq. 3.1, 3.3, AUC ratio), epsilon rules (sec. 3.3, eq. 3.4-3.7) and the
rolling window (Fig. 13, 14): hand-worked cases, closed forms and independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from landscope.diffusion import (
    DiffusionMap,
    auc_ratio,
    choose_epsilon,
    corner_choice,
    energy_dimension,
    energy_ratio,
    intrinsic_dimension,
    kernel_sum_curve,
    lafon_epsilon,
    mds_coordinates,
    reference_dimensions,
    rolling_dimension,
    scan_epsilon,
    significant_count,
    window_starts,
)


def _sq(x: np.ndarray) -> np.ndarray:
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)


# --- sec. 3.2: hand-worked spectra ---------------------------------------------------------------
LAM = [1.0, -0.8, 0.6, 0.0]  # |lambda| decreasing; energies 1, 1.64, 2.0, 2.0


def test_energy_ratio_hand_worked():
    np.testing.assert_allclose(
        energy_ratio(LAM), [math.sqrt(0.5), math.sqrt(0.82), 1.0, 1.0], rtol=0, atol=1e-15
    )
    # dropping the trivial eigenvalue: 0.64, 1.0, 1.0 over 1.0
    np.testing.assert_allclose(energy_ratio(LAM, drop_trivial=True), [0.8, 1.0, 1.0], atol=1e-15)


def test_energy_dimension_hand_worked():
    assert energy_dimension(LAM, beta=0.99) == 3
    assert energy_dimension(LAM, beta=0.9) == 2  # sqrt(0.82) = 0.9055 > 0.9
    assert energy_dimension(LAM, beta=0.5) == 1
    assert energy_dimension(LAM, beta=0.9, drop_trivial=True) == 2  # 0.8 < 0.9 < 1


def test_auc_ratio_both_readings_hand_worked():
    # sum reading: (1 + 0.8) / 2.4
    assert auc_ratio(LAM, 2) == pytest.approx(0.75, abs=1e-15)
    assert auc_ratio(LAM, 0) == 0.0 and auc_ratio(LAM, 4) == pytest.approx(1.0)
    # trapezoid: segments 0.9, 0.7, 0.3 (total 1.9); first three points span 0.9 + 0.7
    assert auc_ratio(LAM, 3, reading="trapezoid") == pytest.approx(1.6 / 1.9, abs=1e-15)
    assert auc_ratio(LAM, 1, reading="trapezoid") == 0.0
    assert auc_ratio(LAM, 1, drop_trivial=True) == pytest.approx(0.8 / 1.4, abs=1e-15)


def test_significant_count_hand_worked():
    assert significant_count(LAM, 0.7) == 2
    assert significant_count(LAM, 0.5) == 3
    assert significant_count(LAM, 1.0) == 0  # strict inequality of eq. 3.1
    assert significant_count(LAM, 0.7, drop_trivial=True) == 2  # |lambda| > 0.56


def test_intrinsic_dimension_bundles_the_pieces():
    r = intrinsic_dimension(LAM, beta=0.9, alpha=0.7)
    assert (r.d, r.s_alpha, r.num_eigenvalues) == (2, 2, 4)
    assert r.auc == pytest.approx(0.75) and r.auc_sum == r.auc
    assert r.auc_trapezoid == pytest.approx(0.9 / 1.9)
    assert r.energy_share == pytest.approx(0.82)
    assert intrinsic_dimension(LAM, beta=0.9, reading="trapezoid").auc == r.auc_trapezoid


@pytest.mark.parametrize(
    "bad, match",
    [([0.5, 1.0], "ordered"), ([1.0, float("nan")], "NaN"), ([[1.0]], "1-D"), ([], "empty")],
)
def test_spectrum_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        energy_ratio(bad)


def test_parameter_errors():
    with pytest.raises(ValueError, match="beta"):
        energy_dimension(LAM, beta=1.0)
    with pytest.raises(ValueError, match="alpha"):
        significant_count(LAM, 0.0)
    with pytest.raises(ValueError, match="reading"):
        auc_ratio(LAM, 1, reading="area")
    with pytest.raises(ValueError, match="d must be"):
        auc_ratio(LAM, 5)


def test_dimension_on_a_diffusion_map_spectrum():
    """On a real spectrum (circle), d counts the eigenvalues whose energy reaches beta: equal to
    a direct cumulative count, and it grows as eps shrinks (more eigenvalues stay near 1)."""
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    d2 = _sq(np.c_[np.cos(t), np.sin(t)])
    ds = []
    for eps in (0.5, 0.05, 0.005):
        lam = DiffusionMap(eps=eps).fit(d2).eigenvalues_
        e = np.cumsum(lam**2) / np.sum(lam**2)
        d = energy_dimension(lam)
        assert d == int(np.flatnonzero(np.sqrt(e) > 0.99)[0]) + 1
        ds.append(d)
    assert ds[0] < ds[1] < ds[2]


# --- sec. 3.3: epsilon -----------------------------------------------------------------------------
def test_lafon_matches_brute_force():
    rng = np.random.default_rng(1)
    d2 = _sq(rng.normal(size=(30, 4)))
    ref = np.mean([min(d2[i, j] for j in range(30) if j != i) for i in range(30)])
    assert lafon_epsilon(d2) == pytest.approx(ref, rel=1e-14)


def test_kernel_sum_equals_diffusion_map_kernel_sum():
    """L(eps) (sorted, truncated summation) against the dense kernel's sum from DiffusionMap."""
    rng = np.random.default_rng(2)
    d2 = _sq(rng.normal(size=(50, 3)))
    grid = np.geomspace(1e-3, 1e3, 7)
    curve = kernel_sum_curve(d2, grid)
    ref = [DiffusionMap(eps=e).fit(d2).kernel_sum_ for e in grid]
    np.testing.assert_allclose(curve.L, ref, rtol=1e-12)
    assert curve.L[0] >= 50 and curve.L[-1] <= 50**2
    # slopes: eq. 3.7 finite differences of log L
    np.testing.assert_allclose(curve.slope, np.diff(np.log(ref)) / np.diff(np.log(grid)), rtol=1e-9)


@pytest.mark.parametrize("k, M", [(1, 600), (2, 1200), (3, 1500)])
def test_kernel_sum_slope_on_a_cube_is_half_the_dimension(k, M):
    """Eq. 3.6: log L ~ (k/2) log eps on a k-dimensional cloud.  Uniform in [0, 1]^k the edges
    lower the slope by ~k sqrt(eps / pi) / 2 where it peaks (measured 0.48, 0.92, 1.31 for
    k = 1, 2, 3), hence 15 %; a flat torus (no edges) is held to 6 %."""
    rng = np.random.default_rng(k)
    x = rng.uniform(size=(M, k))
    curve = kernel_sum_curve(_sq(x))
    assert curve.eps.size >= 200
    assert curve.max_slope == pytest.approx(k / 2, rel=0.15)
    assert curve.dimension_estimate == pytest.approx(k, rel=0.15)
    lo, hi = curve.linear_region
    assert lo < curve.max_slope_eps < hi
    # torus: periodic distances
    diff = np.abs(x[:, None, :] - x[None, :, :])
    d2t = (np.minimum(diff, 1 - diff) ** 2).sum(-1)
    assert kernel_sum_curve(d2t).max_slope == pytest.approx(k / 2, rel=0.06)


def _noisy_manifold(k: int, M: int, ambient: int, seed: int) -> np.ndarray:
    """k-dimensional curved sheet (u, sin of u) embedded by a random isometry in R^ambient, plus
    isotropic noise of std 1e-4 per coordinate (sheet extent ~1, nearest-neighbour spacing ~0.03;
    at std 1e-3, 6e-3 in norm, TwoNN already reads 2.65 for k = 2: it sees the noise)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(M, k))
    sheet = np.c_[u, 0.3 * np.sin(3 * u)]  # (M, 2k), a k-manifold
    basis, _ = np.linalg.qr(rng.normal(size=(ambient, 2 * k)))
    return sheet @ basis.T + 1e-4 * rng.normal(size=(M, ambient))


@pytest.mark.parametrize("k", [2, 3])
def test_noisy_manifold_dimension_recovered(k):
    """A noisy k-manifold in R^40: 2 a* (eq. 3.7) and the skdim TwoNN / MLE estimates on the
    Euclidean coordinates and on the classical-MDS coordinates of d^2 all give k within 20 %."""
    x = _noisy_manifold(k, 1000, 40, seed=10 + k)
    d2 = _sq(x)
    assert kernel_sum_curve(d2).dimension_estimate == pytest.approx(k, rel=0.2)
    pytest.importorskip("skdim")
    for coords in (x, mds_coordinates(d2)):
        est = reference_dimensions(coords)
        assert est["TwoNN"] == pytest.approx(k, rel=0.2)
        assert est["MLE"] == pytest.approx(k, rel=0.2)


def test_mds_coordinates_reproduce_euclidean_distances():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    y = mds_coordinates(_sq(x))
    assert y.shape == (40, 5)
    np.testing.assert_allclose(_sq(y), _sq(x), atol=1e-10)


def test_corner_choice_rule():
    # the knee: low d at little AUC cost
    assert corner_choice([40, 20, 5, 1], [0.95, 0.94, 0.90, 0.50]) == 2
    # invariant to rescaling either axis (normalised to [0, 1])
    assert corner_choice([400, 200, 50, 10], [0.95, 0.94, 0.90, 0.50]) == 2
    # a dominated point (higher d, lower AUC than another) is never chosen
    assert corner_choice([10, 12, 3], [0.9, 0.8, 0.1]) == 0
    # ties: larger AUC, then the earlier point
    assert corner_choice([5, 5], [0.9, 0.9]) == 0
    assert corner_choice([5, 5], [0.8, 0.9]) == 1
    with pytest.raises(ValueError, match="equal length"):
        corner_choice([1, 2], [0.5])


def test_choose_epsilon_every_rule_returns_its_data():
    rng = np.random.default_rng(4)
    d2 = _sq(rng.uniform(size=(150, 2)))
    curve = kernel_sum_curve(d2)
    lafon = choose_epsilon(d2, "lafon", curve=curve)
    assert lafon.rule == "lafon" and lafon.eps == pytest.approx(lafon_epsilon(d2))
    slope = choose_epsilon(d2, "max_slope", curve=curve)
    assert slope.eps == curve.max_slope_eps
    assert slope.data["dimension_estimate"] == pytest.approx(2 * curve.max_slope)
    lo, hi = curve.linear_region
    region = choose_epsilon(d2, "linear_region", curve=curve)
    assert region.eps == pytest.approx(math.sqrt(lo * hi))
    corner = choose_epsilon(d2, "corner", curve=curve, scan_points=8)
    assert lo <= corner.eps <= hi and corner.scan.eps.size == 8
    k = corner.data["corner_index"]
    assert corner.eps == corner.scan.eps[k] and corner.data["corner_d"] == corner.scan.d[k]
    user = choose_epsilon(d2, 0.3, curve=curve)
    assert (user.rule, user.eps) == ("user", 0.3)
    assert choose_epsilon(d2, "0.3", curve=curve).eps == 0.3
    assert set(corner.as_dict()) == {"rule", "eps", "data", "curve", "scan"}
    with pytest.raises(ValueError, match="unknown eps rule"):
        choose_epsilon(d2, "median")
    with pytest.raises(ValueError, match="positive"):
        choose_epsilon(d2, -1.0)


def test_scan_matches_direct_diffusion_maps():
    rng = np.random.default_rng(5)
    d2 = _sq(rng.normal(size=(80, 3)))
    scan = scan_epsilon(d2, [0.1, 1.0, 10.0])
    for e, d, a in zip(scan.eps, scan.d, scan.auc, strict=True):
        r = intrinsic_dimension(DiffusionMap(eps=e).fit(d2).eigenvalues_)
        assert (d, a) == (r.d, pytest.approx(r.auc, abs=1e-14))
    assert scan.at(0.9) == (int(scan.d[1]), float(scan.auc[1]))
    # Fig. 6: d falls as eps grows over this range
    assert scan.d[0] > scan.d[1] > scan.d[2]


def test_kernel_sum_curve_errors():
    with pytest.raises(ValueError, match="square"):
        kernel_sum_curve(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=">= 200"):
        kernel_sum_curve(np.ones((3, 3)) - np.eye(3), num=50)
    with pytest.raises(ValueError, match="increasing"):
        kernel_sum_curve(np.ones((3, 3)) - np.eye(3), [2.0, 1.0])
    with pytest.raises(ValueError, match="all distances are zero"):
        kernel_sum_curve(np.zeros((3, 3)))


# --- Fig. 13, 14: rolling window ------------------------------------------------------------------
def test_window_starts_edges():
    assert window_starts(10, 10, 3).tolist() == [0]
    assert window_starts(11, 5, 3).tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="longer"):
        window_starts(5, 6, 1)
    with pytest.raises(ValueError, match="stride"):
        window_starts(5, 2, 0)


def _contracting_trajectory(M: int, seed: int) -> np.ndarray:
    """Points of a fixed 3-D distribution whose scale shrinks 100x over the trajectory (iterates
    closing in on a minimum)."""
    rng = np.random.default_rng(seed)
    scale = np.geomspace(1.0, 0.01, M)[:, None]
    return scale * rng.uniform(size=(M, 3))


def test_rolling_shapes_and_per_window_selection():
    d2 = _sq(_contracting_trajectory(120, 6))
    steps = 10 * np.arange(120)
    r = rolling_dimension(d2, 40, 30, eps="max_slope", steps=steps)
    assert r.starts.tolist() == [0, 30, 60] and r.stops.tolist() == [40, 70, 100]
    assert r.steps.tolist() == [[0, 390], [300, 690], [600, 990]]
    assert r.eps.shape == r.d.shape == r.auc.shape == (3,)
    for s, e in zip(r.starts, r.eps, strict=True):
        sub = d2[s : s + 40, s : s + 40]
        assert e == pytest.approx(choose_epsilon(sub, "max_slope", num=200).eps)
    assert r.rule == "max_slope"
    fixed = rolling_dimension(d2, 40, 30, eps=0.05)
    assert np.all(fixed.eps == 0.05) and fixed.rule == "fixed"
    with pytest.raises(ValueError, match="steps"):
        rolling_dimension(d2, 40, 30, steps=np.arange(3))


def test_fixed_eps_artefact():
    """Fig. 13b: with eps fixed on the first window, the later (contracted) windows look lower-
    dimensional; re-selecting eps per window (Fig. 14) keeps d from collapsing."""
    d2 = _sq(_contracting_trajectory(400, 7))
    moving = rolling_dimension(d2, 100, 100, eps="corner", scan_points=10)
    fixed = rolling_dimension(d2, 100, 100, eps=float(moving.eps[0]))
    assert moving.eps[-1] < moving.eps[0] / 100  # eps follows the 100x contraction (x^2)
    assert fixed.d[-1] == 1 and fixed.d[-1] < fixed.d[0]
    assert moving.d[-1] > 2 * fixed.d[-1]


@pytest.mark.parametrize("eps", [0.05, 1.0])
def test_markov_eigenvalues_equal_diffusion_map(eps):
    """The eigenvalue-only route (eigvalsh of S) against DiffusionMap's eigh, float64."""
    from landscope.diffusion import markov_eigenvalues

    rng = np.random.default_rng(8)
    d2 = _sq(rng.normal(size=(120, 3)))
    ref = DiffusionMap(eps=eps).fit(d2).eigenvalues_
    got = markov_eigenvalues(d2, eps)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert got[0] == pytest.approx(1.0, abs=1e-12)
