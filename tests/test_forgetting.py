"""Defences against catastrophic forgetting (Haink sec. 3.3, 7.7; EWC): every penalty's value and
gradient against a hand computation from an independent dense reference (``torch.func.hessian``,
``numpy.linalg.svd`` / ``eigh``, a per-sample loop) in float64; the gradient constraint
(eq. 7.12); zero strength is plain training bitwise; the config block; the protocol end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import landscope
from landscope import Problem
from landscope.config import load_config
from landscope.data import SplitDataset, TensorData, load_digits
from landscope.forgetting import (
    EWCPenalty,
    ForgettingSettings,
    GradientConstraint,
    HessianEigenPenalty,
    PCAFlatnessPenalty,
    SingularValuePenalty,
    best_epochs,
    fisher_diagonal,
    flatness,
    run_forgetting_analysis,
    split_tasks,
)
from landscope.plugins import LOSS_PENALTIES, UPDATE_TRANSFORMS, UpdateContext
from landscope.runs import Series

# float64 computations of the same quantity two ways: agreement to rounding
RTOL, ATOL = 1e-9, 1e-11
N = 30


def _dataset(n: int = N) -> SplitDataset:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(n + 10, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n + 10,), generator=g)
    return SplitDataset(
        "tiny", TensorData(x[:n], y[:n]), TensorData(x[n:], y[n:]), "classification", 3
    )


def _model() -> nn.Module:
    g = torch.Generator().manual_seed(5)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.7 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return m


def _problem() -> tuple[Problem, torch.Tensor]:
    problem = Problem(_model(), "cross_entropy", _dataset().train, chunk_size=7)
    return problem, problem.theta_from_model()


def _dense_hessian(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    """Independent reference: torch.func.hessian of the one-batch mean cross-entropy."""
    x, y = problem.data.x, problem.data.y

    def loss(t):
        return nn.functional.cross_entropy(problem.output(t, x), y)

    return torch.func.hessian(loss)(theta)


def _value_and_grad(penalty, w: torch.Tensor) -> tuple[float, torch.Tensor]:
    w = w.clone().requires_grad_(True)
    value = penalty(w)
    (g,) = torch.autograd.grad(value, w)
    return float(value.detach()), g


def _displacement(theta: torch.Tensor, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return theta + 0.3 * torch.randn(theta.shape, generator=g, dtype=torch.float64)


# --- tasks -------------------------------------------------------------------------------------
def test_split_tasks_keeps_labels_and_the_shared_head():
    ds = load_digits()
    a, b = split_tasks(ds)
    assert set(a.train.y.tolist()) == {0, 1, 2, 3, 4} and set(b.test.y.tolist()) == {5, 6, 7, 8, 9}
    assert a.num_classes == b.num_classes == 10
    assert len(a.train) + len(b.train) == len(ds.train)
    with pytest.raises(ValueError, match="both contain class 3"):
        split_tasks(ds, [[1, 3], [3, 4]])


# --- penalties against hand computations -------------------------------------------------------
def test_hessian_penalty_value_and_gradient_equal_a_dense_reference():
    """eq. 3.11 per layer: lambda sum_i h_i ((w - mu).h_i)^2 = lambda d^T V diag(h) V^T d over
    the top-k positive eigenpairs of each layer's Hessian block (sign-free form)."""
    problem, mu = _problem()
    lam, k = 3.0, 4
    pen = HessianEigenPenalty(strength=lam, n_directions=k).fit(problem, mu)
    H = _dense_hessian(problem, mu).numpy()
    w = _displacement(mu)
    d = (w - mu).numpy()
    value, grad = 0.0, np.zeros_like(d)
    for layer in problem.layout.layers:
        sl = problem.layout.layer_slice(layer)
        evals, evecs = np.linalg.eigh(H[sl, sl])
        top = np.argsort(evals)[::-1][:k]
        top = top[evals[top] > 0]
        M = evecs[:, top] @ np.diag(evals[top]) @ evecs[:, top].T
        value += lam * d[sl] @ M @ d[sl]
        grad[sl] = 2 * lam * M @ d[sl]
    ours, g = _value_and_grad(pen, w)
    assert ours == pytest.approx(value, rel=RTOL)
    np.testing.assert_allclose(g.numpy(), grad, rtol=RTOL, atol=ATOL)
    assert float(pen(mu)) == 0.0


def test_hessian_penalty_whole_network_uses_the_full_hessian():
    problem, mu = _problem()
    pen = HessianEigenPenalty(strength=2.0, n_directions=5, per_layer=False).fit(problem, mu)
    H = _dense_hessian(problem, mu).numpy()
    evals, evecs = np.linalg.eigh(H)
    top = np.argsort(evals)[::-1][:5]
    M = evecs[:, top] @ np.diag(evals[top]) @ evecs[:, top].T
    w = _displacement(mu, 2)
    d = (w - mu).numpy()
    ours, g = _value_and_grad(pen, w)
    assert ours == pytest.approx(2.0 * d @ M @ d, rel=RTOL)
    np.testing.assert_allclose(g.numpy(), 4.0 * M @ d, rtol=RTOL, atol=ATOL)


def test_singular_value_penalty_equals_svd_and_bias_hessian_by_hand():
    """eq. 7.11 with the top-2 singular values of each weight matrix: lambda sum_i nu_i
    (u_i^T dW v_i)^2, plus each bias' top ceil(0.2 n) Hessian eigenpairs."""
    problem, mu = _problem()
    lam = 5.0
    pen = SingularValuePenalty(strength=lam, n_singular=2).fit(problem, mu)
    H = _dense_hessian(problem, mu).numpy()
    w = _displacement(mu, 3)
    d = (w - mu).numpy()
    value, grad = 0.0, np.zeros_like(d)
    for slot in problem.layout:
        sl = slot.slice
        if slot.kind == "weight":
            U, S, Vt = np.linalg.svd(mu[sl].numpy().reshape(slot.shape), full_matrices=False)
            dW = d[sl].reshape(slot.shape)
            for i in range(2):
                c = U[:, i] @ dW @ Vt[i]
                value += lam * S[i] * c * c
                grad[sl] += 2 * lam * S[i] * c * np.outer(U[:, i], Vt[i]).ravel()
        else:
            evals, evecs = np.linalg.eigh(H[sl, sl])
            top = np.argsort(evals)[::-1][: math.ceil(0.2 * slot.numel)]
            top = top[evals[top] > 0]
            M = evecs[:, top] @ np.diag(evals[top]) @ evecs[:, top].T
            value += lam * d[sl] @ M @ d[sl]
            grad[sl] += 2 * lam * M @ d[sl]
    ours, g = _value_and_grad(pen, w)
    assert ours == pytest.approx(value, rel=RTOL)
    np.testing.assert_allclose(g.numpy(), grad, rtol=RTOL, atol=ATOL)
    kinds = [grp.kind for grp in pen.directions_.groups]
    assert kinds == ["singular", "singular", "bias_hessian", "bias_hessian"]


def test_singular_value_penalty_outliers_come_from_the_marchenko_pastur_fit():
    from landscope.spectra import MarchenkoPastur

    problem, mu = _problem()
    pen = SingularValuePenalty(strength=1.0, bias_fraction=0.0).fit(problem, mu)
    for grp, slot in zip(
        pen.directions_.groups,
        [problem.layout["0.weight"], problem.layout["2.weight"]],
        strict=True,
    ):
        mp = MarchenkoPastur().fit(mu[slot.slice].reshape(slot.shape))
        assert grp.k == mp.n_outliers_
        np.testing.assert_allclose(
            grp.weights.numpy(), mp.singular_values_[mp.outlier_indices_], rtol=1e-12
        )


def test_flatness_equals_the_closed_form_of_a_quadratic_loss():
    """Least squares at its minimum: L(mu + t d) = L0 + t^2 d^T H d / 2, so the width at level
    2 L0 is F = 2 sqrt(2 L0 / d^T H d)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3 * torch.randn(
        40, 1, generator=g, dtype=torch.float64
    )
    model = nn.Linear(3, 1, bias=False).double()
    problem = Problem(model, "mse", (x, y))
    sol = torch.linalg.lstsq(x, y).solution.reshape(-1)
    L0 = float(problem.loss(sol))
    dirs = torch.linalg.qr(torch.randn(3, 2, generator=g, dtype=torch.float64)).Q
    H = torch.func.hessian(lambda t: problem.loss_function(x, y)(t))(sol)
    expected = [2 * math.sqrt(2 * L0 / float(dirs[:, i] @ H @ dirs[:, i])) for i in range(2)]
    ours = flatness(problem, sol, dirs, torch.arange(3), factor=2.0, rtol=1e-9)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)


def test_pca_penalty_equals_components_and_flatness_by_hand():
    """eq. 3.10 per layer: lambda sum_i F_i^-2 ((w - mu).p_i)^2, p_i the right singular vectors
    of the centred snapshots (numpy), F_i measured along them."""
    problem, mu = _problem()
    g = torch.Generator().manual_seed(4)
    traj = mu + 0.05 * torch.randn(7, mu.numel(), generator=g, dtype=torch.float64).cumsum(0)
    lam, k = 2.0, 3
    pen = PCAFlatnessPenalty(strength=lam, n_directions=k).fit(problem, mu, traj)
    w = _displacement(mu, 5)
    d = (w - mu).numpy()
    value, grad = 0.0, np.zeros_like(d)
    for layer in problem.layout.layers:
        sl = problem.layout.layer_slice(layer)
        X = traj[:, sl].numpy()
        _, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
        P = Vt[:k].T
        idx = torch.arange(sl.start, sl.stop)
        F = flatness(problem, mu, torch.as_tensor(P), idx).numpy()
        M = P @ np.diag(1 / F**2) @ P.T
        value += lam * d[sl] @ M @ d[sl]
        grad[sl] = 2 * lam * M @ d[sl]
    ours, gr = _value_and_grad(pen, w)
    # the flatness bisection stops at relative width 1e-3 on each side
    assert ours == pytest.approx(value, rel=1e-6)
    np.testing.assert_allclose(gr.numpy(), grad, rtol=1e-6, atol=1e-9)


def test_ewc_fisher_is_the_mean_of_squared_per_sample_gradients_by_a_loop():
    problem, mu = _problem()
    x, y = problem.data.x, problem.data.y
    rows = []
    for i in range(N):
        t = mu.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(problem.output(t, x[i : i + 1]), y[i : i + 1])
        (gi,) = torch.autograd.grad(loss, t)
        rows.append(gi)
    fisher = (torch.stack(rows) ** 2).mean(0)
    torch.testing.assert_close(fisher_diagonal(problem, mu), fisher, rtol=1e-12, atol=1e-15)
    # the squared minibatch-mean gradient is a different (smaller) quantity
    assert float((torch.stack(rows).mean(0) ** 2).sum()) < 0.5 * float(fisher.sum())
    lam = 7.0
    pen = EWCPenalty(strength=lam).fit(problem, mu)
    w = _displacement(mu, 6)
    value, g = _value_and_grad(pen, w)
    assert value == pytest.approx(0.5 * lam * float((fisher * (w - mu) ** 2).sum()), rel=1e-12)
    torch.testing.assert_close(g, lam * fisher * (w - mu), rtol=1e-12, atol=1e-15)
    only_last = EWCPenalty(strength=lam, params=["2"]).fit(problem, mu)
    assert float(only_last.fisher_[problem.layout.layer_slice("0")].abs().sum()) == 0.0


# --- the gradient constraint (eq. 7.12) -----------------------------------------------------------
def _update_ctx(problem, theta, update):
    return UpdateContext(0, 0, theta, update, update, 0.1, problem, torch.arange(4))


@pytest.mark.parametrize("directions", ["singular", "hessian"])
def test_constraint_at_gamma_one_is_orthogonal_to_the_conserved_directions(directions):
    problem, mu = _problem()
    v = _displacement(torch.zeros_like(mu), 7)
    uniform = GradientConstraint(1.0, directions, "uniform", n_directions=3, n_singular=2)
    uniform.fit(problem, mu)
    out = uniform(_update_ctx(problem, mu, v))
    for c in uniform.directions_.coordinates(out):
        assert float(c.abs().max()) < 1e-12
    # off the conserved blocks' span nothing changes: out = v - P v with P the projector
    dirs = uniform.directions_
    P = torch.zeros(mu.numel(), mu.numel(), dtype=torch.float64)
    for grp in dirs.groups:
        P[grp.index[:, None], grp.index[None, :]] += grp.vectors @ grp.vectors.T
    torch.testing.assert_close(out, v - P @ v, rtol=1e-12, atol=1e-14)
    # relative weights: component i is scaled by 1 - c_i / c_1 (top of each block removed)
    rel = GradientConstraint(1.0, directions, n_directions=3, n_singular=2).fit(problem, mu)
    before, after = (
        dirs.coordinates(v),
        rel.directions_.coordinates(rel(_update_ctx(problem, mu, v))),
    )
    for grp, b, a in zip(rel.directions_.groups, before, after, strict=True):
        torch.testing.assert_close(
            a, (1 - grp.weights / grp.weights.max()) * b, rtol=1e-10, atol=1e-13
        )
    half = GradientConstraint(0.5, directions, "uniform", n_directions=3, n_singular=2).fit(
        problem, mu
    )
    torch.testing.assert_close(
        half(_update_ctx(problem, mu, v)), v - 0.5 * P @ v, rtol=1e-12, atol=1e-14
    )


# --- zero strength is plain training, bitwise ----------------------------------------------------
def _config(**overrides) -> dict:
    cfg = {
        "name": "forget",
        "seed": 3,
        "dtype": "float64",
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.5},
        "training": {"batch_size": 6, "steps": 10},
        "record": {"params": {"every": 1}, "eval": {"every": 5}, "flush_every": 5},
    }
    cfg.update(overrides)
    return cfg


def _train(path, **kw):
    return landscope.train(
        kw.pop("config", _config()), path, model=_model(), dataset=_dataset(), progress=False, **kw
    )


def test_zero_strength_and_zero_gamma_equal_plain_training_bitwise(tmp_path):
    problem, mu = _problem()
    traj = mu + 0.05 * torch.randn(
        6, mu.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64
    ).cumsum(0)
    plain = _train(tmp_path / "plain").read(Series.PARAMS)
    defences = [
        ("hessian", HessianEigenPenalty(0.0, n_directions=3), None),
        ("pca", PCAFlatnessPenalty(0.0, n_directions=3), None),
        ("singular", SingularValuePenalty(0.0), None),
        ("ewc", EWCPenalty(0.0), None),
        ("constraint", None, GradientConstraint(0.0)),
    ]
    for name, pen, transform in defences:
        (pen or transform).fit(problem, mu, traj)
        run = _train(
            tmp_path / name,
            penalties=[pen] if pen is not None else [],
            update_transform=transform,
        )
        assert np.array_equal(run.read(Series.PARAMS), plain), name
    # and a non-zero strength does change the trajectory (the test can fail)
    pen = HessianEigenPenalty(10.0, n_directions=3).fit(problem, mu)
    assert not np.array_equal(_train(tmp_path / "on", penalties=[pen]).read(Series.PARAMS), plain)


# --- the config block ----------------------------------------------------------------------------
def test_config_block_round_trip_and_fit_from_the_anchor_run(tmp_path):
    task_a = landscope.train(
        {
            "name": "a",
            "dtype": "float64",
            "data": {"name": "iris"},
            "model": {"name": "mlp", "options": {"widths": [5]}},
            "training": {"batch_size": 20, "steps": 6},
            "record": {"eval": {"every": 3}},
        },
        tmp_path / "task_a",
        progress=False,
    )
    block = {
        "name": "hessian_eigen",
        "options": {"strength": 0.5, "n_directions": 3, "anchor": str(task_a.path)},
    }
    cfg = load_config(
        {
            "name": "b",
            "dtype": "float64",
            "data": {"name": "iris"},
            "model": {"name": "mlp", "options": {"widths": [5]}},
            "seed": 1,
            "training": {"batch_size": 20, "steps": 4},
            "record": {"eval": {"every": 2}},
            "penalties": [block],
            "update_transform": {
                "name": "gradient_constraint",
                "options": {"gamma": 0.5, "anchor": str(task_a.path)},
            },
        }
    )
    again = load_config(__import__("yaml").safe_load(cfg.to_yaml()))
    assert again == cfg and again.penalties[0].options == block["options"]
    built = LOSS_PENALTIES.build(block["name"], **block["options"])
    assert isinstance(built, HessianEigenPenalty) and built.strength == 0.5
    assert isinstance(UPDATE_TRANSFORMS.build("gradient_constraint", gamma=0.5), GradientConstraint)
    with pytest.raises(Exception, match="n_direction"):
        load_config({"penalties": [{"name": "hessian_eigen", "options": {"n_direction": 3}}]})
    run_b = landscope.train(cfg, tmp_path / "task_b", progress=False)
    # the penalty the engine fitted from the anchor run equals one fitted by hand
    problem_a, _ = task_a.problems()
    by_hand = HessianEigenPenalty(0.5, 3).fit(problem_a, task_a.theta("last", like=problem_a))
    theta0 = run_b.theta(0, like=problem_a)
    assert run_b.read("penalty.hessian_eigen", steps=[0])[0] == pytest.approx(
        float(by_hand(theta0)), rel=1e-10
    )


# --- the protocol ----------------------------------------------------------------------------------
def test_settings_validation_and_best_epoch():
    with pytest.raises(ValueError, match="layers"):
        ForgettingSettings(layers="first")
    with pytest.raises(ValueError, match="two class lists"):
        ForgettingSettings(tasks=[[0, 1]])
    with pytest.raises(ValueError):
        ForgettingSettings(methods=["magic"])
    assert best_epochs([0.9, 0.5, 0.7, 0.6], [0.0, 0.3, 0.3, 0.2]) == 2  # epoch 0 excluded
    assert best_epochs([0.9], [0.0]) == -1


def test_protocol_end_to_end_writes_the_table(tmp_path):
    pre = landscope.train(
        {
            "name": "pre",
            "data": {"name": "digits"},
            "model": {"name": "mlp", "options": {"widths": [16]}},
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "training": {"batch_size": 64, "epochs": 3},
            "record": {"eval": {"every": 1000}},
        },
        tmp_path / "pre",
        progress=False,
    )
    settings = ForgettingSettings(
        seeds=[0],
        methods=["finetune", "hessian", "constraint_singular"],
        epochs_a=2,
        max_epochs_a=2,
        epochs_b=2,
        n_directions=3,
        max_samples=64,
    )
    res = run_forgetting_analysis(pre, settings, tmp_path / "out", progress=False)
    assert res["analysis"] == "forgetting" and res["layers"] == ["layers.1"]
    rows = (tmp_path / "out" / "table.csv").read_text().splitlines()
    assert rows[0].startswith("method,seed,acc_a,acc_b,sum,best_epoch") and len(rows) == 4
    for row in res["rows"]:
        assert 0 <= row["acc_a"] <= 1 and row["sum"] == pytest.approx(row["acc_a"] + row["acc_b"])
        assert row["best_epoch"] in (1, 2)
    epochs = (tmp_path / "out" / "epochs.csv").read_text().splitlines()
    assert len(epochs) == 1 + 3 * 3  # epochs 0, 1, 2 of three methods
    assert res["seeds"][0]["lr_b"] == pytest.approx(0.01 * 0.1)


# --- figure, command line, reproduction checks -------------------------------------------------
def _fake_results(sums: dict[str, float], n_dirs: dict[str, int], drop: float) -> dict:
    """A protocol result with given mean sums (acc A = acc B = sum / 2) for one scope."""
    rows = [
        {
            "method": m,
            "seed": s,
            "acc_a": v / 2,
            "acc_b": v / 2,
            "sum": v,
            "best_epoch": 3,
            "final_acc_a": 0.95 - drop if m == "finetune" else 0.9,
            "diverged": "",
        }
        for m, v in sums.items()
        for s in (0, 1)
    ]
    defences = {m: {"n_directions": n, "groups": []} for m, n in n_dirs.items()}
    seeds = [{"task_a_test_accuracy": 0.95, "defences": defences} for _ in (0, 1)]
    methods = {m: {"mean_sum": v} for m, v in sums.items()}
    return {
        "rows": rows,
        "seeds": seeds,
        "methods": methods,
        "settings": {"tasks": [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]},
        "summary": {"layers": "fc3"},
    }


def test_reproduction_checks_follow_the_numbers():
    from landscope.reproduce import Verdict
    from landscope.reproduce._haink_forgetting import forgetting_checks

    good = {
        "finetune": 1.2,
        "ewc": 1.3,
        "hessian": 1.6,
        "singular": 1.62,
        "constraint_singular": 1.4,
        "constraint_hessian": 1.5,
    }
    bad = {
        "finetune": 1.7,
        "ewc": 1.3,
        "hessian": 1.2,
        "singular": 1.6,
        "constraint_singular": 1.8,
        "constraint_hessian": 1.5,
    }
    dirs = {"hessian": 20, "singular": 4, "constraint_singular": 4, "constraint_hessian": 20}
    low = {k: v - 0.3 for k, v in good.items()}
    results = {
        "networks": {
            "lenet": {"last": _fake_results(good, dirs, 0.5), "all": _fake_results(low, dirs, 0.5)}
        }
    }
    verdicts = [c.verdict for c in forgetting_checks(results)]
    assert verdicts and all(v is Verdict.REPRODUCED for v in verdicts)
    results = {
        "networks": {
            "lenet": {
                "last": _fake_results(bad, {**dirs, "singular": 30}, 0.0),
                "all": _fake_results({k: v + 0.3 for k, v in bad.items()}, dirs, 0.0),
            }
        }
    }
    checks = forgetting_checks(results)
    assert all(c.verdict is Verdict.DIFFERS for c in checks), [c.claim for c in checks if c.passed]


def test_figure_and_command_line(tmp_path):
    from typer.testing import CliRunner

    from landscope.cli._app import _register_all, app
    from landscope.plotting import plot_forgetting_results, read_figure_index

    pre = landscope.train(
        {
            "name": "pre",
            "data": {"name": "digits"},
            "model": {"name": "mlp", "options": {"widths": [8]}},
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "training": {"batch_size": 64, "epochs": 2},
            "record": {"eval": {"every": 1000}},
        },
        tmp_path / "pre",
        progress=False,
    )
    _register_all()
    out = tmp_path / "out"
    (tmp_path / "s.yaml").write_text("epochs_a: 1\nmax_epochs_a: 1\nmax_samples: 32\n")
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "forgetting",
            str(pre.path),
            "--out",
            str(out),
            "--methods",
            "finetune,singular",
            "--seeds",
            "1",
            "--epochs-b",
            "1",
            "--settings",
            str(tmp_path / "s.yaml"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "forgetting_accuracy.png").stat().st_size > 1000
    (fig,) = read_figure_index(out)
    assert fig.paper_figure == "Haink Fig. 7.22 / 7.23"
    assert plot_forgetting_results(out)[0].file == "forgetting_accuracy.png"
    bad = CliRunner().invoke(
        app, ["analyze", "forgetting", str(pre.path), "--out", str(out), "--methods", "magic"]
    )
    assert bad.exit_code == 2 and "methods" in bad.output
