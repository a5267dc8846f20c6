"""The drift mode of a trained network (Haink 2023, sec. 6.3-6.5): the linear motion along the
first principal component, its variance, and the quadratic-model prediction from Hessian
eigenpairs.

- eq. 6.4: theta_1(t) = w(t) . p_1 ~ a (t - t0) + b, fitted by least squares (:func:`fit_drift`).
- eq. 6.6: a straight line sampled at T equally spaced times has variance a^2 (T^2 - 1) / 12
  (population variance, t in units of the sampling interval).  For a least-squares line this is
  exactly R^2 times the measured variance, so "eq. 6.6 holds on the data" and "R^2 ~ 1" are one
  statement; :class:`DriftFit` reports both numbers.
- eq. 6.7: sigma^2 ~ eta^2 T^2 across runs of learning rate eta and windows of T snapshots
  (:func:`fit_drift_scaling`, a least-squares fit of log sigma^2 = c + p log eta + q log T).
- eq. 6.8-6.13: in a quadratic loss L = L_min + (w - mu)^T H (w - mu) / 2 with weight decay, the
  mean SGD flow dw/dt = -eta (H (w - mu) + lambda_wd w) gives along each Hessian eigenvector h_i
  w_i(t) = (w_i(0) - b_i) exp(-r_i t) + b_i with r_i = eta (h_i + lambda_wd) and
  b_i = h_i mu_i / (h_i + lambda_wd) (:func:`quadratic_drift`), its variance over the window
  (eq. 6.12, :func:`quadratic_drift_variance`) and the drift's, sigma_d^2 = sum_i d_i^2
  sigma_i^2 with d_i = h_i . p_1 (eq. 6.13, :func:`drift_mode_variance`).

Weight decay convention: ``weight_decay`` is the coefficient of w in the gradient (landscope's
and PyTorch's ``weight_decay``; the loss gains weight_decay / 2 ||w||^2).  The thesis writes the
penalty as lambda ||w||^2, so its 2 lambda is our ``weight_decay`` and its lambda~_i =
eta (h_i + 2 lambda) (eq. 6.12) is our r_i.  (Its eq. 6.11 writes eta (h_i + lambda) in the
exponent; eq. 6.9 and 6.12 give eta (h_i + 2 lambda), which is what the flow implies.)  The
thesis' eq. 6.9 also divides the Hessian term by the batch size S; the mean of per-batch mean
gradients is the full-batch gradient, so we do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "DriftFit",
    "DriftScaling",
    "drift_mode_variance",
    "fit_drift",
    "fit_drift_scaling",
    "linear_drift_variance",
    "minimum_from_gradient",
    "quadratic_drift",
    "quadratic_drift_variance",
]


def linear_drift_variance(slope: float, num_points: int) -> float:
    """Haink eq. 6.6: the population variance of a (t - t0) + b at T = ``num_points`` equally
    spaced times t0, t0 + 1, ...: a^2 (T^2 - 1) / 12.

    >>> linear_drift_variance(2.0, 5), float(np.var(2.0 * np.arange(5)))
    (8.0, 8.0)
    """
    if num_points < 1:
        raise ValueError(f"num_points must be positive, got {num_points}")
    return slope**2 * (num_points**2 - 1) / 12.0


@dataclass(frozen=True)
class DriftFit:
    """A least-squares line through theta_1(t) (eq. 6.4) and the eq. 6.6 check.

    Attributes:
        slope: a, per snapshot (the time unit of eq. 6.6).
        intercept: b, the fitted value at the first snapshot t0.
        r2: coefficient of determination of the line.
        num_points: T, the snapshots fitted.
        variance: the measured population variance of theta_1 (sigma_1^2 when theta_1 is the
            first PC's projection).
        variance_linear: eq. 6.6, a^2 (T^2 - 1) / 12.
        ratio: variance_linear / variance (equals r2 for evenly spaced snapshots).
        stride: steps between snapshots when they are evenly spaced, else None.
        slope_per_step: a / stride (None when uneven).
        residual_std: standard deviation of theta_1 about the line (the random-walk part).
    """

    slope: float
    intercept: float
    r2: float
    num_points: int
    variance: float
    variance_linear: float
    ratio: float
    stride: float | None
    slope_per_step: float | None
    residual_std: float

    def as_dict(self) -> dict:
        return asdict(self)


def fit_drift(theta: np.ndarray | Sequence[float], steps: Sequence[int] | None = None) -> DriftFit:
    """Fit eq. 6.4 to the projections ``theta`` (T,) on the first principal component, taken at
    ``steps`` (T,) (default: evenly spaced); the time unit is one snapshot, t = 0..T-1.

    >>> fit = fit_drift(3.0 * np.arange(10) + 1.0)
    >>> round(fit.slope, 9), round(fit.r2, 9), round(fit.ratio, 9)
    (3.0, 1.0, 1.0)
    """
    y = np.asarray(theta, dtype=np.float64).reshape(-1)
    T = y.size
    if T < 2:
        raise ValueError(f"a drift fit needs at least 2 snapshots, got {T}")
    t = np.arange(T, dtype=np.float64)
    tc = t - t.mean()
    slope = float(tc @ (y - y.mean()) / (tc @ tc))
    intercept = float(y.mean() - slope * t.mean())
    resid = y - (slope * t + intercept)
    variance = float(np.var(y))
    r2 = 1.0 - float(np.var(resid)) / variance if variance > 0 else float("nan")
    stride = None
    if steps is not None:
        s = np.asarray(steps, dtype=np.float64)
        if s.shape != (T,):
            raise ValueError(f"steps must have shape ({T},) like theta, got {s.shape}")
        d = np.diff(s)
        if np.allclose(d, d[0]):
            stride = float(d[0])
    lin = linear_drift_variance(slope, T)
    return DriftFit(
        slope=slope,
        intercept=intercept,
        r2=r2,
        num_points=T,
        variance=variance,
        variance_linear=lin,
        ratio=lin / variance if variance > 0 else float("nan"),
        stride=stride,
        slope_per_step=slope / stride if stride else None,
        residual_std=float(np.std(resid)),
    )


@dataclass(frozen=True)
class DriftScaling:
    """log sigma^2 = c + p_eta log eta + p_T log T fitted over measurements (eq. 6.7 predicts
    p_eta = p_T = 2).  Exponents whose variable does not vary are NaN.

    Attributes:
        exponent_lr, exponent_lr_stderr, exponent_T, exponent_T_stderr, intercept: the fit.
        r2: of the fit in log space.
        num_points: measurements used.
    """

    exponent_lr: float
    exponent_lr_stderr: float
    exponent_T: float
    exponent_T_stderr: float
    intercept: float
    r2: float
    num_points: int

    def as_dict(self) -> dict:
        return asdict(self)


def fit_drift_scaling(
    lr: Sequence[float], num_points: Sequence[float], variance: Sequence[float]
) -> DriftScaling:
    """Fit sigma^2 ~ eta^p_eta T^p_T (eq. 6.7: sigma^2 ~ eta^2 T^2) on measurements of the drift
    variance ``variance`` for learning rates ``lr`` and windows of ``num_points`` snapshots.

    >>> eta = np.array([0.01, 0.02, 0.01, 0.02]); T = np.array([10, 10, 40, 40])
    >>> s = fit_drift_scaling(eta, T, 3.0 * eta**2 * T**2)
    >>> round(s.exponent_lr, 6), round(s.exponent_T, 6)
    (2.0, 2.0)
    """
    eta, T, v = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (lr, num_points, variance))
    if not (eta.size == T.size == v.size):
        raise ValueError(
            f"lr, num_points, variance must have one length, got {eta.size}, {T.size}, {v.size}"
        )
    if np.any(eta <= 0) or np.any(T <= 0) or np.any(v <= 0):
        raise ValueError("lr, num_points and variance must be positive for a log-log fit")
    cols, names = [np.ones_like(v)], ["c"]
    for name, x in (("lr", eta), ("T", T)):
        if np.ptp(np.log(x)) > 0:
            cols.append(np.log(x))
            names.append(name)
    A = np.stack(cols, axis=1)
    y = np.log(v)
    if len(y) < A.shape[1]:
        raise ValueError(f"need at least {A.shape[1]} measurements, got {len(y)}")
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    dof = len(y) - A.shape[1]
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else float("nan")
    if dof > 0:
        cov = float(resid @ resid) / dof * np.linalg.pinv(A.T @ A)
        err = np.sqrt(np.maximum(np.diag(cov), 0.0))
    else:
        err = np.full(A.shape[1], np.nan)
    got = dict(zip(names, zip(coef, err, strict=True), strict=True))
    nan = (float("nan"), float("nan"))
    return DriftScaling(
        exponent_lr=float(got.get("lr", nan)[0]),
        exponent_lr_stderr=float(got.get("lr", nan)[1]),
        exponent_T=float(got.get("T", nan)[0]),
        exponent_T_stderr=float(got.get("T", nan)[1]),
        intercept=float(coef[0]),
        r2=r2,
        num_points=len(y),
    )


# --- the quadratic model (eq. 6.8-6.13) -------------------------------------------------------
def minimum_from_gradient(w_hat: np.ndarray, g_hat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """mu_i = w_i - g_i / h_i: the minimum of the quadratic model (eq. 6.8) along each Hessian
    eigenvector, from the coordinates w_i = w . h_i and g_i = grad L . h_i of the weights and of
    the data-loss gradient (g = H (w - mu) in the model).  NaN where h_i <= 0 (no minimum)."""
    w_hat, g_hat, h = (np.asarray(a, dtype=np.float64) for a in (w_hat, g_hat, h))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h > 0, w_hat - g_hat / h, np.nan)


def _rates_and_targets(mu_hat, h, lr, weight_decay):
    h = np.asarray(h, dtype=np.float64)
    mu_hat = np.asarray(mu_hat, dtype=np.float64)
    rate = lr * (h + weight_decay)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.where(h + weight_decay != 0, h * mu_hat / (h + weight_decay), np.nan)
    return rate, target


def quadratic_drift(
    w0_hat: np.ndarray,
    mu_hat: np.ndarray,
    h: np.ndarray,
    *,
    lr: float,
    weight_decay: float = 0.0,
    times: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Haink eq. 6.11: w_i(t) = (w_i(0) - b_i) exp(-r_i t) + b_i along each Hessian eigenvector,
    r_i = lr (h_i + weight_decay), b_i = h_i mu_i / (h_i + weight_decay), ``times`` in optimizer
    steps since t0.  Shapes: (k,) inputs, returns (len(times), k)."""
    rate, target = _rates_and_targets(mu_hat, h, lr, weight_decay)
    t = np.asarray(times, dtype=np.float64)[:, None]
    c = np.asarray(w0_hat, dtype=np.float64) - target
    return c * np.exp(-rate * t) + target


def quadratic_drift_variance(
    w0_hat: np.ndarray,
    mu_hat: np.ndarray,
    h: np.ndarray,
    *,
    lr: float,
    weight_decay: float = 0.0,
    num_points: int,
    stride: float = 1.0,
) -> np.ndarray:
    """Haink eq. 6.12: the variance over T = ``num_points`` snapshots, ``stride`` steps apart, of
    eq. 6.11's w_i(t), by the geometric sums (q = exp(-r_i stride), c_i = w_i(0) - b_i):

        sigma_i^2 = c_i^2 [ (1/T) sum_j q^(2j) - ((1/T) sum_j q^j)^2 ],  j = 0..T-1.

    (The thesis sums t = 0..T and divides by T; we use T points and 1/T, as in eq. 6.6.)  For
    r_i -> 0 it tends to the linear drift's c_i^2 r_i^2 stride^2 (T^2 - 1) / 12 (eq. 6.6); where
    |r_i stride T| < 0.01 the sums cancel, and the variance is summed over the T points directly
    (exp(x) - 1 by ``expm1``).  Shape (k,).
    """
    if num_points < 1:
        raise ValueError(f"num_points must be positive, got {num_points}")
    rate, target = _rates_and_targets(mu_hat, h, lr, weight_decay)
    c = np.asarray(w0_hat, dtype=np.float64) - target
    x = -rate * stride
    T = float(num_points)

    def geometric(z):  # sum_{j<T} exp(z j), stable near z = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.expm1(z * T) / np.expm1(z)
        return np.where(np.abs(z) < 1e-300, T, out)

    mean1 = geometric(x) / T
    mean2 = geometric(2 * x) / T
    closed = np.maximum(mean2 - mean1**2, 0.0)
    # where |r T stride| is small the two means cancel to ~1e-16 / (r T)^2 relative error:
    # there the variance of expm1(x j) (the same numbers less 1, exact) is summed directly
    small = np.abs(x * T) < 1e-2
    if np.any(small):
        j = np.arange(num_points, dtype=np.float64)[:, None]
        direct = np.var(np.expm1(x[small][None, :] * j), axis=0)
        closed = closed.copy()
        closed[small] = direct
    return c**2 * closed


def drift_mode_variance(d: np.ndarray, sigma2: np.ndarray) -> float:
    """Haink eq. 6.13: sigma_d^2 = sum_i d_i^2 sigma_i^2 for the drift direction p_1 = sum_i d_i
    h_i (d_i = h_i . p_1) and per-eigenvector variances sigma_i^2 (NaN terms left out)."""
    d, s = np.asarray(d, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    keep = np.isfinite(s) & np.isfinite(d)
    return float((d[keep] ** 2 * s[keep]).sum())
