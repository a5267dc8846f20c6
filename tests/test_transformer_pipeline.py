"""The zoo's tiny GPT through the whole pipeline (issue 16, item 4): trained from a config on
markov_sequences (targets at every position) with the Gur-Ari online analyses recording, then
``landscope hessian``, ``analyze interpolate`` and ``analyze surface`` on the recorded run."""

from __future__ import annotations

import json

import numpy as np
import torch
import yaml
from typer.testing import CliRunner

from landscope.cli._app import _register_all, app
from landscope.config import load_config
from landscope.runs import open_run

runner = CliRunner()
_register_all()

TINY_GPT = {
    "name": "tiny_gpt",
    "seed": 0,
    "data": {
        "name": "markov_sequences",
        "options": {"targets": "sequence", "num_sequences": 60, "length": 6},
    },
    "model": {"name": "tiny_gpt", "options": {"embed": 8, "layers": 1}},
    "loss": "token_cross_entropy",
    "optimizer": {"name": "sgd", "lr": 0.5},
    "training": {"batch_size": 16, "steps": 8},
    "record": {"params": {"every": 2}, "eval": {"every": 4}, "flush_every": 4},
    "analyses": [
        {"name": "top_subspace", "every": 4, "options": {"k": 3, "tol": 1e-3}},
        {"name": "gradient_overlap", "every": 2},
    ],
}


def _sdpa_flags() -> tuple[bool, ...]:
    b = torch.backends.cuda
    return (b.flash_sdp_enabled(), b.mem_efficient_sdp_enabled(), b.math_sdp_enabled())


def test_shipped_transformer_config_is_the_tiny_gpt_on_sequences():
    from pathlib import Path

    cfg = load_config(Path(__file__).parent.parent / "experiments/transformer/gpt_subspace.yaml")
    assert cfg.model.name == "tiny_gpt" and cfg.loss == "token_cross_entropy"
    assert cfg.data.options["targets"] == "sequence"
    assert {a.name for a in cfg.analyses} == {"top_subspace", "gradient_overlap"}


def test_tiny_gpt_trains_records_and_runs_the_analyses(tmp_path):
    cfg = tmp_path / "gpt.yaml"
    cfg.write_text(yaml.safe_dump(TINY_GPT))
    run_dir = tmp_path / "run"
    flags = _sdpa_flags()
    tr = runner.invoke(app, ["train", str(cfg), "--out", str(run_dir), "-q"])
    assert tr.exit_code == 0, tr.output
    assert _sdpa_flags() == flags  # the online analyses restored the attention kernels
    run = open_run(run_dir)
    fraction = run.read("top_subspace.fraction").reshape(-1)
    overlap = run.read("gradient_overlap.overlap").reshape(-1)
    assert list(run.steps("top_subspace.fraction")) == [0, 4, 8]
    assert np.all((fraction >= 0) & (fraction <= 1 + 1e-6)) and np.all(np.abs(overlap) <= 1)
    # overlap(g, Hg) recorded online equals a fresh offline measurement at the same step
    train, _ = run.problems()
    from landscope.curvature import HessianOperator

    theta = run.theta(4, like=train)
    g = train.gradient(theta)
    hg = HessianOperator(train, theta) @ g
    fresh = float(g @ hg / (g.norm() * hg.norm()))
    recorded = float(run.values_at("gradient_overlap.overlap", [4]).reshape(-1)[0])
    assert abs(fresh - recorded) < 1e-4
    # landscope hessian on the recorded run: the math kernel is named, eigenpairs converge
    out = tmp_path / "h.json"
    hess = runner.invoke(app, ["hessian", str(run_dir), "--top-k", "3", "--out", str(out)])
    assert hess.exit_code == 0, hess.output
    h = json.loads(out.read_text())
    assert len(h["eigenvalues"]) == 3 and all(h["converged"])
    assert h["backend"] == "autograd"
    assert "math kernel" in hess.output or "math kernel" in json.dumps(h)
    # interpolation and a small surface
    line = runner.invoke(
        app, ["analyze", "interpolate", str(run_dir), "--out", str(tmp_path / "line"), "-q"]
    )
    assert line.exit_code == 0, line.output
    surf = runner.invoke(
        app,
        [
            "analyze",
            "surface",
            str(run_dir),
            "--out",
            str(tmp_path / "surface"),
            "--alphas",
            "-0.5:1.5:5",
            "--betas",
            "-0.5:0.5:3",
            "-q",
        ],
    )
    assert surf.exit_code == 0, surf.output
