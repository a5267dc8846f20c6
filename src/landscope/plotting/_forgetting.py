"""Figure of the forgetting analysis (Haink Fig. 7.22 / 7.23): test accuracy on task A against
test accuracy on task B, one dot per method and seed, at the epoch with the best sum.

Reads only the files :func:`landscope.forgetting.run_forgetting_analysis` wrote
(``results.json``); matplotlib is imported lazily, without pyplot.
"""

from __future__ import annotations

import json
from pathlib import Path

from landscope.plotting._style import (
    PALETTE,
    SavedFigure,
    new_figure,
    save_figure_formats,
    style_context,
    write_figure_index,
)

__all__ = ["plot_forgetting_results"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_forgetting_results(out_dir: str | Path, *, title: str | None = None) -> list[SavedFigure]:
    """Accuracy on task A vs accuracy on task B (Haink Fig. 7.22 / 7.23) from
    ``out_dir/results.json``; saved as ``forgetting_accuracy.png`` / ``.svg``, listed in
    ``figures.json``.  Dashed lines: chance on one task (1 / its number of classes); dotted
    diagonals: constant sum of the two accuracies."""
    out_dir = Path(out_dir)
    results = json.loads((out_dir / "results.json").read_text())
    rows = results["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    tasks = results["settings"]["tasks"]
    layers = results.get("summary", {}).get("layers", "")
    with style_context():
        fig = new_figure(5.2, 4.2)
        ax = fig.add_subplot()
        for total in (0.5, 1.0, 1.5, 2.0):
            ax.plot([total - 1, 1], [1, total - 1], ":", color="0.8", lw=0.8, zorder=0)
        ax.axvline(1 / len(tasks[0]), ls="--", color="0.5", lw=0.8)
        ax.axhline(1 / len(tasks[1]), ls="--", color="0.5", lw=0.8)
        for i, method in enumerate(methods):
            mine = [r for r in rows if r["method"] == method]
            xs = [r["acc_a"] for r in mine]
            ys = [r["acc_b"] for r in mine]
            diverged = sum(bool(r["diverged"]) for r in mine)
            label = method + (f" ({diverged} diverged)" if diverged else "")
            ax.scatter(
                xs,
                ys,
                s=28,
                color=PALETTE[i % len(PALETTE)],
                marker=_MARKERS[i % len(_MARKERS)],
                label=label,
                alpha=0.85,
                edgecolors="none",
            )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"test accuracy on task A (classes {_classes(tasks[0])})")
        ax.set_ylabel(f"test accuracy on task B (classes {_classes(tasks[1])})")
        ax.set_title(title or f"Forgetting, layers trained: {layers}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left", frameon=False)
        save_figure_formats(fig, out_dir / "forgetting_accuracy")
    figures = [
        SavedFigure(
            "forgetting_accuracy.png",
            "Test accuracy on task A against test accuracy on task B after training on B, at the "
            "epoch with the best sum of the two, one dot per method and seed (layers trained: "
            f"{layers}); dashed: chance on one task, dotted: constant sum.",
            "Haink Fig. 7.22 / 7.23",
            "forgetting_accuracy.svg",
        )
    ]
    write_figure_index(out_dir, figures)
    return figures


def _classes(task: list[int]) -> str:
    if task == list(range(task[0], task[-1] + 1)) and len(task) > 2:
        return f"{task[0]}-{task[-1]}"
    return ",".join(map(str, task))
