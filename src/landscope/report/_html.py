"""Building blocks of landscope's self-contained HTML pages: one stylesheet, escaped text,
tables, figures embedded as base64 PNG.  Every string that reaches the page goes through
:func:`esc` (``html.escape``, quotes included) or :func:`href`; nothing is fetched from the
network (no fonts, scripts or images from elsewhere; the favicon is an empty data URL)."""

from __future__ import annotations

import base64
import html
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CSS", "esc", "fmt_value", "href", "image_tag", "page", "png_size", "table"]

CSS = """
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg-alt: #f6f8fa;
        --accent: #0072B2; --ok: #009E73; --bad: #D55E00; --warn: #E69F00; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--fg); margin: 0; background: #fff; }
header { padding: 1.2em 2em 0.8em; border-bottom: 1px solid var(--line); background: var(--bg-alt); }
header h1 { margin: 0 0 0.2em; font-size: 1.6em; }
header p { margin: 0.1em 0; color: var(--muted); }
nav { padding: 0.5em 2em; border-bottom: 1px solid var(--line); font-size: 0.92em;
      display: flex; flex-wrap: wrap; gap: 0.2em 1.1em; }
main { max-width: 1180px; padding: 0 2em 3em; }
section { padding-top: 0.6em; border-bottom: 1px solid var(--line); padding-bottom: 1em; }
h2 { font-size: 1.3em; margin: 0.8em 0 0.2em; }
h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
a { color: var(--accent); }
p.paper { color: var(--muted); margin: 0 0 0.6em; font-style: italic; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
tr:nth-child(even) td { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv td:first-child { color: var(--muted); }
pre { background: var(--bg-alt); border: 1px solid var(--line); padding: 0.8em; overflow: auto;
      font-size: 0.85em; line-height: 1.35; max-height: 32em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.2em; }
figure { margin: 0; flex: 1 1 460px; max-width: 560px; }
figure.wide { flex-basis: 100%; max-width: 100%; }
table.kv td.num { text-align: left; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { font-size: 0.88em; color: var(--fg); margin-top: 0.3em; }
figcaption .ref { color: var(--muted); }
.files { font-size: 0.88em; color: var(--muted); }
.files a { margin-right: 0.8em; }
.badge { display: inline-block; padding: 0 0.5em; border-radius: 0.8em; font-size: 0.8em;
         font-weight: 600; color: #fff; vertical-align: middle; }
.badge.reproduced, .badge.done { background: var(--ok); }
.badge.differs, .badge.failed, .badge.error { background: var(--bad); }
.badge.not-reproducible-offline, .badge.running, .badge.missing { background: var(--warn);
         color: #1b1f24; }
.note { border-left: 4px solid var(--warn); background: #fff8e6; padding: 0.4em 0.8em; }
.error { border-left: 4px solid var(--bad); background: #fdf0ea; padding: 0.4em 0.8em; }
details summary { cursor: pointer; color: var(--muted); font-size: 0.92em; }
footer { color: var(--muted); font-size: 0.85em; padding: 1em 2em; }
"""


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def href(path: str | Path) -> str:
    """A relative link to ``path`` (percent-encoded, then escaped for an attribute)."""
    return esc(urllib.parse.quote(Path(path).as_posix()))


def fmt_value(value: Any) -> str:
    """A number or value as a table cell shows it (4 significant digits for floats)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(fmt_value(v) for v in list(value)[:8])
        return f"[{shown}{', ...' if len(value) > 8 else ''}]"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def table(
    header: Sequence[str] | None,
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    raw_columns: Sequence[int] = (),
) -> str:
    """An HTML table; cells are formatted with :func:`fmt_value` and escaped, except the
    columns in ``raw_columns`` (already-built, escaped HTML such as a badge)."""

    def cell(i: int, v: Any) -> str:
        if i in raw_columns:
            return f"<td>{v}</td>"
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        return f"<td{' class=num' if numeric else ''}>{esc(fmt_value(v))}</td>"

    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table{f' class={esc(cls)}' if cls else ''}>{head}{body}</table>"


def png_size(png: Path) -> tuple[int, int] | None:
    """``(width, height)`` in pixels from a PNG's header, or None when it is not a PNG."""
    head = Path(png).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def image_tag(png: Path, alt: str) -> str:
    """``<img>`` with the PNG embedded as a base64 data URL."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" loading="eager">'


def page(title: str, body: str, *, subtitle: Sequence[str] = (), nav: Sequence[tuple] = ()) -> str:
    """A complete HTML document: header (title, subtitle lines), a table of contents of
    ``(anchor, label)`` pairs, the (already escaped) body and the stylesheet inline."""
    links = " ".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in nav)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><link rel='icon' href='data:,'>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>"
        + "".join(f"<p>{esc(line)}</p>" for line in subtitle)
        + "</header>"
        + (f"<nav>{links}</nav>" if links else "")
        + f"<main>{body}</main>"
        "<footer>Written by landscope; self-contained (figures embedded, nothing loaded from "
        "the network). Links to raw data are relative to the run folder.</footer>"
        "</body></html>\n"
    )
