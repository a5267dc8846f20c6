"""Shared pieces of the Goodfellow, Vinyals & Saxe (2015) entries: their run configs (the YAML
files in ``configs/goodfellow/``, with the ``quick`` overrides below), training into the entry's
output folder (a complete run with the same config is reused), and the report's figures.

Every entry opens its runs through the run service (:class:`landscope.runs.Run`:
``run.problems``, ``run.theta``, ``run.thetas``, ``run.select_steps``), never by hand.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from landscope.reproduce._catalog import load_reproduction_config
from landscope.reproduce._report import Report

__all__ = [
    "PAPER",
    "QUICK",
    "add_figure",
    "goodfellow_config",
    "save_result",
    "thinned_trajectory",
    "trained_run",
]

PAPER = "Goodfellow, Vinyals & Saxe 2015"

#: The ``quick`` variant of each config (merged into the YAML): fewer steps and a denser record
#: so that every entry runs in seconds to a minute on a 2-core CPU.
QUICK: dict[str, dict] = {
    "relu_digits": {
        "training": {"steps": 400},
        "record": {"params": {"every": 2}, "eval": {"every": 50}, "flush_every": 200},
    },
    "sigmoid_digits": {
        "training": {"steps": 400},
        "record": {"params": {"every": 2}, "eval": {"every": 50}, "flush_every": 200},
    },
    "maxout_digits": {
        "model": {"options": {"widths": [64, 64], "pieces": 3}},
        "training": {"steps": 400},
        "record": {"params": {"every": 2}, "eval": {"every": 20}, "flush_every": 200},
    },
    "lstm_markov": {"training": {"steps": 600}},
}


def goodfellow_config(config: str, /, *, quick: bool, **overrides: Any) -> dict:
    """The shipped config ``configs/goodfellow/<config>.yaml``, with the :data:`QUICK` overrides
    when ``quick`` and then ``overrides`` (e.g. ``seed=1``) merged in; validated."""
    from landscope.reproduce._catalog import _merge

    merged = _merge(QUICK.get(config, {}), overrides) if quick else overrides
    return load_reproduction_config(f"goodfellow/{config}", **merged)


def trained_run(cfg: dict, out: Path, *, progress: bool = False, dataset=None):
    """Train ``cfg`` into ``out/runs/<name>`` (or reuse a complete run there with the same
    config); returns the :class:`landscope.runs.Run` and the seconds spent training (0 when
    reused).  ``dataset``: train on this :class:`~landscope.data.SplitDataset` instead of the
    config's (e.g. another seed's split; such a run is never reused)."""
    import landscope
    from landscope.config import load_config

    folder = Path(out) / "runs" / cfg["name"]
    if dataset is None and (folder / "summary.json").exists():
        run = landscope.open_run(folder)
        try:
            same = run.run_config().model_dump() == load_config(cfg).model_dump()
        except ValueError:
            same = False
        if same:
            return run, 0.0
    t0 = time.perf_counter()
    run = landscope.train(cfg, folder, overwrite=True, dataset=dataset, progress=progress)
    return run, time.perf_counter() - t0


def thinned_trajectory(run, *, like, points: int = 100):
    """About ``points`` evenly spaced recorded theta(t) of ``run`` (every k-th recorded step, the
    last always included), shape (T, p), on ``like``'s device and dtype."""
    every = max(1, len(run.param_steps()) // points)
    return run.thetas(run.select_steps(every=every), like=like)


def add_figure(report: Report, name: str, caption: str, plot, *args: Any, **kwargs: Any) -> None:
    """Draw ``plot(*args, **kwargs, path=report.out / name)`` (a :mod:`landscope.plotting`
    function, or :func:`~landscope.plotting.save_figure` with a figure) and add it to the
    report with ``caption``."""
    path = Path(report.out) / name
    plot(*args, path=path, **kwargs)
    report.figure(path, caption)


def save_result(result, out: Path, name: str) -> None:
    """Save a landscape / projection result object (``.npz`` + ``.json``) under ``out/data``."""
    (Path(out) / "data").mkdir(parents=True, exist_ok=True)
    result.save(Path(out) / "data" / name)
