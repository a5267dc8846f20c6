"""Training runs: reproducibility, crash safety and exact resume, NaN handling, update rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn

from landscope.config import ConfigError, load_config
from landscope.data import SplitDataset, TensorData
from landscope.runs import open_run
from landscope.training import NonFiniteLossError, batch_indices, learning_rate, train


def _tiny_dataset(n: int = 24, regression: bool = False) -> SplitDataset:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n + 8, 3, generator=g)
    if regression:
        y = x @ torch.tensor([0.5, -1.0, 2.0]) + 0.1 * torch.randn(n + 8, generator=g)
        task, k = "regression", None
    else:
        y = torch.randint(0, 3, (n + 8,), generator=g)
        task, k = "classification", 3
    return SplitDataset("tiny", TensorData(x[:n], y[:n]), TensorData(x[n:], y[n:]), task, k)


def _tiny_model(out: int = 3) -> nn.Module:
    g = torch.Generator().manual_seed(5)
    m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, out))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return m


def _config(**overrides) -> dict:
    cfg = {
        "name": "tiny",
        "seed": 7,
        "dtype": "float64",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [5]}},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "training": {"batch_size": 6, "steps": 20},
        "record": {"params": {"every": 1}, "eval": {"every": 5}, "flush_every": 4},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def _reference_trajectory(cfg: dict, model: nn.Module, ds: SplitDataset) -> list[torch.Tensor]:
    """Hand-written SGD/momentum/weight-decay/Adam on the module's own parameters."""
    model = _clone(model).double()
    params = list(model.parameters())
    opt = cfg["optimizer"]
    lam, mode = opt.get("weight_decay", 0.0), opt.get("weight_decay_mode", "l2")
    beta = opt.get("momentum", 0.0)
    x, y = ds.train.x.double(), ds.train.y
    loss_fn = (
        nn.functional.cross_entropy
        if ds.task == "classification"
        else (lambda o, t: ((o.reshape(-1) - t.double()) ** 2).mean())
    )
    velocity = [torch.zeros_like(p) for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    out = [torch.cat([p.detach().reshape(-1) for p in params])]
    tc = cfg["training"]
    for step in range(tc["steps"]):
        idx = batch_indices(
            step,
            num_samples=len(ds.train),
            batch_size=tc["batch_size"],
            seed=cfg["seed"],
            sampling="without_replacement",
        )
        loss = loss_fn(model(x[idx]), y[idx])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if mode == "l2":
                    g = g + lam * p
                if opt["name"] == "sgd":
                    velocity[i] = -opt["lr"] * g + beta * velocity[i]
                    delta = velocity[i]
                else:
                    b1, b2 = 0.9, 0.999
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    mh, vh = m[i] / (1 - b1 ** (step + 1)), v[i] / (1 - b2 ** (step + 1))
                    delta = -opt["lr"] * mh / (vh.sqrt() + 1e-8)
                if mode == "decoupled":
                    delta = delta - opt["lr"] * lam * p
                p.add_(delta)
        out.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return out


def _clone(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def test_regression_and_user_model_untouched(tmp_path):
    ds, model = _tiny_dataset(regression=True), _tiny_model(out=1)
    before = [p.detach().clone() for p in model.parameters()]
    cfg = _config(loss="mse", optimizer={"name": "sgd", "lr": 0.05})
    run = train(cfg, tmp_path / "run", model=model, dataset=ds, progress=False)
    ref = torch.stack(_reference_trajectory(cfg, model, ds)).numpy()
    np.testing.assert_allclose(run.read("params"), ref, rtol=1e-12, atol=1e-13)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert "train_loss" in run.series() and "train_accuracy" not in run.series()


def test_same_seed_same_trajectory_different_seed_differs(tmp_path):
    cfg = _config(training={"batch_size": 10, "steps": 30}, dtype="float32")
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    c = train({**cfg, "seed": 8}, tmp_path / "c", progress=False)
    for name in ("params", "batch_indices", "batch_loss", "train_loss", "test_accuracy"):
        assert np.array_equal(a.read(name), b.read(name)), name
    assert not np.array_equal(a.read("params"), c.read("params"))


def test_record_selection_and_schedule(tmp_path):
    cfg = _config(
        training={"batch_size": 10, "epochs": 3, "steps": None},
        schedule={"kind": "exponential", "decay": 0.5},
        record={"params": {"log_spaced": 5}, "eval": {"every": 7}, "flush_every": 3},
    )
    run = train(cfg, tmp_path / "r", progress=False)
    spe = run.meta["steps_per_epoch"]
    total = run.meta["total_steps"]
    assert total == 3 * spe
    steps = run.steps("params")
    assert steps[0] == 0 and steps[-1] == total and len(steps) <= 7
    lr = run.read("lr")
    assert np.allclose(lr, [0.1 * 0.5 ** (s // spe) for s in range(total)])
    assert set(run.steps("train_loss")) == set(range(0, total + 1, 7)) | {total}
    # the minibatches without replacement cover each epoch once
    idx = run.read("batch_indices")
    for e in range(3):
        chunk = idx[e * spe : (e + 1) * spe].reshape(-1)
        assert len(np.unique(chunk)) == len(chunk)


def test_nan_stops_with_clear_error_and_keeps_records(tmp_path):
    cfg = _config(
        loss="mse",
        data={"name": "sine"},
        optimizer={"name": "sgd", "lr": 1e6},
        training={"batch_size": 10, "steps": 200},
        model={"name": "mlp", "options": {"widths": [8]}},
        dtype="float32",
    )
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite minibatch loss .* at step (\d+)"
    ) as info:
        train(cfg, tmp_path / "nan", progress=False)
    bad_step = int(str(info.value).split("at step ")[1].split(" ")[0])
    assert 0 < bad_step < 200
    run = open_run(tmp_path / "nan")
    steps = run.steps("params")
    assert steps[-1] == bad_step  # params up to the step whose loss was non-finite
    assert np.array_equal(run.steps("batch_loss"), np.arange(bad_step))
    assert np.all(np.isfinite(run.read("batch_loss")))


def test_invalid_config_names_field():
    with pytest.raises(ConfigError, match=r"optimizer\.name: Input should be 'sgd' or 'adam'"):
        load_config(_config(optimizer={"name": "rmsprop"}))
    with pytest.raises(ConfigError, match=r"optimizer\.lr"):
        load_config(_config(optimizer={"lr": -1}))
    with pytest.raises(
        ConfigError, match=r"data\.name: .*unknown dataset 'mnist2'.*allowed: .*digits"
    ):
        load_config(_config(data={"name": "mnist2"}))
    with pytest.raises(ConfigError, match=r"trainig: unknown field"):
        load_config({**_config(), "trainig": {}})
    with pytest.raises(
        ConfigError,
        match=r"schedule\.kind: Input should be 'constant', 'exponential' or 'piecewise'",
    ):
        load_config(_config(schedule={"kind": "cosine"}))


def test_invalid_yaml_file_names_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\ntraining:\n  batch_size: zero\n  steps: 10\n")
    with pytest.raises(ConfigError, match=r"training\.batch_size: Input should be a valid integer"):
        load_config(path)


def test_learning_rate_piecewise():
    cfg = load_config(
        _config(schedule={"kind": "piecewise", "boundaries": [2, 5], "values": [1.0, 0.1, 0.01]})
    )
    assert [learning_rate(cfg.schedule, 1.0, e) for e in range(7)] == [
        1.0,
        1.0,
        0.1,
        0.1,
        0.1,
        0.01,
        0.01,
    ]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from landscope.training import train
    train(sys.argv[1], sys.argv[2], progress=False)
    """
)


@pytest.mark.slow
def test_kill_minus_9_then_resume_is_bitwise_identical(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    import yaml

    cfg = _config(
        dtype="float32",
        model={"name": "mlp", "options": {"widths": [24, 14]}},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
        training={"batch_size": 10, "steps": 6000},
        record={"params": {"every": 1}, "eval": {"every": 500}, "flush_every": 100},
    )
    cfg_path.write_text(yaml.safe_dump(cfg))
    reference = train(cfg, tmp_path / "reference", progress=False)

    killed = tmp_path / "killed"
    # bitwise identity needs the same intra-op thread count as the in-process reference run
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(cfg_path), str(killed)], env=env
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if len(open_run(killed).steps("params")) >= 1000:
                    break
            except (FileNotFoundError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    partial = open_run(killed)
    steps = partial.steps("params")
    assert 1000 <= len(steps) < 6001, "the kill must land mid-run"
    assert np.array_equal(steps, np.arange(len(steps)))
    # everything flushed before the kill is readable and equals the uninterrupted run
    assert np.array_equal(partial.read("params"), reference.read("params", stop=len(steps)))

    result = subprocess.run(
        [sys.executable, "-m", "landscope", "train", "--resume", str(killed), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    resumed = open_run(killed)
    for name in (
        "params",
        "updates",
        "batch_indices",
        "batch_loss",
        "lr",
        "train_loss",
        "test_accuracy",
    ):
        assert np.array_equal(resumed.steps(name), reference.steps(name)), name
        assert np.array_equal(resumed.read(name), reference.read(name)), name


def test_interrupt_checkpoints_and_resume_matches(tmp_path):
    from landscope.training import TrainingInterrupted

    cfg = _config(
        training={"batch_size": 6, "steps": 30},
        optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
    )
    reference = train(cfg, tmp_path / "ref", progress=False)

    def interrupt_at_17(ctx):
        if ctx.step == 17:
            raise KeyboardInterrupt
        return ctx.update

    with pytest.raises(TrainingInterrupted, match="interrupted at step 17"):
        train(cfg, tmp_path / "int", update_transform=interrupt_at_17, progress=False)
    partial = open_run(tmp_path / "int")
    assert partial.steps("params")[-1] == 17  # theta(17) recorded before the update was attempted
    resumed = train(None, tmp_path / "int", resume=True, progress=False)
    for name in ("params", "updates", "batch_loss", "train_loss"):
        assert np.array_equal(resumed.read(name), reference.read(name)), name
    # the summary says what this session did and the time of all sessions
    summary = resumed.read_json("summary.json")
    assert summary["resumed_from_step"] == 16  # the last checkpoint before step 17 (flush every 4)
    assert summary["steps_this_session"] == 30 - summary["resumed_from_step"]
    assert summary["seconds_all_sessions"] > summary["seconds"] > 0
    assert reference.read_json("summary.json")["resumed_from_step"] is None


def test_training_threads_are_set_recorded_and_restored(tmp_path):
    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    cfg = _config()
    cfg["training"] = {**cfg.get("training", {}), "threads": target}
    run = train(cfg, tmp_path / "run", progress=False)
    assert run.meta["versions"]["torch_num_threads"] == str(target)
    assert torch.get_num_threads() == before


# --- init.from_run: starting from another run's weights -------------------------------------
def test_init_from_run_starts_at_that_runs_weights(tmp_path):
    """Run B with ``init.from_run: A`` starts exactly at A's last weights (step 0 of B equals
    A's last recorded theta, bitwise), at A's first with ``from_step: init``; B's problems,
    rebuilt later, do not need A any more."""
    import shutil

    run_a = train(_config(), tmp_path / "a", progress=False)
    last_a = run_a.theta("last", dtype=torch.float64)
    run_b = train(
        _config(init={"from_run": str(tmp_path / "a")}, seed=11), tmp_path / "b", progress=False
    )
    assert torch.equal(run_b.theta("init", dtype=torch.float64), last_a)
    assert not torch.equal(run_b.theta("last", dtype=torch.float64), last_a)  # it trained on
    cfg_c = _config(init={"from_run": str(tmp_path / "a"), "from_step": "init"})
    run_c = train(cfg_c, tmp_path / "c", progress=False)
    assert torch.equal(
        run_c.theta("init", dtype=torch.float64), run_a.theta("init", dtype=torch.float64)
    )
    shutil.rmtree(tmp_path / "a")
    train_b, _ = open_run(tmp_path / "b").problems()
    assert train_b.evaluate(run_b.theta("last", like=train_b))["loss"] > 0


def test_init_from_run_resume_reads_its_own_start(tmp_path):
    """An interrupted run B started from A resumes after A is gone: the start weights come from
    B's own step-0 record; the result equals the uninterrupted run bitwise."""
    import shutil

    train(_config(), tmp_path / "a", progress=False)
    cfg_b = _config(init={"from_run": str(tmp_path / "a")}, seed=11)
    whole = train(cfg_b, tmp_path / "whole", progress=False)
    part = _config(init={"from_run": str(tmp_path / "a")}, seed=11)
    train(part, tmp_path / "b", progress=False)
    (tmp_path / "b" / "summary.json").unlink()  # as if interrupted after the last checkpoint
    shutil.rmtree(tmp_path / "a")
    resumed = train(out=tmp_path / "b", resume=True, progress=False)
    assert torch.equal(resumed.theta("last"), whole.theta("last"))
    with pytest.raises(ConfigError, match=r"from_step is set but from_run is not"):
        load_config(_config(init={"from_step": 3}))


def test_init_from_run_errors_name_the_field(tmp_path):
    from landscope.runs import load_run_weights

    train(_config(), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match=r"init\.from_run: .*nope"):
        train(_config(init={"from_run": str(tmp_path / "nope")}), tmp_path / "b", progress=False)
    wider = _config(
        model={"name": "mlp", "options": {"widths": [7]}}, init={"from_run": str(tmp_path / "a")}
    )
    with pytest.raises(
        ConfigError, match=r"init\.from_run: .*different parameter layout.*\(5, 4\)"
    ):
        train(wider, tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match=r"init\.from_step: .*999"):
        load_run_weights(_tiny_model_like_a(), tmp_path / "a", 999)


def _tiny_model_like_a() -> nn.Module:
    """The model of ``_config()``, as the config builds it."""
    from landscope.config import build_dataset, build_model

    cfg = load_config(_config())
    return build_model(cfg, build_dataset(cfg))


def test_loss_options_reach_the_sequence_loss():
    """``loss_options: {average: sequences}`` builds a SequenceCrossEntropy averaging per
    sequence; options on a loss that takes none, or unknown ones, name the field."""
    from landscope.config import build_problems
    from landscope.problem import SequenceCrossEntropy

    cfg = {
        "seed": 0,
        "data": {
            "name": "markov_sequences",
            "options": {"targets": "sequence", "num_sequences": 20, "length": 5},
        },
        "model": {"name": "tiny_gpt", "options": {"embed": 8, "layers": 1}},
        "loss": "token_cross_entropy",
        "loss_options": {"average": "sequences"},
    }
    problem, _ = build_problems(cfg)
    loss = problem._per_sample_loss
    assert isinstance(loss, SequenceCrossEntropy) and loss.average == "sequences"
    assert loss.shift is False
    with pytest.raises(ConfigError, match="loss_options: loss 'cross_entropy' takes no options"):
        load_config(_config(loss_options={"average": "sequences"}))
    with pytest.raises(ConfigError, match=r"loss_options: unknown option\(s\) \['mean'\]"):
        load_config({**cfg, "loss_options": {"mean": 1}})
    with pytest.raises(ConfigError, match=r"loss_options\.average must be"):
        load_config({**cfg, "loss_options": {"average": "words"}})
