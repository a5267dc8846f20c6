"""Root typer application.  Sub-command modules each define ``register(app)``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="landscope",
    help="Where gradient descent goes: curvature, trajectories and loss landscapes of PyTorch models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """landscope: curvature, trajectory geometry and loss landscapes of PyTorch models."""


def _register_all() -> None:
    from landscope.cli import _commands

    _commands.register(app)
    _commands.register_hessian(app)
    from landscope.cli import _landscape, _subspace

    _landscape.register(app)
    _subspace.register(app)
    _subspace.register_reproduce(app)
    # The same analyses grouped under `landscope analyze ...` (analyses that read a run).
    analyze_app = typer.Typer(help="Analyses that read a recorded run.", no_args_is_help=True)
    _landscape.register(analyze_app)
    _subspace.register(analyze_app)
    app.add_typer(analyze_app, name="analyze")


def main() -> None:
    _register_all()
    app()
