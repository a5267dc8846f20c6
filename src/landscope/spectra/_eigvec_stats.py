"""Statistics of Hessian eigenvalues and eigenvectors (Haink sec. 7.2, 7.5, 7.6; eq. 7.2, 7.6-7.9).

* :func:`smoothed_density`: the spectral density as a sum of Gaussians of width ``width``
  (Fig. 7.15, 7.20b: "the standard deviation of the smoothing kernel is set to one").
* :func:`porter_thomas_pvalues`: per eigenvector, the KS p-value of its entries scaled by
  ``sqrt(n)`` against the standard normal, i.e. eq. 7.7 ``(1 + erf(v~_i sqrt(n/2))) / 2 ~ i / n``
  for the sorted entries (the thesis prints ``1 + erf(.)/2``, a typo: the left side must be a
  CDF); then :func:`neighbour_average` over ``k`` neighbours on either side (Fig. 7.17: 15).
* :func:`layer_concentration`: eq. 7.8 ``||h_i||_l^2 = sum_{j in I_l} h_ij^2`` per layer, beside
  its random expectation ``n_l / n`` (Fig. 7.18).
* :func:`inverse_participation_ratio`: ``ipr(h_i) = sum_j h_ij^4`` (Fig. 7.21); ``1/n`` for a
  fully delocalised vector, ``3/(n + 2)`` expected for a uniformly random unit vector, 1 for a
  basis vector.
* :func:`weight_product`: eq. 7.2 ``h_i . w / ||w||``; if w and h_i were independent its
  second moment would be ``1/n`` whatever i (eq. 7.9 with unit-norm w).
* :func:`loss_along_eigenvector`: eq. 7.6 ``L(w + (alpha - w . h_i) h_i)`` against the quadratic
  (second-order Taylor) prediction ``L(w) + g . h_i delta + h_i delta^2 / 2``, ``delta = alpha -
  w . h_i`` (Fig. 7.12, 7.13).  ``alpha = w . h_i`` is w itself, ``alpha = 0`` removes the
  component.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from landscope.problem import ParameterLayout
from landscope.trajectory._rebuild import weight_product  # eq. 7.2: one implementation

__all__ = [
    "inverse_participation_ratio",
    "layer_concentration",
    "loss_along_eigenvector",
    "neighbour_average",
    "porter_thomas_pvalues",
    "smoothed_density",
    "weight_product",
]


def _vectors(v, name: str = "vectors") -> torch.Tensor:
    v = torch.as_tensor(v).detach()
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2:
        raise ValueError(f"{name} must be (k, n) rows, got shape {tuple(v.shape)}")
    return v.to(torch.float64) if not v.is_floating_point() else v


def smoothed_density(
    eigenvalues, *, width: float = 1.0, grid=None, num: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral density ``rho(x) = (1/n) sum_i N(x; lambda_i, width^2)`` on a grid.

    Args:
        eigenvalues: (n,).
        width: standard deviation of the Gaussian kernel (eigenvalue units).
        grid: evaluation points; default ``num`` points from ``min - 3 width`` to
            ``max + 3 width``.

    Returns:
        ``(grid, density)``; the density integrates to one over the real line.
    """
    lam = np.asarray(torch.as_tensor(eigenvalues).detach().cpu().to(torch.float64)).ravel()
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    if grid is None:
        grid = np.linspace(lam.min() - 3 * width, lam.max() + 3 * width, num)
    grid = np.asarray(grid, dtype=np.float64)
    dens = np.zeros_like(grid)
    for start in range(0, lam.size, 2048):  # bounded memory: grid x 2048
        z = (grid[:, None] - lam[None, start : start + 2048]) / width
        dens += np.exp(-0.5 * z**2).sum(1)
    return grid, dens / (lam.size * width * math.sqrt(2 * math.pi))


def porter_thomas_pvalues(vectors) -> np.ndarray:
    """KS p-value per row of ``vectors`` (k, n) against Porter-Thomas (eq. 7.7).

    Entries of a random unit vector in R^n are approximately N(0, 1/n); each row is normalised,
    scaled by sqrt(n) and tested against the standard normal with scipy's one-sample KS test.
    A p-value near zero rejects "random".  Returns (k,) float64.
    """
    from scipy.stats import kstest

    v = _vectors(vectors)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
    x = np.asarray(v.cpu().to(torch.float64)) * math.sqrt(v.shape[1])
    return np.array([kstest(row, "norm").pvalue for row in x])


def neighbour_average(values, k: int) -> np.ndarray:
    """Mean of ``values[i - k : i + k + 1]`` (clipped at the ends), as Fig. 7.16-7.17 average."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(x.size)
    lo, hi = np.maximum(i - k, 0), np.minimum(i + k + 1, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def layer_concentration(
    vectors, groups: ParameterLayout | dict[str, Sequence[int] | slice] | Sequence[int]
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Eq. 7.8: the share ``||h_i||_l^2`` of each eigenvector in each layer, and n_l / n.

    Args:
        vectors: (k, n) unit rows.
        groups: a :class:`ParameterLayout` (one group per layer, in layout order), a dict
            name -> slice / indices, or a (n,) array of group ids.

    Returns:
        ``(shares (k, L), names, expected (L,))``: rows sum to ``||h_i||^2`` (one for unit rows);
        ``expected[l] = n_l / n`` is the mean share of a uniformly random unit vector.
    """
    v = _vectors(vectors)
    n = v.shape[1]
    if isinstance(groups, ParameterLayout):
        if groups.num_params != n:
            raise ValueError(f"the layout has {groups.num_params} parameters, the vectors {n}")
        names = list(groups.layers)
        sel = {name: groups.layer_slice(name) for name in names}
    elif isinstance(groups, dict):
        names, sel = list(groups), dict(groups)
    else:
        ids = np.asarray(groups).ravel()
        if ids.size != n:
            raise ValueError(f"group ids have length {ids.size}, the vectors {n}")
        names = [str(u) for u in np.unique(ids)]
        sel = {str(u): np.flatnonzero(ids == u) for u in np.unique(ids)}
    sq = v.to(torch.float64) ** 2
    shares, sizes = [], []
    for name in names:
        idx = sel[name]
        cols = sq[:, idx] if isinstance(idx, slice) else sq[:, torch.as_tensor(idx)]
        shares.append(cols.sum(1))
        sizes.append(cols.shape[1])
    return (
        np.asarray(torch.stack(shares, 1).cpu()),
        names,
        np.asarray(sizes, dtype=np.float64) / n,
    )


def inverse_participation_ratio(vectors) -> np.ndarray:
    """``ipr(h_i) = sum_j h_ij^4`` of each normalised row (Fig. 7.21); (k,) float64."""
    v = _vectors(vectors).to(torch.float64)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
    return np.asarray((v**4).sum(1).cpu())


def loss_along_eigenvector(
    problem,
    theta: torch.Tensor,
    direction: torch.Tensor,
    eigenvalue: float,
    alphas,
    *,
    index=None,
    test_problem=None,
    indices=None,
) -> dict:
    """Eq. 7.6: loss (and accuracy) at ``w + (alpha - w . h) h`` against the quadratic prediction.

    Args:
        problem: the training :class:`~landscope.problem.Problem`.
        theta: w (p,).
        direction: h, unit (p,) -- or (p_l,) with ``index`` the positions of the layer's
            parameters in theta (a layer's eigenvector).
        eigenvalue: h_i (the curvature along h of the same loss).
        alphas: (a,) values of alpha (coordinates along h, in parameter units).
        test_problem: also evaluate on it (accuracy of Fig. 7.12b).
        indices: sample subset of ``problem`` used for the losses and the gradient.

    Returns:
        dict of arrays: ``alpha``, ``delta = alpha - w . h``, ``loss``, ``quadratic`` (second-
        order Taylor: ``L(w) + g . h delta + eigenvalue delta^2 / 2``), ``accuracy`` (if a
        classification task) and ``test_loss`` / ``test_accuracy`` with ``test_problem``; and the
        scalars ``projection = w . h``, ``slope = g . h``.
    """
    theta = theta.detach()
    h = torch.as_tensor(direction).detach().to(device=theta.device, dtype=theta.dtype)
    if index is not None:
        full = torch.zeros_like(theta)
        full[index] = h
        h = full
    if h.shape != theta.shape:
        raise ValueError(f"direction has shape {tuple(h.shape)}, theta {tuple(theta.shape)}")
    h = h / h.norm()
    proj = float(theta @ h)
    loss0, grad = problem.loss_and_gradient(theta, indices)
    slope = float(grad @ h)
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    out: dict = {"alpha": alphas, "delta": alphas - proj, "loss": [], "accuracy": []}
    if test_problem is not None:
        out.update(test_loss=[], test_accuracy=[])
    for a in alphas:
        t = theta + (float(a) - proj) * h
        ev = problem.evaluate(t, indices)
        out["loss"].append(ev["loss"])
        out["accuracy"].append(ev.get("accuracy", float("nan")))
        if test_problem is not None:
            tv = test_problem.evaluate(t)
            out["test_loss"].append(tv["loss"])
            out["test_accuracy"].append(tv.get("accuracy", float("nan")))
    for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
        if key in out:
            out[key] = np.asarray(out[key], dtype=np.float64)
    d = out["delta"]
    out["quadratic"] = float(loss0) + slope * d + 0.5 * float(eigenvalue) * d**2
    out["projection"] = proj
    out["slope"] = slope
    out["eigenvalue"] = float(eigenvalue)
    return out
