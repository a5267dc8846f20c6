"""Training runs on disk: crash-safe, appendable records in a run folder, and the run service.

A writer appends step-tagged rows (parameters, updates, losses, ...) to named series
(:class:`Series`); a reader (:class:`Run`) opens the folder, also while the writer is running,
and reads rows by step, layer or column, touching only the chunks it needs.  The same
:class:`Run` is the run service every analysis uses: :meth:`Run.problems` rebuilds the run's
problems (in another dtype or on another device), :meth:`Run.theta` / :meth:`Run.thetas` /
:meth:`Run.iter_thetas` give theta at recorded steps as tensors.

Example (a run folder written by ``landscope train``)::

    run = landscope.open_run("runs/quickstart")
    train, test = run.problems(dtype="float64")
    theta = run.theta("last", like=train)          # (p,) tensor on train's device and dtype
    for steps, block in run.iter_thetas(run.select_steps(every=10), like=train):
        ...                                        # (b, p) blocks of theta(t)

A damaged run folder (a chunk file deleted, truncated or changed) is never read as data: the
reads that need the damaged chunk raise :class:`DamagedRunError` naming the file, the series
and the steps; :meth:`Run.check` (``landscope runs check``) checks every chunk.
"""

from landscope.runs._check import ChunkProblem, RunCheck
from landscope.runs._format import (
    COMPRESSIONS,
    DamagedRunError,
    RunExistsError,
    RunLockedError,
)
from landscope.runs._run import Run, open_run
from landscope.runs._series import Series, analysis_series
from landscope.runs._store import TrajectoryWriter, owned_by_run
from landscope.runs._weights import load_run_weights

__all__ = [
    # the format
    "Series",
    "analysis_series",
    "COMPRESSIONS",
    # writing
    "TrajectoryWriter",
    "owned_by_run",
    # reading, and the run service (problems, theta at a step)
    "Run",
    "open_run",
    "load_run_weights",
    # integrity: every reader raises DamagedRunError rather than read a damaged chunk
    "DamagedRunError",
    "RunCheck",
    "ChunkProblem",
    # errors of writers
    "RunExistsError",
    "RunLockedError",
]
