"""Root typer application: the core commands at the top level, the analyses of a recorded run
under ``landscope analyze``.

Command modules (every ``landscope/cli/_*.py`` but this one and ``_common``) are discovered: a
module's ``register(app)`` adds top-level commands, its ``register_analyses(analyze_app)`` adds
``landscope analyze ...`` commands.  A new analysis adds its own ``cli/_<name>.py``; nothing here
changes.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

_HELP = (
    "Where gradient descent goes: curvature, trajectories and loss landscapes of PyTorch models."
)

# rich_markup_mode=None: plain click help and one-line usage errors ("Error: Invalid value for
# '--which': 'XX' is not one of 'LA', 'LM', 'SA'.") instead of rich panels that wrap them.
app = typer.Typer(
    name="landscope",
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

#: ``landscope analyze ...``: the one path of every analysis that reads a recorded run.
analyze_app = typer.Typer(
    help="Analyses of a recorded run (each writes .npz, .json and figures to --out).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

#: Earlier top-level spellings of the analyses (``landscope surface ...``), kept working as hidden
#: aliases of ``landscope analyze ...``.
ALIASES = ("interpolate", "project", "surface", "subspace")

_registered = False


@app.callback()
def _root() -> None:
    """landscope: curvature, trajectory geometry and loss landscapes of PyTorch models."""


def _register_all() -> None:
    """Add every command to :data:`app` (once; later calls do nothing)."""
    global _registered
    if _registered:
        return
    _registered = True
    import landscope.cli as package

    for name in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        if not name.startswith("_") or name in ("_app", "_common"):
            continue
        module = importlib.import_module(f"{package.__name__}.{name}")
        if hasattr(module, "register"):
            module.register(app)
        if hasattr(module, "register_analyses"):
            module.register_analyses(analyze_app)
    app.add_typer(analyze_app, name="analyze")
    for info in list(analyze_app.registered_commands):
        name = info.name or typer.main.get_command_name(info.callback.__name__)
        if name in ALIASES:
            app.command(
                name, hidden=True, help=f"Alias of: landscope analyze {name}. See its --help."
            )(info.callback)


def main() -> None:
    from landscope.cli._common import run_app

    _register_all()
    run_app(app)  # a damaged or locked run folder: one error line, never a traceback
