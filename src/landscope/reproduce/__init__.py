"""Reproductions of the papers' experiments on offline data (``landscope reproduce NAME``).

Every reproduction is an entry of one catalog (:func:`catalog`, :func:`get_reproduction`): the
paper and the figures / tables it covers, its configs (YAML shipped in
``landscope/reproduce/configs/<paper>/``, the single source), the code that runs it and the
paper's statements checked against our numbers with computed verdicts (:class:`Check`).  Running
an entry (``entry.run(out, quick=..., progress=...)``) trains what it needs, runs the analyses,
and writes ``report.md``, ``report.html``, ``results.json`` (with ``"checks"``) and figures.

The built-in entries register themselves when their modules are imported below.
"""

from __future__ import annotations

from collections.abc import Callable

# the built-in entries (each module calls ``register`` on import)
from landscope.reproduce import (  # noqa: F401  (imported for their registration)
    _goodfellow,
    _gurari_fig2,
    _gurari_optim,
    _gurari_spectrum,
    _gurari_table1,
    _gurari_toy,
)
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
    # compatibility (the old CLI)
    "REPRODUCTIONS",
]

#: name -> (run function, one-line description) of every entry: the old table, kept for the CLI
#: until it reads :func:`catalog` (to be removed then).
REPRODUCTIONS: dict[str, tuple[Callable[..., dict], str]] = {
    entry.name: (entry.run, entry.description) for entry in catalog()
}
