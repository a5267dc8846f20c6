"""The README's Python code blocks run as written, in order, in one namespace (as a reader
would paste them), in a scratch folder holding the quickstart config."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_blocks():
    assert len(_python_blocks((ROOT / "README.md").read_text())) >= 3


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    (tmp_path / "experiments").mkdir()
    shutil.copy(ROOT / "experiments" / "quickstart.yaml", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(_python_blocks((ROOT / "README.md").read_text())):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"README python block {i + 1} failed: {exc!r}\n{block}") from exc
