"""``landscope reproduce all [--quick]``: every catalog entry, then one summary of all of them.

The summary (``summary.md``, ``summary.json``, ``summary.html`` in the output folder) lists, for
every checked statement of every entry (grouped by paper): where in the paper, the claim, the
paper's value, ours, the deviation (ours - paper and relative, where both are numbers) and the
verdict computed by the entry (reproduced / differs, with the reason / not reproducible
offline), plus each entry's figures / tables, run time and expected time.  An entry that raises
is listed with its error and the others still run; the summary is rewritten after every entry,
so an interrupted ``reproduce all`` leaves the summary of what finished.
"""

from __future__ import annotations

import math
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscope._results_io import write_atomic, write_json_atomic
from landscope.reproduce._catalog import Reproduction, Verdict, catalog

__all__ = ["PAPERS", "deviation", "run_all", "write_summary"]

#: The four papers, each with a word that its catalog entries' ``paper`` contains.
PAPERS = (
    ("Gur-Ari", "Gur-Ari, Roberts & Dyer (2018), Gradient descent happens in a tiny subspace"),
    (
        "Fjellstr",
        "Fjellström & Nyström, Deep learning, stochastic gradient descent and diffusion maps",
    ),
    ("Haink", "Haink (2023), Hessian eigenvectors and PCA of neural network weight matrices"),
    (
        "Goodfellow",
        "Goodfellow, Vinyals & Saxe (2015), Qualitatively characterizing neural network "
        "optimization problems",
    ),
)
_ERROR = "error"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def deviation(paper: Any, ours: Any) -> dict | None:
    """``{"absolute": ours - paper, "relative": (ours - paper) / |paper|}`` when both values are
    finite numbers (relative None for a zero paper value), else None.

    >>> deviation(0.96, 0.90)["absolute"]
    -0.06
    >>> deviation("k - 1 = 9", 9) is None
    True
    """
    p, o = _number(paper), _number(ours)
    if p is None or o is None or not (math.isfinite(p) and math.isfinite(o)):
        return None
    diff = round(o - p, 12) + 0.0  # no -0.0
    return {"absolute": diff, "relative": diff / abs(p) if p != 0 else None}


def _deviation_text(d: dict | None) -> str:
    if d is None:
        return ""
    text = f"{d['absolute']:+.3g}"
    return text + (f" ({100 * d['relative']:+.1f}%)" if d["relative"] is not None else "")


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
    return "" if v is None else str(v)


def _paper_of(entry_paper: str) -> str:
    for key, full in PAPERS:
        if key.lower() in entry_paper.lower():
            return full
    return entry_paper


def _run_entry(entry: Reproduction, out: Path, *, quick: bool, progress: bool) -> dict:
    started = time.perf_counter()
    record: dict[str, Any] = {
        "name": entry.name,
        "paper": entry.paper,
        "items": entry.items,
        "description": entry.description,
        "expected_minutes": entry.minutes[0 if quick else 1],
        "folder": str(out / entry.name),
    }
    try:
        results = entry.run(out / entry.name, quick=quick, progress=progress) or {}
        record["status"] = "ok"
    except Exception as exc:  # listed in the summary; the other entries still run
        results = {}
        record["status"] = _ERROR
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["seconds"] = time.perf_counter() - started
    record["checks"] = [
        {**c, "deviation": deviation(c.get("paper"), c.get("ours"))}
        for c in results.get("checks", [])
    ]
    return record


def run_all(
    out: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    names: list[str] | None = None,
) -> dict:
    """Run every catalog entry (or those in ``names``) into ``out/<name>/`` and write the
    summary after each; returns the summary dict (what ``summary.json`` holds)."""
    from landscope._progress import progress_bar

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = [e for e in catalog() if names is None or e.name in names]
    started = time.perf_counter()
    records: list[dict] = []
    summary: dict = {}
    bar = progress_bar(entries, desc="reproduce all", unit="entry", enabled=progress)
    try:
        for entry in bar:
            bar.set_description(entry.name)
            records.append(_run_entry(entry, out, quick=quick, progress=progress))
            summary = write_summary(
                out, records, quick=quick, seconds=time.perf_counter() - started,
                planned=[e.name for e in entries],
            )  # fmt: skip
    finally:
        bar.close()
    return summary


def _counts(records: list[dict]) -> Counter:
    counts: Counter = Counter()
    for r in records:
        counts.update(c["verdict"] for c in r["checks"])
    return counts


def _summary_dict(records, quick, seconds, planned) -> dict:
    counts = _counts(records)
    papers = []
    for key, full in PAPERS:
        mine = [r for r in records if key.lower() in r["paper"].lower()]
        papers.append(
            {
                "paper": full,
                "entries": [r["name"] for r in mine],
                "checks": sum(len(r["checks"]) for r in mine),
                "verdicts": dict(_counts(mine)),
            }
        )
    return {
        "quick": quick,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "entries_planned": planned,
        "entries_run": [r["name"] for r in records],
        "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
        "checks": sum(counts.values()),
        "errors": [r["name"] for r in records if r["status"] == _ERROR],
        "papers": papers,
        "entries": records,
    }


def _markdown(s: dict) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    def row(values) -> str:
        return "| " + " | ".join(cell(v) for v in values) + " |"

    mode = "quick" if s["quick"] else "full"
    v = s["verdicts"]
    lines = [
        f"# Reproduction catalog summary ({mode})",
        "",
        f"{len(s['entries_run'])} of {len(s['entries_planned'])} entries run in "
        f"{s['seconds'] / 60:.1f} min; {s['checks']} checks: "
        + ", ".join(f"{n} {k}" for k, n in v.items())
        + (f"; entries that failed to run: {', '.join(s['errors'])}" if s["errors"] else "")
        + ".",
        "",
        "Verdicts are computed by each entry from our measurement (criterion in results.json); "
        "the deviation is ours - paper (relative to |paper|) where both are numbers.",
        "",
        "## Entries",
        "",
        row(["entry", "paper", "figures / tables", "checks", "verdicts", "time (min)",
             "expected (min)"]),
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in s["entries"]:
        counts = Counter(c["verdict"] for c in r["checks"])
        verdicts = ", ".join(f"{n} {k}" for k, n in counts.items()) or (
            f"ERROR: {r.get('error', '')}" if r["status"] == _ERROR else "no checks"
        )
        lines.append(
            row([r["name"], r["paper"], r["items"], len(r["checks"]), verdicts,
                 f"{r['seconds'] / 60:.1f}", f"{r['expected_minutes']:g}"])
        )  # fmt: skip
    for paper in s["papers"]:
        lines += ["", f"## {paper['paper']}", ""]
        mine = [r for r in s["entries"] if r["name"] in paper["entries"]]
        if not mine:
            lines.append("No entry of this paper was run (none in the catalog, or not selected).")
            continue
        lines += [
            row(["entry", "where", "claim", "paper", "ours", "deviation", "verdict",
                 "criterion / reason"]),
            "|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for r in mine:
            if r["status"] == _ERROR:
                lines.append(row([r["name"], r["items"], "(the entry failed to run)", "", "",
                                  "", "ERROR", r.get("error", "")]))  # fmt: skip
            for c in r["checks"]:
                reason = c["criterion"] + (f"; {c['reason']}" if c.get("reason") else "")
                lines.append(
                    row([r["name"], c["where"], c["claim"], _value_text(c["paper"]),
                         _value_text(c["ours"]), _deviation_text(c["deviation"]),
                         c["verdict"].upper(), reason])
                )  # fmt: skip
    return "\n".join(lines) + "\n"


def _html(s: dict) -> str:
    from landscope.report import esc, href, page, table

    def badge(verdict: str) -> str:
        return f"<span class='badge {esc(verdict.replace(' ', '-'))}'>{esc(verdict)}</span>"

    mode = "quick" if s["quick"] else "full"
    v = s["verdicts"]
    entry_rows = []
    for r in s["entries"]:
        counts = Counter(c["verdict"] for c in r["checks"])
        verdicts = " ".join(f"{n} {badge(k)}" for k, n in counts.items()) or (
            badge("error") + " " + esc(r.get("error", "")) if r["status"] == _ERROR else "none"
        )
        link = f"<a href='{href(Path(r['name']) / 'report.html')}'>{esc(r['name'])}</a>"
        entry_rows.append(
            [link, r["paper"], r["items"], len(r["checks"]), verdicts,
             round(r["seconds"] / 60, 2), r["expected_minutes"]]
        )  # fmt: skip
    body = [
        "<section id='entries'><h2>Entries</h2>",
        table(["entry", "paper", "figures / tables", "checks", "verdicts", "time (min)",
               "expected (min)"], entry_rows, raw_columns=(0, 4)),
        "</section>",
    ]  # fmt: skip
    nav = [("entries", "Entries")]
    for i, paper in enumerate(s["papers"]):
        anchor = f"paper-{i}"
        nav.append((anchor, paper["paper"].split(",")[0].split(" (")[0]))
        body.append(f"<section id='{anchor}'><h2>{esc(paper['paper'])}</h2>")
        mine = [r for r in s["entries"] if r["name"] in paper["entries"]]
        if not mine:
            body.append("<p class='note'>No entry of this paper was run.</p></section>")
            continue
        rows = []
        for r in mine:
            if r["status"] == _ERROR:
                rows.append([r["name"], r["items"], "(the entry failed to run)", "", "", "",
                             badge("error"), r.get("error", "")])  # fmt: skip
            for c in r["checks"]:
                reason = c["criterion"] + (f"; {c['reason']}" if c.get("reason") else "")
                rows.append(
                    [r["name"], c["where"], c["claim"], _value_text(c["paper"]),
                     _value_text(c["ours"]), _deviation_text(c["deviation"]),
                     badge(c["verdict"]), reason]
                )  # fmt: skip
        body.append(
            table(["entry", "where", "claim", "paper", "ours", "deviation", "verdict",
                   "criterion / reason"], rows, raw_columns=(6,))
        )  # fmt: skip
        body.append("</section>")
    return page(
        f"Reproduction catalog summary ({mode})",
        "".join(body),
        subtitle=[
            f"{len(s['entries_run'])} of {len(s['entries_planned'])} entries run in "
            f"{s['seconds'] / 60:.1f} min, written {s['written']}",
            f"{s['checks']} checks: " + ", ".join(f"{n} {k}" for k, n in v.items()),
        ],
        nav=nav,
    )


def write_summary(
    out: str | Path,
    records: list[dict],
    *,
    quick: bool,
    seconds: float,
    planned: list[str] | None = None,
) -> dict:
    """Write ``summary.json``, ``summary.md`` and ``summary.html`` of the entry ``records``
    (:func:`run_all`'s) to ``out``; returns the summary dict."""
    out = Path(out)
    planned = planned if planned is not None else [r["name"] for r in records]
    s = _summary_dict(records, quick, seconds, planned)
    write_json_atomic(out / "summary.json", s)
    write_atomic(out / "summary.md", _markdown(s).encode("utf-8"))
    write_atomic(out / "summary.html", _html(s).encode("utf-8"))
    return s
