"""Import hygiene (STYLE.md): the core imports torch, numpy, scipy; heavy or optional
dependencies load only when used."""

import subprocess
import sys

CHECK = """
import sys
import landscope, landscope.problem, landscope.curvature, landscope.landscape, landscope.subspace
heavy = [m for m in ("matplotlib", "typer", "zarr", "pydantic") if m in sys.modules]
assert not heavy, heavy
import landscope.training, landscope.runs
assert "matplotlib" not in sys.modules and "typer" not in sys.modules
"""


def test_core_imports_stay_light():
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
