"""Writing a reproduction's report: ``report.md`` (our numbers beside the paper's), ``results.json``
and ``report.html`` (the same tables with the PNG figures embedded)."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from landscope._results_io import jsonable

__all__ = ["Report"]

#: the "|" between two cells of a Markdown table row (an escaped "\\|" is part of a cell)
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


def _cells(row: str) -> list[str]:
    """The cells of one Markdown table row ``| a | b \\| c |``, unescaped: ``["a", "b | c"]``."""
    return [c.strip().replace("\\|", "|") for c in _CELL_SEPARATOR.split(row.strip()[1:-1])]


@dataclass
class Report:
    """A reproduction's write-up, built section by section, saved as Markdown, JSON and HTML."""

    title: str
    out: Path
    sections: list[tuple[str, str]] = field(default_factory=list)  # (kind, text or path)
    results: dict = field(default_factory=dict)

    def text(self, markdown: str) -> None:
        self.sections.append(("text", markdown.strip()))

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        def cell(v: object) -> str:
            if isinstance(v, float):
                return "nan" if v != v else f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
            # a "|" inside a cell (|x - y| <= tol) is escaped, as Markdown tables require
            return str(v).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
        self.sections.append(("table", "\n".join(lines)))

    def checks(self, checks: list) -> None:
        """The verdict table of a list of :class:`~landscope.reproduce.Check`: claim, where in
        the paper, the paper's value, ours, the computed verdict and its criterion / reason; also
        appended to ``results["checks"]``."""
        self.results.setdefault("checks", []).extend(c.as_dict() for c in checks)

        def value(v: object) -> object:
            return v if isinstance(v, (float, int, str)) else str(v)

        self.table(
            ["claim", "where", "paper", "ours", "verdict", "criterion / reason"],
            [
                [
                    c.claim,
                    c.where,
                    value(c.paper),
                    value(c.ours),
                    c.verdict.value.upper(),
                    c.criterion + (f"; {c.reason}" if c.reason else ""),
                ]
                for c in checks
            ],
        )

    def figure(self, path: Path, caption: str) -> None:
        self.sections.append(("figure", f"{Path(path).name}\n{caption}"))

    def save(self) -> dict[str, Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        md = [f"# {self.title}", ""]
        body = []
        for kind, value in self.sections:
            if kind == "figure":
                name, caption = value.split("\n", 1)
                md += [f"![{caption}]({name})", "", f"*{caption}*", ""]
                data = base64.b64encode((self.out / name).read_bytes()).decode()
                body.append(
                    f'<figure><img src="data:image/png;base64,{data}" style="max-width:100%">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
            elif kind == "table":
                md += [value, ""]
                rows = [_cells(r) for r in value.splitlines() if not r.startswith("|---")]
                cells = [
                    "<tr>" + "".join(f"<{t}>{html.escape(c)}</{t}>" for c in r) + "</tr>"
                    for t, r in (("th" if i == 0 else "td", r) for i, r in enumerate(rows))
                ]
                body.append(
                    "<table border=1 cellspacing=0 cellpadding=4>" + "".join(cells) + "</table>"
                )
            else:
                md += [value, ""]
                body.append("".join(f"<p>{html.escape(p)}</p>" for p in value.split("\n\n")))
        paths = {
            "markdown": self.out / "report.md",
            "json": self.out / "results.json",
            "html": self.out / "report.html",
        }
        paths["markdown"].write_text("\n".join(md))
        paths["json"].write_text(json.dumps(jsonable(self.results), indent=1))
        paths["html"].write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
            f"</title></head><body style='font-family:sans-serif;max-width:60em'>"
            f"<h1>{html.escape(self.title)}</h1>{''.join(body)}</body></html>"
        )
        return paths
