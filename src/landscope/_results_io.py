"""Files every layer writes: atomic writes, JSON of numpy / torch values, and result files
(arrays in ``NAME.npz`` and the same arrays as lists plus the metadata in ``NAME.json``; data
first, figures are drawn from these).  The one implementation of each (run store, landscape
grids, analyses and reports use it)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TMP_SUFFIX",
    "json_default",
    "jsonable",
    "load_arrays",
    "save_arrays",
    "write_atomic",
    "write_json_atomic",
]

#: Suffix of the temporary files of :func:`write_atomic` (a crashed writer may leave them).
TMP_SUFFIX = ".tmp"


def json_default(obj: Any) -> Any:
    """Make numpy / torch scalars and arrays, paths and sets JSON-serialisable."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if type(obj).__module__ == "torch" and hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_atomic(
    path: Path, data: bytes | memoryview | np.ndarray, *, durable: bool = False
) -> None:
    """Write ``data`` to ``path`` so that ``path`` is always either the old or the new file.

    The bytes go to a temporary file in the same folder, which then replaces ``path`` with
    ``os.replace`` (atomic on POSIX and Windows).  ``durable`` also fsyncs the file and the
    folder (survives power loss, not only a killed process); it costs a disk flush per call.
    """
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """``obj`` as JSON in ``path``, written atomically (numpy / torch values converted by
    :func:`json_default`)."""
    path = Path(path)
    write_atomic(path, json.dumps(obj, indent=indent, default=json_default).encode())
    return path


def jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN; arrays in the .npz keep it
    return value


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    base = Path(path)
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    return base.with_suffix(".npz"), base.with_suffix(".json")


def save_arrays(
    path: str | os.PathLike,
    arrays: dict[str, np.ndarray],
    meta: dict,
    *,
    json_exclude: tuple[str, ...] = (),
) -> tuple[Path, Path]:
    """Write ``path.npz`` (all arrays) and ``path.json`` (``meta`` and the arrays as lists, but
    for the large ones named in ``json_exclude``, which live in the .npz only)."""
    npz, js = _paths(path)
    npz.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(npz, buffer.getbuffer())
    body = {
        "meta": jsonable(meta),
        "arrays": {k: jsonable(v) for k, v in arrays.items() if k not in json_exclude},
    }
    write_atomic(js, json.dumps(body, indent=1).encode())
    return npz, js


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    npz, js = _paths(path)
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(js.read_text())["meta"] if js.exists() else {}
    return arrays, meta
