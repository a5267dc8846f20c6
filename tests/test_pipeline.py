"""``landscope run``: the pipeline's config section, its steps (the analysis contract), caching by
a hash of (run records, settings), recomputation when either changes, and what an interrupted or
failing step leaves behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landscope.config import ConfigError, load_config
from landscope.pipeline import (
    ANALYSES_DIR,
    STEP_FILE,
    PipelineInterrupted,
    RunMismatchError,
    Step,
    check_config,
    get_step,
    register_step,
    run_fingerprint,
    run_pipeline,
    step_names,
    steps,
)
from landscope.plotting import read_figure_index

#: A 4-8-3 MLP on iris, 30 SGD steps: trains in well under a second; every step's settings are
#: shrunk so the four built-in analyses take a few seconds together.
TINY = {
    "name": "tiny",
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [8]}},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"steps": 30, "batch_size": 16},
    "record": {"params": {"every": 1}, "eval": {"every": 10}},
}
ANALYSES = {
    "hessian": {"top_k": 3, "trace_probes": 4, "density_probes": 2, "lanczos_steps": 8},
    "subspace": {"k": 2, "measurements": 3},
    "interpolation": {"num": 7},
    "surface": {"num": 4, "every": 3},
}


def tiny(**analyses) -> dict:
    return {**TINY, "pipeline": {"analyses": analyses or dict(ANALYSES)}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run with the four built-in analyses done (shared: tests that change it copy it)."""
    out = tmp_path_factory.mktemp("pipeline") / "run"
    result = run_pipeline(tiny(), out, progress=False)
    return out, result


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


# --- the config section ------------------------------------------------------------------------


def test_pipeline_section_is_checked_against_the_registry():
    assert {"hessian", "subspace", "interpolation", "surface"} <= set(step_names())
    chosen = check_config(load_config(tiny()))
    assert [s.name for s, _ in chosen] == list(ANALYSES)  # the config's order
    assert chosen[0][1].top_k == 3
    with pytest.raises(ConfigError, match=r"pipeline\.analyses\.nope: unknown analysis 'nope'"):
        check_config(load_config(tiny(nope={})))
    with pytest.raises(ConfigError, match=r"pipeline\.analyses\.hessian\.top_k: .*greater than"):
        check_config(load_config(tiny(hessian={"top_k": 0})))
    with pytest.raises(ConfigError, match=r"pipeline\.analyses\.surface\.colour: unknown field"):
        check_config(load_config(tiny(surface={"colour": "red"})))
    # None stands for the defaults
    assert check_config(load_config(tiny(hessian=None)))[0][1].top_k == 20


def test_bad_pipeline_config_fails_before_training(tmp_path):
    with pytest.raises(ConfigError, match=r"pipeline\.analyses\.hessian\.which"):
        run_pipeline(tiny(hessian={"which": "XX"}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_validate_and_run_give_one_line_errors(tmp_path):
    from landscope.cli._app import _register_all, app

    _register_all()
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(tiny(hessian={"top_k": -1})))
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "r")]):
        res = CliRunner().invoke(app, command)
        assert res.exit_code == 2, res.output
        lines = [x for x in res.output.splitlines() if x.strip()]
        assert len(lines) == 1 and "pipeline.analyses.hessian.top_k" in lines[0], res.output


# --- the steps ---------------------------------------------------------------------------------


def test_every_step_follows_the_contract(finished):
    out, result = finished
    assert result.training == "trained"
    assert [s.status for s in result.steps] == ["computed"] * 4, result.steps
    for name in ANALYSES:
        folder = out / ANALYSES_DIR / name
        results = json.loads((folder / "results.json").read_text())
        assert results["analysis"] == name
        assert results["title"] and results["paper"]
        assert results["settings"] == get_step(name).make_settings(ANALYSES[name]).model_dump(
            mode="json"
        )
        assert results["summary"] and all(
            not isinstance(v, dict) for v in results["summary"].values()
        )
        assert results["provenance"]["run"] == str(out)
        figures = read_figure_index(folder)
        assert figures, name
        for fig in figures:
            assert (folder / fig.file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert (folder / fig.vector).suffix == ".svg" and (folder / fig.vector).exists()
            assert fig.caption and fig.paper_figure
        record = json.loads((folder / STEP_FILE).read_text())
        assert record["status"] == "done" and len(record["hash"]) == 64
    assert result.report == out / "report.html" and result.report.exists()


def test_every_analysis_of_the_contract_is_wired():
    """Each analysis package's settings model, run_X_analysis and plot_X_results resolve, the
    settings are strict, and compute takes (run, settings, out_dir, *, progress)."""
    import inspect

    names = ["subspace", "hessian", "interpolation", "surface", "diffusion", "pca", "drift",
             "svd", "overlaps", "eigvec-stats", "forgetting"]  # fmt: skip
    assert names == [n for n in step_names() if not n.startswith("test-")][: len(names)]
    for name in names:
        step = get_step(name)
        assert step.available(), name
        assert step.settings_model().model_config.get("extra") == "forbid", name
        params = inspect.signature(step.compute_function()).parameters
        assert list(params)[:3] == ["run", "settings", "out_dir"], name
        assert params["progress"].kind is inspect.Parameter.KEYWORD_ONLY, name
        first, *rest = inspect.signature(step.plot_function()).parameters.values()
        assert first.name == "out_dir" and all(p.default is not p.empty for p in rest), name
        step.make_settings({})  # the defaults validate


def test_hessian_step_matches_a_dense_reference(finished):
    """The step's eigenvalues are those of the dense Hessian of the run's final theta
    (float32 run: rtol 1e-3 on the top 3)."""
    import numpy as np
    import torch

    from landscope.curvature import hessian_eigh
    from landscope.runs import open_run

    out, _ = finished
    run = open_run(out)
    problem, _ = run.problems(dtype="float64")
    lam, _ = hessian_eigh(problem, run.theta("last", like=problem))
    ours = np.load(out / ANALYSES_DIR / "hessian" / "eigenpairs.npz")["eigenvalues"]
    ref = torch.sort(lam, descending=True).values[:3].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5)


# --- caching -------------------------------------------------------------------------------------


def test_unchanged_inputs_skip_every_step(finished):
    out, _ = finished
    before = {n: _mtimes(out / ANALYSES_DIR / n) for n in ANALYSES}
    again = run_pipeline(tiny(), out, progress=False)
    assert again.training == "reused"
    assert [s.status for s in again.steps] == ["cached"] * 4
    assert {n: _mtimes(out / ANALYSES_DIR / n) for n in ANALYSES} == before


def test_changed_settings_recompute_that_step_only(finished, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    stale = out / ANALYSES_DIR / "hessian" / "old_figure.png"
    stale.write_bytes(b"stale")
    changed = dict(ANALYSES, hessian={**ANALYSES["hessian"], "top_k": 4})
    result = run_pipeline(tiny(**changed), out, progress=False, report=False)
    status = {s.name: s.status for s in result.steps}
    assert status == {"hessian": "computed", "subspace": "cached", "interpolation": "cached",
                      "surface": "cached"}  # fmt: skip
    results = json.loads((out / ANALYSES_DIR / "hessian" / "results.json").read_text())
    assert results["settings"]["top_k"] == 4 and "lambda_4" in results["summary"]
    assert not stale.exists()  # the old result's folder was emptied first
    # force recomputes even an unchanged step
    forced = run_pipeline(
        tiny(interpolation={"num": 7}), out, progress=False, force=True, report=False
    )
    assert [s.status for s in forced.steps] == ["computed"]


def test_changed_run_records_recompute(finished, tmp_path):
    """Retraining (another run in the same folder) changes the run's fingerprint."""
    import shutil

    from landscope.runs import open_run

    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    old = run_fingerprint(open_run(out))
    result = run_pipeline(
        tiny(hessian=ANALYSES["hessian"]), out, overwrite=True, progress=False, report=False
    )
    assert result.training == "trained"
    assert run_fingerprint(open_run(out)) != old
    assert [s.status for s in result.steps] == ["computed"]


def test_a_run_of_another_config_is_refused(finished):
    cfg = {**tiny(), "training": {"steps": 31, "batch_size": 16}}
    with pytest.raises(RunMismatchError, match=r"training\.steps"):
        run_pipeline(cfg, finished[0], progress=False)


def test_fingerprint_ignores_the_pipeline_section(finished):
    from landscope.runs import open_run

    run = open_run(finished[0])
    meta = json.loads((run.path / "meta.json").read_text())
    assert "pipeline" in meta["config"]
    fp = run_fingerprint(run)
    run.meta["config"] = {**run.meta["config"], "pipeline": {"analyses": {"x": {}}}}
    assert run_fingerprint(run) == fp
    run.meta["config"] = {**run.meta["config"], "seed": 99}
    assert run_fingerprint(run) != fp


def test_an_interrupted_training_is_resumed(tmp_path):
    out = tmp_path / "run"
    run_pipeline(tiny(hessian=ANALYSES["hessian"]), out, progress=False, report=False)
    (out / "summary.json").unlink()  # as if training had stopped after its last checkpoint
    result = run_pipeline(tiny(hessian=ANALYSES["hessian"]), out, progress=False, report=False)
    assert result.training == "resumed"
    assert (out / "summary.json").exists()


# --- interruption and failure ------------------------------------------------------------------


class _Calls:
    interrupt = True


def _flaky_compute(run, settings, out_dir, *, progress=True):
    if _Calls.interrupt:
        _Calls.interrupt = False
        (out_dir / "partial.npz").write_bytes(b"half")
        raise KeyboardInterrupt
    from landscope._results_io import write_json_atomic

    results = {"analysis": "test-flaky", "title": "flaky", "paper": "-", "settings": {},
               "summary": {"ok": 1}, "provenance": {"run": str(run.path)}}  # fmt: skip
    write_json_atomic(out_dir / "results.json", results)
    return results


def _failing_compute(run, settings, out_dir, *, progress=True):
    raise ValueError("this analysis cannot run on <that> run")


def _no_figures(out_dir):
    from landscope.plotting import write_figure_index

    write_figure_index(out_dir, [])
    return []


def _register_test_steps():
    from pydantic import BaseModel, ConfigDict

    class NoSettings(BaseModel):
        model_config = ConfigDict(extra="forbid")

    for name, compute in (("test-flaky", _flaky_compute), ("test-failing", _failing_compute)):
        if name not in step_names():
            register_step(Step(name, name, NoSettings, compute, _no_figures))


def test_ctrl_c_keeps_finished_steps_usable(tmp_path):
    from landscope.report import write_report

    _register_test_steps()
    _Calls.interrupt = True
    out = tmp_path / "run"
    cfg = tiny(hessian=ANALYSES["hessian"], **{"test-flaky": {}})
    with pytest.raises(PipelineInterrupted, match=r"'test-flaky'.*finished and kept: hessian"):
        run_pipeline(cfg, out, progress=False)
    hessian = out / ANALYSES_DIR / "hessian"
    assert json.loads((hessian / STEP_FILE).read_text())["status"] == "done"
    flaky = json.loads((out / ANALYSES_DIR / "test-flaky" / STEP_FILE).read_text())
    assert flaky["status"] == "running"
    html = write_report(out).read_text()  # the finished step is in the report
    assert "Hessian spectrum" in html and "interrupted before it finished" in html
    before = _mtimes(hessian)
    result = run_pipeline(cfg, out, progress=False, report=False)  # the same command continues
    assert [s.status for s in result.steps] == ["cached", "computed"]
    assert _mtimes(hessian) == before
    assert (out / ANALYSES_DIR / "test-flaky" / "partial.npz").exists()  # kept to resume from


def test_a_failing_step_is_recorded_and_the_others_run(tmp_path):
    _register_test_steps()
    out = tmp_path / "run"
    cfg = tiny(**{"test-failing": {}}, hessian=ANALYSES["hessian"])
    result = run_pipeline(cfg, out, progress=False)
    assert [(s.name, s.status) for s in result.steps] == [
        ("test-failing", "failed"),
        ("hessian", "computed"),
    ]
    assert "cannot run on <that> run" in result.failed[0].error
    record = json.loads((out / ANALYSES_DIR / "test-failing" / STEP_FILE).read_text())
    assert record["status"] == "failed" and "Traceback" in record["traceback"]
    html = result.report.read_text()
    assert "cannot run on &lt;that&gt; run" in html  # shown, escaped
    # failed steps are retried
    assert run_pipeline(cfg, out, progress=False, report=False).steps[0].status == "failed"


def test_registry_reports_unavailable_steps():
    step = Step("test-missing", "m", "landscope.no_such_module:S", "x:y", "x:z", extra="diffusion")
    assert not step.available()
    register_step(step)
    with pytest.raises(ConfigError, match=r"test-missing: analysis 'test-missing' cannot be"):
        check_config(load_config(tiny(**{"test-missing": {}})))
    assert "test-missing" not in [s.name for s in steps(available_only=True)]


# --- the command -------------------------------------------------------------------------------


def test_cli_run_and_report(finished, tmp_path):
    import shutil

    from landscope.cli._app import _register_all, app

    _register_all()
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(tiny()))
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "training reused" in res.output and res.output.count("cached") == 4
    os.remove(out / "report.html")
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").exists()
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "not a run folder" in res.output


def test_default_config_lists_the_main_analysis_of_every_paper():
    """experiments/default.yaml (the README's main command) validates, with its analyses."""
    cfg = load_config(Path(__file__).parent.parent / "experiments" / "default.yaml")
    names = [step.name for step, _ in check_config(cfg)]
    main = ["subspace", "hessian", "interpolation", "surface", "diffusion", "pca", "drift", "svd"]
    assert set(main) <= set(names), names
