"""Result containers of the landscape analyses: data first (arrays + JSON), figures later."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscope._results_io import load_arrays as _load
from landscope._results_io import save_arrays as _save

__all__ = ["InterpolationResult", "SurfaceResult"]


@dataclass
class InterpolationResult:
    """``J((1 - alpha) theta_a + alpha theta_b)`` along a line (Goodfellow et al. 2015, sec. 2).

    Attributes:
        alphas: (n,) the line coordinates; 0 is ``theta_a``, 1 is ``theta_b``.
        values: metric name -> (n,) array: ``"train_loss"``, ``"train_accuracy"`` and, with a
            test problem, ``"test_loss"``, ``"test_accuracy"`` (accuracy for classification only).
        meta: how it was computed (distance ||theta_b - theta_a||, subset indices, timing, label).
    """

    alphas: np.ndarray
    values: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; metrics are {sorted(self.values)}") from None

    @property
    def label(self) -> str:
        return str(self.meta.get("label", ""))

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``path.npz`` (arrays) and ``path.json`` (arrays as lists + meta)."""
        return _save(
            path, {"alphas": self.alphas, **self.values}, {"kind": "interpolation", **self.meta}
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> InterpolationResult:
        arrays, meta = _load(path)
        meta.pop("kind", None)
        alphas = arrays.pop("alphas")
        return cls(alphas, arrays, meta)


@dataclass
class SurfaceResult:
    """The loss on a 2-D grid of a plane or surface (Goodfellow et al. 2015, App. C, D).

    Attributes:
        alphas: (A,) first coordinate.  betas: (B,) second coordinate.
        values: metric name -> (A, B) array, ``values[m][i, j]`` at ``(alphas[i], betas[j])``
            (NaN where a resumable grid is not finished).
        trajectory: (T, 2) the trajectory's coordinates on the surface, or ``None``.
        trajectory_values: metric name -> (T,) values at those surface points.
        meta: the surface kind, its info (e.g. explained variance of PCA directions), the
            evaluated subset, timing.
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: dict[str, np.ndarray]
    trajectory: np.ndarray | None = None
    trajectory_values: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; metrics are {sorted(self.values)}") from None

    @property
    def complete(self) -> bool:
        return all(bool(np.isfinite(v).all()) for v in self.values.values())

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        arrays = {"alphas": self.alphas, "betas": self.betas, **self.values}
        if self.trajectory is not None:
            arrays["trajectory"] = self.trajectory
        arrays.update({f"trajectory_{k}": v for k, v in self.trajectory_values.items()})
        return _save(path, arrays, {"kind": "surface", **self.meta})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SurfaceResult:
        arrays, meta = _load(path)
        meta.pop("kind", None)
        alphas, betas = arrays.pop("alphas"), arrays.pop("betas")
        trajectory = arrays.pop("trajectory", None)
        tvalues = {
            k[len("trajectory_") :]: arrays.pop(k)
            for k in list(arrays)
            if k.startswith("trajectory_")
        }
        return cls(alphas, betas, arrays, trajectory, tvalues, meta)
