"""The Goodfellow, Vinyals & Saxe (2015) reproductions as catalog entries: every entry runs its
quick path (on tiny settings) and writes its report; every check answers DIFFERS when fed data for
which the paper's statement is false (a curve with an interior bump, the eigenvalues of -H, ...);
the factored model's generic computations (Problem, interpolate, HessianOperator, gradient descent)
agree with its closed forms, the independent reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscope.landscape import (
    barrier_height,
    factored_gradient_descent,
    factored_hessian,
    factored_interpolation,
    factored_problem,
    interpolate,
)
from landscope.reproduce import (
    Verdict,
    catalog,
    config_path,
    get_reproduction,
    load_reproduction_config,
)
from landscope.reproduce import _goodfellow_checks as gc
from landscope.reproduce import _goodfellow_common as common
from landscope.reproduce import _goodfellow_geometry as geometry
from landscope.reproduce import _goodfellow_linear as linear
from landscope.reproduce import _goodfellow_lines as lines

GOODFELLOW = (
    "goodfellow-deep-linear",
    "goodfellow-factored",
    "goodfellow-interpolation",
    "goodfellow-lstm",
    "goodfellow-maxout",
    "goodfellow-projection",
    "goodfellow-surfaces",
)
R, D = Verdict.REPRODUCED, Verdict.DIFFERS
F64 = {"dtype": torch.float64}


# --- the catalog and the configs ----------------------------------------------------------------
@pytest.mark.parametrize("name", GOODFELLOW)
def test_goodfellow_entries_are_in_the_catalog(name):
    entry = get_reproduction(name)
    assert entry in catalog() and entry.paper.startswith("Goodfellow")
    assert entry.items.startswith("Fig.") and entry.description and callable(entry.run)
    quick, full = entry.minutes
    assert 0 < quick < full
    for cfg in entry.configs:
        assert config_path(cfg).is_file()
        assert load_reproduction_config(cfg)["name"].startswith("goodfellow_")


@pytest.mark.parametrize("config", sorted(common.QUICK))
def test_quick_configs_change_only_length_record_and_maxout_size(config):
    full = common.goodfellow_config(config, quick=False)
    quick = common.goodfellow_config(config, quick=True)
    changed = {k for k in full if full[k] != quick[k]}
    assert changed <= {"training", "record", "model"}
    assert quick["training"]["steps"] < full["training"]["steps"]
    assert {k: v for k, v in quick["training"].items() if k != "steps"} == {
        k: v for k, v in full["training"].items() if k != "steps"
    }
    if "model" in changed:  # maxout: a smaller net of the same kind
        assert config == "maxout_digits" and quick["model"]["name"] == full["model"]["name"]


def test_second_seed_keeps_the_config_but_seed_and_name():
    a = common.goodfellow_config("relu_digits", quick=True)
    b = common.goodfellow_config("relu_digits", quick=True, seed=1, name="other")
    assert {k for k in a if a[k] != b[k]} == {"seed", "name"}


# --- every check can fail -----------------------------------------------------------------------
A = np.round(np.linspace(0.0, 1.0, 21), 10)
GOOD_LINE = 2.3 * (1.0 - A) ** 2 + 0.01  # one minimum, at the solution, monotone descent


def _verdict(c) -> Verdict:
    assert c.verdict is R or c.reason  # a DIFFERS verdict always says why
    return c.verdict


def test_one_minimum_check_fails_on_a_second_minimum_and_on_a_flat_line():
    kw = {"claim": "c", "where": "w"}
    assert _verdict(gc.one_minimum_check(A, GOOD_LINE, **kw)) is R
    dip = GOOD_LINE - 0.5 * np.exp(-(((A - 0.3) / 0.05) ** 2))  # an interior local minimum
    assert _verdict(gc.one_minimum_check(A, dip, **kw)) is D
    assert _verdict(gc.one_minimum_check(A, np.full_like(A, 1.0), **kw)) is D
    # a minimum before the solution passes only where the entry allows it (LSTM, maxout)
    early = (A - 0.9) ** 2
    assert _verdict(gc.one_minimum_check(A, early, **kw)) is D
    assert _verdict(gc.one_minimum_check(A, early, at_least=0.8, **kw)) is R
    assert _verdict(gc.one_minimum_check(A, (A - 0.5) ** 2, at_least=0.8, **kw)) is D


def test_line_minima_counts_the_solution_end_but_not_the_start():
    rises_first = 1.0 + np.sin(np.pi * A) - A  # uphill from the start, then down to alpha = 1
    assert gc.line_minima(A, rises_first, 0.0, 1.0).tolist() == [1.0]
    assert gc.line_minima(A, (A - 0.5) ** 2, 0.0, 1.0).tolist() == [0.5]
    assert gc.line_minima(A, (A - 0.5) ** 2, 0.0, 0.45).tolist() == [0.45]  # the far end counts
    assert gc.line_minima(A, A, 0.0, 1.0).tolist() == []  # rising all the way: none met


def test_monotone_decrease_check_fails_on_a_bump_and_on_a_flat_tile():
    kw = {"claim": "c", "where": "w"}
    assert _verdict(gc.monotone_decrease_check(A, GOOD_LINE, **kw)) is R
    bump = GOOD_LINE + 0.3 * np.exp(-(((A - 0.5) / 0.05) ** 2))  # an interior bump
    assert _verdict(gc.monotone_decrease_check(A, bump, **kw)) is D
    assert _verdict(gc.monotone_decrease_check(A, np.full_like(A, 2.0), **kw)) is D
    tiny_rise = GOOD_LINE.copy()
    tiny_rise[15] = tiny_rise[14] + 1e-4  # a rise far above the tolerance 1e-6 J(0)
    assert _verdict(gc.monotone_decrease_check(A, tiny_rise, **kw)) is D


def test_barrier_and_solutions_are_minima_checks_fail_without_a_barrier():
    kw = {"claim": "c", "where": "w"}
    assert _verdict(gc.barrier_check(0.6, [0.03, 0.02], **kw)) is R
    assert _verdict(gc.barrier_check(0.01, [0.03, 0.02], **kw)) is D  # a wiggle, not a barrier
    assert _verdict(gc.barrier_check(0.005, [0.0, 0.0], minimum=0.01, **kw)) is D
    b = np.round(np.linspace(-0.25, 1.25, 31), 10)
    two_minima = 1.0 - np.cos(2 * np.pi * b)  # minima at both solutions, a barrier between
    assert _verdict(gc.solutions_are_minima_check(b, two_minima, **kw)) is R
    falls_past = two_minima - 2.0 * b  # still falling at alpha = 1: not a minimum there
    assert _verdict(gc.solutions_are_minima_check(b, falls_past, **kw)) is D


def test_curvature_checks_fail_on_the_eigenvalues_of_minus_h():
    kw = {"claim": "c", "where": "w"}
    assert _verdict(gc.curvature_signs_check(-0.08, 0.9, how="h", **kw)) is R
    assert _verdict(gc.curvature_signs_check(0.08, -0.9, how="h", **kw)) is D
    assert _verdict(gc.curvature_signs_check(-0.08, -0.9, how="h", **kw)) is D
    # the factored model: H at the origin has eigenvalues -2, 2; at a solution 0 and 2 |w|^2
    start, end = [-2.0, 2.0], [0.0, 4.0]
    assert _verdict(gc.saddle_check(start, tol=1e-3, **kw)) is R
    assert _verdict(gc.saddle_check([1.0, 5.0], tol=1e-3, **kw)) is D  # H + 3 I: a minimum
    assert _verdict(gc.saddle_check([-5.0, -1.0], tol=1e-3, **kw)) is D  # a maximum
    assert _verdict(gc.solution_curvature_check(start, end, tol=1e-3, **kw)) is R
    minus = [-e for e in end]  # -H: the solution becomes a maximum across the manifold
    assert _verdict(gc.solution_curvature_check([-2.0, 2.0], minus, tol=1e-3, **kw)) is D
    assert _verdict(gc.solution_curvature_check([1.0, 3.0], end, tol=1e-3, **kw)) is D


def test_flat_start_check_fails_on_a_line_that_starts_steep():
    kw = {"claim": "c", "where": "w"}
    a = np.round(np.linspace(-0.5, 1.5, 81), 10)
    assert _verdict(gc.flat_start_check(a, (1 - a**2) ** 2, **kw)) is R  # Fig. 9's quartic
    assert _verdict(gc.flat_start_check(a, (1 - a) ** 2, **kw)) is D  # steepest at alpha = 0
    assert _verdict(gc.flat_start_check(a, 1 + a**2 - 2 * a**4, **kw)) is D  # flat but convex


def test_connected_solutions_check_fails_across_branches():
    kw = {"claim": "c", "where": "w"}
    arc = np.zeros(51)
    assert _verdict(gc.solutions_connected_check([2, 0.5], [0.5, 2], arc, **kw)) is R
    assert _verdict(gc.solutions_connected_check([1, 1], [-1, -1], None, **kw)) is D
    assert _verdict(gc.solutions_connected_check([1, 1], [-1, -1], arc, **kw)) is D
    assert _verdict(gc.solutions_connected_check([2, 0.5], [0.5, 2], arc + 0.1, **kw)) is D


def test_random_start_global_minima_descent_and_training_checks_can_fail():
    kw = {"claim": "c", "where": "w"}
    starts = {"paper": "p", "what": "x", "differs_because": "{bad} of {n}"}
    assert _verdict(gc.random_starts_check([True, True], **starts, **kw)) is R
    c = gc.random_starts_check([True, False, False], **starts, **kw)
    assert c.verdict is D and c.reason == "2 of 3" and c.ours.startswith("1 of 3")
    assert _verdict(gc.minima_at_solutions_check([0.0, 1e-20], **kw)) is R
    assert _verdict(gc.minima_at_solutions_check([0.0, 0.1], **kw)) is D
    path = np.geomspace(1.0, 1e-12, 50)
    assert _verdict(gc.descent_check(path, final_tol=1e-8, **kw)) is R
    bumpy = path.copy()
    bumpy[10] = bumpy[9] * 1.5  # the loss rises once along the path
    assert _verdict(gc.descent_check(bumpy, final_tol=1e-8, **kw)) is D
    assert _verdict(gc.descent_check(np.linspace(1.0, 0.5, 50), final_tol=1e-8, **kw)) is D
    assert _verdict(gc.trained_check(1.02, 0.85, 2.30, **kw)) is R
    assert _verdict(gc.trained_check(2.0, 0.85, 2.30, **kw)) is D
    steps = np.arange(0, 401, 20)
    assert _verdict(gc.early_learning_check(steps, 2.3 * np.exp(-steps / 20), **kw)) is R
    assert _verdict(gc.early_learning_check(steps, 2.3 - 0.005 * steps, **kw)) is D
    assert _verdict(gc.on_surface_check(2e-7, 9.0, rtol=1e-3, **kw)) is R
    assert _verdict(gc.on_surface_check(0.5, 9.0, rtol=1e-3, **kw)) is D
    below = {"paper": "p", "ours": "o", "criterion": "c", "differs_because": "d"}
    assert _verdict(gc.below_check(0.18, 0.25, **below, **kw)) is R
    assert _verdict(gc.below_check(0.5, 0.25, **below, **kw)) is D


# --- the factored model: generic path = closed form ---------------------------------------------
def test_factored_problem_is_the_zoo_model():
    problem = factored_problem(2.0, 0.5)
    assert [name for name, _ in problem.model.named_parameters()] == [
        "layers.0.weight",
        "layers.1.weight",
    ]
    assert problem.theta_from_model().tolist() == [2.0, 0.5]
    assert float(problem.loss(torch.tensor([0.0, 0.0], **F64))) == 1.0


@pytest.mark.parametrize("theta", [(0.0, 0.0), (0.7, -1.3), (2.0, 0.5), (0.0134, -0.021)])
def test_hessian_operator_on_the_factored_model_is_the_closed_form(theta):
    problem = factored_problem()
    t = torch.tensor(theta, **F64)
    H = linear.HessianOperator(problem, t).to_dense().numpy()
    np.testing.assert_allclose(H, factored_hessian(*theta), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(
        linear.hessian_eigenvalues(problem, t),
        np.linalg.eigvalsh(factored_hessian(*theta)),
        rtol=1e-13,
        atol=1e-14,
    )
    u = torch.tensor([0.3, -1.1], **F64)
    assert linear.line_curvature(problem, t, u) == pytest.approx(
        float(u.numpy() @ factored_hessian(*theta) @ u.numpy()), rel=1e-13, abs=1e-14
    )


def test_gradient_descent_on_the_problem_is_the_closed_form():
    problem = factored_problem()
    init = torch.tensor([0.02, -0.01], **F64)
    traj, losses = linear.gradient_descent(problem, init, lr=0.1, steps=300)
    closed = factored_gradient_descent(init.numpy(), lr=0.1, steps=300)
    np.testing.assert_allclose(traj.numpy(), closed, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losses, (1 - closed[:, 0] * closed[:, 1]) ** 2, atol=1e-15)
    every, _ = linear.gradient_descent(problem, init, lr=0.1, steps=300, every=50)
    assert torch.equal(every, traj[::50])


def test_same_branch_barrier_is_the_closed_form():
    """Fig. 10 left on one branch: (2, 0.5) -> (0.5, 2), w1 w2 = 1 + 9/4 a (1 - a), so the line
    peaks at a = 1/2 with J = (9/16)^2."""
    problem = factored_problem()
    a = np.round(np.linspace(-0.5, 1.5, 81), 10)
    res = interpolate(problem, torch.tensor([2.0, 0.5], **F64), torch.tensor([0.5, 2.0], **F64), a)
    closed = factored_interpolation([2.0, 0.5], [0.5, 2.0], a)
    np.testing.assert_allclose(res["train_loss"], closed, rtol=1e-14, atol=1e-15)
    assert barrier_height(res) == pytest.approx((9 / 16) ** 2, abs=1e-15)


# --- the entries run --------------------------------------------------------------------------
def _report_ok(out, results: dict) -> dict[str, Verdict]:
    """The report files exist, every figure the Markdown names is there, results.json holds the
    checks; returns claim -> verdict."""
    for name in ("report.md", "report.html", "results.json"):
        assert (out / name).is_file()
    md = (out / "report.md").read_text()
    figures = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert figures and all((out / f).is_file() for f in figures)
    saved = json.loads((out / "results.json").read_text())
    assert saved["checks"] == results["checks"] and results["checks"]
    for c in results["checks"]:
        assert c["criterion"] and (c["verdict"] == "reproduced" or c["reason"])
    return {c["claim"]: Verdict(c["verdict"]) for c in results["checks"]}


def test_factored_quick_verdicts(tmp_path):
    """The entry as the catalog runs it (quick = the full experiment but a coarser surface)."""
    results = get_reproduction("goodfellow-factored").run(tmp_path, quick=True, progress=False)
    verdicts = _report_ok(tmp_path, results)
    assert len(verdicts) == 9
    differs = [claim for claim, v in verdicts.items() if v is D]
    # only the literal Fig. 10 right statement: 4 of 8 random lines cross the hyperbola first
    assert len(differs) == 1 and "random point" in differs[0]
    assert results["fig10_right"]["no_other_minimum"].count(True) == 4
    assert results["barrier_same_branch"] == pytest.approx((9 / 16) ** 2, abs=1e-12)
    np.testing.assert_allclose(results["hessian_eigenvalues"]["origin"], [-2, 2], atol=1e-14)


class _Minus:
    """A Hessian operator that returns -H (what a sign bug in the operator would give)."""

    def __init__(self, problem, theta, **kwargs):
        self._op = linear_hessian_operator(problem, theta, **kwargs)

    def to_dense(self):
        return -self._op.to_dense()

    def __matmul__(self, V):
        return -(self._op @ V)


linear_hessian_operator = linear.HessianOperator


def test_factored_curvature_verdicts_come_from_the_operator(tmp_path, monkeypatch):
    monkeypatch.setitem(linear.FACTORED, "random_seeds", (2, 64))
    monkeypatch.setitem(linear.FACTORED, "surface_points", (11, 201))
    monkeypatch.setattr(linear, "HessianOperator", _Minus)
    results = linear.factored(tmp_path, quick=True, progress=False)
    verdicts = {c["claim"]: c["verdict"] for c in results["checks"]}
    curvature = [v for claim, v in verdicts.items() if "negative curvature near its start" in claim]
    assert curvature == ["differs"]
    # -H of a saddle is still a saddle; H + 3 I (eigenvalues 1, 5) is not
    saddle = [v for claim, v in verdicts.items() if "saddle point at the origin" in claim]
    assert saddle == ["reproduced"]

    class Shifted(_Minus):
        def to_dense(self):
            H = self._op.to_dense()
            return H + 3 * torch.eye(2, dtype=H.dtype)

    monkeypatch.setattr(linear, "HessianOperator", Shifted)
    results = linear.factored(tmp_path / "shifted", quick=True, progress=False)
    saddle = [c["verdict"] for c in results["checks"] if "saddle point" in c["claim"]]
    assert saddle == ["differs"]


@pytest.fixture
def tiny(monkeypatch):
    """Tiny settings for every Goodfellow entry: tens of steps, a few grid points."""
    mlp = {
        "training": {"steps": 60},
        "record": {"params": {"every": 2}, "eval": {"every": 20}, "flush_every": 60},
    }
    monkeypatch.setitem(common.QUICK, "relu_digits", mlp)
    monkeypatch.setitem(common.QUICK, "sigmoid_digits", mlp)
    monkeypatch.setitem(
        common.QUICK,
        "maxout_digits",
        {**mlp, "model": {"options": {"widths": [16, 16], "pieces": 2}}},
    )
    monkeypatch.setitem(
        common.QUICK, "lstm_markov", {"training": {"steps": 40}, "record": {"params": {"every": 4}}}
    )
    for key, value in {
        "line_points": (21, 81),
        "tile_points": (12, 200),
        "between_points": (13, 121),
        "random_starts": (2, 8),
        "random_points": (11, 101),
    }.items():
        monkeypatch.setitem(lines.INTERPOLATION, key, value)
    for plan in (lines.MAXOUT, lines.LSTM):
        monkeypatch.setitem(plan, "line_points", (21, 81))
        monkeypatch.setitem(plan, "surface_points", (5, 41))
    monkeypatch.setitem(geometry.SURFACES, "points", (5, 51))
    monkeypatch.setitem(geometry.SURFACES, "subset", (200, None))
    monkeypatch.setitem(geometry.PROJECTION, "dims", ((2, 200), (2, 10000)))
    monkeypatch.setitem(linear.DEEP_LINEAR, "steps", (40, 3000))
    monkeypatch.setitem(linear.DEEP_LINEAR, "surface_points", (5, 51))


@pytest.mark.parametrize(
    "name", [n for n in GOODFELLOW if n not in ("goodfellow-factored", "goodfellow-interpolation")]
)
def test_entry_quick_path_on_tiny_settings(name, tiny, tmp_path):
    results = get_reproduction(name).run(tmp_path, quick=True, progress=False)
    verdicts = _report_ok(tmp_path, results)
    assert results["quick"] is True and results["seconds"] > 0
    # checks that hold by construction hold even for a tiny run
    for claim, verdict in verdicts.items():
        if "lies on the (alpha, beta) surface" in claim or "theta(t) = theta_i" in claim:
            assert verdict is R, claim


def test_deep_linear_curvature_verdict_comes_from_the_operator(tiny, tmp_path, monkeypatch):
    before = linear.deep_linear(tmp_path / "plus", quick=True, progress=False)
    monkeypatch.setattr(linear, "HessianOperator", _Minus)
    after = linear.deep_linear(tmp_path / "minus", quick=True, progress=False)
    a, b = before["line_curvature"], after["line_curvature"]
    assert b["alpha0"] == pytest.approx(-a["alpha0"], rel=1e-12)
    (verdict,) = [c["verdict"] for c in after["checks"] if "negative curvature" in c["claim"]]
    assert verdict == "differs"


def test_interpolation_quick_path_on_tiny_settings(tiny, tmp_path):
    """The entry runs and reports; Fig. 5's second solution trains on the first seed's split."""
    import landscope
    from landscope.config import build_dataset

    results = get_reproduction("goodfellow-interpolation").run(tmp_path, quick=True, progress=False)
    assert len(_report_ok(tmp_path, results)) == 10
    r0 = landscope.open_run(tmp_path / "runs" / "goodfellow_relu_digits")
    r1 = landscope.open_run(tmp_path / "runs" / "goodfellow_relu_digits_s1")
    assert r1.run_config().seed == 1
    d0, d1 = build_dataset(r0.run_config()), build_dataset(r1.run_config())
    assert not torch.equal(d0.train.x, d1.train.x)  # the seeds' own splits differ ...
    first = np.ravel(r1.read("batch_indices"))[:64]  # ... and seed 1 drew from seed 0's
    assert first.max() < len(d0.train)
    assert not torch.equal(r0.theta("init"), r1.theta("init"))
