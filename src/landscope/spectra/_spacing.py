"""Level spacings of an unfolded spectrum against the Wigner surmise (Haink eq. 4.3, Fig. 7.16).

For a random matrix of the orthogonal ensemble (GOE; also the singular values of a Gaussian
matrix, Haink ref. [38]) the spacings of the *unfolded* spectrum, locally normalised to mean one,
follow the Wigner surmise ``p(s) = (pi s / 2) exp(-pi s^2 / 4)`` (eq. 4.3), with CDF
``1 - exp(-pi s^2 / 4)``; uncorrelated levels give Poisson spacings ``p(s) = exp(-s)``.

Unfolding (stated): ``"local"`` (default, as Haink Fig. 7.16: "averaged over the 10 nearest
neighbours in both directions") divides each spacing by the mean of the spacings within
``window`` neighbours on either side; ``"polynomial"`` fits a polynomial of degree ``degree`` to the
staircase N(x) (the number of levels below x) and uses the spacings of the fitted N at the levels.

Tests (:func:`spacing_test`): the one-sample Kolmogorov-Smirnov statistic and p-value of the
unfolded spacings against the surmise and against Poisson; spacings of neighbouring levels are
correlated and the unfolding is estimated, so the p-values are approximate (measured on GOE
matrices of size 300, 5 % trimmed at each end, seeds 0-9: p against Wigner 0.52-0.996 with local
unfolding, 0.54-0.97 polynomial, against Poisson < 2e-9; sorted uniform points: p against Wigner
< 1e-3, against Poisson 0.14-0.98).  As an
unfolding-free cross-check the mean ratio of consecutive spacings
``<r> = <min(s_n, s_{n+1}) / max(s_n, s_{n+1})>`` is reported beside its GOE (0.5307) and Poisson
(0.3863) values (Atas et al. 2013, PRL 110, 084101).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = [
    "R_GOE",
    "R_POISSON",
    "SpacingTest",
    "spacing_test",
    "unfolded_spacings",
    "wigner_surmise_cdf",
    "wigner_surmise_pdf",
]

#: mean consecutive-spacing ratio <r> for GOE (Atas et al. 2013) and for Poisson (2 ln 2 - 1)
R_GOE = 0.5307
R_POISSON = 2 * math.log(2) - 1

_UNFOLD = ("local", "polynomial")


def wigner_surmise_pdf(s) -> np.ndarray:
    """Eq. 4.3: ``p(s) = (pi s / 2) exp(-pi s^2 / 4)`` for s >= 0."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s >= 0, math.pi * s / 2 * np.exp(-math.pi * s**2 / 4), 0.0)


def wigner_surmise_cdf(s) -> np.ndarray:
    """CDF of eq. 4.3: ``1 - exp(-pi s^2 / 4)``."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s >= 0, 1 - np.exp(-math.pi * s**2 / 4), 0.0)


def _levels(values) -> np.ndarray:
    x = np.asarray(torch.as_tensor(values).detach().cpu().to(torch.float64)).ravel()
    if x.size < 4:
        raise ValueError(f"need at least 4 levels for spacings, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("levels must be finite")
    return np.sort(x)


def unfolded_spacings(
    values,
    *,
    unfold: str = "local",
    window: int = 10,
    degree: int = 9,
    trim: float = 0.0,
) -> np.ndarray:
    """Unfolded nearest-neighbour spacings ``s_n`` of a spectrum (any order), mean about one.

    Args:
        values: (n,) levels: eigenvalues or singular values (sorted here, ascending).
        unfold: ``"local"`` or ``"polynomial"`` (module docstring).
        window: neighbours on each side for ``"local"`` (Haink Fig. 7.16: 10, Fig. 7.17: 15).
        degree: polynomial degree for ``"polynomial"``.
        trim: fraction of levels dropped at each end before unfolding (spectrum edges, outliers).

    Returns:
        (n' - 1,) spacings in increasing order of the levels, n' the levels kept.  Exactly
        degenerate levels give zero spacings.
    """
    if unfold not in _UNFOLD:
        raise ValueError(f"unfold must be one of {_UNFOLD}, got {unfold!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    x = _levels(values)
    cut = int(trim * x.size)
    if cut:
        x = x[cut : x.size - cut]
    if x.size < 4:
        raise ValueError(f"fewer than 4 levels left after trim={trim}")
    if unfold == "polynomial":
        scale = max(float(x[-1] - x[0]), np.finfo(float).tiny)
        t = (x - x[0]) / scale
        coef = np.polynomial.polynomial.polyfit(
            t, np.arange(1, x.size + 1), min(degree, x.size - 2)
        )
        xi = np.polynomial.polynomial.polyval(t, coef)
        s = np.diff(xi)
        return s / s.mean()
    d = np.diff(x)
    csum = np.concatenate([[0.0], np.cumsum(d)])
    i = np.arange(d.size)
    lo, hi = np.maximum(i - window, 0), np.minimum(i + window + 1, d.size)
    local = (csum[hi] - csum[lo]) / (hi - lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(local > 0, d / local, 0.0)
    return s


@dataclass(frozen=True)
class SpacingTest:
    """Result of :func:`spacing_test`.

    Attributes:
        n_spacings: number of unfolded spacings.
        ks_wigner, p_wigner: KS statistic and p-value against eq. 4.3.
        ks_poisson, p_poisson: the same against ``exp(-s)``.
        mean_ratio: <r> of consecutive raw spacings (no unfolding); GOE 0.5307, Poisson 0.3863.
        closer_to: ``"wigner"`` or ``"poisson"`` (the smaller KS distance).
        unfold, window: the unfolding used.
    """

    n_spacings: int
    ks_wigner: float
    p_wigner: float
    ks_poisson: float
    p_poisson: float
    mean_ratio: float
    closer_to: str
    unfold: str
    window: int

    def to_dict(self) -> dict:
        return asdict(self)


def spacing_test(
    values, *, unfold: str = "local", window: int = 10, degree: int = 9, trim: float = 0.0
) -> SpacingTest:
    """KS tests of the unfolded level spacings against the Wigner surmise and Poisson.

    Args: as :func:`unfolded_spacings`.

    >>> g = np.random.default_rng(0)
    >>> a = g.standard_normal((300, 300)); goe = np.linalg.eigvalsh((a + a.T) / 2)
    >>> t = spacing_test(goe, trim=0.05)
    >>> t.closer_to, t.p_wigner > 0.01, t.p_poisson < 1e-6
    ('wigner', True, True)
    """
    from scipy.stats import kstest

    s = unfolded_spacings(values, unfold=unfold, window=window, degree=degree, trim=trim)
    kw = kstest(s, wigner_surmise_cdf)
    kp = kstest(s, "expon")
    x = _levels(values)
    cut = int(trim * x.size)
    raw = np.diff(x[cut : x.size - cut] if cut else x)
    a, b = raw[:-1], raw[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.maximum(a, b) > 0, np.minimum(a, b) / np.maximum(a, b), 0.0)
    return SpacingTest(
        n_spacings=int(s.size),
        ks_wigner=float(kw.statistic),
        p_wigner=float(kw.pvalue),
        ks_poisson=float(kp.statistic),
        p_poisson=float(kp.pvalue),
        mean_ratio=float(r.mean()),
        closer_to="wigner" if kw.statistic <= kp.statistic else "poisson",
        unfold=unfold,
        window=int(window),
    )
