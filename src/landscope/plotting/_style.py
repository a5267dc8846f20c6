"""One figure style for every analysis: colour-blind-safe colours, readable publication sizes, and
one way to save a figure as PNG (for the HTML report) and SVG (for papers).

The palette is Okabe & Ito's (2008) eight colours, distinguishable under the common colour-vision
deficiencies; sequential data uses ``viridis`` (perceptually uniform, colour-blind safe) and
overlap / correlation heatmaps ``magma`` on a log scale.  matplotlib is imported lazily and never
through ``pyplot`` (no global figure state).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "SavedFigure",
    "SEQUENTIAL_CMAP",
    "HEATMAP_CMAP",
    "new_figure",
    "save_figure_formats",
    "style_context",
    "write_figure_index",
    "read_figure_index",
]

#: Okabe-Ito colours (black last: reserved for references such as a fitted law or y = x).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
SEQUENTIAL_CMAP = "viridis"
HEATMAP_CMAP = "magma"

_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "savefig.dpi": 150,
    "svg.fonttype": "none",  # text stays text in the SVG (editable, searchable)
}


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Temporarily apply landscope's figure style (rcParams, colour cycle); restored on exit.

    Create *and* save figures inside it: matplotlib reads most rcParams when an artist is made.
    """
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(_RC, **{"axes.prop_cycle": cycler(color=list(PALETTE))})
    with mpl.rc_context(rc):
        yield


def new_figure(width: float = 4.5, height: float = 3.2, **kwargs) -> Figure:
    """A ``Figure`` (constrained layout, size in inches) without pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def save_figure_formats(
    fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png", "svg"), *, dpi: int = 150
) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` (or the given formats); returns the paths.

    Examples:
        >>> import tempfile, pathlib
        >>> with style_context():
        ...     fig = new_figure()
        ...     _ = fig.add_subplot().plot([0, 1], [1, 0])
        ...     paths = save_figure_formats(fig, pathlib.Path(tempfile.mkdtemp()) / "line")
        >>> [p.suffix for p in paths]
        ['.png', '.svg']
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt.lstrip('.')}")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


@dataclass(frozen=True)
class SavedFigure:
    """One saved figure of an analysis, as the report shows it.

    Attributes:
        file: PNG file name, relative to the analysis folder.
        caption: what is plotted (quantities, units, data), one or two sentences.
        paper_figure: the paper figure it corresponds to, e.g. ``"Fjellstrom Fig. 5"`` (or None).
        vector: the SVG / PDF file name beside it (or None).
    """

    file: str
    caption: str
    paper_figure: str | None = None
    vector: str | None = None


def write_figure_index(out_dir: str | os.PathLike, figures: Sequence[SavedFigure]) -> Path:
    """Write ``out_dir/figures.json``: the list the HTML report reads (file, caption, paper figure)."""
    from landscope._results_io import write_json_atomic

    path = Path(out_dir) / "figures.json"
    write_json_atomic(path, [asdict(f) for f in figures])
    return path


def read_figure_index(out_dir: str | os.PathLike) -> list[SavedFigure]:
    """The figures an analysis folder lists in ``figures.json`` (empty if it has none)."""
    path = Path(out_dir) / "figures.json"
    if not path.exists():
        return []
    return [SavedFigure(**entry) for entry in json.loads(path.read_text())]
