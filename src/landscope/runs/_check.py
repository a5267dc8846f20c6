"""Checking a run folder's chunk files: presence, size, decoding, checksums, finite parameters.

Three levels, each including the one before:

1. ``size``: every chunk file holding committed rows exists and has the right size (a stat per
   raw chunk, a 16-byte header read per Blosc chunk).  Cheap: run when a run is opened, and on
   the chunks a read touches before every read (:meth:`Run.read`).
2. ``decode``: every such chunk decodes to the chunk's bytes, the steps of each series increase
   strictly, and ``params`` / ``updates`` hold finite numbers (a NaN row is a diverged run or
   damaged data; either way no analysis should use it silently).
3. ``checksums``: the crc32 of each chunk's committed rows equals the one the writer recorded in
   ``series/<name>/checksums.json`` when it wrote the chunk (store version 2; chunks written by
   an older landscope have none and are counted as unverified).

``landscope runs check RUN_DIR [--checksums]`` runs level 2 or 3 and lists every problem.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from landscope.runs import _format as fmt

__all__ = ["ChunkProblem", "RunCheck", "check_chunks", "scan_sizes"]

#: Series whose rows must be finite (theta and its updates); other series (a loss) may be NaN.
FINITE_SERIES = ("params", "updates")


@dataclasses.dataclass(frozen=True)
class ChunkProblem:
    """One damaged chunk file (or finding) of a run folder.

    Attributes:
        series: the series name.
        kind: ``"values"`` or ``"steps"``.
        file: the chunk file.
        problem: what is wrong ("missing", "truncated: 300 of 7044000 bytes", ...).
        rows: the committed rows ``(first, last)`` the chunk holds.
        steps: the steps ``(first, last)`` of those rows, when the steps are readable.
    """

    series: str
    kind: str
    file: Path
    problem: str
    rows: tuple[int, int]
    steps: tuple[int, int] | None = None
    #: the whole message, for findings that are not a damaged file (non-finite rows)
    sentence: str | None = None

    def affected(self) -> str:
        a, b = self.rows
        n = b - a + 1
        rows = f"{n} row{'s' if n != 1 else ''}"
        if self.steps is None:
            return f"rows {a}..{b} ({rows}; their steps are unknown)"
        s0, s1 = self.steps
        return f"step {s0}" if s0 == s1 else f"steps {s0}..{s1} ({rows})"

    def message(self) -> str:
        """One line: the file, the problem, the series and the steps it costs."""
        if self.sentence is not None:
            return self.sentence
        what = "the steps of" if self.kind == "steps" else "the records of"
        where = f"{what} series {self.series!r} at {self.affected()}"
        if self.problem == "missing":
            return f"chunk file {self.file} is missing: {where} are lost"
        damaged = f"chunk file {self.file} is damaged ({self.problem})"
        if self.problem.startswith("checksum mismatch"):  # it reads, but not as written
            return f"{damaged}: {where} are not what was written"
        return f"{damaged}: {where} cannot be read"

    def error(self) -> fmt.DamagedRunError:
        return fmt.DamagedRunError(self.message())


@dataclasses.dataclass
class RunCheck:
    """The result of :meth:`Run.check`.

    Attributes:
        path: the run folder.
        level: ``"size"``, ``"decode"`` or ``"checksums"``.
        problems: every damaged chunk file (and non-finite params rows), in series order.
        chunks: chunk files checked.
        verified: chunks whose checksum matched (level ``"checksums"``).
        unverified: chunks with no recorded checksum (written by a store before version 2).
    """

    path: Path
    level: str
    problems: list[ChunkProblem] = dataclasses.field(default_factory=list)
    chunks: int = 0
    verified: int = 0
    unverified: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _grids(run, name: str) -> dict[str, fmt.ChunkGrid]:
    return {kind: run._grid(name, kind) for kind in ("steps", "values")}


def _steps_of(run, name: str, rows: tuple[int, int]) -> tuple[int, int] | None:
    """The steps of rows ``[a, b)`` of ``name`` when its steps are readable, else None."""
    try:
        steps = run.steps(name)
    except fmt.DamagedRunError:
        return None
    a, b = rows
    return int(steps[a]), int(steps[b - 1])


def problem_at(run, name: str, grid: fmt.ChunkGrid, row_chunk: int, block: int, what: str):
    a, b = grid.row_range(row_chunk)
    steps = _steps_of(run, name, (a, b)) if grid.kind == "values" else None
    return ChunkProblem(name, grid.kind, grid.path(row_chunk, block), what, (a, b - 1), steps)


def scan_sizes(run) -> list[ChunkProblem]:
    """Level 1 over every committed chunk of every series (run when a run is opened)."""
    found = []
    for name in run.series():
        for grid in _grids(run, name).values():
            for c in range(grid.num_row_chunks):
                for j in range(grid.blocks):
                    what = grid.size_problem(grid.path(c, j))
                    if what is not None:
                        found.append(problem_at(run, name, grid, c, j, what))
    return found


def check_chunks(run, *, checksums: bool = False) -> RunCheck:
    """Levels 2 (``checksums=False``) or 3 over every committed chunk; see the module doc."""
    report = RunCheck(run.path, "checksums" if checksums else "decode")
    for name in run.series():
        sums = fmt.read_checksums(fmt.series_path(run.path, name)) if checksums else None
        for kind, grid in _grids(run, name).items():
            for c in range(grid.num_row_chunks):
                a, b = grid.row_range(c)
                for j in range(grid.blocks):
                    report.chunks += 1
                    path = grid.path(c, j)
                    what = grid.size_problem(path)
                    data = None
                    if what is None:
                        try:
                            data = grid.decode(path).reshape(grid.chunk_rows, grid.row_bytes)
                        except Exception as exc:  # any codec error: the chunk does not decode
                            what = f"does not decode: {exc}"
                    if what is None and sums is not None:
                        entry = sums[kind].get(grid.key(c, j))
                        if entry is None:
                            report.unverified += 1
                        elif fmt.crc32_rows(data, int(entry[0])) != int(entry[1]):
                            what = "checksum mismatch: its bytes changed after it was written"
                        else:
                            report.verified += 1
                    if what is not None:
                        report.problems.append(problem_at(run, name, grid, c, j, what))
                    elif kind == "values" and name in FINITE_SERIES:
                        report.problems += _non_finite(run, name, grid, c, j, data, (a, b))
            if kind == "steps" and not any(
                p.series == name and p.kind == "steps" for p in report.problems
            ):
                report.problems += _unordered_steps(run, name, grid)
    return report


def _non_finite(run, name, grid, c, j, data, rows) -> list[ChunkProblem]:
    a, b = rows
    dtype = run.info(name)["dtype"]
    if dtype.kind not in "fc":
        return []
    values = data[: b - a].reshape(-1).view(dtype).reshape(b - a, -1)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if not bad.size:
        return []
    steps = run.steps(name)[a + bad]
    listed = ", ".join(str(int(s)) for s in steps[:5]) + (" ..." if bad.size > 5 else "")
    path = grid.path(c, j)
    return [
        ChunkProblem(
            name,
            "values",
            path,
            "non-finite values",
            (a + int(bad[0]), a + int(bad[-1])),
            (int(steps[0]), int(steps[-1])),
            sentence=f"series {name!r} holds non-finite values (NaN or inf) at {bad.size} "
            f"step{'s' if bad.size > 1 else ''} ({listed}) in chunk file {path}: a diverged run, "
            "or damaged data",
        )
    ]


def _unordered_steps(run, name, grid) -> list[ChunkProblem]:
    """The steps of ``name`` decode but do not increase (a chunk of the same size with other
    bytes)."""
    try:
        run.steps(name)
    except fmt.DamagedRunError as exc:
        rows = (0, max(grid.rows - 1, 0))
        return [ChunkProblem(name, "steps", grid.folder, "unordered", rows, sentence=str(exc))]
    return []
