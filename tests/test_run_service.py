"""The run service: a recorded run's problems and theta at steps, against direct reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landscope
from landscope.config import build_problems
from landscope.runs import Series, analysis_series

CONFIG = {
    "name": "service",
    "seed": 3,
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [6]}},
    "training": {"steps": 12, "batch_size": 16},
    "record": {"params": {"every": 2}, "eval": {"every": 5}},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return landscope.train(CONFIG, tmp_path_factory.mktemp("svc") / "run", progress=False)


def test_series_names_are_the_stored_ones(run):
    assert Series.PARAMS in run and Series.UPDATES in run and Series.TRAIN_LOSS in run
    assert analysis_series("top_subspace", "fraction") == "top_subspace.fraction"


def test_problems_rebuild_the_config_and_take_a_dtype(run):
    train, test = run.problems()
    ref_train, ref_test = build_problems(CONFIG)
    assert train.dtype == torch.float32 and train.num_params == ref_train.num_params
    assert test is not None and test.num_samples == ref_test.num_samples
    # the rebuilt model's parameters are the run's step 0
    assert torch.equal(train.theta_from_model(), run.theta("init", like=train))
    train64, _ = run.problems(dtype="float64")
    assert train64.dtype == torch.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        run.problems(dtype="float16")


def test_theta_and_thetas_equal_the_stored_rows(run):
    train, _ = run.problems(dtype="float64")
    rows = run.read(Series.PARAMS)
    steps = run.param_steps()
    assert steps.tolist() == list(range(0, 13, 2))
    assert torch.equal(run.theta(4, like=train), torch.as_tensor(rows[2], dtype=torch.float64))
    assert torch.equal(run.theta("last"), torch.as_tensor(rows[-1]))
    block = run.thetas([12, 0, 6], like=train)
    assert block.shape == (3, train.num_params) and block.dtype == torch.float64
    np.testing.assert_array_equal(block.numpy(), rows[[6, 0, 3]].astype(np.float64))
    streamed = list(run.iter_thetas(steps, rows=3, like=train))
    assert [len(s) for s, _ in streamed] == [3, 3, 1]
    assert torch.equal(torch.cat([b for _, b in streamed]), run.thetas(steps, like=train))
    with pytest.raises(KeyError, match="no record at step"):
        run.theta(3)
    with pytest.raises(ValueError, match="not both"):
        run.theta(0, like=train, dtype=torch.float32)


def test_select_steps(run):
    # every k-th recorded row (params recorded every 2 steps), the last row always included
    assert run.select_steps(every=2) == [0, 4, 8, 12]
    assert run.select_steps(every=4) == [0, 8, 12]
    assert run.select_steps(every=4, include_last=False) == [0, 8]
    assert run.select_steps(start=4, stop=9) == [4, 6, 8]
    assert run.select_steps(steps=[2, 6]) == [2, 6]
    with pytest.raises(ValueError, match=r"steps \[3\] were not recorded"):
        run.select_steps(steps=[2, 3])
    with pytest.raises(ValueError, match="no 'params' records"):
        run.select_steps(start=13)
    with pytest.raises(ValueError, match="positive"):
        run.select_steps(every=0)


def test_values_at_marks_unrecorded_steps_nan(run):
    losses = run.values_at(Series.TRAIN_LOSS, [0, 2, 5, 10])
    recorded = dict(
        zip(run.steps(Series.TRAIN_LOSS).tolist(), run.read(Series.TRAIN_LOSS), strict=True)
    )
    assert losses[0] == pytest.approx(float(recorded[0]))
    assert np.isnan(losses[1]) and losses[2] == pytest.approx(float(recorded[5]))
    assert run.values_at("no_such_series", [0]) is None


def test_a_run_of_a_users_own_model_needs_that_model(tmp_path):
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 3))
    cfg = {**CONFIG, "training": {"steps": 2, "batch_size": 16}}
    run = landscope.train(cfg, tmp_path / "own", model=model, progress=False)
    with pytest.raises(ValueError, match="another parameter layout"):
        run.problems()  # the config's MLP is not the model that was trained
    train, _ = run.problems(model=model)
    assert train.num_params == 15 and torch.equal(run.theta("init"), train.theta_from_model())
