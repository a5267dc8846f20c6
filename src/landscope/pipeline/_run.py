"""``landscope run CONFIG``: train (or reuse / resume the run), every analysis the config's
``pipeline.analyses`` lists, then the HTML report.

Each analysis writes to ``RUN_DIR/analyses/<name>/`` and records ``step.json``: the hash of its
inputs (the run's records: ``meta.json`` without the pipeline section, the committed rows and
the chunk checksums of every series) and of its settings, and its status.  A step whose
``step.json`` says ``done`` with the same hash is skipped; a changed input or setting
recomputes it (its folder is emptied first, so no stale figure survives).  A step interrupted
(Ctrl-C) keeps ``status: running``: the next run continues it where it can (the surface's grid
store resumes) and every step finished before stays as it was, usable and shown by the report.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscope._results_io import write_atomic, write_json_atomic
from landscope.pipeline._registry import Step, check_analyses

__all__ = [
    "ANALYSES_DIR",
    "STEP_FILE",
    "PipelineInterrupted",
    "PipelineResult",
    "RunMismatchError",
    "StepOutcome",
    "check_config",
    "run_fingerprint",
    "run_pipeline",
    "step_hash",
]

#: Folder of the analyses inside a run folder, one subfolder per step.
ANALYSES_DIR = "analyses"
#: A step's record of its inputs' hash and status.
STEP_FILE = "step.json"
#: The config of the last ``landscope run`` in the run folder (the report shows it).
CONFIG_FILE = "pipeline.yaml"


class RunMismatchError(ValueError):
    """The run folder holds a run of another training config."""


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C during an analysis; the steps finished before it are on disk and usable."""

    def __init__(self, step: str, finished: list[str]):
        self.step, self.finished = step, finished
        super().__init__(
            f"interrupted during analysis {step!r}; finished and kept: "
            f"{', '.join(finished) or 'none'} (run the same command again to continue)"
        )


@dataclass
class StepOutcome:
    """What happened to one step: ``computed``, ``cached`` (skipped, inputs unchanged) or
    ``failed`` (``error`` holds the one-line message; the traceback is in its step.json)."""

    name: str
    status: str
    seconds: float
    folder: Path
    error: str | None = None


@dataclass
class PipelineResult:
    run_dir: Path
    training: str  # "trained", "resumed" or "reused"
    steps: list[StepOutcome] = field(default_factory=list)
    report: Path | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[StepOutcome]:
        return [s for s in self.steps if s.status == "failed"]


def check_config(config) -> list[tuple[Step, Any]]:
    """The steps and settings of a :class:`~landscope.config.RunConfig`'s ``pipeline``
    section; a :class:`~landscope.config.ConfigError` naming the field when one is wrong."""
    from landscope.config import ConfigError

    try:
        return check_analyses(config.pipeline.analyses)
    except ValueError as exc:
        raise ConfigError(f"invalid config: {exc}") from None


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run_fingerprint(run) -> dict:
    """What identifies a run's records for the cache: the final step and a hash of
    ``meta.json`` (without the config's ``pipeline`` section, which does not change training),
    the committed rows of every series and their chunk checksums (``checksums.json``)."""
    meta = dict(run.meta)
    config = dict(meta.get("config") or {})
    config.pop("pipeline", None)
    meta["config"] = config
    committed = json.loads((run.path / "committed.json").read_text()).get("series", {})
    rows = {name: entry.get("rows") for name, entry in committed.items()}
    checksums = {}
    for name in sorted(rows):
        path = run.path / "series" / name / "checksums.json"
        if path.is_file():
            checksums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    steps = run.param_steps()
    return {
        "final_step": int(steps[-1]) if len(steps) else None,
        "records": _digest({"meta": meta, "rows": rows, "checksums": checksums}),
    }


def step_hash(step: Step, settings, fingerprint: dict) -> str:
    """The cache key of ``step`` with ``settings`` on a run with ``fingerprint``."""
    return _digest(
        {
            "step": step.name,
            "version": step.version,
            "settings": settings.model_dump(mode="json"),
            "run": fingerprint,
        }
    )


def _read_step(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STEP_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _training_part(config) -> dict:
    data = config.model_dump(mode="json")
    data.pop("pipeline", None)
    return data


def _differing_fields(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differing_fields(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def _prepare_run(config, out_dir: Path, *, overwrite: bool, progress: bool):
    """Train, resume or reuse the run in ``out_dir``; ``(run, "trained" | "resumed" |
    "reused")``."""
    from landscope.config import load_config
    from landscope.runs import open_run
    from landscope.training import train

    if (out_dir / "meta.json").is_file() and not overwrite:
        stored = load_config(json.loads((out_dir / "meta.json").read_text())["config"])
        differ = _differing_fields(_training_part(stored), _training_part(config))
        if differ:
            raise RunMismatchError(
                f"run folder {out_dir} holds a run of another config (fields that differ: "
                f"{', '.join(differ[:6])}{' ...' if len(differ) > 6 else ''}); give another "
                "--out, or --overwrite to train this config there"
            )
        if (out_dir / "summary.json").is_file():
            return open_run(out_dir), "reused"
        return train(None, out_dir, resume=True, progress=progress), "resumed"
    return train(config, out_dir, overwrite=overwrite, progress=progress), "trained"


def _run_step(run, step: Step, settings, key: str, folder: Path, *, progress: bool, force: bool):
    record = _read_step(folder)
    if record is not None and not force and record.get("hash") == key:
        if record.get("status") == "done" and (folder / "results.json").is_file():
            return "cached"
    if folder.exists() and (force or record is None or record.get("hash") != key):
        shutil.rmtree(folder)  # other inputs or settings: nothing of the old result survives
    folder.mkdir(parents=True, exist_ok=True)
    base = {
        "analysis": step.name,
        "hash": key,
        "settings": settings.model_dump(mode="json"),
        "version": step.version,
    }
    write_json_atomic(folder / STEP_FILE, {**base, "status": "running"})
    started = time.perf_counter()
    try:
        step.compute_function()(run, settings, folder, progress=progress)
        step.plot_function()(folder)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        write_json_atomic(
            folder / STEP_FILE,
            {
                **base,
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            },
        )
        raise
    write_json_atomic(
        folder / STEP_FILE,
        {
            **base,
            "status": "done",
            "seconds": time.perf_counter() - started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return "computed"


def run_pipeline(
    config,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    force: bool = False,
    report: bool = True,
    progress: bool = True,
) -> PipelineResult:
    """Train as ``config`` says (or reuse the finished run in ``out_dir``, or resume an
    interrupted one), run every analysis of ``config.pipeline.analyses`` that is not already
    done with the same inputs and settings, and write ``out_dir/report.html``.

    Args:
        config: a run config (path, dict or :class:`~landscope.config.RunConfig`).
        out_dir: the run folder (default ``runs/<config name>``).
        overwrite: train again even when ``out_dir`` holds a run (of this or another config).
        force: recompute every analysis even when its inputs and settings are unchanged.
        report: write the HTML report at the end.
        progress: one progress bar over the pipeline's steps (and the steps' own bars).

    Returns:
        a :class:`PipelineResult`: the training action, every step's outcome, the report path.
        A step that raises is recorded as ``failed`` (the others still run; the report shows
        the error).

    Raises:
        ConfigError: the config, or a name / setting of its pipeline section, is invalid
            (before anything is trained).
        RunMismatchError: ``out_dir`` holds a run of another training config.
        TrainingInterrupted: Ctrl-C / SIGTERM while training (resume by running again).
        PipelineInterrupted: Ctrl-C during an analysis (finished steps are kept).
    """
    from landscope._progress import progress_bar
    from landscope.config import RunConfig, load_config

    started = time.perf_counter()
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    chosen = check_config(cfg)
    out = Path(out_dir) if out_dir is not None else Path("runs") / cfg.name
    bar = progress_bar(
        total=1 + len(chosen) + int(report), desc="train", unit="stage", enabled=progress
    )
    try:
        run, action = _prepare_run(cfg, out, overwrite=overwrite, progress=progress)
        write_atomic(out / CONFIG_FILE, cfg.to_yaml().encode())
        bar.update(1)
        result = PipelineResult(run_dir=out, training=action)
        fingerprint = run_fingerprint(run)
        for step, settings in chosen:
            bar.set_description(step.name)
            folder = out / ANALYSES_DIR / step.name
            t0 = time.perf_counter()
            try:
                status = _run_step(
                    run,
                    step,
                    settings,
                    step_hash(step, settings, fingerprint),
                    folder,
                    progress=progress,
                    force=force,
                )
                outcome = StepOutcome(step.name, status, time.perf_counter() - t0, folder)
            except KeyboardInterrupt:
                done = [s.name for s in result.steps if s.status != "failed"]
                raise PipelineInterrupted(step.name, done) from None
            except Exception as exc:  # recorded; the other analyses still run
                outcome = StepOutcome(
                    step.name, "failed", time.perf_counter() - t0, folder, f"{exc}"
                )
            result.steps.append(outcome)
            bar.update(1)
        if report:
            from landscope.report import write_report

            bar.set_description("report")
            result.report = write_report(out)
            bar.update(1)
    finally:
        bar.close()
    result.seconds = time.perf_counter() - started
    return result
