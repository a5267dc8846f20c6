"""Overlap maps between bases: absolute normalised scalar products (Haink eq. 6.2, 7.4, 7.5, Fig. 7.1).

All maps here are ``O_ij = |a_i . b_j| / (||a_i|| ||b_j||)`` between the rows of two sets of
vectors living in the same parameter space (the absolute value because the sign of principal
components and eigenvectors is arbitrary):

* ``S_ij = |p_i . w~_j| / ||w~_j||`` (eq. 6.2): principal components p_i (unit) against the
  flattened singular matrices w~_j (eq. 6.1);
* ``F_ij = |h_i . w~_j| / ||w~_j||`` (eq. 7.4): Hessian eigenvectors against singular matrices;
* ``|h_i . p_j|`` (Fig. 7.1): Hessian eigenvectors against PCs of weights or of updates;
* ``|h_i . h~_j^(l)|`` (eq. 7.5): whole-network eigenvectors against a layer's own Hessian
  eigenvectors padded with zeros outside the layer (:func:`layer_overlaps`).

For orthonormal bases of the same space the squared rows and columns of ``O`` sum to one, and a
basis against itself gives the identity.  :func:`overlap_summary` reduces a map to a few numbers
(diagonal mass, how often the best match lies near the diagonal, top-k subspace overlap).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["abs_overlaps", "layer_overlaps", "overlap_summary"]


def _rows(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach()
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be (k, p) rows of vectors, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    return x


def abs_overlaps(a, b, *, normalize: bool = True) -> torch.Tensor:
    """``O_ij = |a_i . b_j| / (||a_i|| ||b_j||)`` between the rows of ``a`` (k, p) and ``b`` (m, p).

    With ``normalize=False`` the plain ``|a_i . b_j|``.  Zero rows give zero overlaps.  The
    product runs in the wider of the two dtypes.

    Returns:
        (k, m) tensor, entries in [0, 1] when normalised.

    >>> abs_overlaps(torch.eye(3), torch.eye(3)).equal(torch.eye(3))
    True
    """
    a, b = _rows(a, "a"), _rows(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"the two bases live in different spaces: a is {tuple(a.shape)}, b {tuple(b.shape)}"
        )
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = a.to(dtype), b.to(device=a.device, dtype=dtype)
    if normalize:
        na = a.norm(dim=1, keepdim=True)
        nb = b.norm(dim=1, keepdim=True)
        a = torch.where(na > 0, a / na.clamp_min(torch.finfo(dtype).tiny), torch.zeros_like(a))
        b = torch.where(nb > 0, b / nb.clamp_min(torch.finfo(dtype).tiny), torch.zeros_like(b))
    return (a @ b.T).abs()


def layer_overlaps(full, layer, index) -> torch.Tensor:
    """Eq. 7.5: ``|h_i . h~_j^(l)|`` with ``h~_j^(l)`` the layer's eigenvector padded with zeros.

    Args:
        full: (k, p) whole-network eigenvectors (rows, unit).
        layer: (m, p_l) the layer Hessian's eigenvectors (rows, unit).
        index: (p_l,) positions of the layer's parameters in theta (a slice, a long tensor, or a
            :class:`~landscope.curvature.ParameterSelection`'s ``index``).

    Returns:
        (k, m) tensor: equal to ``abs_overlaps(full, padded, normalize=False)`` without building
        the padded (m, p) matrix.
    """
    full, layer = _rows(full, "full"), _rows(layer, "layer")
    sub = full[:, index] if isinstance(index, slice) else full[:, torch.as_tensor(index)]
    if sub.shape[1] != layer.shape[1]:
        raise ValueError(
            f"index selects {sub.shape[1]} parameters but the layer vectors have {layer.shape[1]}"
        )
    dtype = torch.promote_types(sub.dtype, layer.dtype)
    return (sub.to(dtype) @ layer.to(device=sub.device, dtype=dtype).T).abs()


def overlap_summary(o, *, band: int | None = None, top: int = 10) -> dict:
    """A few numbers describing an overlap map (rows: basis A, columns: basis B).

    Returns a dict with:
        ``mean_diagonal``: mean of ``O_ii`` (1 for a basis against itself);
        ``near_diagonal_fraction``: fraction of rows i whose largest entry lies at |j - i| <=
        ``band`` (default ``max(1, min(k, m) // 20)``), the "near-diagonal" shape of Fig. 7.1;
        ``argmax_spearman``: Spearman correlation of i with argmax_j O_ij (1: ordered bases);
        ``top_subspace_overlap``: ``||O[:t, :t]||_F^2 / t`` with t = min(top, k, m): the mean
        squared cosine of the principal angles between the two top-t subspaces (orthonormal
        rows assumed);
        ``max``: the largest entry.
    """
    o = np.asarray(torch.as_tensor(o).detach().cpu().to(torch.float64))
    if o.ndim != 2 or min(o.shape) == 0:
        raise ValueError(f"an overlap map must be a non-empty 2-D array, got shape {o.shape}")
    k, m = o.shape
    d = min(k, m)
    band = max(1, d // 20) if band is None else int(band)
    arg = o.argmax(axis=1)
    rows = np.arange(k)
    t = min(top, d)
    if k > 1:
        from scipy.stats import spearmanr

        rho = float(spearmanr(rows, arg).statistic) if np.ptp(arg) > 0 else 0.0
    else:
        rho = float("nan")
    return {
        "shape": [int(k), int(m)],
        "mean_diagonal": float(np.mean(o[np.arange(d), np.arange(d)])),
        "near_diagonal_fraction": float(np.mean(np.abs(arg - rows) <= band)),
        "band": band,
        "argmax_spearman": rho,
        "top_subspace_overlap": float(np.sum(o[:t, :t] ** 2) / t),
        "top": t,
        "max": float(o.max()),
    }
