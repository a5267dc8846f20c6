"""Reading a run folder: the committed rows of each series, by step, layer or column.

A :class:`Run` may be opened while a writer (in another process) is still appending:
it only ever reads rows below the committed lengths of ``committed.json``;
:meth:`Run.refresh` picks up rows committed since.

Nothing damaged is ever read as data: before each read the chunk files it touches are checked
for presence and size (zarr would read a missing chunk as zeros), a chunk that does not decode
and steps that do not increase are errors, and each names the file, the series and the steps
(:class:`~landscope.runs.DamagedRunError`).  :meth:`Run.check` checks every chunk.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscope.problem import ParameterLayout
from landscope.runs import _format as fmt
from landscope.runs._check import ChunkProblem, RunCheck, check_chunks, problem_at, scan_sizes
from landscope.runs._series import Series

if TYPE_CHECKING:
    import torch

    from landscope.config import RunConfig
    from landscope.problem import Problem

__all__ = ["Run", "open_run"]


def open_run(path: str | Path) -> Run:
    """Open the run folder ``path`` for reading.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a run folder; the message names
            what is missing.
        DamagedRunError: ``meta.json`` or ``committed.json`` is damaged (not valid JSON).
    """
    return Run(path)


class Run:
    """The records of one run folder (read-only).

    Attributes:
        path: the run folder.
        meta: ``meta.json`` (the resolved config, versions, parameter layout, ...).
        config: ``meta["config"]`` (an empty dict when the run has none).
        layout: the :class:`~landscope.problem.ParameterLayout` of ``meta["layout"]``, or None.
        damage: the chunk files found missing or of the wrong size when the run was opened (or
            last refreshed): a stat per chunk file, cheap; reads of their rows raise
            :class:`~landscope.runs.DamagedRunError`.  :meth:`check` looks deeper.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        fmt.check_run_folder(self.path)
        self.meta: dict = fmt.read_json_file(self.path / fmt.META)
        if not isinstance(self.meta, dict):
            raise fmt.DamagedRunError(f"{self.path / fmt.META} is damaged (not a JSON object)")
        self._arrays: dict[tuple[str, str], Any] = {}
        self.refresh()

    @property
    def config(self) -> dict:
        return self.meta.get("config", {})

    @functools.cached_property
    def layout(self) -> ParameterLayout | None:
        entries = self.meta.get("layout")
        return None if entries is None else ParameterLayout.from_dicts(entries)

    def refresh(self) -> Run:
        """Re-read the committed lengths (rows committed by a running writer since)."""
        self._committed = fmt.read_committed(self.path)["series"]
        self._steps: dict[str, np.ndarray] = {}
        self._grids: dict[tuple[str, str], fmt.ChunkGrid] = {}
        self.damage: list[ChunkProblem] = scan_sizes(self)
        return self

    def check(self, *, checksums: bool = False) -> RunCheck:
        """Check every committed chunk file: presence, size, that it decodes, that each series'
        steps increase and that ``params`` / ``updates`` are finite; with ``checksums`` also
        the crc32 the writer recorded (store version 2).  Reads every chunk once.

        Returns:
            a :class:`~landscope.runs.RunCheck`: ``problems`` (one line each with
            ``message()``), ``ok``, the numbers of chunks checked and checksums verified.
        """
        return check_chunks(self, checksums=checksums)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {len(self._committed)} series)"

    # --- what is there ------------------------------------------------------------------------
    def series(self) -> list[str]:
        """Names of the series, in the order they were declared."""
        return list(self._committed)

    def __contains__(self, name: object) -> bool:
        return name in self._committed

    def info(self, name: str) -> dict:
        """Declaration of series ``name``: rows, shape, dtype, chunking, description."""
        entry = self._entry(name)
        return {**entry, "shape": tuple(entry["shape"]), "dtype": np.dtype(entry["dtype"])}

    def num_rows(self, name: str) -> int:
        """Committed rows of series ``name``."""
        return int(self._entry(name)["rows"])

    def steps(self, name: str) -> np.ndarray:
        """The steps of the committed rows of ``name``: int64, shape (rows,), strictly increasing."""
        if name not in self._steps:
            n = self.num_rows(name)
            grid = self._grid(name, "steps")
            steps = (
                self._checked_read(name, "steps", range(grid.num_row_chunks), range(1), slice(0, n))
                if n
                else np.zeros(0, dtype=np.int64)
            )
            steps = np.asarray(steps, dtype=np.int64)
            back = np.flatnonzero(np.diff(steps) <= 0)
            if back.size:  # a damaged steps chunk (same size, other bytes): say which
                row = int(back[0]) + 1
                c = row // grid.chunk_rows
                raise ChunkProblem(
                    name,
                    "steps",
                    grid.path(c, 0),
                    f"steps do not increase: step {int(steps[row])} at row {row} follows "
                    f"{int(steps[row - 1])}",
                    (c * grid.chunk_rows, grid.row_range(c)[1] - 1),
                ).error()
            steps.flags.writeable = False
            self._steps[name] = steps
        return self._steps[name]

    # --- reading ------------------------------------------------------------------------------
    def read(
        self,
        name: str,
        *,
        steps: slice | Sequence[int] | np.ndarray | None = None,
        start: int | None = None,
        stop: int | None = None,
        columns: slice | Sequence[int] | np.ndarray | None = None,
        layer: str | None = None,
    ) -> np.ndarray:
        """Rows of series ``name`` selected by step, optionally only some columns.

        Only the chunks holding the selected rows and columns are read.

        Args:
            name: the series.
            steps: a sequence of recorded steps (rows come back in that order; a step that was
                not recorded is an error), or a ``slice(a, b, k)`` of step values: the recorded
                steps in ``range(a, b, k)``.  Not together with ``start`` / ``stop``.
            start, stop: the rows whose step is in ``[start, stop)`` (either may be omitted).
            columns: a slice, integer indices or a boolean mask along the first record axis.
            layer: the columns of one layer's parameters (a module name of :attr:`layout`);
                for series of records of shape (num_params,).

        Returns:
            array of shape (rows, *record shape), columns selected; the series' dtype.
        """
        entry = self._entry(name)
        shape = tuple(entry["shape"])
        dtype = np.dtype(entry["dtype"])
        rows = self._select_rows(name, steps, start, stop)
        cols = self._select_columns(name, shape, columns, layer)
        return self._read_rows(name, rows, cols, shape, dtype)

    def _read_rows(self, name, rows, cols, shape, dtype) -> np.ndarray:
        """Rows (a slice or sorted-or-not indices) and columns of ``name``'s values, after
        checking the chunk files they live in."""
        rest = (slice(None),) * max(len(shape) - 1, 0)
        grid = self._grid(name, "values")
        if isinstance(rows, slice):
            if rows.stop <= rows.start:
                return np.zeros((0, *_selected_shape(shape, cols)), dtype=dtype)
            chunks = range(rows.start // grid.chunk_rows, (rows.stop - 1) // grid.chunk_rows + 1)
            blocks = grid.blocks_of(cols)
            if cols is None:
                sel = (rows, *(slice(None),) * len(shape))
                return self._checked_read(name, "values", chunks, blocks, sel)
            if isinstance(cols, slice):
                return self._checked_read(name, "values", chunks, blocks, (rows, cols, *rest))
            return self._checked_read(name, "values", chunks, blocks, (rows, cols, *rest), True)
        if rows.size == 0:
            return np.zeros((0, *_selected_shape(shape, cols)), dtype=dtype)
        unique, inverse = np.unique(rows, return_inverse=True)
        sel = (
            (unique,)
            if cols is None and not shape
            else (unique, slice(None) if cols is None else cols, *rest)
        )
        chunks = np.unique(unique // grid.chunk_rows)
        out = self._checked_read(name, "values", chunks, grid.blocks_of(cols), sel, True)
        return (
            out
            if unique.size == rows.size and np.array_equal(unique, rows)
            else out[inverse.reshape(-1)]
        )

    def _checked_read(self, name, kind, chunks, blocks, selection, orthogonal=False):
        """``array[selection]`` of ``name``'s ``kind`` array, after checking that the chunk
        files ``chunks`` x ``blocks`` it touches exist with the right size; a chunk that then
        fails to decode is named too (:class:`DamagedRunError`)."""
        grid = self._grid(name, kind)
        for c in chunks:
            for j in blocks:
                what = grid.size_problem(grid.path(int(c), int(j)))
                if what is not None:
                    raise problem_at(self, name, grid, int(c), int(j), what).error()
        array = self._array(name, kind, grid.rows)
        try:
            if orthogonal:
                return np.asarray(array.get_orthogonal_selection(selection))
            return np.asarray(array[selection])
        except Exception as exc:  # a codec or shape error: find the chunk that does not decode
            for c in chunks:
                for j in blocks:
                    try:
                        grid.decode(grid.path(int(c), int(j)))
                    except Exception as bad:
                        what = f"does not decode: {bad}"
                        raise problem_at(self, name, grid, int(c), int(j), what).error() from exc
            raise

    def read_json(self, name: str) -> Any:
        """A JSON file of the run folder (``.json`` added if missing), e.g. ``summary.json``."""
        path = self.path / fmt.json_file_name(name)
        if not path.exists():
            have = sorted(p.name for p in self.path.glob("*.json"))
            raise FileNotFoundError(
                f"{path.name} is not in run {self.path}; JSON files there: {have}"
            )
        return fmt.read_json_file(path)

    def load_checkpoint(self, *, weights_only: bool = True) -> dict | None:
        """The run's latest training checkpoint (tensors on the CPU), or None."""
        from landscope.runs._store import _load_checkpoint

        return _load_checkpoint(self.path, weights_only=weights_only)

    def summary(self) -> dict:
        """What the run holds: per series rows, step range, shape, dtype, bytes on disk."""
        series = {}
        for name, entry in self._committed.items():
            n = int(entry["rows"])
            try:
                steps = self.steps(name)
            except fmt.DamagedRunError:
                steps = None  # listed in "damage"
            series[name] = {
                "rows": n,
                "first_step": int(steps[0]) if n and steps is not None else None,
                "last_step": int(steps[n - 1]) if n and steps is not None else None,
                "shape": list(entry["shape"]),
                "dtype": np.dtype(entry["dtype"]).name,
                "bytes": fmt.folder_bytes(fmt.series_path(self.path, name)),
                "description": entry.get("description", ""),
            }
        summary_file = self.path / "summary.json"
        return {
            "path": str(self.path),
            "series": series,
            "bytes_on_disk": fmt.folder_bytes(self.path),
            "has_checkpoint": (self.path / fmt.CHECKPOINT).exists(),
            "summary": fmt.read_json_file(summary_file) if summary_file.exists() else None,
            "damage": [p.message() for p in self.damage],
        }

    # --- the run as a problem: the run service ----------------------------------------------
    # Every analysis of a recorded run (the CLI, the reproductions, offline subspace / landscape /
    # spectrum analyses) goes through these: the run's problems rebuilt from its config, theta
    # at a step, thetas over steps, in the caller's dtype and device.

    def run_config(self, **overrides: Any) -> RunConfig:
        """The run's config, validated (``overrides``: top-level fields such as ``dtype``,
        ``device``), as a :class:`~landscope.config.RunConfig`.

        Raises:
            ValueError: the run has no config in ``meta.json`` (not written by ``train``).
        """
        from landscope.config import load_config

        if not self.config:
            raise ValueError(
                f"run {self.path} has no config in {fmt.META}; it was not written by train"
            )
        cfg = load_config(self.config)
        return cfg.model_copy(update=overrides) if overrides else cfg

    def problems(
        self,
        *,
        dtype: str | None = None,
        device: str | None = None,
        dataset: Any = None,
        model: Any = None,
    ) -> tuple[Problem, Problem | None]:
        """``(train_problem, test_problem)`` of this run, rebuilt from its config: a fresh model
        (its parameters are the run's step 0 until a theta is passed), the same data, loss and
        chunking; ``test_problem`` is ``None`` without a test split.

        Args:
            dtype: ``"float32"`` / ``"float64"`` instead of the run's dtype (e.g. float64 for a
                dense Hessian of a float32 run).
            device: ``"cpu"``, ``"cuda"``, ... instead of the run's device.
            dataset: an already built :class:`~landscope.data.SplitDataset` of this config
                (skips rebuilding it), or the dataset a run trained on your own data used.
            model: the ``nn.Module`` of a run trained on your own model (``train(...,
                model=m)``): the config does not describe it.  Its parameter layout must be the
                run's.

        Raises:
            ValueError: the rebuilt (or given) model's parameter layout differs from the one
                recorded in ``meta.json`` (e.g. the run was trained on a model the config does
                not describe and ``model`` was not given).
        """
        from landscope.config import build_problems

        overrides = {k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None}
        if "dtype" in overrides and overrides["dtype"] not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        train, test = build_problems(self.run_config(**overrides), dataset=dataset, model=model)
        if self.layout is not None and train.layout.to_dicts() != self.layout.to_dicts():
            raise ValueError(
                f"the model rebuilt from the config of run {self.path} has another parameter "
                f"layout ({train.num_params} parameters) than the run recorded "
                f"({self.layout.num_params}): pass the model it was trained on, "
                "run.problems(model=..., dataset=...)"
            )
        return train, test

    def param_steps(self) -> np.ndarray:
        """The steps at which ``params`` (theta) was recorded, increasing."""
        return self.steps(Series.PARAMS)

    def select_steps(
        self,
        *,
        every: int | None = None,
        steps: Sequence[int] | None = None,
        start: int | None = None,
        stop: int | None = None,
        include_last: bool = True,
        series: str = Series.PARAMS,
    ) -> list[int]:
        """Recorded steps of ``series`` to analyze: ``steps`` as given (each must be recorded),
        or every ``every``-th recorded step in ``[start, stop)`` (``stop`` inclusive of the last
        recorded step when omitted), the last of them always included with ``include_last``.

        Raises:
            ValueError: a requested step was not recorded (the message gives the recorded range),
                or nothing is left to analyze.
        """
        recorded = self.steps(series)
        if steps is not None:
            if every is not None or start is not None or stop is not None:
                raise ValueError("give either steps or every/start/stop, not both")
            chosen = [int(s) for s in steps]
            missing = sorted(set(chosen) - set(recorded.tolist()))
            if missing:
                span = f"{recorded[0]}..{recorded[-1]}" if len(recorded) else "none"
                raise ValueError(
                    f"steps {missing[:5]}{' ...' if len(missing) > 5 else ''} were not recorded in "
                    f"{self.path} ({series!r} recorded at {len(recorded)} steps, {span})"
                )
            return chosen
        if every is not None and (isinstance(every, bool) or every < 1):
            raise ValueError(f"every must be a positive integer, got {every!r}")
        window = recorded[
            (recorded >= (recorded[0] if start is None or not len(recorded) else start))
            & (recorded < (np.iinfo(np.int64).max if stop is None else stop))
        ]
        if not len(window):
            raise ValueError(
                f"no {series!r} records in {self.path} for start={start}, stop={stop} "
                f"(recorded: {len(recorded)} steps)"
            )
        chosen = [int(s) for s in window[:: every or 1]]
        if include_last and chosen[-1] != int(window[-1]):
            chosen.append(int(window[-1]))
        return chosen

    def theta(
        self,
        step: int | str = "last",
        *,
        like: Problem | None = None,
        dtype: Any = None,
        device: Any = None,
    ) -> torch.Tensor:
        """theta(step), shape (p,), as a tensor: on ``like``'s device and dtype when a Problem is
        given (the usual case), else ``dtype`` / ``device`` (default: the stored dtype, CPU).

        Args:
            step: a recorded step, ``"init"`` (the first recorded) or ``"last"``.

        Raises:
            KeyError: ``step`` was not recorded (the message gives the recorded steps).
        """
        recorded = self.param_steps()
        if not len(recorded):
            raise ValueError(f"run {self.path} recorded no parameters")
        if isinstance(step, str):
            if step not in ("init", "last"):
                raise ValueError(f"step must be a recorded step, 'init' or 'last', got {step!r}")
            step = int(recorded[0] if step == "init" else recorded[-1])
        return self._as_tensor(self.read(Series.PARAMS, steps=[int(step)])[0], like, dtype, device)

    def thetas(
        self,
        steps: Sequence[int] | np.ndarray,
        *,
        like: Problem | None = None,
        dtype: Any = None,
        device: Any = None,
    ) -> torch.Tensor:
        """theta at each of ``steps`` (recorded), shape (len(steps), p); see :meth:`theta`."""
        return self._as_tensor(self.read(Series.PARAMS, steps=list(steps)), like, dtype, device)

    def iter_thetas(
        self,
        steps: Sequence[int] | np.ndarray,
        *,
        rows: int = 256,
        like: Problem | None = None,
        dtype: Any = None,
        device: Any = None,
    ):
        """Stream :meth:`thetas` in blocks of at most ``rows`` steps: yields ``(steps_block,
        thetas_block)`` with shapes (b,) and (b, p), so that T x p need not fit in memory."""
        steps = [int(s) for s in steps]
        if rows < 1:
            raise ValueError(f"rows must be positive, got {rows}")
        for i in range(0, len(steps), rows):
            block = steps[i : i + rows]
            yield block, self.thetas(block, like=like, dtype=dtype, device=device)

    def values_at(self, name: str, steps: Sequence[int]) -> np.ndarray | None:
        """A scalar series at ``steps`` as float64, NaN where it was not recorded (series are
        recorded at their own steps, e.g. losses sparsely), or None when the run lacks it."""
        if name not in self:
            return None
        have = self.steps(name)
        values = np.asarray(self.read(name), dtype=np.float64).reshape(len(have), -1)[:, 0]
        pos = np.searchsorted(have, np.asarray(steps, dtype=np.int64))
        pos = np.minimum(pos, max(len(have) - 1, 0))
        found = (have[pos] == np.asarray(steps)) if len(have) else np.zeros(len(steps), bool)
        return np.where(found, values[pos] if len(have) else np.nan, np.nan)

    @staticmethod
    def _as_tensor(array: np.ndarray, like, dtype, device) -> torch.Tensor:
        import torch

        if like is not None:
            if dtype is not None or device is not None:
                raise ValueError("give either like=problem or dtype/device, not both")
            dtype, device = like.dtype, like.device
        return torch.as_tensor(np.asarray(array)).to(device=device or "cpu", dtype=dtype)

    # --- internals ----------------------------------------------------------------------------
    def _entry(self, name: str) -> dict:
        try:
            return self._committed[name]
        except KeyError:
            raise KeyError(
                f"run {self.path} has no series {name!r}; series are {self.series()}"
            ) from None

    def _grid(self, name: str, kind: str) -> fmt.ChunkGrid:
        """Where the chunk files of ``name``'s ``kind`` array are and their sizes."""
        key = (name, kind)
        grid = self._grids.get(key)
        if grid is None:
            entry = self._entry(name)
            compressor = fmt.COMPRESSIONS.get(entry.get("compression", "none"), "unknown")
            if compressor == "unknown":  # written by a newer landscope: ask zarr's metadata
                compressor = fmt.array_metadata(fmt.series_path(self.path, name) / kind).get(
                    "compressor"
                )
            grid = fmt.ChunkGrid(fmt.series_path(self.path, name) / kind, entry, kind, compressor)
            self._grids[key] = grid
        return grid

    def _array(self, name: str, kind: str, rows: int):
        """The zarr array, reopened when it has fewer than the ``rows`` committed since."""
        key = (name, kind)
        array = self._arrays.get(key)
        if array is None or array.shape[0] < rows:
            array = fmt.open_array_readonly(fmt.series_path(self.path, name) / kind)
            if array.shape[0] < rows:  # the writer grows .zarray before it commits rows
                raise fmt.DamagedRunError(
                    f"{fmt.series_path(self.path, name) / kind} has {array.shape[0]} rows but "
                    f"{fmt.COMMITTED} commits {rows}: the run folder was modified by hand"
                )
            self._arrays[key] = array
        return array

    def _select_rows(self, name, steps, start, stop) -> slice | np.ndarray:
        recorded = self.steps(name)
        if steps is None:
            lo = (
                0
                if start is None
                else int(np.searchsorted(recorded, operator.index(start), side="left"))
            )
            hi = (
                len(recorded)
                if stop is None
                else int(np.searchsorted(recorded, operator.index(stop), side="left"))
            )
            return slice(lo, max(lo, hi))
        if start is not None or stop is not None:
            raise ValueError("give either steps or start/stop, not both")
        if isinstance(steps, slice):
            lo, hi, k = steps.start, steps.stop, steps.step
            if k is not None and operator.index(k) < 1:
                raise ValueError(f"steps slice needs a positive stride, got {k}")
            rows = self._select_rows(name, None, lo, hi)
            if k is None or k == 1:
                return rows
            if lo is None:  # range(first recorded step, stop, k)
                lo = int(recorded[rows.start]) if rows.stop > rows.start else 0
            return np.flatnonzero((recorded[rows] - lo) % k == 0) + rows.start
        wanted = np.asarray(steps)
        if wanted.ndim != 1 or (wanted.size and wanted.dtype.kind not in "iu"):
            raise ValueError(
                f"steps must be a 1-d sequence of integers or a slice, got {steps!r:.80}"
            )
        wanted = wanted.astype(np.int64)
        pos = np.searchsorted(recorded, wanted)
        found = (
            (pos < len(recorded)) & (recorded[np.minimum(pos, len(recorded) - 1)] == wanted)
            if len(recorded)
            else np.zeros(len(wanted), bool)
        )
        if not np.all(found):
            missing = wanted[~found]
            span = (
                f"{recorded[0]}..{recorded[-1]} ({len(recorded)} rows)" if len(recorded) else "none"
            )
            raise KeyError(
                f"series {name!r} has no record at step(s) {missing[:10].tolist()}"
                f"{' ...' if missing.size > 10 else ''}; recorded steps: {span}"
            )
        return pos.astype(np.int64)

    def _select_columns(self, name, shape, columns, layer) -> slice | np.ndarray | None:
        if columns is None and layer is None:
            return None
        if not shape:
            raise ValueError(f"series {name!r} holds scalars; columns / layer do not apply")
        if columns is not None and layer is not None:
            raise ValueError("give either columns or layer, not both")
        if layer is not None:
            if self.layout is None:
                raise ValueError(
                    f"run {self.path} has no parameter layout in meta.json; cannot select layer {layer!r}"
                )
            if shape != (self.layout.num_params,):
                raise ValueError(
                    f"layer selects parameters; series {name!r} has records of shape {shape}, "
                    f"not ({self.layout.num_params},)"
                )
            return self.layout.layer_slice(layer)
        if isinstance(columns, slice):
            return columns
        cols = np.asarray(columns)
        if cols.dtype == bool:
            if cols.shape != (shape[0],):
                raise ValueError(
                    f"a boolean column mask must have shape ({shape[0]},), got {cols.shape}"
                )
            return np.flatnonzero(cols)
        if cols.ndim != 1 or (cols.size and cols.dtype.kind not in "iu"):
            raise ValueError(
                f"columns must be a slice, 1-d integer indices or a boolean mask, got {columns!r:.80}"
            )
        cols = cols.astype(np.int64)
        if cols.size and (cols.min() < -shape[0] or cols.max() >= shape[0]):
            raise IndexError(f"column index out of range for records of shape {shape}")
        cols = np.where(cols < 0, cols + shape[0], cols)
        if cols.size > 1 and np.all(np.diff(cols) == 1):  # a run of columns: plain slicing
            return slice(int(cols[0]), int(cols[-1]) + 1)
        return cols


def _selected_shape(shape: tuple[int, ...], cols) -> tuple[int, ...]:
    if cols is None or not shape:
        return shape
    n = len(range(shape[0])[cols]) if isinstance(cols, slice) else len(cols)
    return (n, *shape[1:])
