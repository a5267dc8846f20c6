"""The ``landscope`` command line (typer).  Imported lazily: the library never imports it."""

from landscope.cli._app import app, main

__all__ = ["app", "main"]
