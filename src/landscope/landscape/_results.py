"""Result containers of the landscape analyses: data first (arrays + JSON), figures later."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscope._results_io import load_arrays as _load
from landscope._results_io import save_arrays as _save

__all__ = ["InterpolationResult", "SurfaceResult", "TrajectoryProjection"]


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
class TrajectoryProjection:
    """A trajectory seen from the line ``theta_i -> theta_f`` (Goodfellow et al. 2015, App. B).

    With ``u = (theta_f - theta_i) / ||theta_f - theta_i||``:
    ``alpha(t) = (theta(t) - theta_i)^T u`` (the coordinate along the line, parameter-norm
    units) and ``beta(t) = ||theta(t) - theta_i - alpha(t) u||`` (the norm of the residual).

    Attributes:
        steps: (T,) the steps of the trajectory's rows.
        alpha: (T,) alpha(t).
        beta: (T,) beta(t), >= 0.
        param_norm: (T,) ||theta(t)||.
        distance: ||theta_f - theta_i||.
        values: optional metric name -> (T,) (e.g. the loss along the trajectory).
        meta: anything else (which rows are theta_i and theta_f, seed of a control).
    """

    steps: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    param_norm: np.ndarray
    distance: float
    values: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def alpha_fraction(self) -> np.ndarray:
        """alpha(t) / ||theta_f - theta_i||: 0 at theta_i, 1 at the projection of theta_f."""
        return self.alpha / self.distance

    @property
    def residual_ratio(self) -> np.ndarray:
        """beta(t) / ||theta(t)||: the fraction of the parameter norm the 1-D projection
        discards (App. B, Fig. 13 discussion)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.param_norm > 0, self.beta / self.param_norm, np.nan)

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        arrays = {
            "steps": self.steps,
            "alpha": self.alpha,
            "beta": self.beta,
            "param_norm": self.param_norm,
            "residual_ratio": self.residual_ratio,
            **{f"value_{k}": v for k, v in self.values.items()},
        }
        return _save(
            path, arrays, {"kind": "trajectory_projection", "distance": self.distance, **self.meta}
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrajectoryProjection:
        arrays, meta = _load(path)
        meta.pop("kind", None)
        distance = float(meta.pop("distance"))
        values = {k[len("value_") :]: v for k, v in arrays.items() if k.startswith("value_")}
        return cls(
            arrays["steps"],
            arrays["alpha"],
            arrays["beta"],
            arrays["param_norm"],
            distance,
            values,
            meta,
        )


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
