"""The dimension of the slow manifold from a diffusion map's spectrum (Fjellstrom & Nystrom
sec. 3.2), and standard intrinsic-dimension estimators on the same point cloud for comparison.

All functions take the eigenvalues of the Markov matrix P (eq. 2.11) as a 1-D array or tensor,
**ordered by decreasing |lambda|** and, by default, **including the trivial eigenvalue 1**
(``DiffusionMap.eigenvalues_`` is ordered that way).  ``drop_trivial=True`` removes the first
entry before anything is computed (then "lambda_1" below is the first non-trivial eigenvalue).
Indices are 1-based as in the paper: ``d = 3`` means the first three eigenvalues.

* energy ratio (eq. 3.3): ``Lambda_i = sqrt(sum_{l<=i} lambda_l^2) / sqrt(sum_l lambda_l^2)``;
* dimension: ``d = min{i : Lambda_i > beta}`` (sec. 3.2, beta = 0.99 in the paper);
* ``s(alpha) = max{l : |lambda_l| > alpha |lambda_1|}`` (eq. 3.1, Coifman & Lafon);
* AUC ratio, "the proportion of the area under the eigenvalue curve accounted for by the
  dominant d eigenvalues" (sec. 3.2).  The paper gives no formula.  Our reading (default,
  ``reading="sum"``): the curve is the step function ``i -> |lambda_i|``, so its area is a sum,
  ``AUC = sum_{i<=d} |lambda_i| / sum_i |lambda_i|``.  The alternative we considered and offer
  (``reading="trapezoid"``): the piecewise-linear curve through ``(i, |lambda_i|)``, area by the
  trapezoid rule, ``int_1^d / int_1^K``.  The two differ by about ``(|lambda_1| - |lambda_d|)
  / 2`` over the total, i.e. little when many eigenvalues are non-negligible.  (A third
  reading, the share of the *energy* ``sum lambda^2``, is ``Lambda_d^2`` and is returned as
  ``energy_share``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch

__all__ = [
    "AUC_READINGS",
    "DimensionResult",
    "auc_ratio",
    "energy_dimension",
    "energy_ratio",
    "intrinsic_dimension",
    "mds_coordinates",
    "reference_dimensions",
    "significant_count",
]

#: The readings of "AUC ratio" :func:`auc_ratio` offers (see the module docstring).
AUC_READINGS = ("sum", "trapezoid")


def _spectrum(eigenvalues, drop_trivial: bool) -> np.ndarray:
    """|lambda| as a float64 numpy vector, checked to be ordered by decreasing |lambda|."""
    if isinstance(eigenvalues, torch.Tensor):
        eigenvalues = eigenvalues.detach().cpu().to(torch.float64).numpy()
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1:
        raise ValueError(f"eigenvalues must be a 1-D array, got shape {lam.shape}")
    if drop_trivial:
        lam = lam[1:]
    if lam.size == 0:
        raise ValueError("eigenvalues is empty (after dropping the trivial eigenvalue)")
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues contain NaN or inf")
    a = np.abs(lam)
    if np.any(np.diff(a) > 1e-12 * max(a[0], 1e-300)):
        raise ValueError("eigenvalues must be ordered by decreasing |lambda| (DiffusionMap order)")
    return a


def energy_ratio(eigenvalues, *, drop_trivial: bool = False) -> np.ndarray:
    """The energy ratios ``Lambda_i`` (Fjellstrom eq. 3.3), i = 1..K.

    Args:
        eigenvalues: (K,) eigenvalues of P ordered by decreasing |lambda| (trivial 1 first).
        drop_trivial: drop the first (trivial) eigenvalue first.

    Returns:
        (K,) or (K - 1,) float64, non-decreasing, last entry 1.  All zeros gives NaN.

    >>> energy_ratio([1.0, 1.0, 0.0, 0.0]).round(4).tolist()
    [0.7071, 1.0, 1.0, 1.0]
    """
    a = _spectrum(eigenvalues, drop_trivial)
    energy = np.cumsum(a**2)
    if energy[-1] == 0:
        return np.full_like(a, np.nan)
    return np.sqrt(energy / energy[-1])


def energy_dimension(eigenvalues, beta: float = 0.99, *, drop_trivial: bool = False) -> int:
    """``d = min{i : Lambda_i > beta}`` (Fjellstrom sec. 3.2; 1-based), the paper's dimension.

    >>> energy_dimension([1.0, 0.5, 0.1, 0.01], beta=0.99)  # Lambda_2 = sqrt(1.25 / 1.2601)
    2
    """
    if not 0.0 < beta < 1.0:
        raise ValueError(f"beta must be in (0, 1), got {beta!r}")
    ratio = energy_ratio(eigenvalues, drop_trivial=drop_trivial)
    if np.isnan(ratio[-1]):
        raise ValueError("all eigenvalues are zero: the energy ratio is undefined")
    return int(np.argmax(ratio > beta)) + 1


def significant_count(eigenvalues, alpha: float, *, drop_trivial: bool = False) -> int:
    """``s(alpha) = max{l : |lambda_l| > alpha |lambda_1|}`` (Fjellstrom eq. 3.1; 1-based).

    With the trivial eigenvalue kept, ``lambda_1 = 1`` and ``s`` counts the eigenvalues above
    ``alpha`` (the trivial one included).

    >>> significant_count([1.0, 0.5, 0.1, 0.01], alpha=0.05)
    3
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    a = _spectrum(eigenvalues, drop_trivial)
    return int(np.count_nonzero(a > alpha * a[0]))


def auc_ratio(
    eigenvalues,
    d: int,
    *,
    drop_trivial: bool = False,
    reading: Literal["sum", "trapezoid"] = "sum",
) -> float:
    """The AUC ratio of the first ``d`` eigenvalues (Fjellstrom sec. 3.2, Tables 2-5).

    ``reading="sum"`` (ours, default): ``sum_{i<=d} |lambda_i| / sum_i |lambda_i|``;
    ``reading="trapezoid"``: trapezoid area of ``i -> |lambda_i|`` over [1, d] over [1, K]
    (0 for d = 1).  See the module docstring for why these two.

    >>> auc_ratio([1.0, 0.5, 0.5], 1)
    0.5
    >>> auc_ratio([1.0, 0.5, 0.5], 2, reading="trapezoid")
    0.6
    """
    a = _spectrum(eigenvalues, drop_trivial)
    d = int(d)
    if not 0 <= d <= a.size:
        raise ValueError(f"d must be in [0, {a.size}], got {d}")
    if reading == "sum":
        total = a.sum()
        return float(a[:d].sum() / total) if total > 0 else float("nan")
    if reading == "trapezoid":
        if a.size < 2:
            return float("nan")
        total = np.trapezoid(a) if hasattr(np, "trapezoid") else np.trapz(a)  # noqa: NPY201
        part = 0.0 if d < 2 else float(np.sum((a[1:d] + a[: d - 1]) / 2))
        return float(part / total) if total > 0 else float("nan")
    raise ValueError(f"reading must be one of {AUC_READINGS}, got {reading!r}")


@dataclass(frozen=True)
class DimensionResult:
    """Everything sec. 3.2 derives from one spectrum (see the module docstring).

    Attributes:
        d: ``min{i : Lambda_i > beta}``.
        auc: AUC ratio of the first d eigenvalues in the ``reading`` asked for.
        auc_sum, auc_trapezoid: both readings.
        energy_share: ``Lambda_d^2`` (share of sum lambda^2 in the first d).
        s_alpha: ``s(alpha)`` (eq. 3.1) or None when no alpha was given.
        beta, alpha, drop_trivial, reading: the settings.
        num_eigenvalues: K (after dropping the trivial one).
    """

    d: int
    auc: float
    auc_sum: float
    auc_trapezoid: float
    energy_share: float
    s_alpha: int | None
    beta: float
    alpha: float | None
    drop_trivial: bool
    reading: str
    num_eigenvalues: int

    def as_dict(self) -> dict:
        return asdict(self)


def intrinsic_dimension(
    eigenvalues,
    *,
    beta: float = 0.99,
    alpha: float | None = None,
    drop_trivial: bool = False,
    reading: Literal["sum", "trapezoid"] = "sum",
) -> DimensionResult:
    """d (energy ratio > beta), the AUC ratio there and s(alpha) of one spectrum (sec. 3.2).

    Args:
        eigenvalues: (K,) eigenvalues of P, ordered by decreasing |lambda|, trivial 1 first.
        beta: the energy-ratio threshold (paper: 0.99).
        alpha: the accuracy of eq. 3.1 (None: s(alpha) not computed).
        drop_trivial: drop the trivial eigenvalue before everything.
        reading: which AUC reading goes into ``auc`` (both are returned).

    >>> r = intrinsic_dimension([1.0, 0.5, 0.1, 0.01], alpha=0.05)
    >>> (r.d, round(r.auc, 4), r.s_alpha)
    (2, 0.9317, 3)
    """
    if reading not in AUC_READINGS:
        raise ValueError(f"reading must be one of {AUC_READINGS}, got {reading!r}")
    a = _spectrum(eigenvalues, drop_trivial)
    d = energy_dimension(a, beta)
    ratio = energy_ratio(a)
    auc_sum = auc_ratio(a, d, reading="sum")
    auc_trap = auc_ratio(a, d, reading="trapezoid")
    return DimensionResult(
        d=d,
        auc=auc_sum if reading == "sum" else auc_trap,
        auc_sum=auc_sum,
        auc_trapezoid=auc_trap,
        energy_share=float(ratio[d - 1] ** 2),
        s_alpha=None if alpha is None else significant_count(a, alpha),
        beta=float(beta),
        alpha=None if alpha is None else float(alpha),
        drop_trivial=bool(drop_trivial),
        reading=reading,
        num_eigenvalues=int(a.size),
    )


def reference_dimensions(
    coordinates,
    *,
    estimators: tuple[str, ...] = ("TwoNN", "MLE"),
    n_neighbors: int = 20,
) -> dict[str, float]:
    """Standard intrinsic-dimension estimates of a point cloud, for comparison with the
    diffusion-map d (optional extra; needs ``scikit-dimension``, extra ``diffusion``).

    Pass the Euclidean coordinates (the iterates, (M, m)) or the Mahalanobis-whitened ones (any
    (M, k) coordinates whose Euclidean distances are the metric's, e.g. a classical-MDS
    embedding of the squared-distance matrix: :func:`mds_coordinates`).

    Args:
        coordinates: (M, k) array or tensor.
        estimators: names of ``skdim.id`` estimators: ``TwoNN`` (Facco et al. 2017, global),
            ``MLE`` (Levina & Bickel 2005, ``n_neighbors`` neighbours, pointwise estimates
            combined by skdim's default ``comb="mle"``), or any other ``skdim.id`` class fitted with defaults.
        n_neighbors: neighbours of the MLE estimator.

    Returns:
        ``{name: dimension}`` (float; NaN where the estimator failed on this cloud, e.g.
        duplicate points for TwoNN).
    """
    try:
        import skdim
    except ImportError as exc:  # the one optional dependency: say what to install
        raise ImportError(
            "reference_dimensions needs scikit-dimension: pip install 'landscope[diffusion]'"
        ) from exc
    if isinstance(coordinates, torch.Tensor):
        coordinates = coordinates.detach().cpu().to(torch.float64).numpy()
    x = np.asarray(coordinates, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"coordinates must be (M >= 3, k), got shape {x.shape}")
    out: dict[str, float] = {}
    for name in estimators:
        cls = getattr(skdim.id, name, None)
        if cls is None:
            raise ValueError(f"unknown skdim estimator {name!r}")
        try:
            if name == "MLE":
                k = min(n_neighbors, x.shape[0] - 1)
                value = float(cls(K=k).fit(x, n_neighbors=k, n_jobs=1).dimension_)
            else:
                value = float(cls().fit(x).dimension_)
        except (ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError):
            value = float("nan")
        out[name] = value
    return out


def mds_coordinates(sq_distances, k: int | None = None, *, tol: float = 1e-10) -> np.ndarray:
    """Classical-MDS coordinates of a squared-distance matrix: ``Y`` (M, k) whose Euclidean
    squared distances reproduce ``sq_distances`` exactly when it is Euclidean (the modified
    Mahalanobis distance of eq. 2.5 is not exactly Euclidean: negative eigenvalues of the
    double-centred matrix are dropped).  Used to feed :func:`reference_dimensions` with the
    whitened geometry.

    Args:
        sq_distances: (M, M) symmetric.
        k: number of coordinates (default: every positive eigenvalue above ``tol`` x largest).
    """
    if isinstance(sq_distances, torch.Tensor):
        sq_distances = sq_distances.detach().cpu().to(torch.float64).numpy()
    d2 = np.asarray(sq_distances, dtype=np.float64)
    if d2.ndim != 2 or d2.shape[0] != d2.shape[1]:
        raise ValueError(f"sq_distances must be square (M, M), got shape {d2.shape}")
    b = -0.5 * d2
    b = b - b.mean(axis=0, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    w, v = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(w)[::-1]
    w, v = w[order], v[:, order]
    keep = w > tol * max(w[0], 0.0)
    if k is not None:
        keep &= np.arange(w.size) < k
    return v[:, keep] * np.sqrt(w[keep])
