"""The engine's plugins: registries (names and options checked by the config schema), a plugin
registered from outside the engine, loss penalties against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import landscope
from landscope.config import ConfigError, load_config
from landscope.data import SplitDataset, TensorData
from landscope.plugins import (
    LOSS_PENALTIES,
    ONLINE_ANALYSES,
    UPDATE_TRANSFORMS,
    Registry,
    StepContext,
)
from landscope.runs import Series
from landscope.training import L2Anchor, batch_indices


def _dataset(n: int = 24) -> SplitDataset:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n + 8, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n + 8,), generator=g)
    return SplitDataset(
        "tiny", TensorData(x[:n], y[:n]), TensorData(x[n:], y[n:]), "classification", 3
    )


def _model() -> nn.Module:
    g = torch.Generator().manual_seed(5)
    m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return m


def _config(**overrides) -> dict:
    cfg = {
        "name": "plug",
        "seed": 7,
        "dtype": "float64",
        "optimizer": {"name": "sgd", "lr": 0.1},
        "training": {"batch_size": 6, "steps": 8},
        "record": {"params": {"every": 1}, "eval": {"every": 4}, "flush_every": 4},
    }
    cfg.update(overrides)
    return cfg


def _train(tmp_path, name, **kw):
    return landscope.train(
        kw.pop("config", _config()),
        tmp_path / name,
        model=_model(),
        dataset=_dataset(),
        progress=False,
        **kw,
    )


def test_builtin_plugins_are_registered():
    assert {"gradient_norm", "layer_norms", "top_subspace", "gradient_overlap"} <= set(
        ONLINE_ANALYSES.names()
    )
    assert {"top_subspace_sgd", "low_rank_newton"} <= set(UPDATE_TRANSFORMS.names())
    assert "l2_anchor" in LOSS_PENALTIES.names()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"analyses": [{"name": "no_such"}]}, "unknown online analysis 'no_such'; registered:"),
        ({"analyses": [{"name": "top_subspace", "options": {"kk": 3}}]}, "unexpected keyword"),
        ({"update_transform": {"name": "sgd_on_mars"}}, "unknown update transform"),
        ({"penalties": [{"name": "l2_anchor", "options": {"weight": 1}}]}, "unexpected keyword"),
        ({"penalties": [{"name": "nope"}]}, "unknown loss penalty 'nope'"),
    ],
)
def test_config_rejects_unknown_plugins_and_options(block, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(**block))


def test_registry_refuses_a_second_factory_under_a_taken_name():
    reg = Registry("thing")
    reg.register("a", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", lambda: 2)


class _DistanceFromStart:
    """A plugin written outside the engine: ||theta(t) - theta(0)||."""

    def __init__(self, every: int = 1, name: str = "distance", power: float = 1.0):
        self.every, self.name, self.power = every, name, power

    def __call__(self, ctx: StepContext):
        start = ctx.state.setdefault("start", ctx.theta.clone())
        return {"value": float((ctx.theta - start).norm() ** self.power)}


def test_a_plugin_registered_outside_the_engine_runs_from_a_config(tmp_path):
    ONLINE_ANALYSES.register("test_distance_from_start", _DistanceFromStart)
    cfg = _config(
        analyses=[{"name": "test_distance_from_start", "every": 2, "options": {"power": 2}}]
    )
    run = _train(tmp_path, "r", config=cfg)
    steps = run.steps("test_distance_from_start.value")
    assert steps.tolist() == [0, 2, 4, 6, 8]
    thetas = run.thetas(steps)
    expected = ((thetas - thetas[0]).norm(dim=1) ** 2).numpy()
    np.testing.assert_allclose(run.read("test_distance_from_start.value"), expected, rtol=1e-12)


def test_zero_penalty_leaves_training_bitwise_unchanged(tmp_path):
    plain = _train(tmp_path, "plain")
    cfg = _config(penalties=[{"name": "l2_anchor", "options": {"strength": 0.0, "anchor": "zero"}}])
    pen = _train(tmp_path, "pen", config=cfg)
    assert np.array_equal(plain.read(Series.PARAMS), pen.read(Series.PARAMS))
    assert np.array_equal(pen.read("penalty.l2_anchor"), np.zeros(8))


@pytest.mark.parametrize("anchor", ["zero", "init"])
def test_l2_anchor_step_equals_a_hand_computation(tmp_path, anchor):
    """theta(t+1) = theta(t) - lr (g_batch(theta(t)) + s m (theta(t) - anchor)), float64."""
    s, lr = 0.3, 0.1
    cfg = _config(
        penalties=[
            {"name": "l2_anchor", "options": {"strength": s, "anchor": anchor, "on_bias": False}}
        ]
    )
    run = _train(tmp_path, anchor, config=cfg)
    problem, _ = run.problems(model=_model(), dataset=_dataset())
    thetas = run.thetas(run.param_steps(), like=problem)
    theta0 = thetas[0]
    anchor_theta = torch.zeros_like(theta0) if anchor == "zero" else theta0
    mask = problem.layout.mask(lambda slot: slot.kind != "bias").to(torch.float64)
    ds = _dataset()
    for t in range(8):
        idx = batch_indices(t, num_samples=24, batch_size=6, seed=7, sampling="without_replacement")
        theta = thetas[t].clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(
            problem.output(theta, ds.train.x[idx]), ds.train.y[idx]
        )
        diff = mask * (theta - anchor_theta)
        penalty = 0.5 * s * (diff * diff).sum()
        (g,) = torch.autograd.grad(loss + penalty, theta)
        # one SGD step of a float64 computation done two ways: agreement to rounding (1e-13)
        torch.testing.assert_close(thetas[t + 1], thetas[t] - lr * g, rtol=0, atol=1e-13)
        assert run.read("penalty.l2_anchor", steps=[t])[0] == pytest.approx(
            float(penalty.detach()), rel=1e-12
        )


def test_l2_anchor_on_another_runs_solution_and_resume_is_exact(tmp_path):
    first = _train(tmp_path, "first")
    cfg = _config(
        penalties=[{"name": "l2_anchor", "options": {"strength": 0.5, "anchor": str(first.path)}}]
    )
    whole = _train(tmp_path, "whole", config=cfg)

    def interrupt_at_6(ctx):
        if ctx.step == 6:
            raise KeyboardInterrupt
        return ctx.update

    with pytest.raises(landscope.training.TrainingInterrupted):
        _train(tmp_path, "part", config=cfg, update_transform=interrupt_at_6)
    resumed = landscope.train(
        None, tmp_path / "part", resume=True, model=_model(), dataset=_dataset(), progress=False
    )
    assert np.array_equal(whole.read(Series.PARAMS), resumed.read(Series.PARAMS))
    assert np.array_equal(whole.read("penalty.l2_anchor"), resumed.read("penalty.l2_anchor"))
    assert whole.read("penalty.l2_anchor")[0] > 0  # the anchor is the other run, not theta(0)
    penalty = L2Anchor(strength=0.5, anchor=str(first.path))
    assert penalty.name == "l2_anchor"


def test_a_penalty_object_passed_to_train_and_its_non_finite_error(tmp_path):
    class Exploding:
        name = "exploding"

        def __call__(self, theta):
            return theta.sum() * float("inf")

    with pytest.raises(landscope.training.NonFiniteLossError, match=r"penalty \(exploding = "):
        _train(tmp_path, "boom", penalties=[Exploding()])
