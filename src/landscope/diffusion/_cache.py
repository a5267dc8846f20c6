"""The squared-distance cache: the expensive stage (per-sample gradients at every point, the
whitening factors, all pairs of eq. 2.5) is stored in the run folder, keyed by a hash of exactly
the settings it depends on (points, metric, inverse and cut-off, batch size, layer, precision,
samples).  Settings it does not depend on (eps, beta, alpha, rolling windows, the eps rule) do not
enter the key, so changing them never recomputes distances.

Layout: ``RUN/analyses/diffusion/<key>/distances.npz`` (``sq_distances`` (M, M) float64, the
points' ``steps`` and ``run_index``, per-point ``ranks``, ``top_eigenvalues``,
``smallest_retained``) with ``distances.json`` (the settings, the info, seconds), and optionally
``factors.npz`` (the W_i columns in float32, ``offsets``).  A run folder that cannot be written
(read-only media) falls back to the ``fallback`` folder given (the analysis' ``out_dir``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from landscope._results_io import json_default, load_arrays, save_arrays
from landscope.diffusion._distances import WhiteningFactors

__all__ = ["CACHE_VERSION", "DistanceCache", "cache_key", "cached_distances"]

#: Bumped whenever the cached arrays would change for the same settings.
CACHE_VERSION = 1


def cache_key(settings: dict) -> str:
    """A 16-hex-digit hash of ``settings`` (JSON, sorted keys) and :data:`CACHE_VERSION`.

    >>> cache_key({"metric": "exact", "cutoff": 1e-12}) == cache_key({"cutoff": 1e-12, "metric": "exact"})
    True
    """
    text = json.dumps({"v": CACHE_VERSION, **settings}, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DistanceCache:
    """What :func:`cached_distances` returns: the arrays, where they live, and whether they were
    read (``hit``) or computed."""

    def __init__(self, arrays: dict, meta: dict, folder: Path, hit: bool):
        self.arrays, self.meta, self.folder, self.hit = arrays, meta, folder, hit

    @property
    def sq_distances(self) -> np.ndarray:
        return self.arrays["sq_distances"]

    def factors(self) -> WhiteningFactors | None:
        """The cached W_i (float32 columns, as float64), or None when they were not kept."""
        path = self.folder / "factors.npz"
        if not path.exists():
            return None
        arrays, meta = load_arrays(path)
        return WhiteningFactors(
            torch.from_numpy(arrays["columns"].astype(np.float64)),
            arrays["offsets"],
            self.arrays["ranks"],
            self.arrays["top_eigenvalues"],
            self.arrays["smallest_retained"],
            dim=int(arrays["columns"].shape[0]),
            **{k: meta.get(k) for k in ("inverse", "cutoff", "rank", "delta")},
        )


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-probe"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def cached_distances(
    run_path: str | Path,
    settings: dict,
    compute: Callable[[], tuple[np.ndarray, dict, WhiteningFactors]],
    *,
    fallback: str | Path | None = None,
    keep_factors: bool = False,
    use_cache: bool = True,
) -> DistanceCache:
    """The squared distances for ``settings``: read from the cache when present, else
    ``compute()`` -> ``(sq_distances, info, factors)`` and stored.

    Args:
        run_path: the (first) run folder; the cache lives in ``run_path/analyses/diffusion``.
        settings: exactly what the distances depend on (the key); ``info`` must hold
            ``steps`` and ``run_index`` arrays.
        fallback: a folder used when the run folder is not writable.
        keep_factors: also store the W_i (float32; M * mean rank * m * 4 bytes).
        use_cache: ``False`` recomputes and overwrites.
    """
    key = cache_key(settings)
    folder = Path(run_path) / "analyses" / "diffusion" / key
    if not _writable(folder.parent) and fallback is not None:
        folder = Path(fallback) / "distance-cache" / key
    path = folder / "distances.npz"
    if use_cache and path.exists():
        arrays, meta = load_arrays(path)
        if meta.get("key") == key:
            return DistanceCache(arrays, meta, folder, hit=True)
    start = time.perf_counter()
    sq, info, factors = compute()
    seconds = time.perf_counter() - start
    arrays = {
        "sq_distances": np.asarray(sq, dtype=np.float64),
        "steps": np.asarray(info.pop("steps"), dtype=np.int64),
        "run_index": np.asarray(info.pop("run_index"), dtype=np.int64),
        "ranks": np.asarray(factors.ranks, dtype=np.int64),
        "top_eigenvalues": np.asarray(factors.top_eigenvalues, dtype=np.float64),
        "smallest_retained": np.asarray(factors.smallest_retained, dtype=np.float64),
    }
    meta = {"key": key, "settings": settings, "info": info, "seconds": seconds}
    folder.mkdir(parents=True, exist_ok=True)
    if keep_factors:
        save_arrays(
            folder / "factors",
            {
                "columns": factors.columns.numpy().astype(np.float32),
                "offsets": factors.offsets,
            },
            factors.settings(),
            json_exclude=("columns", "offsets"),
        )
    save_arrays(path, arrays, meta, json_exclude=tuple(arrays))
    return DistanceCache(arrays, meta, folder, hit=False)
