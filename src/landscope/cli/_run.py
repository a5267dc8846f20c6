"""``landscope run CONFIG [--out RUN_DIR]``: train (or reuse / resume the run), every analysis
the config's ``pipeline.analyses`` lists, then the HTML report (:mod:`landscope.pipeline`).
:func:`register` adds the command to an app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import NoProgress, fail, load_config_or_fail, one_line_errors

__all__ = ["register", "run"]


def run(
    config: Annotated[Path, typer.Argument(help="run config YAML with a pipeline section")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="run folder (default: runs/<config name>)"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="train again even if the folder holds a run (analyses rerun)")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="recompute every analysis, also those whose inputs are unchanged")
    ] = False,
    report: Annotated[bool, typer.Option(help="write RUN_DIR/report.html at the end")] = True,
    no_progress: NoProgress = False,
) -> None:
    """Train as CONFIG says (or reuse the finished run in --out, or resume an interrupted one),
    run every analysis listed under pipeline: analyses: (each cached in RUN_DIR/analyses/NAME,
    skipped when its inputs and settings are unchanged), and write RUN_DIR/report.html.
    Ctrl-C keeps every finished step; running the same command again continues."""
    from landscope.config import ConfigError
    from landscope.pipeline import PipelineInterrupted, RunMismatchError, run_pipeline
    from landscope.runs import RunExistsError
    from landscope.training import NonFiniteLossError, TrainingInterrupted

    cfg = load_config_or_fail(config)
    target = out if out is not None else Path("runs") / cfg.name
    try:
        with one_line_errors():
            result = run_pipeline(
                cfg, target, overwrite=overwrite, force=force, report=report,
                progress=not no_progress,
            )  # fmt: skip
    except (ConfigError, RunMismatchError) as exc:
        fail(str(exc))
    except RunExistsError as exc:
        fail(
            f"folder {exc.path} holds files but no run: give another --out, or --overwrite to "
            "train there (files training did not write are kept)"
        )
    except NonFiniteLossError as exc:
        fail(str(exc), code=3)
    except TrainingInterrupted as exc:
        fail(f"{exc} (landscope run resumes it)", code=exc.exit_code)
    except PipelineInterrupted as exc:
        fail(f"{exc}; landscope report {target} shows the finished ones", code=130)
    typer.echo(f"{target}: training {result.training}; {result.seconds:.1f} s in all")
    for s in result.steps:
        line = f"  {s.name:<16} {s.status:<9} {s.seconds:6.1f} s  {s.folder}"
        typer.echo(line + (f"  error: {s.error}" if s.error else ""))
    if result.report is not None:
        typer.echo(f"report: {result.report}")
    if result.failed:
        fail(
            f"{len(result.failed)} analys{'es' if len(result.failed) > 1 else 'is'} failed: "
            + ", ".join(s.name for s in result.failed)
            + " (each error is in its step.json and the report)",
            code=1,
        )


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command()(run)
