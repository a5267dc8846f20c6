"""The on-disk layout of a run folder, shared by the writer and the reader.

A run folder holds::

    meta.json            what the run is (resolved config, versions, parameter layout, ...)
    committed.json       the series and how many rows of each are committed (the only truth
                         about lengths: rows at or past it are not data)
    series/              a zarr group (zarr format 2, readable by zarr 2 and zarr 3)
      <name>/values      zarr array (rows, *shape), chunks (chunk_rows, column_chunk, ...)
      <name>/steps       zarr array (rows,) int64: the step of each row
      <name>/checksums.json   crc32 of the committed rows of each chunk file (store version 2)
    checkpoint.pt        the latest training checkpoint (torch.save)
    *.json               results written with ``write_json`` (summary.json, ...)

Store versions (``committed.json["version"]``): 1 wrote raw chunks and no checksums; 2 adds
``checksums.json`` and optional Blosc compression per series (``compression`` in a series'
declaration; zarr reads the codec from ``.zarray``).  Version-1 runs stay readable.

Every file is replaced atomically (written to a temporary file in the same folder, then
``os.replace``), so a process killed at any moment leaves each file either old or new.  A flush
writes the chunk files, then each array's metadata (``.zarray``, whose first dimension grows
to the number of rows), then ``committed.json``; a row is only visible to readers once
``committed.json`` counts it.  So at every moment ``rows in .zarray >= committed rows``, and
the committed rows are on disk.

Integrity (no silent zeros): zarr reads a missing chunk file as its fill value, so the reader
checks, before it reads, that every chunk file holding committed rows it needs is there and has
the right size (:class:`ChunkGrid`), and raises :class:`DamagedRunError` naming the series, the
file and the steps otherwise.  A raw chunk has exactly ``chunk bytes``; a Blosc chunk carries its
own compressed and decoded sizes in a 16-byte header (a truncated Blosc chunk can decode to
garbage without an error, so the header is compared with the file size).  A flipped bit is
only found by the checksums (``landscope runs check --checksums``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from landscope._results_io import (  # noqa: F401  (write_atomic: used by the store as fmt.*)
    TMP_SUFFIX,
    json_default,
    write_atomic,
)

META = "meta.json"
COMMITTED = "committed.json"
SERIES_DIR = "series"
CHECKPOINT = "checkpoint.pt"
LOCK = ".writer.lock"
FORMAT = "landscope-trajectory"
FORMAT_VERSION = 2
ARRAY_META = ".zarray"  # zarr format-2 array metadata
CHECKSUMS = "checksums.json"  # per series, next to values/ and steps/
#: Files and folders of a run folder that the store (and so training) writes; ``--overwrite``
#: deletes only these and the JSON files the writer recorded in ``committed.json["files"]``.
OWNED = (META, COMMITTED, SERIES_DIR, CHECKPOINT, LOCK)
#: JSON files training wrote before store version 2 recorded them (treated as owned).
LEGACY_OWNED_FILES = ("summary.json",)

#: Chunk compression of a series (``record.compression`` in a run config): Blosc with byte
#: shuffle, in zarr's format-2 ``compressor`` spelling.  Sizes and write cost measured on real
#: runs: ``benchmarks/results/compression.md``.
COMPRESSIONS: dict[str, dict | None] = {
    "none": None,
    "lz4": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
    "zstd": {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1, "blocksize": 0},
}
_BLOSC_HEADER = 16


class DamagedRunError(ValueError):
    """A file of a run folder is missing, truncated, does not decode or fails its checksum.

    The message names the file, the series and the steps whose records are lost.  Nothing is
    read as zeros: every reader (:meth:`Run.read`, the run service, the CLI) raises this.
    """


class RunLockedError(RuntimeError):
    """Another writer (a running ``landscope train``, in this or another process) holds the
    run folder."""


class RunExistsError(FileExistsError):
    """The run folder exists and holds files, and overwriting was not asked for."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


# Steps are 8 bytes a row; a larger chunk than the values' keeps the number of files small.
MIN_STEPS_CHUNK = 1024

_ZARR_MAJOR = int(zarr.__version__.split(".")[0])
# zarr 3 writes format 3 by default; format 2 keeps runs readable by zarr 2 as well.
_FORMAT_KW: dict[str, Any] = {"zarr_format": 2} if _ZARR_MAJOR >= 3 else {}


def series_path(run_dir: Path, name: str) -> Path:
    return run_dir / SERIES_DIR / name


def validate_name(name: object, what: str = "series name") -> str:
    """A series or file name must be a plain, non-hidden file name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or name.startswith(".") or name.startswith("__"):
        raise ValueError(
            f"{what} {name!r} is not allowed: no '/' or '\\', and it may not start with '.' or '__'"
        )
    return name


def chunk_key(row_chunk: int, column_block: int | None, record_ndim: int) -> str:
    """File name of a chunk in zarr format 2 (dimension separator '.')."""
    if record_ndim == 0:
        return str(row_chunk)
    return ".".join([str(row_chunk), str(column_block)] + ["0"] * (record_ndim - 1))


def num_column_blocks(shape: tuple[int, ...], column_chunk: int) -> int:
    return 1 if not shape else math.ceil(shape[0] / column_chunk)


def create_array(
    path: Path,
    *,
    record_shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dtype: np.dtype,
    attrs: dict,
    compression: str = "none",
) -> dict:
    """Create an empty (0 rows) format-2 array at ``path`` whose chunks are raw or compressed
    as :data:`COMPRESSIONS` ``[compression]`` says; return its metadata."""
    config = COMPRESSIONS[compression]
    arr = zarr.create(
        (0, *record_shape),
        chunks=chunks,
        dtype=dtype,
        compressor=None if config is None else get_codec(config),
        fill_value=0,
        order="C",
        store=str(path),
        overwrite=True,
        **_FORMAT_KW,
    )
    if attrs:
        arr.attrs.update(attrs)
    return read_json_file(path / ARRAY_META)


def array_metadata(path: Path) -> dict:
    return read_json_file(path / ARRAY_META)


def get_codec(config: dict | None):
    """The numcodecs codec of a ``.zarray`` ``compressor`` entry (None: raw chunks)."""
    if config is None:
        return None
    import numcodecs

    return numcodecs.get_codec(dict(config))


def check_compression(name: object) -> str:
    if name not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {list(COMPRESSIONS)}, got {name!r}")
    return str(name)


def metadata_with_rows(template: dict, rows: int) -> bytes:
    """The ``.zarray`` of ``template`` with its first dimension set to ``rows``."""
    return json.dumps({**template, "shape": [rows, *template["shape"][1:]]}, indent=4).encode()


def create_group(path: Path, attrs: dict | None = None) -> None:
    group = zarr.open_group(store=str(path), mode="a", **_FORMAT_KW)
    if attrs:
        group.attrs.update(attrs)


def open_array_readonly(path: Path):
    return zarr.open_array(store=str(path), mode="r")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, default=json_default).encode()


def remove_temporaries(folder: Path) -> None:
    """Delete temporary files left behind by a writer that was killed mid-write."""
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.startswith(".") and f.endswith(TMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, f))


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, f))
    return total


def check_run_folder(path: Path) -> None:
    """Raise a clear error when ``path`` is not a run folder, naming what is missing."""
    if not path.exists():
        raise FileNotFoundError(f"no run folder at {path}: the path does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a run folder: it is a file, not a folder")
    missing = [f for f in (META, COMMITTED) if not (path / f).is_file()]
    if not (path / SERIES_DIR).is_dir():
        missing.append(SERIES_DIR + "/")
    if missing:
        raise FileNotFoundError(
            f"{path} is not a landscope run folder: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing "
            f"(a run folder, as landscope train writes it, holds {META}, {COMMITTED} and "
            f"{SERIES_DIR}/)"
        )


def read_committed(path: Path) -> dict:
    committed = read_json_file(path / COMMITTED)
    if not isinstance(committed, dict) or committed.get("format") != FORMAT:
        what = committed.get("format") if isinstance(committed, dict) else type(committed).__name__
        raise DamagedRunError(f"{path / COMMITTED} is not a {FORMAT} file (format {what!r})")
    if committed.get("version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer landscope (store version {committed.get('version')}); "
            f"this one reads versions up to {FORMAT_VERSION}"
        )
    series = committed.get("series")
    keys = ("rows", "shape", "dtype", "chunk_rows", "column_chunk", "steps_chunk_rows")
    if not isinstance(series, dict) or not all(
        isinstance(e, dict) and all(k in e for k in keys) for e in series.values()
    ):
        raise DamagedRunError(
            f"{path / COMMITTED} is damaged: its 'series' entries lack {', '.join(keys)}"
        )
    return committed


def read_json_file(path: Path) -> Any:
    """The JSON in ``path``; a file that is not valid JSON (truncated, overwritten) is a
    :class:`DamagedRunError` naming it."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # every file of a run is replaced atomically: a partial file was damaged afterwards
        state = "empty" if not data else f"{len(data)} bytes, not valid JSON: {exc}"
        raise DamagedRunError(f"{path} is damaged ({state})") from None


def json_file_name(name: str) -> str:
    validate_name(name, "json file name")
    return name if name.endswith(".json") else name + ".json"


# --- chunk files -------------------------------------------------------------------------------
class ChunkGrid:
    """Where the chunk files of one array of a series are and how large each must be.

    ``kind`` is ``"values"`` (chunks of ``chunk_rows`` rows x ``column_chunk`` columns) or
    ``"steps"`` (chunks of ``steps_chunk_rows`` int64).  ``entry`` is the series' declaration
    in ``committed.json``; ``compressor`` the ``.zarray`` entry (None: raw chunks).
    """

    def __init__(self, folder: Path, entry: dict, kind: str, compressor: dict | None):
        self.folder = folder
        self.kind = kind
        self.compressor = compressor
        self.rows = int(entry["rows"])
        if kind == "values":
            shape = tuple(entry["shape"])
            self.chunk_rows = int(entry["chunk_rows"])
            self.record_ndim = len(shape)
            column_chunk = entry["column_chunk"]
            self.blocks = num_column_blocks(shape, column_chunk or 1)
            self.column_chunk = column_chunk
            self.num_columns = shape[0] if shape else 1
            per_row = (
                int(np.prod((column_chunk, *shape[1:]), dtype=np.int64)) if shape else 1
            ) * np.dtype(entry["dtype"]).itemsize
        else:
            self.chunk_rows = int(entry["steps_chunk_rows"])
            self.record_ndim, self.blocks, self.column_chunk = 0, 1, None
            self.num_columns = 1
            per_row = 8
        self.row_bytes = per_row
        self.nbytes = self.chunk_rows * per_row

    @property
    def num_row_chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def key(self, row_chunk: int, block: int) -> str:
        return chunk_key(row_chunk, block, self.record_ndim)

    def path(self, row_chunk: int, block: int) -> Path:
        return self.folder / self.key(row_chunk, block)

    def row_range(self, row_chunk: int) -> tuple[int, int]:
        """The committed rows ``[a, b)`` chunk ``row_chunk`` holds."""
        a = row_chunk * self.chunk_rows
        return a, min(a + self.chunk_rows, self.rows)

    def blocks_of(self, cols) -> range | np.ndarray:
        """The column blocks holding ``cols`` (None: all; a slice; integer indices)."""
        if self.blocks == 1 or cols is None:
            return range(self.blocks)
        if isinstance(cols, slice):
            idx = np.arange(self.num_columns)[cols]
        else:
            idx = np.asarray(cols)
        return np.unique(idx // self.column_chunk) if idx.size else np.zeros(0, np.int64)

    def size_problem(self, path: Path) -> str | None:
        """None when the chunk file at ``path`` is there with the right size, else what is
        wrong ("missing", "truncated: 300 of 7044000 bytes", ...).

        Raw chunks: the size is exact.  Blosc chunks: the header's compressed size must equal
        the file size and its decoded size the chunk's bytes (one 16-byte read).
        """
        try:
            if self.compressor is None:
                size = os.stat(path).st_size
                if size == self.nbytes:
                    return None
                return (
                    f"truncated: {size} of {self.nbytes} bytes"
                    if size < self.nbytes
                    else f"{size} bytes, expected {self.nbytes}"
                )
            with open(path, "rb") as f:
                head = f.read(_BLOSC_HEADER)
                size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        if len(head) < _BLOSC_HEADER:
            return f"truncated: {size} bytes, shorter than a Blosc header"
        nbytes, cbytes = (int(v) for v in np.frombuffer(head, "<u4")[[1, 3]])
        if head[0] not in (1, 2) or nbytes != self.nbytes:
            return "not a Blosc chunk of this array (header does not match)"
        if cbytes != size:
            return (
                f"truncated: {size} of {cbytes} bytes"
                if size < cbytes
                else f"{size} bytes, its header says {cbytes}"
            )
        return None

    def decode(self, path: Path) -> np.ndarray:
        """The decoded chunk as a flat byte array (raises on a chunk that does not decode)."""
        data = path.read_bytes()
        codec = get_codec(self.compressor)
        if codec is not None:
            data = codec.decode(data)
        out = np.frombuffer(data, dtype=np.uint8)
        if out.size != self.nbytes:
            raise ValueError(f"decodes to {out.size} bytes, expected {self.nbytes}")
        return out


def crc32_rows(chunk: np.ndarray, rows: int) -> int:
    """crc32 of the first ``rows`` rows of a chunk: ``chunk`` is the C-contiguous chunk array
    (shape (chunk_rows, ...)) or its decoded bytes reshaped to (chunk_rows, row_bytes).  This
    is what ``checksums.json`` records: the committed rows only, so rewriting a partial chunk
    with more rows keeps the checksum of the rows it had valid."""
    import zlib

    return zlib.crc32(np.ascontiguousarray(chunk[:rows]).reshape(-1).view(np.uint8))


def read_checksums(series_folder: Path) -> dict:
    """``{"values": {key: [rows, crc32]}, "steps": {...}}`` of a series (empty when none)."""
    path = series_folder / CHECKSUMS
    if not path.exists():
        return {"values": {}, "steps": {}}
    data = read_json_file(path)
    return {"values": data.get("values", {}), "steps": data.get("steps", {})}


def checksums_bytes(sums: dict) -> bytes:
    return json.dumps(
        {
            "algorithm": "crc32",
            "of": "the first `rows` rows of the decoded chunk (C order), [rows, crc32]",
            **sums,
        },
        separators=(",", ":"),
    ).encode()
