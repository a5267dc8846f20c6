"""The Goodfellow et al. reproduction scripts added for the LSTM and maxout figures run with
--quick and every paper claim they check passes (they exit non-zero on a FAIL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent.parent / "experiments" / "goodfellow"


@pytest.mark.parametrize("script", ["fig08_16_lstm.py", "fig01_18_19_maxout.py"])
def test_script_quick_passes(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, script, "--quick", "--out", str(tmp_path)],
        cwd=SCRIPTS,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout and r.stdout.count("PASS") >= 4
    assert list((tmp_path / "quick" / "figures").glob("*.png"))
