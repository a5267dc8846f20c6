"""The on-disk layout of a run folder, shared by the writer and the reader.

A run folder holds::

    meta.json            what the run is (resolved config, versions, parameter layout, ...)
    committed.json       the series and how many rows of each are committed (the only truth
                         about lengths: rows at or past it are not data)
    series/              a zarr group (zarr format 2, readable by zarr 2 and zarr 3)
      <name>/values      zarr array (rows, *shape), chunks (chunk_rows, column_chunk, ...)
      <name>/steps       zarr array (rows,) int64: the step of each row
    checkpoint.pt        the latest training checkpoint (torch.save)
    *.json               results written with ``write_json`` (summary.json, ...)

Every file is replaced atomically (written to a temporary file in the same folder, then
``os.replace``), so a process killed at any moment leaves each file either old or new.  A flush
writes the chunk files, then each array's metadata (``.zarray``, whose first dimension grows
to the number of rows), then ``committed.json``; a row is only visible to readers once
``committed.json`` counts it.  So at every moment ``rows in .zarray >= committed rows``, and
the committed rows are on disk.
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
FORMAT_VERSION = 1
ARRAY_META = ".zarray"  # zarr format-2 array metadata
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
) -> dict:
    """Create an empty (0 rows), uncompressed format-2 array at ``path``; return its metadata."""
    arr = zarr.create(
        (0, *record_shape),
        chunks=chunks,
        dtype=dtype,
        compressor=None,
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
            f"(a run folder holds {META}, {COMMITTED} and {SERIES_DIR}/, made by TrajectoryWriter.create)"
        )


def read_committed(path: Path) -> dict:
    try:
        with open(path / COMMITTED, "rb") as f:
            committed = json.load(f)
    except json.JSONDecodeError as exc:  # cannot happen with atomic writes; say so if it does
        raise ValueError(f"{path / COMMITTED} is not valid JSON: {exc}") from exc
    if committed.get("format") != FORMAT:
        raise ValueError(
            f"{path / COMMITTED} is not a {FORMAT} file (format {committed.get('format')!r})"
        )
    if committed.get("version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer landscope (store version {committed.get('version')}); "
            f"this one reads version {FORMAT_VERSION}"
        )
    return committed


def read_json_file(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.load(f)


def json_file_name(name: str) -> str:
    validate_name(name, "json file name")
    return name if name.endswith(".json") else name + ".json"
