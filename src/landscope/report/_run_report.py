"""``landscope report RUN_DIR``: one self-contained HTML page of a run and its analyses.

The page holds the run's config, its training curves (also saved as PNG + SVG in
``RUN_DIR/report_figures/``), and one section per analysis folder found in
``RUN_DIR/analyses/``: the ``summary`` of its ``results.json`` as a table, the figures its
``figures.json`` lists (embedded PNG with captions and the paper figure each corresponds to,
links to the SVG) and links to its raw data files.  A step that failed or was interrupted is
shown as such.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscope.report._html import esc, href, image_tag, page, png_size, table

__all__ = ["REPORT_FILE", "write_report"]

#: The report's file name inside the run folder.
REPORT_FILE = "report.html"
FIGURES_DIR = "report_figures"
_DATA_SUFFIXES = (".json", ".npz", ".csv", ".yaml")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _training_figure(run, out_dir: Path):
    """Loss and accuracy against the step (full-dataset evaluations; minibatch loss faint);
    a :class:`~landscope.plotting.SavedFigure` or None when the run recorded no metrics."""
    import numpy as np

    from landscope.plotting import SavedFigure, new_figure, save_figure_formats, style_context
    from landscope.runs import Series

    def series(name):
        if name not in run or run.num_rows(name) == 0:
            return None
        return np.asarray(run.steps(name)), np.asarray(run.read(name), dtype=float).reshape(-1)

    losses = [(n, series(n)) for n in (Series.TRAIN_LOSS, Series.TEST_LOSS)]
    accs = [(n, series(n)) for n in (Series.TRAIN_ACCURACY, Series.TEST_ACCURACY)]
    batch = series(Series.BATCH_LOSS)
    if all(s is None for _, s in losses + accs) and batch is None:
        return None
    panels = 2 if any(s is not None for _, s in accs) else 1
    with style_context():
        fig = new_figure(4.2 * panels + 0.4, 3.2)
        axes = fig.subplots(1, panels, squeeze=False)[0]
        ax = axes[0]
        if batch is not None:
            ax.plot(*batch, color="#999999", lw=0.6, alpha=0.6, label="minibatch loss")
        for colour, (name, s) in zip(("C0", "C1"), losses, strict=True):
            if s is not None:
                ax.plot(*s, "o-", ms=2.5, color=colour, label=name.replace("_", " "))
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("loss")
        ax.set_title("Loss")
        ax.legend()
        if panels == 2:
            ax = axes[1]
            for colour, (name, s) in zip(("C0", "C1"), accs, strict=True):
                if s is not None:
                    ax.plot(*s, "o-", ms=2.5, color=colour, label=name.replace("_", " "))
            ax.set_xlabel("training step")
            ax.set_ylabel("accuracy")
            ax.set_title("Accuracy")
            ax.legend()
        png, svg = save_figure_formats(fig, out_dir / FIGURES_DIR / "training_curves")
    return SavedFigure(
        f"{FIGURES_DIR}/{png.name}",
        "Training curves: full-dataset train and test loss (log scale) and accuracy at the "
        "evaluated steps, with the minibatch loss of every recorded update in grey.",
        None,
        f"{FIGURES_DIR}/{svg.name}",
    )


def _figure_html(base: Path, rel: str, fig, number: int) -> str:
    png = base / fig.file
    ref = f' <span class="ref">(cf. {esc(fig.paper_figure)})</span>' if fig.paper_figure else ""
    links = ""
    if fig.vector and (base / fig.vector).exists():
        links = (
            f' <a href="{href(rel + fig.vector)}">{esc(Path(fig.vector).suffix[1:].upper())}</a>'
        )
    if not png.exists():
        return (
            f"<figure><p class='note'>figure file {esc(fig.file)} is missing</p>"
            f"<figcaption><b>Figure {number}.</b> {esc(fig.caption)}{ref}</figcaption></figure>"
        )
    size = png_size(png)
    wide = size is not None and size[0] > 2.1 * size[1]  # multi-panel figures get the full width
    return (
        f"<figure{' class=wide' if wide else ''}>{image_tag(png, fig.caption)}"
        f"<figcaption><b>Figure {number}.</b> "
        f"{esc(fig.caption)}{ref}{links}</figcaption></figure>"
    )


def _analysis_order(run_dir: Path, folders: list[Path]) -> list[Path]:
    """Folders in the order of the last pipeline config, the others after them by name."""
    order: list[str] = []
    cfg_file = run_dir / "pipeline.yaml"
    if cfg_file.exists():
        import yaml

        try:
            cfg = yaml.safe_load(cfg_file.read_text()) or {}
            order = list(((cfg.get("pipeline") or {}).get("analyses") or {}).keys())
        except yaml.YAMLError:
            order = []
    rank = {name: i for i, name in enumerate(order)}
    return sorted(folders, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def _analysis_section(run_dir: Path, folder: Path, first_figure: int) -> tuple[str, str, int]:
    """``(html, title, number of figures)`` of one analysis folder."""
    from landscope.plotting import read_figure_index

    rel = f"{folder.relative_to(run_dir).as_posix()}/"
    results = _load_json(folder / "results.json") or {}
    step = _load_json(folder / "step.json") or {}
    title = results.get("title") or step.get("analysis") or folder.name
    anchor = f"analysis-{folder.name}"
    status = step.get("status", "done" if results else "missing")
    parts = [
        f"<section id='{esc(anchor)}'><h2>{esc(title)} "
        f"<span class='badge {esc(status)}'>{esc(status)}</span></h2>"
    ]
    if results.get("paper"):
        parts.append(f"<p class='paper'>{esc(results['paper'])}</p>")
    if status == "failed":
        parts.append(
            f"<p class='error'>This analysis failed: {esc(step.get('error', ''))} (traceback "
            f"in <a href='{href(rel + 'step.json')}'>step.json</a>)</p>"
        )
    elif status == "running":
        parts.append(
            "<p class='note'>This analysis was interrupted before it finished; run "
            "<code>landscope run</code> again to complete it.</p>"
        )
    summary = results.get("summary") or {}
    if summary:
        parts.append(table(["quantity", "value"], summary.items(), cls="kv"))
    figures = read_figure_index(folder) if (folder / "figures.json").exists() else []
    if figures:
        parts.append(
            "<div class='figures'>"
            + "".join(_figure_html(folder, rel, f, first_figure + i) for i, f in enumerate(figures))
            + "</div>"
        )
    settings = results.get("settings") or step.get("settings") or {}
    if settings:
        parts.append(
            "<details><summary>Settings</summary>"
            + table(["setting", "value"], settings.items(), cls="kv")
            + "</details>"
        )
    prov = results.get("provenance") or {}
    seconds = step.get("seconds")  # the whole step (compute and figures), else the analysis'
    if not isinstance(seconds, (int, float)):
        seconds = prov.get("seconds")
        seconds = seconds.get("total") if isinstance(seconds, dict) else seconds
    steps = prov.get("steps") if isinstance(prov.get("steps"), list) else []
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        parts.append(
            f"<p class='files'>Computed in {float(seconds):.1f} s"
            + (f" from {len(steps)} recorded step{'s' if len(steps) != 1 else ''}" if steps else "")
            + ".</p>"
        )
    data = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _DATA_SUFFIXES)
    if data:
        parts.append(
            "<p class='files'>Raw data: "
            + "".join(f"<a href='{href(rel + p.name)}'>{esc(p.name)}</a>" for p in data)
            + "</p>"
        )
    parts.append("</section>")
    return "".join(parts), str(title), len(figures)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of the run folder ``run_dir`` (default ``run_dir/report.html``)
    and return its path.  Self-contained: figures embedded as base64 PNG, the stylesheet inline,
    nothing from the network; every string from the config, the results and the file names is
    escaped."""
    import yaml

    from landscope import __version__
    from landscope.runs import open_run

    run_dir = Path(run_dir)
    run = open_run(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_FILE
    cfg_file = run_dir / "pipeline.yaml"
    config_text = (
        cfg_file.read_text()
        if cfg_file.exists()
        else yaml.safe_dump(run.config, sort_keys=False)
        if run.config
        else "(the run has no config)"
    )
    name = (run.config or {}).get("name") or run_dir.name
    summary = _load_json(run_dir / "summary.json") or {}
    nav = [("config", "Config"), ("training", "Training")]
    meta_link = f"<a href='{href('meta.json')}'>meta.json</a>"
    where = (
        f"As given to <code>landscope run</code> (<a href='{href('pipeline.yaml')}'>pipeline.yaml"
        f"</a>), defaults filled in; the run folder's {meta_link} records the config it was "
        "trained with."
        if cfg_file.exists()
        else f"The config the run was trained with ({meta_link}), defaults filled in."
    )
    sections = [
        f"<section id='config'><h2>Config</h2><p class='files'>{where}</p>"
        f"<pre>{esc(config_text)}</pre></section>"
    ]
    training = ["<section id='training'><h2>Training</h2>"]
    rows: list[tuple[str, Any]] = [
        ("parameters", run.meta.get("num_params")),
        ("dataset", (run.meta.get("dataset") or {}).get("name")),
    ]
    if summary:
        rows += [
            ("steps", summary.get("total_steps")),
            ("epochs", summary.get("epochs")),
            ("seconds (all sessions)", summary.get("seconds_all_sessions", summary.get("seconds"))),
        ]
        at = summary.get("final_eval_step")
        rows += [(f"{k} (step {at})", v) for k, v in (summary.get("final") or {}).items()]
    else:
        training.append("<p class='note'>Training has not finished (no summary.json).</p>")
    training.append(table(["quantity", "value"], rows, cls="kv"))
    number = 1
    fig = _training_figure(run, run_dir)
    if fig is not None:
        training.append(f"<div class='figures'>{_figure_html(run_dir, '', fig, number)}</div>")
        number += 1
    training.append("</section>")
    sections.append("".join(training))
    analyses_dir = run_dir / "analyses"
    folders = [p for p in analyses_dir.iterdir() if p.is_dir()] if analyses_dir.is_dir() else []
    if not folders:
        sections.append(
            "<section id='analyses'><h2>Analyses</h2><p class='note'>No analysis folders in "
            f"{esc(analyses_dir)}: list analyses under <code>pipeline: analyses:</code> in the "
            "config and run <code>landscope run</code>.</p></section>"
        )
    for folder in _analysis_order(run_dir, folders):
        try:
            html_text, title, n = _analysis_section(run_dir, folder, number)
        except Exception as exc:  # one unreadable folder does not take the report down
            title, n = folder.name, 0
            html_text = (
                f"<section id='analysis-{esc(folder.name)}'><h2>{esc(folder.name)} <span "
                "class='badge error'>error</span></h2><p class='error'>This folder could not be "
                f"shown: {esc(type(exc).__name__)}: {esc(exc)}</p></section>"
            )
        sections.append(html_text)
        nav.append((f"analysis-{folder.name}", title))
        number += n
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    document = page(
        f"landscope report: {name}",
        "".join(sections),
        subtitle=[
            f"run folder {run_dir.resolve()}",
            f"written {stamp} by landscope {__version__}; "
            f"{len(folders)} analys{'es' if len(folders) != 1 else 'is'}",
        ],
        nav=nav,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    from landscope._results_io import write_atomic

    write_atomic(out, document.encode("utf-8"))
    return out
