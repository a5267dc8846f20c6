"""What every command shares: the one-line error, the run-folder and config openers, the progress
flag, the dtype choice and the table printer."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

__all__ = [
    "DType",
    "NoProgress",
    "fail",
    "load_config_or_fail",
    "one_line_errors",
    "open_run_or_fail",
    "print_table",
    "run_app",
]

#: The one progress flag of every long command (when stderr is not a terminal, bars are plain
#: lines, at most one per 30 s, see landscope._progress).
#: ``--quiet`` is the older spelling of ``train``, kept as an alias.
NoProgress = Annotated[
    bool,
    typer.Option("--no-progress", "-q", "--quiet", help="no progress bars (alias: --quiet)"),
]


class DType(str, enum.Enum):
    """The floating-point precision an analysis recomputes a run in (default: the run's)."""

    float32 = "float32"
    float64 = "float64"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (one line, red, to stderr) and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _run_errors() -> tuple[type[Exception], ...]:
    from landscope.runs import DamagedRunError, RunLockedError

    return (DamagedRunError, RunLockedError)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Inside a command: a damaged run (a chunk file missing or truncated, a damaged
    ``committed.json`` or checkpoint) or a run another process is writing, raised anywhere
    below, becomes ``error: ...`` (exit code 2) instead of a traceback."""
    try:
        yield
    except _run_errors() as exc:
        fail(str(exc))


def run_app(app: typer.Typer) -> None:
    """Run the application; the errors of :func:`one_line_errors` raised by any command (also
    those that do not catch them) end as one ``error:`` line with exit code 2."""
    try:
        app()
    except _run_errors() as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


def open_run_or_fail(run_dir: Path):
    """The :class:`~landscope.runs.Run` of ``run_dir``, or a one-line error naming the folder."""
    from landscope.runs import open_run

    try:
        return open_run(run_dir)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        fail(str(exc).strip("'\""))


def load_config_or_fail(config: Path):
    """The validated :class:`~landscope.config.RunConfig` of a YAML file, or a one-line error
    naming the field that is wrong."""
    from landscope.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        fail(str(exc))


def print_table(
    rows: Sequence[dict],
    columns: Sequence[str],
    title: str | None = None,
    *,
    wrap: Sequence[str] = ("description",),
    headers: dict[str, str] | None = None,
    min_width: int = 16,
) -> None:
    """Print ``rows`` as a plain-text table that fits the terminal with nothing cut off.

    Columns not in ``wrap`` keep their full width.  The ``wrap`` columns (free text) share the
    rest and wrap at spaces (a word wider than its column folds); when one would get fewer than
    ``min_width`` characters, the last inline one moves below each row instead, indented over
    the full width (so at 80 columns a long description reads as a paragraph under its row;
    other columns moved below are labelled with their header).

    Args:
        rows: one dict per row; a missing or None value prints as an empty cell.
        columns: the keys to show, in order.
        wrap: the columns that may wrap, the one to move below first last.
        headers: column titles other than the key (e.g. ``{"num_classes": "classes"}``).
        min_width: narrowest inline width of a wrapped column.
    """
    import shutil
    import textwrap

    headers = headers or {}
    width = max(shutil.get_terminal_size((80, 24)).columns, 2 * min_width)
    cell = {c: ["" if r.get(c) is None else str(r.get(c)) for r in rows] for c in columns}
    natural = {c: max([len(headers.get(c, c)), *map(len, cell[c])]) for c in columns}
    inline, below = list(columns), []
    while True:
        wrapped = [c for c in inline if c in wrap]
        free = width - 2 * (len(inline) - 1) - sum(natural[c] for c in inline if c not in wrap)
        widths = {c: natural[c] for c in inline}
        for n, c in enumerate(sorted(wrapped, key=natural.get)):  # water-filling, narrow first
            widths[c] = min(natural[c], free // (len(wrapped) - n))
            free -= widths[c]
        if all(widths[c] >= min(min_width, natural[c]) for c in wrapped):
            break
        below.insert(0, wrapped[-1])
        inline.remove(wrapped[-1])

    def lines(text: str, w: int) -> list[str]:
        return textwrap.wrap(text, w, break_on_hyphens=False) or [""]

    def emit(values: dict[str, str], style: dict | None = None) -> None:
        parts = {c: lines(values[c], widths[c]) for c in inline}
        for k in range(max(map(len, parts.values()))):
            line = "  ".join(
                (parts[c][k] if k < len(parts[c]) else "").ljust(widths[c]) for c in inline
            )
            typer.echo(typer.style(line.rstrip(), **style) if style else line.rstrip())

    if title:
        typer.echo(title)
    emit({c: headers.get(c, c) for c in inline}, {"bold": True})
    typer.echo("-" * min(width, sum(widths.values()) + 2 * (len(inline) - 1)))
    for i in range(len(rows)):
        emit({c: cell[c][i] for c in inline})
        for c in below:  # labelled, except the last wrap column (the description)
            label = "" if c == wrap[-1] or not cell[c][i] else f"{headers.get(c, c)}: "
            for line in lines(label + cell[c][i], width - 4):
                typer.echo("    " + line)
