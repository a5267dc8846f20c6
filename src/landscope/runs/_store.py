"""Writing a training trajectory to a run folder: appendable series of step-tagged records.

Issue "Training runs that record their trajectory to disk", item 2.  A *series* is an
appendable array of records, each one row of a fixed shape tagged with an integer step
(``params``: theta(t) of shape (p,); ``batch_loss``: a scalar; ...).  The writer keeps the
rows of the current chunk in a preallocated numpy buffer, so :meth:`TrajectoryWriter.append`
costs one copy of one row; chunk files are written when a chunk fills up or on
:meth:`~TrajectoryWriter.flush`, and a flush ends by atomically rewriting ``committed.json``,
the row counts readers trust.  See :mod:`landscope.runs._format` for the folder layout.

Crash safety (``kill -9`` at any moment): every file is replaced atomically, disk operations
run strictly in the order they were asked for, and a row is counted in ``committed.json``
only after its chunk files are written.  So after a kill, each series holds a prefix of what
was appended, up to at least the last flush whose commit completed, and a checkpoint on disk
at step ``s`` implies that the records appended before it are committed.

Chunk files are written by the writer itself in zarr's format-2 layout (raw, or Blosc-compressed
chunks); zarr writes the array metadata and does all the reading.  Two measured reasons
(``benchmarks/bench_store_append.py``): zarr's ``__setitem__`` of a 256-row float32 chunk
costs 1.7-3 times the atomic file write used here (28 vs 16 ms for p = 17,610; 2.9 vs 1.0 ms
for p = 515), and zarr 3.0 - 3.1.2 rewrites chunk files in place, so a partly filled chunk
that already holds committed rows could be torn by a kill; here every chunk file is
replaced atomically whatever the zarr version.  A series may be stored compressed
(``compression="lz4"`` / ``"zstd"``: Blosc with byte shuffle, encoded here on the I/O thread,
decoded by zarr); sizes and write cost on real runs are in ``benchmarks/results/compression.md``.

Integrity: with every chunk file the writer records the crc32 of the rows it holds in
``series/<name>/checksums.json`` (written atomically after the chunk files of a flush and
before ``committed.json``), so that ``Run.check(checksums=True)`` / ``landscope runs check
--checksums`` finds a chunk whose bytes changed afterwards.  The checksum covers only the rows
the chunk held when it was written, so a partial chunk rewritten with more rows keeps a valid
entry until the next one lands (a kill in between is no false alarm).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import operator
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscope.runs import _format as fmt

__all__ = ["TrajectoryWriter"]

try:  # POSIX advisory lock: one writer per run folder; released by the kernel on kill -9
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class _Buffer:
    """Rows of one chunk in memory; ``pending`` counts queued writes that still read it."""

    __slots__ = ("data", "pending", "rows_t")

    def __init__(self, rows: int, shape: tuple[int, ...], dtype: np.dtype):
        self.data = np.empty((rows, *shape), dtype=dtype)
        self.data.fill(0)  # touch every page now, not on the first append of each row
        try:  # per-row torch views: ``copy_`` moves a CUDA / bfloat16 tensor in one call
            base = torch.from_numpy(self.data)
            self.rows_t: list[torch.Tensor] | None = list(base.unbind(0))
        except TypeError:  # a dtype torch cannot view (e.g. uint32 on old torch)
            self.rows_t = None
        self.pending = 0


class _Series:
    """Writer-side state of one series."""

    def __init__(self, name: str, path: Path, decl: dict):
        self.name = name
        self.path = path
        self.shape: tuple[int, ...] = tuple(decl["shape"])
        self.dtype = np.dtype(decl["dtype"])
        self.chunk_rows: int = decl["chunk_rows"]
        self.column_chunk: int | None = decl["column_chunk"]
        self.steps_chunk_rows: int = decl["steps_chunk_rows"]
        self.description: str = decl.get("description", "")
        self.compression: str = decl.get("compression", "none")
        self.codec = fmt.get_codec(fmt.COMPRESSIONS[self.compression])
        # crc32 of the chunk files written: {"values": {key: [rows, crc]}, "steps": {...}};
        # touched by the I/O thread only (and by the caller while the I/O thread is idle)
        self.sums: dict[str, dict[str, list[int]]] = {"values": {}, "steps": {}}
        self.sums_dirty = False  # chunks were queued since checksums.json was last queued
        self.rows = 0  # rows appended so far (written, queued or buffered)
        self.last_step: int | None = None
        self.vbufs = [_Buffer(self.chunk_rows, self.shape, self.dtype)]
        self.sbufs = [_Buffer(self.steps_chunk_rows, (), np.dtype(np.int64))]
        self.vcur = self.scur = 0  # which buffer is current
        self.vchunk = self.schunk = 0  # chunk index of the current buffers
        self.vpos = self.spos = 0  # next row in the current buffers
        self.vdirty = self.sdirty = False  # current buffer has rows not yet queued for writing
        self.blocks = fmt.num_column_blocks(self.shape, self.column_chunk or 1)
        self._scratch: np.ndarray | None = None  # column-block staging, used by the I/O thread
        # .zarray templates of the two arrays, and the rows last written into them (-1: unknown)
        self.vmeta: dict = {}
        self.smeta: dict = {}
        self.meta_rows = -1

    def decl(self) -> dict:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype.str,
            "chunk_rows": self.chunk_rows,
            "column_chunk": self.column_chunk,
            "steps_chunk_rows": self.steps_chunk_rows,
            "description": self.description,
            "compression": self.compression,
        }

    # --- the I/O side: write one chunk (all its column blocks) from a buffer -----------------
    def _write_chunk(self, kind: str, key: str, data: np.ndarray, rows: int, durable: bool):
        """Write one chunk file (encoded when the series is compressed) and record the crc32
        of its first ``rows`` rows."""
        # a compressed chunk is encoded from a copy: the caller may be appending rows past
        # ``rows`` to the same buffer meanwhile (those are not committed; raw writes copy them
        # as they are)
        encoded = data if self.codec is None else self.codec.encode(data.copy())
        fmt.write_atomic(self.path / kind / key, encoded, durable=durable)
        self.sums[kind][key] = [rows, fmt.crc32_rows(data, rows)]

    def write_values(self, buf: _Buffer, chunk: int, rows: int, durable: bool) -> None:
        ndim = len(self.shape)
        if self.blocks == 1:
            self._write_chunk("values", fmt.chunk_key(chunk, 0, ndim), buf.data, rows, durable)
            return
        cc = self.column_chunk
        if self._scratch is None:
            self._scratch = np.zeros((self.chunk_rows, cc, *self.shape[1:]), dtype=self.dtype)
        for j in range(self.blocks):
            a, b = j * cc, min((j + 1) * cc, self.shape[0])
            self._scratch[:, : b - a] = buf.data[:, a:b]
            if b - a < cc:  # format 2 stores edge chunks padded to the full chunk shape
                self._scratch[:, b - a :] = 0
            key = fmt.chunk_key(chunk, j, ndim)
            self._write_chunk("values", key, self._scratch, rows, durable)

    def write_steps(self, buf: _Buffer, chunk: int, rows: int, durable: bool) -> None:
        self._write_chunk("steps", fmt.chunk_key(chunk, None, 0), buf.data, rows, durable)

    def write_sums(self, durable: bool) -> None:
        fmt.write_atomic(self.path / fmt.CHECKSUMS, fmt.checksums_bytes(self.sums), durable=durable)

    def clip_sums(self) -> bool:
        """Make the checksums cover only the ``rows`` committed now (after a resume or a
        truncation, with the last partial chunks loaded into the buffers): entries of chunks
        past them are dropped, and those of the partial chunks recomputed over their
        committed rows from the buffers (the files will be rewritten with other rows past
        them).  True when anything changed."""
        before = {kind: dict(entries) for kind, entries in self.sums.items()}
        for kind, chunk_rows in (("values", self.chunk_rows), ("steps", self.steps_chunk_rows)):
            full = self.rows // chunk_rows  # chunks below hold committed rows only
            for key in list(self.sums[kind]):
                if int(key.split(".")[0]) >= full:
                    del self.sums[kind][key]
        ndim = len(self.shape)
        if self.vpos:
            data = self.vbufs[self.vcur].data
            for j in range(self.blocks):
                if self.blocks == 1:
                    block = data
                else:  # the block file's layout: columns of block j, the edge block padded
                    cc = self.column_chunk
                    a, b = j * cc, min((j + 1) * cc, self.shape[0])
                    block = np.zeros((self.vpos, cc, *self.shape[1:]), dtype=self.dtype)
                    block[:, : b - a] = data[: self.vpos, a:b]
                key = fmt.chunk_key(self.vchunk, j, ndim)
                self.sums["values"][key] = [self.vpos, fmt.crc32_rows(block, self.vpos)]
        if self.spos:
            key = fmt.chunk_key(self.schunk, None, 0)
            self.sums["steps"][key] = [
                self.spos,
                fmt.crc32_rows(self.sbufs[self.scur].data, self.spos),
            ]
        return self.sums != before

    def write_metadata(self, rows: int, durable: bool) -> None:
        """Set the first dimension of both arrays to ``rows`` (zarr readers see that many)."""
        for kind, template in (("values", self.vmeta), ("steps", self.smeta)):
            data = fmt.metadata_with_rows(template, rows)
            fmt.write_atomic(self.path / kind / fmt.ARRAY_META, data, durable=durable)


_OPEN_WRITERS: weakref.WeakSet[TrajectoryWriter] = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:  # like file objects: flush what was appended at exit
    for writer in list(_OPEN_WRITERS):
        with contextlib.suppress(Exception):
            writer.close()


class TrajectoryWriter:
    """Append step-tagged records to a run folder, crash-safely; see the module docstring.

    Make one with :meth:`create` (a new run) or :meth:`open_for_resume` (append to an
    existing one).  Disk writes run on one background thread (``background=True``), in the
    order they were asked for, overlapping the training computation; :meth:`sync` waits for
    them and :meth:`close` (or leaving the ``with`` block) flushes and waits.

    Memory: each series holds at most two chunks of rows, ``2 * chunk_rows`` rows.

    Attributes:
        path: the run folder.
        meta: the run's ``meta.json`` contents.
        kept: the names of the files and folders ``create(..., overwrite=True)`` kept because
            the store did not write them (empty otherwise).

    Examples:
        >>> import tempfile, numpy as np
        >>> from landscope.runs import TrajectoryWriter, open_run
        >>> folder = tempfile.mkdtemp() + "/run"
        >>> with TrajectoryWriter.create(folder, meta={"note": "demo"}) as w:
        ...     w.add_series("loss", shape=(), dtype="float64", chunk_rows=4)
        ...     for t in range(10):
        ...         w.append("loss", t, 1.0 / (t + 1))
        >>> open_run(folder).read("loss", start=2, stop=5)
        array([0.33333333, 0.25      , 0.2       ])
    """

    def __init__(self, path: Path, meta: dict, *, background: bool, durable: bool, _lock: Any):
        # Use create / open_for_resume; this only wires the pieces together.
        self.path = path
        self.meta = meta
        self.durable = durable
        self._series: dict[str, _Series] = {}
        self._files: list[str] = []  # JSON files written with write_json (owned by the run)
        self.compression = "none"  # of series declared without one
        self.kept: list[str] = []
        self._lock_file = _lock
        self._closed = False
        self._changed = False  # anything to commit since the last commit
        self._io = _IO()
        self._thread: threading.Thread | None = None
        if background:
            self._io.queue = queue.SimpleQueue()
            # The thread holds only the _IO state, not the writer: a writer that is dropped
            # without close() can be collected, and its thread then stops (see below).
            self._thread = threading.Thread(
                target=_io_loop, args=(self._io,), name=f"landscope-writer:{path.name}", daemon=True
            )
            self._thread.start()
            stop = weakref.finalize(self, self._io.queue.put, None)
            stop.atexit = False  # at exit, _close_open_writers flushes and stops it instead
        _OPEN_WRITERS.add(self)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        run_dir: str | Path,
        *,
        meta: dict,
        overwrite: bool = False,
        background: bool = True,
        durable: bool = False,
        compression: str = "none",
    ) -> TrajectoryWriter:
        """Make the run folder and write ``meta.json`` (atomically).

        Args:
            run_dir: the run folder; created with its parents.  It must not exist or be empty.
            meta: JSON-serialisable description of the run (numpy / torch scalars and arrays,
                paths are converted); readers get it back as ``Run.meta``.
            overwrite: replace the run in an existing run folder.  Only what the store wrote is
                deleted (``meta.json``, ``committed.json``, ``series/``, ``checkpoint.pt`` and
                the JSON files written with :meth:`write_json`, e.g. ``summary.json``); every
                other file or folder (an analysis' output, notes) is kept and listed in
                :attr:`kept`.  A folder that is not a run folder is never touched.
            background: write chunk files on a background thread (default), or in the calling
                thread (simpler to debug, slower).
            durable: also fsync every file written (survives power loss, not only a killed
                process; each flush then waits for the disk).
            compression: the chunk compression of the series declared without one
                (:data:`~landscope.runs.COMPRESSIONS`: ``"none"``, ``"lz4"``, ``"zstd"``);
                kept in ``committed.json`` for the series declared after a resume.

        Raises:
            RunExistsError: ``run_dir`` exists and is not empty, and ``overwrite`` is false.
            FileExistsError: ``overwrite`` is true but ``run_dir`` is not a run folder.
            RunLockedError: another writer holds the folder.
        """
        path = Path(run_dir)
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        meta_bytes = fmt.dumps(meta)  # fail on unserialisable meta before touching the disk
        compression = fmt.check_compression(compression)
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"cannot create a run folder at {path}: a file is there")
        kept: list[str] = []
        if path.is_dir() and any(c.name != fmt.LOCK for c in path.iterdir()):
            if not overwrite:
                raise fmt.RunExistsError(
                    f"run folder {path} exists and is not empty; pass overwrite=True to replace "
                    "the run in it, or open_for_resume to continue it",
                    path,
                )
            if not (path / fmt.META).exists() and not (path / fmt.COMMITTED).exists():
                raise FileExistsError(
                    f"refusing to overwrite {path}: it is not empty and not a landscope run folder "
                    f"(no {fmt.META} or {fmt.COMMITTED})"
                )
            lock = _acquire_lock(path)
            try:
                kept = _clear_run(path)
            except BaseException:
                _release_lock(lock)
                raise
        else:
            path.mkdir(parents=True, exist_ok=True)
            lock = _acquire_lock(path)
        try:
            fmt.create_group(path / fmt.SERIES_DIR, {"landscope": fmt.FORMAT})
            fmt.write_atomic(
                path / fmt.COMMITTED, _committed_bytes({}, [], compression), durable=durable
            )
            fmt.write_atomic(path / fmt.META, meta_bytes, durable=durable)  # last: marks a run
        except BaseException:
            _release_lock(lock)
            raise
        writer = cls(
            path,
            fmt.read_json_file(path / fmt.META),
            background=background,
            durable=durable,
            _lock=lock,
        )
        writer.kept = kept
        writer.compression = compression
        return writer

    @classmethod
    def open_for_resume(
        cls, run_dir: str | Path, *, background: bool = True, durable: bool = False
    ) -> TrajectoryWriter:
        """Reopen an existing run to append to it (after a crash or an interruption).

        Rows past the committed lengths (written before a kill, never committed) are dropped;
        appends continue after the last committed row of each series.  Use
        :meth:`truncate_after` to go back to a checkpoint.

        Raises:
            FileNotFoundError: ``run_dir`` is not a run folder (the message names what is missing).
            DamagedRunError: a file needed to continue (``committed.json``, the chunk holding
                the last rows of a series, a steps chunk) is damaged; the message names it.
            RunLockedError: another writer holds the folder.
        """
        from landscope.runs._run import Run

        path = Path(run_dir)
        fmt.check_run_folder(path)
        lock = _acquire_lock(path)
        try:
            meta = fmt.read_json_file(path / fmt.META)
            committed = fmt.read_committed(path)
            fmt.remove_temporaries(path)
            reader = Run(path)
            tails = {}
            for name, entry in committed["series"].items():  # read before starting the thread
                tails[name] = _Tail.read(reader, name, int(entry["rows"]))
            writer = cls(path, meta, background=background, durable=durable, _lock=lock)
        except BaseException:
            _release_lock(lock)
            raise
        writer._files = [str(f) for f in committed.get("files", [])]
        writer.compression = fmt.check_compression(committed.get("compression", "none"))
        for name, entry in committed["series"].items():
            s = _Series(name, fmt.series_path(path, name), entry)
            s.vmeta = fmt.array_metadata(s.path / "values")
            s.smeta = fmt.array_metadata(s.path / "steps")
            s.sums = fmt.read_checksums(s.path)
            writer._series[name] = s
            writer._load_tail(s, int(entry["rows"]), tails[name])
            if s.clip_sums():  # rows written but never committed: rewritten later
                s.write_sums(durable)
        return writer

    # --- declaring series ---------------------------------------------------------------------
    def add_series(
        self,
        name: str,
        *,
        shape: tuple[int, ...] | int,
        dtype: str | np.dtype | torch.dtype,
        chunk_rows: int = 256,
        column_chunk: int | None = None,
        description: str = "",
        compression: str | None = None,
    ) -> None:
        """Declare a series of records of ``shape`` and ``dtype``.

        Stored as the zarr array ``series/<name>/values`` of shape (rows, *shape), chunked
        (``chunk_rows``, ``column_chunk`` or the full first axis, rest full), and the int64
        array ``series/<name>/steps``.  Choose ``chunk_rows`` near the number of rows appended
        between flushes: a flush rewrites the whole current chunk.  ``compression``: ``"none"``
        (raw chunks), ``"lz4"`` or ``"zstd"`` (Blosc, byte shuffle; :data:`COMPRESSIONS`); None: the
        writer's (``create(..., compression=)``).
        Idempotent when the series exists with the same shape and dtype (then the chunking and
        compression given are ignored).

        Raises:
            ValueError: a bad name, shape, dtype or chunking; or the series exists with
                another shape or dtype.
        """
        self._check_open()
        fmt.validate_name(name)
        shape = _as_shape(shape)
        np_dtype = _as_dtype(dtype)
        existing = self._series.get(name)
        if existing is not None:
            if existing.shape != shape or existing.dtype != np_dtype:
                raise ValueError(
                    f"series {name!r} exists with shape {existing.shape} and dtype {existing.dtype}; "
                    f"cannot declare it again with shape {shape} and dtype {np_dtype}"
                )
            return
        chunk_rows = _positive_int(chunk_rows, "chunk_rows")
        compression = fmt.check_compression(
            self.compression if compression is None else compression
        )
        if column_chunk is not None:
            if not shape:
                raise ValueError(
                    f"series {name!r}: column_chunk needs records of at least one axis"
                )
            column_chunk = _positive_int(column_chunk, "column_chunk")
            column_chunk = min(column_chunk, shape[0])
        elif shape:
            column_chunk = shape[0]
        decl = {
            "shape": list(shape),
            "dtype": np_dtype.str,
            "chunk_rows": chunk_rows,
            "column_chunk": column_chunk,
            "steps_chunk_rows": max(fmt.MIN_STEPS_CHUNK, chunk_rows),
            "description": str(description),
            "compression": compression,
        }
        s = _Series(name, fmt.series_path(self.path, name), decl)
        record_chunks = (column_chunk, *shape[1:]) if shape else ()
        fmt.create_group(s.path, {"description": s.description})
        s.vmeta = fmt.create_array(
            s.path / "values",
            record_shape=shape,
            chunks=(chunk_rows, *record_chunks),
            dtype=np_dtype,
            attrs={"description": s.description, "rows": f"see ../../{fmt.COMMITTED}"},
            compression=compression,
        )
        s.smeta = fmt.create_array(
            s.path / "steps",
            record_shape=(),
            chunks=(s.steps_chunk_rows,),
            dtype=np.dtype(np.int64),
            attrs={"rows": f"see ../../{fmt.COMMITTED}"},
            compression=compression,
        )
        s.meta_rows = 0
        self._series[name] = s
        self._changed = True

    def series(self) -> list[str]:
        """Names of the declared series."""
        return list(self._series)

    # --- appending ----------------------------------------------------------------------------
    def append(self, name: str, step: int, value: np.ndarray | torch.Tensor | float) -> None:
        """Record ``value`` (one row of the series' shape) at integer ``step``.

        Costs one copy of the row into the chunk buffer (a torch tensor is copied to the CPU
        here, once); a full chunk is queued for writing.  Steps must increase strictly.
        Nothing is visible to readers before the next :meth:`flush`.
        """
        s = self._series.get(name)
        if s is None:
            self._check_open()
            raise KeyError(
                f"no series {name!r}; declare it with add_series (series: {list(self._series)})"
            )
        if self._io.error is not None or self._closed:
            self._check_open()
        step = operator.index(step)
        if s.last_step is not None and step <= s.last_step:
            raise ValueError(
                f"series {name!r}: steps must increase strictly; got step {step} after step {s.last_step}"
            )
        buf = s.vbufs[s.vcur]
        pos = s.vpos
        if isinstance(value, torch.Tensor):
            if value.shape != s.shape:
                raise ValueError(
                    f"series {name!r} has records of shape {s.shape}, got a tensor of shape {tuple(value.shape)}"
                )
            if value.requires_grad:
                value = value.detach()
            if buf.rows_t is not None:
                buf.rows_t[pos].copy_(value)  # one device-to-host copy for a CUDA tensor
            else:
                buf.data[pos] = value.cpu().numpy()
        else:
            if not isinstance(value, np.ndarray):
                value = np.asarray(value)
            if value.shape != s.shape:
                raise ValueError(
                    f"series {name!r} has records of shape {s.shape}, got a value of shape {value.shape}"
                )
            buf.data[pos] = value
        s.sbufs[s.scur].data[s.spos] = step
        s.last_step = step
        s.rows += 1
        s.vpos = pos + 1
        s.spos += 1
        s.vdirty = s.sdirty = True
        self._changed = True
        if s.vpos == s.chunk_rows:
            self._submit_values(s)
            s.vcur, s.vchunk, s.vpos = (
                self._next_buffer(s.vbufs, s.vcur, s.chunk_rows, s.shape, s.dtype),
                s.vchunk + 1,
                0,
            )
        if s.spos == s.steps_chunk_rows:
            self._submit_steps(s)
            s.scur, s.schunk, s.spos = (
                self._next_buffer(s.sbufs, s.scur, s.steps_chunk_rows, (), np.dtype(np.int64)),
                s.schunk + 1,
                0,
            )

    def rows(self, name: str) -> int:
        """Rows appended to series ``name`` so far (committed or not)."""
        return self._get(name).rows

    def last_step(self, name: str) -> int | None:
        """The step of the last row appended to ``name`` (None when it has none)."""
        return self._get(name).last_step

    # --- flushing -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write all buffered rows, then atomically rewrite ``committed.json``.

        With ``background=True`` the writes are queued and this returns at once; they happen
        in order, so anything written later (a checkpoint, a JSON file) lands after this
        commit.  :meth:`sync` waits until they are on disk.
        """
        self._check_open()
        if not self._changed:
            return
        for s in self._series.values():
            if s.vdirty:
                self._submit_values(s)
            if s.sdirty:
                self._submit_steps(s)
        self._submit_sums()
        self._submit_metadata(grow_only=True)
        self._submit_commit()

    def _submit_sums(self) -> None:
        for s in self._series.values():
            if s.sums_dirty:
                s.sums_dirty = False
                self._submit(functools.partial(s.write_sums, self.durable))

    def _submit_metadata(self, *, grow_only: bool) -> None:
        for s in self._series.values():
            if s.rows != s.meta_rows and (s.rows > s.meta_rows or not grow_only):
                rows, durable = s.rows, self.durable
                s.meta_rows = rows
                self._submit(
                    lambda s=s, rows=rows, durable=durable: s.write_metadata(rows, durable)
                )

    def _submit_commit(self) -> None:
        data = _committed_bytes(
            {n: {"rows": s.rows, **s.decl()} for n, s in self._series.items()},
            self._files,
            self.compression,
        )
        self._changed = False
        self._submit(
            functools.partial(
                fmt.write_atomic, self.path / fmt.COMMITTED, data, durable=self.durable
            )
        )

    def sync(self) -> None:
        """Flush, then wait until every queued write is on disk (re-raising a write error)."""
        self.flush()
        self._wait()

    def truncate_after(self, step: int) -> None:
        """Drop the records with step > ``step`` from every series (to resume from a checkpoint).

        Flushes and waits first; the shorter lengths are committed before this returns, and
        the chunk files past them are deleted.
        """
        step = operator.index(step)
        self.sync()
        from landscope.runs._run import Run

        stale: list[Path] = []
        reader = Run(self.path)
        for s in self._series.values():
            if s.rows == 0:
                continue
            steps = reader.steps(s.name)
            keep = int(np.searchsorted(steps, step, side="right"))
            if keep < s.rows:
                stale += _stale_chunks(s, keep, s.rows)
                self._load_tail(s, keep, _Tail.read(reader, s.name, keep))
                s.clip_sums()
                s.sums_dirty = True
                self._changed = True
        if self._changed:
            # commit the shorter lengths first: .zarray rows never fall below committed rows;
            # the checksums of the dropped rows go before any chunk is rewritten
            self._submit_commit()
            self._submit_sums()
            self._submit_metadata(grow_only=False)
            self._wait()
        for f in stale:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()

    # --- files --------------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as ``<name>`` (``.json`` added if missing) in the run folder, atomically.

        Queued after the writes asked for before it (see :meth:`flush`).
        """
        self._check_open()
        path = self.path / fmt.json_file_name(name)
        data = fmt.dumps(obj)
        self._submit(functools.partial(fmt.write_atomic, path, data, durable=self.durable))
        if path.name not in self._files:  # the run owns it (--overwrite deletes it)
            self._files.append(path.name)
            self._changed = True

    def save_checkpoint(self, state: dict, step: int) -> None:
        """Save ``state`` (theta, optimizer state, RNG states, ...) as ``checkpoint.pt``.

        Flushes first, so a checkpoint on disk at ``step`` implies every record appended
        before this call is committed.  ``state`` is serialised now (later changes to its
        tensors do not leak in); the file is replaced atomically and only the latest is kept.
        ``step`` is stored as ``state["step"]`` unless ``state`` has one.
        """
        self._check_open()
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        state = state if "step" in state else {**state, "step": operator.index(step)}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        self.flush()
        self._submit(
            functools.partial(
                fmt.write_atomic, self.path / fmt.CHECKPOINT, data, durable=self.durable
            )
        )

    def load_checkpoint(self, *, weights_only: bool = True) -> dict | None:
        """The latest checkpoint (tensors on the CPU), or None when there is none.

        ``weights_only=True`` (the default) refuses arbitrary pickled objects; a checkpoint
        of tensors, numbers, strings, lists and dicts loads.
        """
        self._wait()
        return _load_checkpoint(self.path, weights_only=weights_only)

    # --- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        """Flush, wait for the writes, stop the I/O thread and release the folder."""
        if self._closed:
            return
        try:
            if self._io.error is None:
                self.sync()
        finally:
            self._closed = True
            if self._io.queue is not None:
                self._io.queue.put(None)
                self._thread.join()
            _release_lock(self._lock_file)
            _OPEN_WRITERS.discard(self)
        if self._io.error is not None:
            raise RuntimeError(
                f"writing the trajectory to {self.path} failed: {self._io.error!r}"
            ) from self._io.error

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"TrajectoryWriter({str(self.path)!r}, {len(self._series)} series, {state})"

    # --- internals ----------------------------------------------------------------------------
    def _get(self, name: str) -> _Series:
        try:
            return self._series[name]
        except KeyError:
            raise KeyError(f"no series {name!r}; series are {list(self._series)}") from None

    def _check_open(self) -> None:
        if self._io.error is not None:
            raise RuntimeError(
                f"writing the trajectory to {self.path} failed: {self._io.error!r}"
            ) from self._io.error
        if self._closed:
            raise RuntimeError(f"the writer of {self.path} is closed")

    def _submit_values(self, s: _Series) -> None:
        buf, chunk, rows, durable = s.vbufs[s.vcur], s.vchunk, s.vpos, self.durable
        s.vdirty = False
        s.sums_dirty = True
        self._submit(lambda: s.write_values(buf, chunk, rows, durable), buf)

    def _submit_steps(self, s: _Series) -> None:
        buf, chunk, rows, durable = s.sbufs[s.scur], s.schunk, s.spos, self.durable
        s.sdirty = False
        s.sums_dirty = True
        self._submit(lambda: s.write_steps(buf, chunk, rows, durable), buf)

    def _submit(self, op: Callable[[], None], buf: _Buffer | None = None) -> None:
        io = self._io
        if io.queue is None:
            op()
            return
        if buf is not None:
            with io.cond:
                buf.pending += 1
        io.queue.put((op, buf, False))

    def _wait(self) -> None:
        """Block until every queued write has run."""
        if self._io.queue is not None and not self._closed:
            done = threading.Event()
            self._io.queue.put((done.set, None, True))
            done.wait()
        if self._io.error is not None:
            self._check_open()

    def _next_buffer(
        self, bufs: list[_Buffer], cur: int, rows: int, shape: tuple[int, ...], dtype: np.dtype
    ) -> int:
        """Switch to the other buffer of a double-buffered pair, waiting until it is written."""
        nxt = 1 - cur
        if len(bufs) < 2:
            bufs.append(_Buffer(rows, shape, dtype))
            return nxt
        buf = bufs[nxt]
        if buf.pending:
            with self._io.cond:
                while buf.pending and self._io.error is None:
                    self._io.cond.wait(timeout=1.0)
        self._check_open()
        return nxt

    def _load_tail(self, s: _Series, rows: int, tail: _Tail) -> None:
        """Set series ``s`` to ``rows`` committed rows, reloading the last partial chunks."""
        s.rows = rows
        s.vchunk, s.vpos = divmod(rows, s.chunk_rows)
        s.schunk, s.spos = divmod(rows, s.steps_chunk_rows)
        s.vdirty = s.sdirty = False
        if rows == 0:
            s.last_step = None
            return
        s.last_step = tail.last_step
        if s.vpos:
            s.vbufs[s.vcur].data[: s.vpos] = tail.values
        if s.spos:
            s.sbufs[s.scur].data[: s.spos] = tail.steps


class _Tail:
    """The rows of a series' last partial chunks (values and steps), read through the checked
    reader (a damaged chunk is an error, never zeros loaded into the buffer)."""

    __slots__ = ("last_step", "steps", "values")

    def __init__(self, last_step: int | None, steps: np.ndarray, values: np.ndarray):
        self.last_step, self.steps, self.values = last_step, steps, values

    @classmethod
    def read(cls, reader, name: str, rows: int) -> _Tail:
        if rows == 0:
            return cls(None, np.zeros(0, np.int64), np.zeros(0))
        info = reader.info(name)
        steps = reader.steps(name)[:rows]
        first_v = rows // info["chunk_rows"] * info["chunk_rows"]
        first_s = rows // info["steps_chunk_rows"] * info["steps_chunk_rows"]
        values = reader._read_rows(name, slice(first_v, rows), None, info["shape"], info["dtype"])
        return cls(int(steps[rows - 1]), np.array(steps[first_s:rows]), values)


class _IO:
    """What the writer shares with its I/O thread: the queue, a condition, the first error."""

    __slots__ = ("cond", "error", "queue")

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue | None = None  # None: write in the calling thread
        self.cond = threading.Condition()
        self.error: BaseException | None = None


def _io_loop(io: _IO) -> None:
    """Run queued writes in order until a None arrives; after a failure run only sync markers."""
    while True:
        item = io.queue.get()
        if item is None:
            return
        op, buf, always = item
        try:
            if always or io.error is None:  # after a failure nothing more is written or committed
                op()
        except BaseException as exc:
            io.error = exc
        finally:
            if buf is not None:
                with io.cond:
                    buf.pending -= 1
                    io.cond.notify_all()
            item = op = buf = None  # hold nothing between writes


def _stale_chunks(s: _Series, keep: int, old_rows: int) -> list[Path]:
    """Chunk files holding only rows in [keep, old_rows) (deleted by truncate_after)."""
    out = []
    first_v = -(-keep // s.chunk_rows)  # first chunk with no kept row
    first_s = -(-keep // s.steps_chunk_rows)
    last_v = (old_rows - 1) // s.chunk_rows
    last_s = (old_rows - 1) // s.steps_chunk_rows
    ndim = len(s.shape)
    for c in range(first_v, last_v + 1):
        out += [s.path / "values" / fmt.chunk_key(c, j, ndim) for j in range(s.blocks)]
    for c in range(first_s, last_s + 1):
        out.append(s.path / "steps" / fmt.chunk_key(c, None, 0))
    return out


def _committed_bytes(series: dict[str, dict], files: list[str], compression: str) -> bytes:
    return fmt.dumps(
        {
            "format": fmt.FORMAT,
            "version": fmt.FORMAT_VERSION,
            "updated": time.time(),
            "series": series,
            "files": files,  # JSON files the run wrote (write_json); --overwrite deletes them
            "compression": compression,  # of series declared without one
        }
    )


def _load_checkpoint(path: Path, *, weights_only: bool) -> dict | None:
    """The checkpoint, None when there is none; a damaged one is a :class:`DamagedRunError`."""
    import pickle
    import zipfile

    file = path / fmt.CHECKPOINT
    if not file.exists():
        return None
    try:
        state = torch.load(file, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise  # an intact file holding objects weights_only refuses
        raise _damaged_checkpoint(file, exc) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise _damaged_checkpoint(file, exc) from None
    if not isinstance(state, dict):
        raise fmt.DamagedRunError(
            f"checkpoint {file} is damaged: it holds a {type(state).__name__}, not a dict"
        )
    return state


def _damaged_checkpoint(file: Path, exc: BaseException) -> fmt.DamagedRunError:
    text = str(exc).strip()
    reason = text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
    return fmt.DamagedRunError(
        f"checkpoint {file} is damaged ({file.stat().st_size} bytes; torch.load: {reason[:160]})"
    )


def _as_shape(shape: tuple[int, ...] | int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        out = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of positive integers, got {shape!r}") from None
    if any(d < 1 for d in out):
        raise ValueError(f"shape must be a tuple of positive integers, got {out}")
    return out


_TORCH_TO_NUMPY = {
    torch.float16: np.float16,
    torch.bfloat16: np.float32,  # numpy has no bfloat16; stored exactly as float32
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


def _as_dtype(dtype: str | np.dtype | torch.dtype) -> np.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in _TORCH_TO_NUMPY:
            raise ValueError(f"unsupported dtype {dtype}; allowed: {list(_TORCH_TO_NUMPY)}")
        return np.dtype(_TORCH_TO_NUMPY[dtype])
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r}") from None
    if out.kind not in "biufc":
        raise ValueError(f"unsupported dtype {out}; allowed kinds: bool, integers, floats, complex")
    return out.newbyteorder("=")


def _positive_int(value: object, what: str) -> int:
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be a positive integer, got {value!r}") from None
    if out < 1:
        raise ValueError(f"{what} must be a positive integer, got {out}")
    return out


def _acquire_lock(path: Path):
    if fcntl is None:  # pragma: no cover - Windows: no lock
        return None
    f = open(path / fmt.LOCK, "a+b")  # held until the writer closes
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise fmt.RunLockedError(
            f"run folder {path} is being written by another process (a running landscope "
            "train, or another TrajectoryWriter in this process); wait for it to finish or "
            "stop it first"
        ) from None
    return f


def _release_lock(lock) -> None:
    if lock is not None:
        with contextlib.suppress(OSError):
            lock.close()  # closing the file releases the flock


def owned_by_run(path: Path) -> tuple[list[str], list[str]]:
    """``(owned, foreign)``: the names in run folder ``path`` that the store wrote (deleted by
    ``overwrite``) and the others (kept), each sorted."""
    files: list[str] = []
    try:
        files = [str(f) for f in fmt.read_committed(path).get("files", [])]
    except (OSError, ValueError):  # a damaged committed.json: only the fixed names are known
        pass
    mine = {*fmt.OWNED, *files, *fmt.LEGACY_OWNED_FILES}
    owned, foreign = [], []
    for child in path.iterdir():
        name = child.name
        temporary = name.startswith(".") and name.endswith(fmt.TMP_SUFFIX)
        (owned if name in mine or temporary else foreign).append(name)
    return sorted(owned), sorted(foreign)


def _clear_run(path: Path) -> list[str]:
    """Delete what the store wrote in run folder ``path`` (not the lock); return the names
    kept.  meta.json goes first and committed.json last, so that a folder left half-cleared by
    a kill is still recognised as a run folder (and can be overwritten)."""
    import shutil

    owned, foreign = owned_by_run(path)

    def rank(name: str) -> int:
        return {fmt.META: 0, fmt.COMMITTED: 2}.get(name, 1)

    for name in sorted(owned, key=rank):
        if name == fmt.LOCK:
            continue
        child = path / name
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()
    return foreign
