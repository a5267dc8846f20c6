"""The command line: every command has --help; the core commands run on a tiny config."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from landscope.cli._app import _register_all, app

_register_all()
runner = CliRunner()

TINY = {
    "name": "cli",
    "seed": 1,
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [6]}},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"batch_size": 20, "steps": 12},
    "record": {"params": {"every": 3}, "eval": {"every": 6}, "flush_every": 5},
}


def _commands(typer_app, prefix=()):
    import typer.main

    click_group = typer.main.get_command(typer_app)
    out = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(click_group, prefix)
    return out


@pytest.mark.parametrize("path", _commands(app), ids=lambda p: " ".join(p) or "landscope")
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_datasets_and_models_list_json():
    ds = json.loads(runner.invoke(app, ["datasets", "--json"]).output)
    assert {"iris", "digits", "auto_mpg", "mnist1d", "gaussian_mixture", "sine"} <= {
        r["name"] for r in ds
    }
    models = json.loads(runner.invoke(app, ["models", "--json"]).output)
    counts = {r["name"]: r for r in models["models"]}
    assert "mlp" in counts and "glorot_uniform" in models["initializers"]


def test_validate_reports_bad_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "optimizer": {"name": "rmsprop"}}))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "optimizer.name" in result.output and "'sgd' or 'adam'" in result.output


def test_evaluate_train_show_hessian(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    ev = runner.invoke(app, ["evaluate", str(cfg), "--out", str(tmp_path / "ev.json")])
    assert ev.exit_code == 0, ev.output
    result = json.loads((tmp_path / "ev.json").read_text())
    assert result["num_params"] == 4 * 6 + 6 + 6 * 3 + 3 and result["train"]["num_samples"] == 120
    run_dir = tmp_path / "run"
    tr = runner.invoke(app, ["train", str(cfg), "--out", str(run_dir), "--quiet"])
    assert tr.exit_code == 0, tr.output
    assert "12 steps" in tr.output
    again = runner.invoke(app, ["train", str(cfg), "--out", str(run_dir), "--quiet"])
    assert again.exit_code == 2 and "error" in again.output
    show = runner.invoke(app, ["runs", "show", str(run_dir), "--json"])
    assert show.exit_code == 0, show.output
    info = json.loads(show.output)
    assert "params" in info["series"]
    hess = runner.invoke(
        app,
        ["hessian", str(run_dir), "--top-k", "3", "--step", "6", "--out", str(tmp_path / "h.json")],
    )
    assert hess.exit_code == 0, hess.output
    h = json.loads((tmp_path / "h.json").read_text())
    assert h["step"] == 6 and len(h["eigenvalues"]) == 3 and all(h["converged"])
    assert h["backend"] == "structured"  # the tiny MLP: products written out per layer
    slow = runner.invoke(
        app,
        ["hessian", str(run_dir), "--top-k", "3", "--step", "6", "--backend", "autograd"],
    )
    assert slow.exit_code == 0 and "autograd products" in slow.output, slow.output
    # the same eigenvalues either way (float32 run: agreement to the products' rounding)
    rows = [line.split() for line in slow.output.splitlines()]
    values = [float(r[1]) for r in rows if len(r) >= 2 and r[0] in ("1", "2", "3")]
    assert len(values) == 3
    for a, b in zip(values, h["eigenvalues"], strict=True):
        assert abs(a - b) <= 1e-4 * abs(b) + 1e-6
    bad_backend = runner.invoke(app, ["hessian", str(run_dir), "--backend", "fast"])
    assert bad_backend.exit_code == 2 and "backend must be one of" in bad_backend.output
    missing = runner.invoke(app, ["hessian", str(run_dir), "--step", "7"])
    assert missing.exit_code == 2 and "not recorded" in missing.output
