"""Marchenko-Pastur fit of a weight matrix's squared singular values (Haink ch. 4, eq. 4.1-4.2).

Normalisation (stated once, used everywhere): for ``W`` of shape (rows, cols), let
``N = max(rows, cols)``, ``M = min(rows, cols)`` and ``Q = N / M >= 1`` (Haink's Q).  The
"eigenvalues" are ``lambda_i = nu_i^2 / N`` for the singular values ``nu_1 >= ... >= nu_M``, i.e.
the eigenvalues of the M x M correlation matrix ``W^T W / N`` (or ``W W^T / N``).  If
``W_ij ~ N(0, sigma^2)`` they follow eq. 4.2 with bulk edges
``lambda_+- = sigma^2 (1 +- 1/sqrt(Q))^2`` as N, M -> infinity.

The fit estimates ``sigma`` from the bulk only (outliers removed, iterated to a fixed point),
by one of three stated estimators:

* ``"median"`` (default): the median of the bulk eigenvalues equals ``sigma^2`` times the median
  of the unit MP law (robust: a few outliers move it by O(r / M) quantiles);
* ``"mean"``: the mean of the bulk equals ``sigma^2`` (the first MP moment; the trace);
* ``"ks"``: ``sigma`` minimising the Kolmogorov-Smirnov distance between the bulk and eq. 4.2.

Outliers are the eigenvalues above a threshold, by a stated ``criterion``:

* ``"tracy_widom"`` (default): above the finite-size centre of the largest eigenvalue of a
  white Wishart matrix plus ``tw_quantile`` of its Tracy-Widom (beta = 1) scale (Johnstone 2001,
  Ann. Stat. 29, eq. 1.3-1.4: ``mu = (sqrt(N - 1) + sqrt(M))^2``, ``s = (sqrt(N - 1) +
  sqrt(M)) (1/sqrt(N - 1) + 1/sqrt(M))^(1/3)``, both times ``sigma^2 / N`` here).  The default
  quantile 2.0234 is the 99 % point of TW1 (0.9793 the 95 %): a pure Gaussian matrix reports an
  outlier with probability about 1 %;
* ``"edge"``: above ``lambda_+ (1 + margin)`` (WeightWatcher-like, no finite-size correction).

WeightWatcher (``weightwatcher`` package, ``benchmarks/bench_rmt.py``) also fits MP to the
empirical spectral density, but by a histogram / KDE fit of the whole ESD of a static snapshot
and reports "num spikes" above its own edge; here the fit is explicit, the normalisation and the
criterion are stated, and the indices of the outliers come back for the singular matrices
(eq. 6.1) and the forgetting regulariser (eq. 7.11).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "MarchenkoPastur",
    "TW1_QUANTILES",
    "marchenko_pastur_cdf",
    "marchenko_pastur_pdf",
    "matrix_eigenvalues",
]

#: Upper quantiles of the Tracy-Widom law for beta = 1 (Tracy & Widom 1996; tabulated in
#: Bejan 2005): P(TW1 > t) = level.
TW1_QUANTILES = {0.10: 0.4501, 0.05: 0.9793, 0.01: 2.0234}

_CRITERIA = ("tracy_widom", "edge")
_SIGMA_FITS = ("median", "mean", "ks")


def _as_matrix(W) -> torch.Tensor:
    W = torch.as_tensor(W).detach()
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {tuple(W.shape)}")
    if min(W.shape) < 2:
        raise ValueError(f"W must have at least 2 rows and 2 columns, got shape {tuple(W.shape)}")
    if not bool(torch.isfinite(W).all()):
        raise ValueError("W has non-finite entries")
    return W


def matrix_eigenvalues(W) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Singular values (descending) and eigenvalues ``nu^2 / N`` of a matrix, in float64.

    Returns:
        ``(singular_values (M,), eigenvalues (M,), N, M)`` with ``N = max(shape)``,
        ``M = min(shape)``.
    """
    W = _as_matrix(W)
    s = torch.linalg.svdvals(W.to(torch.float64)).cpu().numpy()
    n, m = max(W.shape), min(W.shape)
    return s, s**2 / n, n, m


def _edges(sigma2: float, q: float) -> tuple[float, float]:
    r = 1.0 / math.sqrt(q)
    return sigma2 * (1 - r) ** 2, sigma2 * (1 + r) ** 2


def marchenko_pastur_pdf(x, sigma: float, ratio: float) -> np.ndarray:
    """The Marchenko-Pastur density of eq. 4.2 at ``x`` (eigenvalues ``nu^2 / N``).

    ``rho(x) = Q / (2 pi sigma^2 x) sqrt((lambda_+ - x)(x - lambda_-))`` on
    ``[lambda_-, lambda_+]``, 0 outside; ``ratio`` is Q >= 1.

    >>> float(np.round(marchenko_pastur_pdf(1.0, 1.0, 4.0), 4))  # Q = 4, sigma = 1
    0.6164
    """
    if ratio < 1:
        raise ValueError(f"ratio Q must be >= 1, got {ratio}")
    x = np.asarray(x, dtype=np.float64)
    lo, hi = _edges(sigma**2, ratio)
    inside = (x > lo) & (x < hi)
    safe = np.where(inside, x, 1.0)
    val = (
        ratio
        / (2 * math.pi * sigma**2 * safe)
        * np.sqrt(np.clip((hi - safe) * (safe - lo), 0, None))
    )
    return np.where(inside, val, 0.0)


def _unit_cdf_table(ratio: float, n: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    """(x, F(x)) of the MP law with sigma = 1 on a grid fine at both edges.

    With x = a + (b - a)(1 - cos t) / 2 the integrand rho dx = Q/(2 pi x) ((b - a)/2)^2 sin^2 t dt
    is smooth on [0, pi] (also at x = 0 when Q = 1), so the trapezoid rule converges fast.
    """
    lo, hi = _edges(1.0, ratio)
    t = np.linspace(0.0, math.pi, n)
    x = lo + (hi - lo) * (1 - np.cos(t)) / 2
    half = (hi - lo) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ratio / (2 * math.pi * x) * half**2 * np.sin(t) ** 2
    if lo == 0.0:  # limit at x = 0: sin^2 t / x -> 4 / hi ... times Q half^2 / (2 pi)
        f[0] = ratio / (2 * math.pi) * half**2 * 4 / hi
    cdf = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2 * np.diff(t))])
    return x, cdf / cdf[-1]


def marchenko_pastur_cdf(x, sigma: float, ratio: float) -> np.ndarray:
    """The cumulative distribution of eq. 4.2 at ``x`` (numerical, error < 1e-6)."""
    if ratio < 1:
        raise ValueError(f"ratio Q must be >= 1, got {ratio}")
    grid, cdf = _unit_cdf_table(ratio)
    return np.interp(np.asarray(x, dtype=np.float64) / sigma**2, grid, cdf, left=0.0, right=1.0)


def _unit_median(ratio: float) -> float:
    grid, cdf = _unit_cdf_table(ratio)
    return float(np.interp(0.5, cdf, grid))


def _ks(values: np.ndarray, sigma2: float, ratio: float, table) -> float:
    grid, cdf = table
    x = np.sort(values)
    n = x.size
    F = np.interp(x / sigma2, grid, cdf, left=0.0, right=1.0)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - F), np.max(F - (i - 1) / n)))


class MarchenkoPastur:
    """Fit of eq. 4.2 to the squared singular values of one weight matrix, with outliers.

    Estimator contract: the constructor stores settings, :meth:`fit` returns ``self``, learned
    attributes end in ``_``; refitting gives the same result (no randomness).

    Args:
        criterion: ``"tracy_widom"`` (default) or ``"edge"``; see the module docstring.
        tw_quantile: for ``"tracy_widom"``, the TW1 quantile added (in TW scale units) to the
            finite-size centre; default the 1 % point (``TW1_QUANTILES[0.01]``).
        margin: for ``"edge"``, the relative margin above ``lambda_+``.
        sigma_fit: ``"median"`` (default), ``"mean"`` or ``"ks"``.
        max_iter: rounds of (fit sigma on the bulk, recount outliers) before giving up on a
            fixed point.
        max_outlier_fraction: at most this fraction of the M eigenvalues is taken out as
            outliers (a matrix with a non-MP bulk would otherwise peel off indefinitely).

    Attributes (after :meth:`fit`):
        singular_values_: (M,) descending, float64 numpy.
        eigenvalues_: (M,) ``singular_values_**2 / N`` (the variable of eq. 4.2).
        shape_: the (rows, cols) of W.
        ratio_: Q = N / M >= 1.
        sigma_: fitted sigma_mp (in units of W's entries).
        bulk_edges_: ``(lambda_-, lambda_+)`` of eq. 4.2 with the fitted sigma, in units of
            ``eigenvalues_``.
        threshold_: the eigenvalue above which a value is an outlier.
        outlier_indices_: (r,) int array, indices into ``singular_values_`` (descending order,
            so ``0 .. r-1`` when the outliers are the top r).
        n_outliers_: r.
        bulk_ks_: KS distance between the bulk eigenvalues and the fitted law (0 = perfect).
        bulk_fraction_below_edge_: fraction of eigenvalues below ``lambda_-`` (a non-MP bulk,
            e.g. trained layers with small singular values shrunk, shows up here).
        n_iter_: rounds used; ``converged_``: whether the outlier set reached a fixed point.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> W = 0.5 * torch.randn(400, 200, generator=g, dtype=torch.float64)
        >>> mp = MarchenkoPastur().fit(W)
        >>> round(mp.sigma_, 2), mp.ratio_, mp.n_outliers_
        (0.5, 2.0, 0)
    """

    def __init__(
        self,
        criterion: str = "tracy_widom",
        *,
        tw_quantile: float = TW1_QUANTILES[0.01],
        margin: float = 0.0,
        sigma_fit: str = "median",
        max_iter: int = 50,
        max_outlier_fraction: float = 0.5,
    ):
        self.criterion = criterion
        self.tw_quantile = tw_quantile
        self.margin = margin
        self.sigma_fit = sigma_fit
        self.max_iter = max_iter
        self.max_outlier_fraction = max_outlier_fraction

    def _check(self) -> None:
        if self.criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {_CRITERIA}, got {self.criterion!r}")
        if self.sigma_fit not in _SIGMA_FITS:
            raise ValueError(f"sigma_fit must be one of {_SIGMA_FITS}, got {self.sigma_fit!r}")
        if not 0 < self.max_outlier_fraction < 1:
            raise ValueError(
                f"max_outlier_fraction must be in (0, 1), got {self.max_outlier_fraction}"
            )
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")

    def _sigma2(self, bulk: np.ndarray, q: float, table) -> float:
        if self.sigma_fit == "mean":
            return float(bulk.mean())
        grid, cdf = table
        if self.sigma_fit == "median":
            return float(np.median(bulk)) / float(np.interp(0.5, cdf, grid))
        from scipy.optimize import minimize_scalar

        guess = float(np.median(bulk)) / float(np.interp(0.5, cdf, grid))
        res = minimize_scalar(
            lambda s2: _ks(bulk, s2, q, table),
            bounds=(0.5 * guess, 2.0 * guess),
            method="bounded",
            options={"xatol": 1e-6 * guess},
        )
        return float(res.x)

    def _threshold(self, sigma2: float, n: int, m: int, q: float) -> float:
        if self.criterion == "edge":
            return _edges(sigma2, q)[1] * (1 + self.margin)
        a, b = math.sqrt(n - 1), math.sqrt(m)
        mu = (a + b) ** 2
        scale = (a + b) * (1 / a + 1 / b) ** (1 / 3)
        return sigma2 * (mu + self.tw_quantile * scale) / n

    def fit(self, W) -> MarchenkoPastur:
        """Fit sigma_mp on the bulk and find the outliers of ``W`` (any 2-D tensor / array)."""
        self._check()
        s, lam, n, m = matrix_eigenvalues(W)
        q = n / m
        table = _unit_cdf_table(q)
        max_out = int(self.max_outlier_fraction * m)
        out = np.zeros(m, dtype=bool)
        converged = False
        n_iter = 0
        for _ in range(self.max_iter):
            n_iter += 1
            bulk = lam[~out]
            sigma2 = self._sigma2(bulk, q, table)
            thr = self._threshold(sigma2, n, m, q)
            new = lam > thr
            if new.sum() > max_out:  # keep the largest max_out only
                new = np.zeros(m, dtype=bool)
                new[:max_out] = True
            if np.array_equal(new, out):
                converged = True
                break
            out = new
        self.singular_values_ = s
        self.eigenvalues_ = lam
        self.shape_ = tuple(torch.as_tensor(W).shape)
        self.ratio_ = q
        self.sigma_ = math.sqrt(sigma2)
        self.bulk_edges_ = _edges(sigma2, q)
        self.threshold_ = thr
        self.outlier_indices_ = np.flatnonzero(out)
        self.n_outliers_ = int(out.sum())
        self.bulk_ks_ = _ks(lam[~out], sigma2, q, table)
        self.bulk_fraction_below_edge_ = float(np.mean(lam[~out] < self.bulk_edges_[0]))
        self.n_iter_ = n_iter
        self.converged_ = converged
        return self

    # --- the fitted law --------------------------------------------------------------------
    def pdf(self, x) -> np.ndarray:
        """Fitted density eq. 4.2 at eigenvalues ``x`` (units of ``eigenvalues_``)."""
        return marchenko_pastur_pdf(x, self.sigma_, self.ratio_)

    def cdf(self, x) -> np.ndarray:
        return marchenko_pastur_cdf(x, self.sigma_, self.ratio_)

    @property
    def bulk_indices_(self) -> np.ndarray:
        """Indices (into ``singular_values_``) of the bulk: all but the outliers."""
        mask = np.ones(self.singular_values_.size, dtype=bool)
        mask[self.outlier_indices_] = False
        return np.flatnonzero(mask)

    def summary(self) -> dict:
        """JSON-ready numbers of the fit."""
        return {
            "rows": int(self.shape_[0]),
            "cols": int(self.shape_[1]),
            "Q": float(self.ratio_),
            "sigma_mp": float(self.sigma_),
            "lambda_minus": float(self.bulk_edges_[0]),
            "lambda_plus": float(self.bulk_edges_[1]),
            "threshold": float(self.threshold_),
            "n_outliers": int(self.n_outliers_),
            "outlier_indices": [int(i) for i in self.outlier_indices_],
            "largest_eigenvalue": float(self.eigenvalues_[0]),
            "bulk_ks": float(self.bulk_ks_),
            "bulk_fraction_below_edge": float(self.bulk_fraction_below_edge_),
            "criterion": self.criterion,
            "sigma_fit": self.sigma_fit,
            "converged": bool(self.converged_),
        }

    def __repr__(self) -> str:
        return (
            f"MarchenkoPastur(criterion={self.criterion!r}, sigma_fit={self.sigma_fit!r}, "
            f"tw_quantile={self.tw_quantile}, margin={self.margin})"
        )
