"""The HTML report of a run (``landscope report``) and the catalog summary (``landscope reproduce
all``): every user string escaped, figures embedded, nothing fetched from the network, a section
per analysis folder with its status, links that resolve to the raw files."""

from __future__ import annotations

import base64
import json
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

import landscope
from landscope.pipeline import ANALYSES_DIR, STEP_FILE
from landscope.plotting import (
    SavedFigure,
    new_figure,
    save_figure_formats,
    style_context,
    write_figure_index,
)
from landscope.report import write_report

EVIL = "<script>window.__pwned = 1</script>"
CONFIG = {
    "name": "report-<b>test</b>",
    "notes": f"notes with {EVIL} & 'quotes'",
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [6]}},
    "training": {"steps": 12, "batch_size": 16},
    "record": {"eval": {"every": 4}},
}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _png(folder: Path, stem: str) -> SavedFigure:
    with style_context():
        fig = new_figure(3, 2)
        fig.subplots().plot([0, 1], [1, 0])
        png, svg = save_figure_formats(fig, folder / stem)
    return SavedFigure(png.name, f"a caption with {EVIL}", "Paper <i>Fig. 1</i>", svg.name)


def write_analysis(run_dir: Path, name: str, *, status: str = "done", results: bool = True):
    folder = run_dir / ANALYSES_DIR / name
    folder.mkdir(parents=True)
    step = {"analysis": name, "status": status, "hash": "0" * 64, "settings": {}}
    if status == "failed":
        step["error"] = f"ValueError: bad {EVIL}"
    (folder / STEP_FILE).write_text(json.dumps(step))
    if results:
        (folder / "results.json").write_text(
            json.dumps(
                {
                    "analysis": name,
                    "title": f"Title <img src=x onerror=alert(1)> of {name}",
                    "paper": f"Someone {EVIL}",
                    "settings": {"k": 3, "<key>": "<value>"},
                    "summary": {"lambda_1": 1.234567, f"<b>{name}</b>": EVIL, "ok": True},
                    "provenance": {"run": str(run_dir), "steps": [0, 12], "seconds": 0.5},
                }
            )
        )
        (folder / "data <1>.csv").write_text("a,b\n1,2\n")
        write_figure_index(folder, [_png(folder, "figure_one")])
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("report") / "run"
    landscope.train(CONFIG, run_dir, progress=False)
    write_analysis(run_dir, "alpha")
    write_analysis(run_dir, "broken", status="failed", results=False)
    write_analysis(run_dir, "halfway", status="running", results=False)
    odd = write_analysis(run_dir, "odd", results=False)  # another helper's unusual results
    (odd / "results.json").write_text(
        json.dumps({"title": "Odd", "summary": {"x": 1}, "provenance": {"seconds": {"total": 2.5}}})
    )
    garbled = write_analysis(run_dir, "garbled", results=False)
    (garbled / "figures.json").write_text('[{"no": "such field"}]')
    path = write_report(run_dir)
    return run_dir, path, path.read_text()


def test_every_user_string_is_escaped(report):
    _, _, html = report
    assert "<script" not in html.lower()  # the page has no script at all: all of them are text
    assert "onerror" not in [a for _, attrs in _tags(html) for a in attrs]
    assert "i" not in [t for t, _ in _tags(html)]  # <i> from the data is text
    assert html.count("<b>") == html.count("<b>Figure ")  # the only <b> are figure numbers
    assert html.count("&lt;script&gt;window.__pwned = 1&lt;/script&gt;") >= 5
    assert "report-&lt;b&gt;test&lt;/b&gt;" in html  # the config's name (title)
    assert "&lt;b&gt;alpha&lt;/b&gt;" in html  # a summary key
    assert "&lt;key&gt;" in html and "&lt;value&gt;" in html  # settings


def test_figures_are_embedded_and_nothing_is_fetched(report):
    run_dir, _, html = report
    tags = _tags(html)
    images = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(images) == 2  # training curves + the analysis' figure
    expected = [
        (run_dir / "report_figures" / "training_curves.png").read_bytes(),
        (run_dir / ANALYSES_DIR / "alpha" / "figure_one.png").read_bytes(),
    ]
    for src, data in zip(images, expected, strict=True):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == data
    assert (run_dir / "report_figures" / "training_curves.svg").exists()  # for papers
    for tag, attrs in tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, value)
        if tag == "link":
            assert attrs["href"].startswith("data:")
    # every relative link resolves to a file of the run folder
    links = [a["href"] for t, a in tags if t == "a" and not a["href"].startswith("#")]
    assert "analyses/alpha/data%20%3C1%3E.csv" in links
    for link in links:
        assert (run_dir / urllib.parse.unquote(link)).is_file(), link
    anchors = {a["href"][1:] for t, a in tags if t == "a" and a["href"].startswith("#")}
    ids = {a["id"] for _, a in tags if "id" in a}
    assert anchors <= ids


def test_a_section_per_analysis_folder_with_its_status(report):
    _, _, html = report
    for name in ("alpha", "broken", "halfway"):
        assert f"id='analysis-{name}'" in html
    assert "This analysis failed: ValueError: bad &lt;script&gt;" in html
    assert "interrupted before it finished" in html
    assert "lambda_1</td><td class=num>1.235" in html  # summary numbers, 4 significant digits
    assert "Computed in 2.5 s" in html  # the "total" of a dict of times
    assert "This folder could not be shown: TypeError" in html  # a bad figures.json: one box
    assert "(cf. Paper &lt;i&gt;Fig. 1&lt;/i&gt;)" in html  # the paper figure beside the caption
    assert "train_loss" in html and "Figure 1." in html and "Figure 2." in html


def test_report_without_analyses_says_so(tmp_path):
    run_dir = tmp_path / "run"
    landscope.train({**CONFIG, "name": "plain"}, run_dir, progress=False)
    html = write_report(run_dir, tmp_path / "elsewhere.html").read_text()
    assert "No analysis folders" in html and "landscope report: plain" in html


# --- the catalog summary -----------------------------------------------------------------------


def _record(name, paper, checks, status="ok", error=None):
    from landscope.reproduce._summary import deviation

    return {
        "name": name,
        "paper": paper,
        "items": "Fig. 1",
        "description": "d",
        "expected_minutes": 0.5,
        "folder": name,
        "status": status,
        "error": error,
        "seconds": 12.0,
        "checks": [{**c, "deviation": deviation(c["paper"], c["ours"])} for c in checks],
    }


def _check(verdict, paper, ours, claim="a claim"):
    return {"claim": claim, "where": "Fig. 1", "paper": paper, "ours": ours, "verdict": verdict,
            "criterion": "|ours - paper| <= 0.1", "reason": "" if verdict == "reproduced" else "r"}  # fmt: skip


def test_deviation():
    from landscope.reproduce._summary import deviation

    assert deviation(0.96, 0.9) == pytest.approx({"absolute": -0.06, "relative": -0.0625})
    assert deviation(0, 0.5) == {"absolute": 0.5, "relative": None}
    assert deviation("k - 1 = 9", 9) is None and deviation(1.0, float("nan")) is None
    assert deviation(True, 1) is None  # a yes/no is not a number


def test_summary_lists_every_check_with_deviation_and_verdict(tmp_path):
    from landscope.reproduce._summary import write_summary

    records = [
        _record("gurari-x", "Gur-Ari, Roberts & Dyer 2018",
                [_check("reproduced", 1.0, 1.05), _check("differs", 0.96, 0.5, claim=EVIL)]),
        _record("goodfellow-y", "Goodfellow, Vinyals & Saxe 2015",
                [_check("not reproducible offline", "MNIST", None)]),
        _record("goodfellow-z", "Goodfellow, Vinyals & Saxe 2015", [], status="error",
                error="RuntimeError: <boom>"),
    ]  # fmt: skip
    s = write_summary(tmp_path, records, quick=True, seconds=90.0)
    assert s["verdicts"] == {"reproduced": 1, "differs": 1, "not reproducible offline": 1}
    assert s["errors"] == ["goodfellow-z"] and s["checks"] == 3
    papers = {p["paper"].split(" ")[0]: p for p in s["papers"]}
    assert papers["Gur-Ari,"]["checks"] == 2 and papers["Haink"]["entries"] == []
    assert json.loads((tmp_path / "summary.json").read_text())["verdicts"] == s["verdicts"]
    md = (tmp_path / "summary.md").read_text()
    assert "| gurari-x | Fig. 1 | a claim | 1.000 | 1.050 | +0.05 (+5.0%) | REPRODUCED |" in md
    assert "-0.46 (-47.9%) | DIFFERS | \\|ours - paper\\| <= 0.1; r |" in md
    assert "goodfellow-z" in md and "RuntimeError: <boom>" in md
    assert "No entry of this paper was run" in md  # Haink, Fjellstrom here
    html = (tmp_path / "summary.html").read_text()
    assert "<script" not in html.lower() and "&lt;boom&gt;" in html
    assert html.count("class='badge reproduced'") == 2  # entries table + the paper's table
    assert "class='badge not-reproducible-offline'" in html


def test_reproduce_all_runs_every_entry_and_survives_a_failure(tmp_path, monkeypatch):
    from landscope.reproduce import Reproduction, _summary, check

    def good(out, *, quick, progress):
        c = check("x > 0", "Table 1", paper=1.0, ours=0.9, holds=True, criterion="ours > 0")
        return {"checks": [c.as_dict()]}

    def bad(out, *, quick, progress):
        raise RuntimeError("no data")

    entries = [
        Reproduction("haink-a", "Haink 2023", "Fig. 6.1", "d", bad, minutes=(0.1, 1)),
        Reproduction("haink-b", "Haink 2023", "Fig. 6.2", "d", good, minutes=(0.1, 1)),
    ]
    monkeypatch.setattr(_summary, "catalog", lambda: entries)
    s = _summary.run_all(tmp_path, quick=True, progress=False)
    assert s["entries_run"] == ["haink-a", "haink-b"] and s["errors"] == ["haink-a"]
    assert s["entries"][1]["checks"][0]["deviation"] == pytest.approx(
        {"absolute": -0.1, "relative": -0.1}
    )
    assert "Traceback" in s["entries"][0]["traceback"]
    assert (tmp_path / "summary.html").exists() and (tmp_path / "summary.md").exists()


def test_reproduce_list_names_the_summary_command():
    from typer.testing import CliRunner

    from landscope.cli._app import _register_all, app

    _register_all()
    res = CliRunner().invoke(app, ["reproduce", "--list"])
    assert res.exit_code == 0 and "landscope reproduce all [--quick]" in res.output, res.output
