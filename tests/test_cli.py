"""The command line: every command has --help; choices are Enums (a bad value is a one-line usage
error); each analysis has one path (``landscope analyze ...``); the core commands run on a tiny
config; ``landscope reproduce`` lists and runs catalog entries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from landscope.cli._app import ALIASES, _register_all, app

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

#: analyses that used to be top-level commands (still there as hidden aliases)
LEGACY = ("interpolate", "project", "surface", "subspace")
ANALYSES = (
    *LEGACY,
    "diffusion",  # Fjellstrom & Nystrom
    "pca",  # Haink ch. 6
    "drift",
    "svd",  # Haink ch. 4
    "overlaps",  # Haink ch. 6-7
    "eigvec-stats",  # Haink sec. 7.5-7.6
    "forgetting",  # Haink sec. 7.7
)


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


def _listed_commands(help_text: str) -> list[str]:
    """The command names of a click help page's ``Commands:`` section."""
    section = help_text.split("Commands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  (\S+)", section, flags=re.MULTILINE)]


@pytest.mark.parametrize("path", _commands(app), ids=lambda p: " ".join(p) or "landscope")
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_each_analysis_has_one_path():
    analyze = runner.invoke(app, ["analyze", "--help"])
    assert analyze.exit_code == 0, analyze.output
    assert sorted(_listed_commands(analyze.output)) == sorted(ANALYSES)
    root = runner.invoke(app, ["--help"])
    listed = _listed_commands(root.output)
    assert "analyze" in listed and "reproduce" in listed and "hessian" in listed
    assert len(listed) == len(set(listed))
    assert not set(ANALYSES) & set(listed)  # the old top-level spellings are hidden aliases
    assert set(ALIASES) == set(LEGACY)
    for name in LEGACY:  # ... that still run the same command
        alias = runner.invoke(app, [name, "--help"])
        assert alias.exit_code == 0 and f"landscope analyze {name}" in alias.output


@pytest.mark.parametrize(
    ("args", "bad", "allowed"),
    [
        (["hessian", "RUN", "--which", "XX"], "XX", ["LA", "LM", "SA"]),
        (["hessian", "RUN", "--backend", "fast"], "fast", ["auto", "autograd", "structured"]),
        (["hessian", "RUN", "--split", "val"], "val", ["train", "test"]),
        (["hessian", "RUN", "--dtype", "float16"], "float16", ["float32", "float64"]),
        (
            ["analyze", "subspace", "RUN", "--out", "X", "--source", "cache"],
            "cache",
            ["auto", "online", "offline"],
        ),
    ],
    ids=["which", "backend", "split", "dtype", "source"],
)
def test_bad_choice_is_a_one_line_usage_error(args, bad, allowed):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert f"'{bad}'" in errors[0] and all(f"'{a}'" in errors[0] for a in allowed), errors[0]


def test_choices_are_the_librarys():
    from landscope.cli._commands import Backend, Which
    from landscope.curvature._hessian import _BACKENDS
    from landscope.curvature._lanczos import _WHICH

    assert tuple(b.value for b in Backend) == _BACKENDS
    assert tuple(w.value for w in Which) == _WHICH


def test_datasets_and_models_list_json():
    ds = json.loads(runner.invoke(app, ["datasets", "--json"]).output)
    assert {"iris", "digits", "auto_mpg", "mnist1d", "gaussian_mixture", "sine"} <= {
        r["name"] for r in ds
    }
    models = json.loads(runner.invoke(app, ["models", "--json"]).output)
    counts = {r["name"]: r for r in models["models"]}
    assert "mlp" in counts and "glorot_uniform" in models["initializers"]


def test_datasets_table_is_never_cut_at_80_columns():
    from landscope.data import list_datasets

    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    words = result.output.split()
    for row in list_datasets():
        assert row["name"] in words, row["name"]
        assert all(word in words for word in row["description"].split()), row["description"]


def test_validate_reports_bad_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "optimizer": {"name": "rmsprop"}}))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "optimizer.name" in result.output and "'sgd' or 'adam'" in result.output


def _eigenvalues(output: str, k: int) -> list[float]:
    """The eigenvalue column of ``format_table``'s rows 1..k."""
    rows = [line.split() for line in output.splitlines()]
    values = [float(r[1]) for r in rows if len(r) >= 2 and r[0] in {str(i + 1) for i in range(k)}]
    assert len(values) == k, output
    return values


def test_evaluate_train_show_hessian(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    ev = runner.invoke(app, ["evaluate", str(cfg), "--out", str(tmp_path / "ev.json")])
    assert ev.exit_code == 0, ev.output
    result = json.loads((tmp_path / "ev.json").read_text())
    assert result["num_params"] == 4 * 6 + 6 + 6 * 3 + 3 and result["train"]["num_samples"] == 120
    run_dir = tmp_path / "run"
    tr = runner.invoke(app, ["train", str(cfg), "--out", str(run_dir), "-q"])
    assert tr.exit_code == 0, tr.output
    assert "12 steps" in tr.output
    again = runner.invoke(app, ["train", str(cfg), "--out", str(run_dir), "--quiet"])  # alias
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
    for a, b in zip(_eigenvalues(slow.output, 3), h["eigenvalues"], strict=True):
        assert abs(a - b) <= 1e-4 * abs(b) + 1e-6
    missing = runner.invoke(app, ["hessian", str(run_dir), "--step", "7"])
    assert missing.exit_code == 2 and "not recorded" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_hessian_choices_reach_the_library(tmp_path):
    """--which SA --split test --dtype float64 on a run, and a config YAML at initialization,
    against the dense float64 spectrum (rtol 1e-6: Lanczos residual tolerance 1e-8)."""
    import landscope
    from landscope.config import build_problems, load_config
    from landscope.curvature import hessian_eigh

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    landscope.train(TINY, tmp_path / "run", progress=False)
    run = landscope.open_run(tmp_path / "run")
    _, test64 = run.problems(dtype="float64")

    out = tmp_path / "sa.json"
    args = ["hessian", str(tmp_path / "run"), "--top-k", "2", "--which", "SA", "--split", "test"]
    r = runner.invoke(app, [*args, "--dtype", "float64", "--tol", "1e-8", "--out", str(out)])
    assert r.exit_code == 0, r.output
    got = json.loads(out.read_text())
    assert got["split"] == "test" and got["step"] == 12 and got["which"] == "SA"
    lam, _ = hessian_eigh(test64, run.theta("last", like=test64))
    want = sorted(lam.tolist())[:2]
    assert sorted(got["eigenvalues"]) == pytest.approx(want, rel=1e-6, abs=1e-9)

    out = tmp_path / "init.json"
    r = runner.invoke(
        app, ["hessian", str(cfg), "--top-k", "2", "--dtype", "float64", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(out.read_text())
    assert got["step"] == 0 and got["dtype"] == "float64"
    init64, _ = build_problems(load_config({**TINY, "dtype": "float64"}))
    lam, _ = hessian_eigh(init64, init64.theta_from_model())
    assert got["eigenvalues"] == pytest.approx(lam[:2].tolist(), rel=1e-5)


# --- reproduce --------------------------------------------------------------------------------

LONG = (
    "a deliberately long description that would be cut with an ellipsis by a table that "
    "truncates its cells, ending in the word zanzibar"
)


def _fake_entries(calls: list) -> list:
    from landscope.reproduce import Reproduction, check
    from landscope.reproduce._report import Report

    def run(out, *, quick, progress):
        calls.append({"out": Path(out), "quick": quick, "progress": progress})
        report = Report("fake", Path(out))
        report.checks(
            [
                check("a holds", "Fig. 1", paper=1.0, ours=0.99, holds=True, criterion="|d| < .1"),
                check(
                    "b holds",
                    "Table 2",
                    paper=0.94,
                    ours=0.46,
                    holds=False,
                    criterion="|d| < .1",
                    differs_because="smaller model",
                ),
            ]
        )
        report.save()
        return report.results

    def unchecked(out, *, quick, progress):
        calls.append({"out": Path(out), "quick": quick, "progress": progress})
        return {}

    return [
        Reproduction(
            name="zz-fake-checked-entry-with-a-long-name",
            paper="Nobody, Somebody & Everybody 2099",
            items="Fig. 1, Table 2",
            description=LONG,
            run=run,
            minutes=(0.5, 42.0),
        ),
        Reproduction(
            name="zz-fake-unchecked",
            paper="Nobody 2099",
            items="sec. 3",
            description="returns no checks",
            run=unchecked,
        ),
    ]


@pytest.fixture
def fake_catalog(monkeypatch):
    """Two fake entries added to the catalog for the test (the real entries stay)."""
    from landscope.reproduce import _catalog

    calls: list = []
    for entry in _fake_entries(calls):
        monkeypatch.setitem(_catalog._CATALOG, entry.name, entry)
    return calls


def test_reproduce_list_shows_every_entry_uncut(fake_catalog):
    from landscope.reproduce import catalog

    result = runner.invoke(app, ["reproduce", "--list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    words = result.output.split()
    for entry in catalog():
        assert entry.name in words, entry.name  # names are never folded
        for word in f"{entry.paper} {entry.items} {entry.description}".split():
            assert word in words, (entry.name, word)
    assert "0.5 / 42" in result.output and "? / ?" in result.output  # minutes, unknown as ?


def test_reproduce_unknown_name_is_one_line_listing_the_catalog(fake_catalog):
    from landscope.reproduce import catalog

    for args in (["reproduce", "no-such-paper"], ["reproduce"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("error: ")
        assert all(e.name in result.output for e in catalog())
    assert fake_catalog == []


def test_reproduce_runs_an_entry_and_prints_its_verdicts(fake_catalog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "zz-fake-checked-entry-with-a-long-name"
    result = runner.invoke(app, ["reproduce", name, "--quick", "-q"])
    assert result.exit_code == 0, result.output
    out = Path("reproductions") / f"{name}-quick"
    assert fake_catalog == [{"out": out, "quick": True, "progress": False}]
    assert f"{name}: 2 checks: 1 reproduced, 1 differs" in result.output
    assert "REPRODUCED" in result.output and "DIFFERS" in result.output
    for file in ("report.md", "report.html", "results.json"):
        assert (tmp_path / out / file).exists() and str(out / file) in result.output
    result = runner.invoke(app, ["reproduce", name, "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert fake_catalog[-1] == {"out": tmp_path / "elsewhere", "quick": False, "progress": True}
    result = runner.invoke(app, ["reproduce", "zz-fake-unchecked"])
    assert result.exit_code == 0, result.output
    assert fake_catalog[-1]["out"] == Path("reproductions") / "zz-fake-unchecked"
    assert "no computed checks" in result.output
