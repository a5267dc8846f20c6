"""Result container of trajectory projections: data first (arrays + JSON), figures later."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscope._results_io import load_arrays as _load
from landscope._results_io import save_arrays as _save

__all__ = ["TrajectoryProjection"]


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
