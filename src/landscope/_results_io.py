"""Result files shared by the analyses: arrays in ``NAME.npz`` and the same arrays as lists plus
the metadata in ``NAME.json`` (data first; figures are drawn from these)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["jsonable", "load_arrays", "save_arrays"]


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
    np.savez(npz, **arrays)
    body = {
        "meta": jsonable(meta),
        "arrays": {k: jsonable(v) for k, v in arrays.items() if k not in json_exclude},
    }
    js.write_text(json.dumps(body, indent=1))
    return npz, js


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    npz, js = _paths(path)
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(js.read_text())["meta"] if js.exists() else {}
    return arrays, meta
