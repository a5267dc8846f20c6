"""The trajectory store: crash-safe, appendable records of a training run in a run folder.

A writer appends step-tagged rows (parameters, updates, losses, ...) to named series; a
reader opens the folder, also while the writer is running, and reads rows by step, layer or
column, touching only the chunks it needs.
"""

from landscope.runs._run import Run, open_run
from landscope.runs._store import TrajectoryWriter

__all__ = [
    # writing
    "TrajectoryWriter",
    # reading
    "Run",
    "open_run",
]
