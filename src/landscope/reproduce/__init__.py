"""Reproductions of the papers' experiments on offline data (``landscope reproduce NAME``).

Each reproduction trains what it needs, runs the analyses, and writes ``report.md``,
``report.html``, ``results.json`` and figures with our numbers beside the paper's.
"""

from __future__ import annotations

from collections.abc import Callable

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
from landscope.reproduce._gurari import fig2 as gurari_fig2
from landscope.reproduce._gurari import table1 as gurari_table1
from landscope.reproduce._gurari_optim import optimizers as gurari_optimizers
from landscope.reproduce._gurari_spectrum import spectrum as gurari_spectrum
from landscope.reproduce._gurari_toy import toy as gurari_toy

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
    "REPRODUCTIONS",
    "gurari_fig2",
    "gurari_optimizers",
    "gurari_spectrum",
    "gurari_table1",
    "gurari_toy",
]

#: name -> (function(out, quick=..., progress=...) -> results dict, one-line description)
REPRODUCTIONS: dict[str, tuple[Callable[..., dict], str]] = {
    "gurari-table1": (
        gurari_table1,
        "Gur-Ari et al. Table 1: mean overlap(g, Hg) over the last steps, 9 setups",
    ),
    "gurari-fig2": (
        gurari_fig2,
        "Gur-Ari et al. Fig. 1, 2, 3, 8, 11: top-subspace tracking of the FC net on digits",
    ),
    "gurari-toy": (
        gurari_toy,
        "Gur-Ari et al. sec. 3 / App. E: Gaussian-mixture toy model vs its exact solution",
    ),
    "gurari-spectrum": (
        gurari_spectrum,
        "Gur-Ari et al. Fig. 4-7: full spectrum, top eigenvector by layer, outliers vs classes",
    ),
    "gurari-optimizers": (
        gurari_optimizers,
        "Gur-Ari et al. sec. 4: projected SGD and low-rank Newton (eq. 11) vs SGD",
    ),
}
