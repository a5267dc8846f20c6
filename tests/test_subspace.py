"""Gur-Ari, Roberts & Dyer (2018) measurements, trackers and optimizers against dense references.

References are independent of the code under test: the dense Hessian from ``torch.func.hessian``
of a plain-autograd loss (tests/_problems.py) and ``numpy.linalg.eigh``.  Tolerances: float64
with eigenpairs solved to a relative residual of 1e-12; an eigenvector's error is then about
residual / gap, so quantities built from it (f_top, c_i^2) agree to ~1e-10 where the spectrum has
a gap > 1e-2 relative to lambda_1 (the cases below are chosen that way); we assert 1e-8, the
issue's tolerance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import landscope
from _problems import CASE_NAMES, make, reference_loss
from landscope.subspace import (
    LowRankNewton,
    TopSubspaceProjection,
    analyze_run,
    basis_gram,
    measure_gradient_overlap,
    measure_top_subspace,
    overlap_vs_dimension,
    read_tracked,
    subspace_overlap,
    subspace_overlap_grid,
)
from landscope.training import UpdateContext

TOL = 1e-8


def _dense(problem, theta):
    f = reference_loss(problem)
    H = torch.func.hessian(f)(theta).numpy()
    g = torch.func.grad(f)(theta).numpy()
    lam, V = np.linalg.eigh(H)
    order = np.argsort(lam)[::-1]
    return H, g, lam[order], V[:, order]


def _gapped_k(lam: np.ndarray, kmax: int = 4) -> int:
    """The k in 1..kmax with the largest relative gap lambda_k - lambda_{k+1}."""
    gaps = (lam[:kmax] - lam[1 : kmax + 1]) / abs(lam[0])
    return int(np.argmax(gaps)) + 1


@pytest.mark.parametrize("name", CASE_NAMES)
def test_measurement_matches_dense_hessian(name):
    problem, theta = make(name)
    H, g, lam, V = _dense(problem, theta)
    k = _gapped_k(lam)
    m = measure_top_subspace(problem, theta, k, num_next=k, tol=1e-12, random_vectors=3)
    assert m.converged
    np.testing.assert_allclose(m.eigenvalues.numpy(), lam[: 2 * k], rtol=0, atol=TOL * abs(lam[0]))
    P = V[:, :k] @ V[:, :k].T
    f_top = g @ P @ g / (g @ g)
    assert abs(m.fraction - f_top) < TOL
    Pn = V[:, k : 2 * k] @ V[:, k : 2 * k].T
    assert abs(m.fraction_next - g @ Pn @ g / (g @ g)) < TOL
    Hg = H @ g
    assert abs(m.overlap - g @ Hg / (np.linalg.norm(g) * np.linalg.norm(Hg))) < TOL
    # c_i^2 for eigenvalues separated from their neighbours (a single eigenvector is defined
    # only up to rotation inside a degenerate eigenspace).
    c2 = (V[:, : 2 * k].T @ g) ** 2 / (g @ g)
    sep = np.abs(np.diff(lam[: 2 * k + 1]))
    ok = np.minimum(np.r_[np.inf, sep[:-1]], sep) > 1e-3 * abs(lam[0])
    np.testing.assert_allclose(m.weights.numpy()[ok], c2[ok], rtol=0, atol=TOL)
    assert abs(m.weights[:k].sum().item() - m.fraction) < 1e-12
    # eq. 4 from the dense top eigenvalues
    est = lam[:k].sum() / np.sqrt(k * (lam[:k] ** 2).sum())
    assert abs(m.vertex_estimate - est) < TOL
    # controls: a random vector in the top subspace has overlap(w, Hw) in [lambda_k/lambda_1, 1]
    # when the top eigenvalues are positive (Cauchy-Schwarz / Kantorovich-type bound is weaker;
    # the lower bound lambda_min/lambda_max holds for w in a positive eigenspace).
    if lam[k - 1] > 0:
        assert lam[k - 1] / lam[0] - 1e-10 <= m.random_top_overlap <= 1 + 1e-12


@pytest.mark.parametrize("name", ["mlp_relu_ce", "mlp_softplus_mse"])
def test_gradient_overlap_matches_dense(name):
    problem, theta = make(name)
    H, g, _, _ = _dense(problem, theta)
    r = measure_gradient_overlap(problem, theta, random_vectors=2)
    Hg = H @ g
    assert abs(r.overlap - g @ Hg / (np.linalg.norm(g) * np.linalg.norm(Hg))) < TOL
    assert abs(r.gradient_norm - np.linalg.norm(g)) < 1e-10
    assert -1 <= r.random_overlap <= 1


def test_subspace_overlap_properties():
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(30, 12, generator=gen, dtype=torch.float64))
    A, B = Q[:, :4], Q[:, 4:8]
    assert subspace_overlap(A, A).item() == pytest.approx(1, abs=1e-14)
    assert subspace_overlap(A, B).item() == pytest.approx(0, abs=1e-14)
    # same subspace, different basis
    R, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))
    assert subspace_overlap(A, A @ R).item() == pytest.approx(1, abs=1e-13)
    # half-overlapping subspaces: Tr(P1 P2) = 2, sqrt(4 * 4) = 4
    C = torch.cat([Q[:, :2], Q[:, 8:10]], 1)
    assert subspace_overlap(A, C).item() == pytest.approx(0.5, abs=1e-13)
    D = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    D, _ = torch.linalg.qr(D)
    assert subspace_overlap(A, D).item() == pytest.approx(subspace_overlap(D, A).item(), abs=1e-15)
    # eq. 5's rightmost form: (1/k) sum_i ||P1 v_i||^2
    P = A @ A.T
    assert subspace_overlap(A, C).item() == pytest.approx(
        (P @ C).square().sum().item() / 4, abs=1e-13
    )


def test_overlap_grid_and_dimension_summary_match_pairwise_loops():
    gen = torch.Generator().manual_seed(1)
    bases = torch.stack(
        [
            torch.linalg.qr(torch.randn(25, 6, generator=gen, dtype=torch.float64))[0]
            for _ in range(5)
        ]
    )
    G = basis_gram(bases)
    assert torch.allclose(G[1, 3], bases[1].T @ bases[3])
    grid = subspace_overlap_grid(bases, (2, 5))
    for s in range(5):
        for t in range(5):
            ref = subspace_overlap(bases[s][:, 2:5], bases[t][:, 2:5])
            assert grid[s, t].item() == pytest.approx(ref.item(), abs=1e-13)
    assert torch.allclose(grid, grid.T) and torch.allclose(
        grid.diagonal(), torch.ones(5, dtype=grid.dtype)
    )
    steps = [0, 10, 20, 30, 40]
    table = overlap_vs_dimension(bases, steps, [0, 20, 40], max_dim=4)
    for row, t1 in enumerate([0, 20]):
        i = steps.index(t1)
        for d in range(1, 5):
            ref = np.mean(
                [subspace_overlap(bases[i][:, :d], bases[j][:, :d]).item() for j in range(i + 1, 5)]
            )
            assert table[row, d - 1].item() == pytest.approx(ref, abs=1e-13)
    assert torch.isnan(table[2]).all()  # no later time than the last
    with pytest.raises(ValueError, match="not a recorded step"):
        overlap_vs_dimension(bases, steps, [5])


def _tiny_config(steps=20, **extra):
    cfg = {
        "name": "tiny",
        "seed": 0,
        "dtype": "float64",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [6], "activation": "tanh"}},
        "loss": "cross_entropy",
        "optimizer": {"name": "sgd", "lr": 0.1},
        "training": {"batch_size": 20, "steps": steps},
        "record": {"params": {"every": 1}, "eval": {"every": 10}, "flush_every": 10},
    }
    cfg.update(extra)
    return cfg


def test_online_tracker_equals_offline_analysis(tmp_path):
    cfg = _tiny_config(
        analyses=[
            {
                "name": "top_subspace",
                "every": 5,
                "options": {"k": 3, "tol": 1e-12, "store_eigenvectors": True},
            },
            {"name": "gradient_overlap", "every": 2, "options": {"start": 10}},
        ]
    )
    landscope.train(cfg, tmp_path / "run", progress=False)
    online = read_tracked(tmp_path / "run")
    assert online.steps.tolist() == [0, 5, 10, 15, 20] and online.k == 3
    assert online.eigenvectors.shape == (5, online.eigenvectors.shape[1], 6)
    offline = analyze_run(tmp_path / "run", steps=[0, 5, 10, 15, 20], k=3, tol=1e-12)
    for key in ("fraction", "overlap", "loss", "gradient_norm", "fraction_next"):
        np.testing.assert_allclose(online[key], offline[key], rtol=0, atol=1e-8, err_msg=key)
    np.testing.assert_allclose(online.eigenvalues, offline.eigenvalues, rtol=1e-9, atol=1e-12)
    # random controls are a function of (seed, step): identical online and offline
    np.testing.assert_allclose(
        online["random_full_overlap"], offline["random_full_overlap"], atol=1e-8
    )
    grid_on, grid_off = online.overlap_grid("top"), offline.overlap_grid("top")
    np.testing.assert_allclose(grid_on, grid_off, atol=1e-5)  # eigenvectors stored in float32
    run = landscope.open_run(tmp_path / "run")
    assert run.steps("gradient_overlap.overlap").tolist() == [10, 12, 14, 16, 18, 20]
    # save / load round trip
    offline.save(tmp_path / "a")
    back = type(offline).load(tmp_path / "a")
    np.testing.assert_array_equal(back.eigenvalues, offline.eigenvalues)
    assert back.k == 3 and back.eigenvectors.shape == offline.eigenvectors.shape
    assert "eigenvectors" not in json.loads((tmp_path / "a.json").read_text())["arrays"]
    window = offline.mean_over_last("fraction", 10)
    assert window.value == np.mean(offline["fraction"][3:]) and window.records == 2
    assert window.describe() == "mean over the last 10 steps (2 records, steps 15-20)"


def _measured(steps: np.ndarray, overlap: np.ndarray):
    from landscope.subspace import SubspaceAnalysis

    n = len(steps)
    return SubspaceAnalysis(steps, 1, {"overlap": overlap}, np.ones((n, 2)), np.ones((n, 2)))


def test_mean_over_last_says_which_steps_it_averaged():
    """Table 1's "mean over the last 1,000 steps" on a 300-step run averages what exists and
    says so (issue 12, item 6).  The reference is a mask written out independently."""
    steps = np.arange(0, 301, 4)  # 76 measurements, every 4th step of 300
    overlap = np.random.default_rng(0).uniform(0, 1, steps.size)
    a = _measured(steps, overlap)
    w = a.mean_over_last("overlap", 1000)
    assert w.value == pytest.approx(overlap.mean(), rel=1e-15)
    assert (w.span, w.records, w.asked, w.all_recorded) == (300, 76, 1000, True)
    assert w.describe() == "mean over the last 300 steps (all recorded, 76 records; 1000 asked)"
    assert str(w) == f"{overlap.mean():.4g}: overlap, " + w.describe()
    assert float(w) == w.value and f"{w:.3f}" == f"{w.value:.3f}"
    # a window shorter than the run: the last 100 steps are steps 204..300, 25 measurements
    w = a.mean_over_last("overlap", 100)
    ref = [v for s, v in zip(steps, overlap, strict=True) if s > 300 - 100]
    assert len(ref) == 25 and w.value == pytest.approx(np.mean(ref), rel=1e-15)
    assert (w.span, w.records, w.first_step, w.last_step) == (100, 25, 204, 300)
    assert not w.all_recorded
    assert w.describe() == "mean over the last 100 steps (25 records, steps 204-300)"
    # exactly the recorded span: step 0 is not in the last 300 steps
    assert a.mean_over_last("overlap", 300).records == 75
    assert a.mean_over_last("overlap", 301).describe().endswith("76 records; 301 asked)")
    # non-finite values are left out and counted; one record; none
    gappy = overlap.copy()
    gappy[-3:-1] = np.nan
    w = _measured(steps, gappy).mean_over_last("overlap", 100)
    assert w.records == 23 and w.skipped == 2
    assert w.value == pytest.approx(np.nanmean(gappy[steps > 200]), rel=1e-15)
    assert "23 records, steps 204-300, 2 non-finite left out" in w.describe()
    assert a.mean_over_last("overlap", 1).describe() == "value at step 300 (the only record)"
    w = _measured(steps, np.full(steps.size, np.nan)).mean_over_last("overlap", 10)
    assert np.isnan(w.value) and w.records == 0 and "no finite records" in w.describe()
    with pytest.raises(ValueError, match="last_steps must be positive"):
        a.mean_over_last("overlap", 0)


class _Recorder:
    """Wraps an update transform and keeps (step, basis, update) for the assertions."""

    def __init__(self, inner):
        self.inner, self.log = inner, []

    def __call__(self, ctx):
        u = self.inner(ctx)
        self.log.append(
            (
                ctx.step,
                self.inner.basis.clone(),
                self.inner.basis_step,
                u.clone(),
                ctx.theta.clone(),
            )
        )
        return u


def test_projected_sgd_never_leaves_its_subspace(tmp_path):
    proj = _Recorder(TopSubspaceProjection(k=3, refresh_every=4, tol=1e-10))
    landscope.train(_tiny_config(steps=12), tmp_path / "run", update_transform=proj, progress=False)
    assert proj.inner.num_refreshes == 3  # steps 0, 4, 8
    start_theta = {}
    for step, V, basis_step, u, theta in proj.log:
        assert basis_step == step - step % 4
        # the update lies in span(V): its component orthogonal to V is at rounding level
        assert (u - V @ (V.T @ u)).norm() <= 1e-12 * u.norm()
        start_theta.setdefault(basis_step, theta)
        drift = theta - start_theta[basis_step]
        assert (drift - V @ (V.T @ drift)).norm() <= 1e-12 * max(drift.norm(), 1e-300)
    run = landscope.open_run(tmp_path / "run")
    loss = np.asarray(run.read("train_loss"))
    assert loss[-1] < loss[0]  # projected SGD still descends


def test_projected_sgd_from_config_and_bad_name(tmp_path):
    cfg = _tiny_config(steps=6, update_transform={"name": "top_subspace_sgd", "options": {"k": 2}})
    landscope.train(cfg, tmp_path / "run", progress=False)
    from landscope.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="update_transform"):
        load_config(_tiny_config(update_transform={"name": "newton"}))


def test_low_rank_newton_solves_least_squares_in_one_step():
    # Quadratic loss: with k = p the low-rank Newton step (eq. 11) with the full-batch gradient
    # is the exact Newton step, which lands on the least-squares solution.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    problem = landscope.Problem(
        torch.nn.Linear(3, 1).double(), "mse", (x, y[:, 0:1]), task="regression"
    )
    theta = problem.theta_from_model()
    _, g = problem.loss_and_gradient(theta)
    newton = LowRankNewton(k=4, tol=1e-12)
    ctx = UpdateContext(0, 0, theta, g, -0.1 * g, 0.1, problem, torch.arange(40))
    theta1 = theta + newton(ctx)
    X = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(X, y[:, 0:1]).solution[:, 0]
    ref = torch.cat([sol[:3], sol[3:]])
    assert torch.allclose(theta1, ref, atol=1e-8)
    # with k < p the step only moves inside the top-k eigenspace
    newton2 = LowRankNewton(k=2, tol=1e-12)
    u = newton2(ctx)
    V = newton2.basis
    assert (u - V @ (V.T @ u)).norm() <= 1e-12 * u.norm()


def test_cli_analyze_subspace_offline_and_online(tmp_path):
    from landscope.cli._app import _register_all, app

    _register_all()
    cfg = _tiny_config(
        steps=20,
        analyses=[
            {"name": "top_subspace", "every": 10, "options": {"k": 3, "store_eigenvectors": 1}}
        ],
    )
    landscope.train(cfg, tmp_path / "run", progress=False)
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "analyze",
            "subspace",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "off"),
            "--source",
            "offline",
            "--every",
            "5",
            "--k",
            "3",
            "--last",
            "10",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "off" / "summary.json").read_text())
    assert summary["source"] == "offline" and summary["measurements"] == 5
    # steps 0, 5, 10, 15, 20; the last 10 steps are 15 and 20
    assert "mean over the last 10 steps (2 records, steps 15-20)" in r.output
    assert summary["mean_overlap_window"]["records"] == 2
    for name in (
        "fig1_fraction.png",
        "fig2_subspace_overlap.png",
        "fig3_overlap_by_dimension.png",
        "fig8_eigenvalues.png",
        "fig11_weights.png",
        "subspace.npz",
    ):
        assert (tmp_path / "off" / name).exists(), name
    r = runner.invoke(
        app, ["analyze", "subspace", str(tmp_path / "run"), "--out", str(tmp_path / "on")]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "on" / "summary.json").read_text())
    assert summary["source"] == "online"
    # a 20-step run, the tracker at steps 0, 10, 20, and --last 1000 by default
    assert "mean over the last 20 steps (all recorded, 3 records; 1000 asked)" in r.output
    window = summary["mean_overlap_window"]
    assert (window["span"], window["records"], window["asked"]) == (20, 3, 1000)
    r = runner.invoke(
        app,
        ["analyze", "subspace", str(tmp_path / "run"), "--out", str(tmp_path / "sp"), "--spectrum"],
    )
    assert r.exit_code == 0, r.output
    spec = json.loads((tmp_path / "sp" / "summary.json").read_text())["spectrum"]
    problem, _ = landscope.config.build_problems(
        landscope.config.load_config({**cfg, "dtype": "float64"})
    )
    theta = torch.as_tensor(landscope.open_run(tmp_path / "run").read("params", steps=[20])[0])
    lam = np.linalg.eigvalsh(torch.func.hessian(reference_loss(problem))(theta.double()).numpy())[
        ::-1
    ]
    np.testing.assert_allclose(spec["top"], lam[:6], atol=1e-10 * abs(lam[0]))
    assert spec["step"] == 20 and (tmp_path / "sp" / "fig6_top_eigenvector.png").exists()
    r = runner.invoke(
        app,
        [
            "analyze",
            "subspace",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "x"),
            "--source",
            "offline",
            "--steps",
            "3,999",
        ],
    )
    assert r.exit_code == 2 and "not recorded" in r.output


def test_tracker_rejects_bad_options():
    from landscope.training import make_online_analysis

    with pytest.raises(ValueError, match="data must be"):
        make_online_analysis("top_subspace", 5, {"data": "valid"})
    with pytest.raises(ValueError, match="bad options"):
        make_online_analysis("top_subspace", 5, {"kk": 3})
