"""Choosing the diffusion-map scale epsilon (Fjellstrom & Nystrom sec. 3.3), every rule as data.

All rules read the (M, M) matrix of squared distances ``d2[i, j] = ||x_i - x_j||^2`` (the
modified Mahalanobis distance of eq. 2.5, or any other), which is computed once and cached: no
rule recomputes distances.

Rules (each returns an :class:`EpsilonChoice` with the data behind it):

* ``"lafon"``: Lafon's mean nearest-neighbour rule (sec. 3.3, from Lafon's thesis),
  ``eps = (1/M) sum_i min_{j != i} d2[i, j]``.
* ``"max_slope"``: the kernel sum ``L(eps) = sum_{i,j} exp(-d2[i, j] / eps)`` (eq. 3.4, diagonal
  included) on a log grid of >= 200 values (:func:`kernel_sum_curve`); the local slopes
  ``a_i = (log L(eps_{i+1}) - log L(eps_i)) / (log eps_{i+1} - log eps_i)`` (eq. 3.7); eps where
  ``a_i`` is largest (Berry & Harlim), reported at the geometric midpoint
  ``sqrt(eps_i eps_{i+1})`` of that grid interval, with ``d ~ 2 a*`` (eq. 3.6).
* ``"linear_region"``: the linear region of ``log L`` against ``log eps`` (Coifman et al.,
  Singer et al.), **our definition**: the contiguous run of grid intervals around the maximal
  slope where ``a_i >= linear_fraction * a*`` (default 0.5); the rule returns its geometric
  centre, the region's bounds are in the data.  (L runs from M, only the diagonal, to M^2, all
  ones; the slope is ~0 at both ends and ~d/2 in between.)
* ``"corner"``: the paper's own choice (sec. 3.3, Fig. 6): scan eps over the linear region,
  compute d and the AUC ratio (sec. 3.2) at each, and take a point in "the upper-left corner"
  of the (d, AUC) scatter.  **Our explicit rule**: normalise d and AUC to [0, 1] over the scanned
  points, ``u = (d - d_min) / (d_max - d_min)``, ``v = (AUC_max - AUC) / (AUC_max - AUC_min)``,
  and take the eps closest to the corner ``(0, 0)`` in the Euclidean norm ``sqrt(u^2 + v^2)``
  (ties: the larger AUC, then the smaller eps).  The result depends on the scanned range (the
  linear region) and on the grid, both recorded.
* a number: the user's eps, returned as is (with its L and slope for reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from landscope.diffusion._dimension import intrinsic_dimension

__all__ = [
    "EPSILON_RULES",
    "EpsilonChoice",
    "EpsilonScan",
    "KernelSumCurve",
    "choose_epsilon",
    "corner_choice",
    "default_epsilon_grid",
    "kernel_sum_curve",
    "lafon_epsilon",
    "markov_eigenvalues",
    "scan_epsilon",
]

#: The named rules of :func:`choose_epsilon` (or pass a positive number).
EPSILON_RULES = ("lafon", "max_slope", "linear_region", "corner")


def _as_sq(sq_distances) -> torch.Tensor:
    if isinstance(sq_distances, np.ndarray):
        sq_distances = torch.from_numpy(sq_distances)
    if not isinstance(sq_distances, torch.Tensor):
        sq_distances = torch.as_tensor(sq_distances)
    d2 = sq_distances.detach().to(torch.float64)
    if d2.ndim != 2 or d2.shape[0] != d2.shape[1] or d2.shape[0] < 2:
        raise ValueError(
            f"sq_distances must be a square (M, M) matrix, M >= 2, got {tuple(d2.shape)}"
        )
    if not bool(torch.isfinite(d2).all()):
        raise ValueError("sq_distances contains NaN or inf")
    if bool((d2 < 0).any()):
        raise ValueError("sq_distances has negative entries")
    return d2


def _off_diagonal_upper(d2: torch.Tensor) -> torch.Tensor:
    """The M (M - 1) / 2 values above the diagonal, symmetrised, sorted ascending."""
    m = d2.shape[0]
    iu = torch.triu_indices(m, m, offset=1, device=d2.device)
    vals = 0.5 * (d2[iu[0], iu[1]] + d2[iu[1], iu[0]])
    return torch.sort(vals).values


# --- Lafon ---------------------------------------------------------------------------------------
def lafon_epsilon(sq_distances) -> float:
    """``(1/M) sum_i min_{j != i} d2[i, j]`` (Lafon's mean nearest-neighbour squared distance).

    >>> lafon_epsilon([[0.0, 1.0, 4.0], [1.0, 0.0, 9.0], [4.0, 9.0, 0.0]])
    2.0
    """
    d2 = _as_sq(sq_distances).clone()
    d2.fill_diagonal_(float("inf"))
    return float(d2.min(dim=1).values.mean())


# --- L(eps) --------------------------------------------------------------------------------------
def default_epsilon_grid(sq_distances, num: int = 256, *, pad: float = 100.0) -> np.ndarray:
    """A log grid covering L(eps) from ~M (eps << every distance) to ~M^2 (eps >> every one):
    ``num`` values from ``min positive d2 / pad`` to ``max d2 * pad``."""
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    vals = _off_diagonal_upper(_as_sq(sq_distances))
    pos = vals[vals > 0]
    if pos.numel() == 0:
        raise ValueError("all distances are zero: every eps gives the same kernel")
    lo, hi = float(pos[0]) / pad, float(pos[-1]) * pad
    return np.geomspace(lo, hi, num)


@dataclass(frozen=True)
class KernelSumCurve:
    """``L(eps)`` on a grid and its local log-log slopes (Fjellstrom eq. 3.4-3.7).

    Attributes:
        eps: (G,) increasing grid.
        L: (G,) ``sum_{i,j} exp(-d2[i, j] / eps)`` (diagonal included, so M <= L <= M^2).
        slope_eps: (G - 1,) geometric midpoints ``sqrt(eps_i eps_{i+1})``.
        slope: (G - 1,) ``a_i`` of eq. 3.7.
        num_points: M.
        linear_fraction: the fraction of the maximal slope that bounds the linear region.
    """

    eps: np.ndarray
    L: np.ndarray
    slope_eps: np.ndarray
    slope: np.ndarray
    num_points: int
    linear_fraction: float = 0.5

    @property
    def max_slope(self) -> float:
        """a* = max_i a_i."""
        return float(np.max(self.slope))

    @property
    def max_slope_eps(self) -> float:
        """The eps of a* (geometric midpoint of its grid interval)."""
        return float(self.slope_eps[int(np.argmax(self.slope))])

    @property
    def dimension_estimate(self) -> float:
        """``d ~ 2 a*`` (eq. 3.6-3.7)."""
        return 2.0 * self.max_slope

    @property
    def linear_region(self) -> tuple[float, float]:
        """(eps_lo, eps_hi): the grid points bounding the contiguous run of intervals around
        argmax a_i with ``a_i >= linear_fraction * a*`` (our definition, module docstring)."""
        a = self.slope
        k = int(np.argmax(a))
        thr = self.linear_fraction * a[k]
        lo = k
        while lo > 0 and a[lo - 1] >= thr:
            lo -= 1
        hi = k
        while hi < a.size - 1 and a[hi + 1] >= thr:
            hi += 1
        return float(self.eps[lo]), float(self.eps[hi + 1])

    def as_dict(self) -> dict:
        lo, hi = self.linear_region
        return {
            "eps": self.eps.tolist(),
            "L": self.L.tolist(),
            "slope_eps": self.slope_eps.tolist(),
            "slope": self.slope.tolist(),
            "num_points": self.num_points,
            "max_slope": self.max_slope,
            "max_slope_eps": self.max_slope_eps,
            "dimension_estimate": self.dimension_estimate,
            "linear_fraction": self.linear_fraction,
            "linear_region": [lo, hi],
        }


def kernel_sum_curve(
    sq_distances,
    eps_grid=None,
    *,
    num: int = 256,
    linear_fraction: float = 0.5,
    chunk: int = 1 << 22,
) -> KernelSumCurve:
    """``L(eps) = sum_{i,j} exp(-d2[i, j] / eps)`` on a log grid and its slopes (eq. 3.4-3.7).

    Exact in float64: ``L = M + 2 sum_{i<j} exp(-d2_ij / eps)`` over the sorted off-diagonal
    values (those with ``d2 / eps > 745`` underflow to 0 and are skipped).

    Args:
        sq_distances: (M, M) squared distances (symmetrised here).
        eps_grid: increasing positive values (default :func:`default_epsilon_grid` with ``num``).
        num: grid size when ``eps_grid`` is None (>= 200, sec. 3.3's "wide range").
        linear_fraction: see :attr:`KernelSumCurve.linear_region`.
        chunk: values summed per step (memory bound).

    >>> c = kernel_sum_curve([[0.0, 1.0], [1.0, 0.0]], [1.0, 2.0])
    >>> [round(float(v), 4) for v in c.L]
    [2.7358, 3.2131]
    """
    d2 = _as_sq(sq_distances)
    m = d2.shape[0]
    if eps_grid is None:
        if num < 200:
            raise ValueError(f"num must be >= 200 for the eps scan of sec. 3.3, got {num}")
        eps_grid = default_epsilon_grid(d2, num)
    eps = np.asarray(eps_grid, dtype=np.float64)
    if eps.ndim != 1 or eps.size < 2 or np.any(eps <= 0) or np.any(np.diff(eps) <= 0):
        raise ValueError("eps_grid must be an increasing 1-D array of >= 2 positive values")
    if not 0 < linear_fraction < 1:
        raise ValueError(f"linear_fraction must be in (0, 1), got {linear_fraction!r}")
    vals = _off_diagonal_upper(d2)
    L = np.empty_like(eps)
    for g, e in enumerate(eps):
        stop = int(torch.searchsorted(vals, torch.tensor(745.0 * e, dtype=vals.dtype)))
        total = 0.0
        for s in range(0, stop, chunk):
            total += float(torch.exp(vals[s : min(stop, s + chunk)] / -e).sum())
        L[g] = m + 2.0 * total
    logL, loge = np.log(L), np.log(eps)
    slope = np.diff(logL) / np.diff(loge)
    return KernelSumCurve(
        eps=eps,
        L=L,
        slope_eps=np.sqrt(eps[1:] * eps[:-1]),
        slope=slope,
        num_points=m,
        linear_fraction=float(linear_fraction),
    )


# --- the (d, AUC) scan ---------------------------------------------------------------------------
def markov_eigenvalues(sq_distances, eps: float, *, alpha: float = 0.5) -> np.ndarray:
    """The eigenvalues of P (eq. 2.10-2.11) alone, ordered by decreasing |lambda| (trivial 1
    first): ``DiffusionMap(eps=eps, alpha=alpha).fit(d2).eigenvalues_`` without the eigenvectors
    (``eigvalsh`` of the symmetric conjugate S = D~^-1/2 K~ D~^-1/2, about half the time of
    ``eigh`` at M = 2,400).  What every eps scan and rolling window calls.

    >>> lam = markov_eigenvalues(np.array([[0.0, 1.0], [1.0, 0.0]]), 1.0)
    >>> [round(float(v), 4) for v in lam]
    [1.0, 0.4621]
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    d2 = _as_sq(sq_distances)
    K = torch.exp(d2 / -float(eps))
    dinv = K.sum(dim=1) ** -alpha
    Kt = K * dinv[:, None] * dinv[None, :]
    s = Kt.sum(dim=1).rsqrt()
    S = Kt * s[:, None] * s[None, :]
    lam = torch.linalg.eigvalsh((S + S.T) / 2).numpy()
    return lam[np.argsort(-np.abs(lam), kind="stable")]


def _default_spectrum(sq_distances, eps: float) -> np.ndarray:
    return markov_eigenvalues(sq_distances, eps)


@dataclass(frozen=True)
class EpsilonScan:
    """d and the AUC ratio (sec. 3.2) against eps (Fig. 6): one entry per scanned eps.

    Attributes:
        eps: (S,) scanned values.  d: (S,) dimensions.  auc: (S,) AUC ratios.
        beta, drop_trivial, reading: the dimension settings.
    """

    eps: np.ndarray
    d: np.ndarray
    auc: np.ndarray
    beta: float
    drop_trivial: bool
    reading: str

    def at(self, eps: float) -> tuple[int, float]:
        """(d, AUC) at the scanned eps nearest to ``eps`` in log scale."""
        k = int(np.argmin(np.abs(np.log(self.eps) - math.log(eps))))
        return int(self.d[k]), float(self.auc[k])

    def as_dict(self) -> dict:
        return {
            "eps": self.eps.tolist(),
            "d": [int(v) for v in self.d],
            "auc": self.auc.tolist(),
            "beta": self.beta,
            "drop_trivial": self.drop_trivial,
            "reading": self.reading,
        }


def scan_epsilon(
    sq_distances,
    eps_values,
    *,
    beta: float = 0.99,
    drop_trivial: bool = False,
    reading: str = "sum",
    spectrum: Callable[[torch.Tensor, float], np.ndarray] | None = None,
    progress: bool = False,
) -> EpsilonScan:
    """d and AUC ratio at each eps (Fig. 6): one diffusion map per value.

    Args:
        sq_distances: (M, M) squared distances.
        eps_values: the eps to scan (positive).
        beta, drop_trivial, reading: passed to :func:`intrinsic_dimension`.
        spectrum: ``spectrum(d2, eps) -> eigenvalues of P ordered by |lambda|`` (default:
            :func:`markov_eigenvalues`, the eigenvalues of ``DiffusionMap(eps=eps).fit(d2)``).
        progress: show a progress bar.
    """
    d2 = _as_sq(sq_distances)
    eps = np.asarray(eps_values, dtype=np.float64).ravel()
    if eps.size == 0 or np.any(eps <= 0):
        raise ValueError("eps_values must be a non-empty list of positive values")
    spectrum = spectrum or _default_spectrum
    ds, aucs = [], []
    it = eps
    if progress:
        from landscope._progress import progress_bar

        it = progress_bar(eps, desc="eps scan", total=eps.size)
    for e in it:
        r = intrinsic_dimension(
            spectrum(d2, float(e)), beta=beta, drop_trivial=drop_trivial, reading=reading
        )
        ds.append(r.d)
        aucs.append(r.auc)
    return EpsilonScan(
        eps=eps,
        d=np.asarray(ds, dtype=np.int64),
        auc=np.asarray(aucs, dtype=np.float64),
        beta=float(beta),
        drop_trivial=bool(drop_trivial),
        reading=reading,
    )


def corner_choice(d, auc) -> int:
    """Index of the "upper-left corner" point of a (d, AUC) scatter (our rule, module
    docstring): smallest ``sqrt(u^2 + v^2)``, u = d normalised to [0, 1], v = 1 - AUC
    normalised to [0, 1]; ties by larger AUC, then by position (smaller eps first).

    >>> corner_choice([40, 20, 5, 1], [0.95, 0.94, 0.90, 0.50])
    2
    """
    d = np.asarray(d, dtype=np.float64)
    auc = np.asarray(auc, dtype=np.float64)
    if d.shape != auc.shape or d.ndim != 1 or d.size == 0:
        raise ValueError(f"d and auc must be 1-D of equal length, got {d.shape}, {auc.shape}")
    ok = np.isfinite(d) & np.isfinite(auc)
    if not ok.any():
        raise ValueError("no finite (d, AUC) point to choose from")
    dd, aa = d[ok], auc[ok]
    u = (dd - dd.min()) / (dd.max() - dd.min()) if dd.max() > dd.min() else np.zeros_like(dd)
    v = (aa.max() - aa) / (aa.max() - aa.min()) if aa.max() > aa.min() else np.zeros_like(aa)
    dist = np.round(np.hypot(u, v), 12)
    idx = np.flatnonzero(ok)
    order = np.lexsort((idx, -aa, dist))  # by dist, then larger AUC, then earlier
    return int(idx[order[0]])


# --- one entry point -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EpsilonChoice:
    """The eps a rule picked, and the data it was picked from.

    Attributes:
        rule: ``"lafon"``, ``"max_slope"``, ``"linear_region"``, ``"corner"`` or ``"user"``.
        eps: the chosen value.
        curve: the L(eps) curve (every rule but ``"lafon"`` and ``"user"`` computes it; those
            two carry it when asked through ``with_curve``).
        scan: the (d, AUC) scan (``"corner"`` only).
        data: rule-specific numbers (a*, d ~ 2 a*, the linear region, ...).
    """

    rule: str
    eps: float
    curve: KernelSumCurve | None = None
    scan: EpsilonScan | None = None
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "eps": self.eps,
            "data": self.data,
            "curve": None if self.curve is None else self.curve.as_dict(),
            "scan": None if self.scan is None else self.scan.as_dict(),
        }


def choose_epsilon(
    sq_distances,
    rule: str | float = "corner",
    *,
    curve: KernelSumCurve | None = None,
    num: int = 256,
    linear_fraction: float = 0.5,
    scan_points: int = 24,
    beta: float = 0.99,
    drop_trivial: bool = False,
    reading: str = "sum",
    spectrum: Callable[[torch.Tensor, float], np.ndarray] | None = None,
    with_curve: bool = True,
    progress: bool = False,
) -> EpsilonChoice:
    """eps by one of :data:`EPSILON_RULES` or a user-given positive number (sec. 3.3).

    Args:
        sq_distances: (M, M) squared distances.
        rule: a rule name, or a positive number (returned as rule ``"user"``).
        curve: a precomputed :func:`kernel_sum_curve` of the same distances (reused).
        num, linear_fraction: the L(eps) grid size and linear-region fraction.
        scan_points: ``"corner"``: eps values scanned, log-spaced over the linear region.
        beta, drop_trivial, reading, spectrum: the scan's dimension settings.
        with_curve: compute L(eps) for ``"lafon"`` / user eps too (for the plots).
        progress: progress bar over the scan.
    """
    d2 = _as_sq(sq_distances)
    user = None
    if not isinstance(rule, str):
        user = float(rule)
        if not (user > 0 and math.isfinite(user)):
            raise ValueError(f"a user-given eps must be positive and finite, got {rule!r}")
    elif rule not in EPSILON_RULES:
        try:
            user = float(rule)
        except ValueError:
            raise ValueError(
                f"unknown eps rule {rule!r}; use one of {EPSILON_RULES} or a positive number"
            ) from None
        if not (user > 0 and math.isfinite(user)):
            raise ValueError(f"a user-given eps must be positive and finite, got {rule!r}")
    needs_curve = rule in ("max_slope", "linear_region", "corner") or with_curve
    if curve is None and needs_curve:
        curve = kernel_sum_curve(d2, num=num, linear_fraction=linear_fraction)
    if user is not None:
        return EpsilonChoice("user", user, curve, None, {})
    if rule == "lafon":
        return EpsilonChoice("lafon", lafon_epsilon(d2), curve, None, {})
    lo, hi = curve.linear_region
    data = {
        "max_slope": curve.max_slope,
        "max_slope_eps": curve.max_slope_eps,
        "dimension_estimate": curve.dimension_estimate,
        "linear_region": [lo, hi],
    }
    if rule == "max_slope":
        return EpsilonChoice("max_slope", curve.max_slope_eps, curve, None, data)
    if rule == "linear_region":
        return EpsilonChoice("linear_region", math.sqrt(lo * hi), curve, None, data)
    # corner
    scan = scan_epsilon(
        d2,
        np.geomspace(lo, hi, scan_points),
        beta=beta,
        drop_trivial=drop_trivial,
        reading=reading,
        spectrum=spectrum,
        progress=progress,
    )
    k = corner_choice(scan.d, scan.auc)
    data.update({"corner_index": k, "corner_d": int(scan.d[k]), "corner_auc": float(scan.auc[k])})
    return EpsilonChoice("corner", float(scan.eps[k]), curve, scan, data)
