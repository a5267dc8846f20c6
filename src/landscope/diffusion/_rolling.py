"""d and the AUC ratio over training in sliding windows (Fjellstrom & Nystrom sec. 3.4.5,
Fig. 13, 14).

The paper takes a first window of points at the start of training and rolls a window of the same
number of points forward by 50 steps at a time; eps is re-tuned per window (Fig. 14b) because
the iterates come closer together as SGD converges, and a fixed eps -- chosen on the first window
-- becomes too large for later windows, which makes d appear to fall (Fig. 13b: "erroneous").
Both variants are computed here from one (M, M) squared-distance matrix of the whole trajectory
(each window is a sub-matrix: no distance is recomputed; the modified Mahalanobis distance of a
pair does not depend on the other points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from landscope.diffusion._dimension import intrinsic_dimension
from landscope.diffusion._epsilon import _as_sq, _default_spectrum, choose_epsilon

__all__ = ["RollingDimension", "rolling_dimension", "window_starts"]


def window_starts(num_points: int, window: int, stride: int) -> np.ndarray:
    """Start indices of the windows ``[s, s + window)`` that fit in ``num_points`` points, every
    ``stride`` points from 0 (a last partial window is not used).

    >>> window_starts(10, 4, 3).tolist()
    [0, 3, 6]
    """
    if window < 2:
        raise ValueError(f"window must hold at least 2 points, got {window}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if window > num_points:
        raise ValueError(f"window ({window}) is longer than the trajectory ({num_points} points)")
    return np.arange(0, num_points - window + 1, stride, dtype=np.int64)


@dataclass(frozen=True)
class RollingDimension:
    """Per-window results (W windows).

    Attributes:
        starts, stops: (W,) point indices ``[start, stop)`` of each window.
        steps: (W, 2) training steps of each window's first and last point (when given).
        eps: (W,) eps used in each window (re-selected, or the fixed one).
        d, auc: (W,) dimension and AUC ratio (sec. 3.2).
        rule: the eps rule (``"fixed"`` for the fixed-eps variant).
    """

    starts: np.ndarray
    stops: np.ndarray
    steps: np.ndarray
    eps: np.ndarray
    d: np.ndarray
    auc: np.ndarray
    rule: str

    def as_dict(self) -> dict:
        return {
            "starts": self.starts.tolist(),
            "stops": self.stops.tolist(),
            "steps": self.steps.tolist(),
            "eps": self.eps.tolist(),
            "d": [int(v) for v in self.d],
            "auc": self.auc.tolist(),
            "rule": self.rule,
        }


def rolling_dimension(
    sq_distances,
    window: int,
    stride: int = 50,
    *,
    eps: str | float = "corner",
    steps=None,
    beta: float = 0.99,
    drop_trivial: bool = False,
    reading: str = "sum",
    scan_points: int = 16,
    num: int = 200,
    spectrum: Callable[[torch.Tensor, float], np.ndarray] | None = None,
    progress: bool = False,
) -> RollingDimension:
    """d and AUC in sliding windows (Fig. 13b / 14).

    Args:
        sq_distances: (M, M) squared distances of the whole trajectory, in step order.
        window: points per window.  stride: points between window starts (paper: 50).
        eps: a rule of :func:`choose_epsilon` re-applied in every window (Fig. 14), or a number:
            the same eps in every window (the fixed-eps variant of Fig. 13b).
        steps: (M,) training step of each point (for the ``steps`` field; default: index).
        beta, drop_trivial, reading: the dimension settings (sec. 3.2).
        scan_points, num: the eps rule's scan size and L(eps) grid size per window.
        spectrum: eigenvalues of P for (d2, eps) (default: ``markov_eigenvalues``).
        progress: progress bar over the windows.
    """
    d2 = _as_sq(sq_distances)
    m = d2.shape[0]
    steps = np.arange(m) if steps is None else np.asarray(steps)
    if steps.shape != (m,):
        raise ValueError(f"steps must have shape ({m},), got {steps.shape}")
    starts = window_starts(m, int(window), int(stride))
    spectrum = spectrum or _default_spectrum
    fixed = not isinstance(eps, str)
    it = starts
    if progress:
        from landscope._progress import progress_bar

        it = progress_bar(starts, desc="windows", total=starts.size)
    out_eps, out_d, out_auc = [], [], []
    for s in it:
        sub = d2[s : s + window, s : s + window]
        if fixed:
            e = float(eps)
        else:
            e = choose_epsilon(
                sub,
                eps,
                num=num,
                scan_points=scan_points,
                beta=beta,
                drop_trivial=drop_trivial,
                reading=reading,
                spectrum=spectrum,
                with_curve=False,
            ).eps
        r = intrinsic_dimension(
            spectrum(sub, e), beta=beta, drop_trivial=drop_trivial, reading=reading
        )
        out_eps.append(e)
        out_d.append(r.d)
        out_auc.append(r.auc)
    stops = starts + int(window)
    return RollingDimension(
        starts=starts,
        stops=stops,
        steps=np.stack([steps[starts], steps[stops - 1]], axis=1),
        eps=np.asarray(out_eps, dtype=np.float64),
        d=np.asarray(out_d, dtype=np.int64),
        auc=np.asarray(out_auc, dtype=np.float64),
        rule="fixed" if fixed else str(eps),
    )
