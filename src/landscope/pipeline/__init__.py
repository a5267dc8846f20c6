"""From a config to a finished report in one call: ``landscope run CONFIG`` (:func:`run_pipeline`).

A run config's ``pipeline`` section lists analyses by name with their settings::

    pipeline:
      analyses:
        subspace: {measurements: 8}
        hessian: {top_k: 20}
        interpolation: {}
        surface: {num: 21}

:func:`run_pipeline` trains (or reuses the finished run in the folder, or resumes an interrupted
one), runs each analysis into ``RUN_DIR/analyses/<name>/`` unless it is already done with the
same inputs and settings (a hash of both is kept in its ``step.json``), and writes
``RUN_DIR/report.html`` (:mod:`landscope.report`).

Every analysis is a :class:`Step` of the registry (:func:`steps`, :func:`get_step`,
:func:`register_step`) following one contract:

1. a pydantic settings model (``extra="forbid"``; defaults that fit a small run),
2. ``compute(run, settings, out_dir, *, progress=True) -> dict`` writing ``out_dir/results.json``
   (``analysis``, ``title``, ``paper``, ``settings``, ``summary`` -- a flat dict the report shows
   as a table --, ``provenance``) and the raw arrays (``.npz`` / ``.csv``),
3. ``plot(out_dir) -> list[SavedFigure]`` drawing from those files only (PNG + SVG) and writing
   ``figures.json`` (:func:`landscope.plotting.write_figure_index`).
"""

from landscope.pipeline._registry import (
    Step,
    StepUnavailable,
    check_analyses,
    get_step,
    register_step,
    step_names,
    steps,
)
from landscope.pipeline._run import (
    ANALYSES_DIR,
    STEP_FILE,
    PipelineInterrupted,
    PipelineResult,
    RunMismatchError,
    StepOutcome,
    check_config,
    run_fingerprint,
    run_pipeline,
    step_hash,
)

__all__ = [
    # running a config
    "run_pipeline",
    "PipelineResult",
    "StepOutcome",
    "PipelineInterrupted",
    "RunMismatchError",
    "check_config",
    # the step registry
    "Step",
    "StepUnavailable",
    "check_analyses",
    "get_step",
    "register_step",
    "step_names",
    "steps",
    # caching
    "ANALYSES_DIR",
    "STEP_FILE",
    "run_fingerprint",
    "step_hash",
]
