"""``landscope report RUN_DIR [--open]``: the self-contained HTML report of a run and its
analyses (:func:`landscope.report.write_report`).  :func:`register` adds the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import fail, one_line_errors

__all__ = ["register", "report"]


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file (default: RUN_DIR/report.html)")
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="open the report in the default web browser")
    ] = False,
) -> None:
    """Write one self-contained HTML file (figures embedded, no network needed to view it)
    with the run's config, training curves and a section per analysis folder in
    RUN_DIR/analyses: key numbers, captioned figures, links to the raw data files."""
    from landscope.report import write_report

    if not (run_dir / "meta.json").is_file():
        fail(f"{run_dir} is not a run folder (no meta.json)")
    try:
        with one_line_errors():
            path = write_report(run_dir, out)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {path}")
    if open_:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            typer.echo("no web browser found; open the file yourself", err=True)


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command()(report)
