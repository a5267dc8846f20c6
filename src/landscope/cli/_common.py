"""What every command shares: the one-line error, the run-folder opener, the progress flag."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

__all__ = ["NoProgress", "fail", "open_run_or_fail"]

#: The one progress flag of every long command (bars are off when stderr is not a terminal too).
NoProgress = Annotated[bool, typer.Option("--no-progress", "-q", help="no progress bars (quiet)")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (one line, red, to stderr) and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def open_run_or_fail(run_dir: Path):
    """The :class:`~landscope.runs.Run` of ``run_dir``, or a one-line error naming the folder."""
    from landscope.runs import open_run

    try:
        return open_run(run_dir)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        fail(str(exc).strip("'\""))
