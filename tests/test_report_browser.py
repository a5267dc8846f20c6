"""A generated report opened in a real browser: Debian's chromium driven headless by Playwright
(``executable_path`` = the system chromium, so nothing is downloaded at run time).  Every image
decodes, the page logs no console error, a ``<script>`` in the config shows as text (and does
not run), and a screenshot is saved in the test's temporary folder.

``.ci/run`` installs chromium with apt-get when it is missing and sets
``LANDSCOPE_REQUIRE_BROWSER=1``: there a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import landscope
from landscope.pipeline import run_pipeline

PAYLOAD = "<script>window.__pwned = 1; console.error('pwned')</script>"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _browser_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "playwright (pip install 'landscope[browser]')"
    else:
        executable = _chromium()
        if executable is not None:
            return executable
        missing = "chromium (apt-get install chromium)"
    if os.environ.get("LANDSCOPE_REQUIRE_BROWSER"):
        pytest.fail(f"LANDSCOPE_REQUIRE_BROWSER is set but {missing} is missing")
    pytest.skip(f"no browser test: {missing} is not installed")


def test_report_in_headless_chromium(tmp_path):
    executable = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    config = {
        "name": "browser",
        "notes": f"a note with {PAYLOAD}",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [8]}},
        "training": {"steps": 20, "batch_size": 16},
        "record": {"eval": {"every": 5}},
        "pipeline": {
            "analyses": {
                "hessian": {"top_k": 3, "trace_probes": 4, "density_probes": 2,
                            "lanczos_steps": 8},
                "interpolation": {"num": 7},
            }
        },
    }  # fmt: skip
    result = run_pipeline(config, tmp_path / "run", progress=False)
    assert not result.failed
    report = result.report
    messages: list[str] = []
    failed_requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: failed_requests.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            note = page.inner_text("#config pre")
            pwned = page.evaluate("window.__pwned === undefined")
            scripts = page.evaluate("document.scripts.length")
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    # training curves + 3 Hessian figures + 2 interpolation figures, all decoded
    assert len(images) == 6, images
    assert all(complete and w > 0 and h > 0 for complete, w, h in images), images
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    assert not failed_requests, failed_requests
    assert PAYLOAD in note  # the config's string shows as text ...
    assert pwned and scripts == 0  # ... and never ran
    assert width <= 1280  # nothing wider than the window
    shot = tmp_path / "report.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert landscope.__version__ in report.read_text()
