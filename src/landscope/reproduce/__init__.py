"""Reproductions of the papers' experiments on offline data (``landscope reproduce NAME``).

Every reproduction is an entry of one catalog (:func:`catalog`, :func:`get_reproduction`): the
paper and the figures / tables it covers, its configs (YAML shipped in
``landscope/reproduce/configs/<paper>/``, the single source), the code that runs it and the
paper's statements checked against our numbers with computed verdicts (:class:`Check`).  Running
an entry (``entry.run(out, quick=..., progress=...)``) trains what it needs, runs the analyses,
and writes ``report.md``, ``report.html``, ``results.json`` (with ``"checks"``) and figures.

Every module of this package is imported below; the entry modules call :func:`register` when
imported, so adding a reproduction is adding one module (``_<paper>_<item>.py``) that registers
its entry -- no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from landscope.reproduce._catalog import (
    Check,
    Reproduction,
    Verdict,
    catalog,
    check,
    config_path,
    get_reproduction,
    load_reproduction_config,
    register,
)

__all__ = [
    # the catalog
    "Check",
    "Reproduction",
    "Verdict",
    "catalog",
    "check",
    "config_path",
    "get_reproduction",
    "load_reproduction_config",
    "register",
]


def _import_entry_modules() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")


_import_entry_modules()
