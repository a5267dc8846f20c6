"""Weights rebuilt from the first i vectors of an orthonormal basis (Haink 2023, eq. 6.3, 7.2,
7.3; Fig. 6.3, 7.2, 7.4): how much of a layer's performance lives in its first principal
components, Hessian eigenvectors or singular matrices.

For a basis b_1..b_k of the parameter group's space (orthonormal rows) and the trained weights w,
the coefficients theta_j = w . b_j and the rebuilt weights w_i = sum_{j<=i} theta_j b_j (eq. 6.3
for principal components, eq. 7.3 for Hessian eigenvectors; the flattened singular matrices
W~_j / ||W~_j|| of eq. 6.1 give the truncated SVD).  The rest of the network keeps its weights;
i = 0 is the group set to zero.  The order in which vectors are added: as given, by eigenvalue,
by |eigenvalue| or by |weight product| h_j . w / ||w|| (eq. 7.2).

A basis with fewer than P vectors (the k < T principal components of a trajectory, a top-k
Hessian eigenbasis) does not span w; the part of w outside it, r = w - sum_j theta_j b_j, is
reported (``remainder_norm``) and, with ``include_remainder``, added as a last step so that the
curve ends at the original weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

__all__ = ["ORDERS", "RebuildCurve", "order_basis", "rebuild_curve", "weight_product"]

Order = Literal["given", "eigenvalue", "abs_eigenvalue", "weight_product"]
ORDERS: tuple[str, ...] = ("given", "eigenvalue", "abs_eigenvalue", "weight_product")


def _rows(basis: Any) -> torch.Tensor:
    B = torch.as_tensor(basis).detach().to(dtype=torch.float64)
    if B.ndim != 2:
        raise ValueError(
            f"basis must be a (k, P) matrix of row vectors, got shape {tuple(B.shape)}"
        )
    return B


def weight_product(vectors: Any, w: Any) -> np.ndarray:
    """Eq. 7.2: ``h_i . w / ||w||`` for each row h_i of ``vectors`` (k, n); (k,) float64.

    The one implementation (``landscope.spectra.weight_product`` is this function): it orders
    any basis (Hessian eigenvectors, principal components, singular matrices) by its weight
    product for rebuilding (eq. 7.3); if w and h_i were independent its mean square would be
    1 / n.

    >>> weight_product(np.eye(2), [3.0, 4.0]).tolist()
    [0.6, 0.8]
    """
    v = torch.as_tensor(vectors).detach()
    v = v[None] if v.ndim == 1 else v
    if v.ndim != 2:
        raise ValueError(f"vectors must be (k, n) rows, got shape {tuple(v.shape)}")
    v = v.to(torch.float64)
    w = torch.as_tensor(w).detach().to(device=v.device, dtype=torch.float64).ravel()
    if w.numel() != v.shape[1]:
        raise ValueError(f"w has {w.numel()} entries, the vectors {v.shape[1]}")
    norm = w.norm()
    if float(norm) == 0:
        raise ValueError("the weight product is undefined for w = 0")
    return np.asarray((v @ w / norm).cpu())


def order_basis(
    order: Order, *, values: Any = None, products: Any = None, k: int | None = None
) -> np.ndarray:
    """The permutation in which basis vectors are added: ``"given"`` (0..k-1), ``"eigenvalue"``
    (decreasing ``values``), ``"abs_eigenvalue"`` (decreasing |values|), ``"weight_product"``
    (decreasing |products|).  Ties keep the given order (stable sort).

    >>> order_basis("abs_eigenvalue", values=[3.0, -5.0, 1.0]).tolist()
    [1, 0, 2]
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if order == "given":
        if k is None:
            k = len(values) if values is not None else len(products)
        return np.arange(k)
    key = products if order == "weight_product" else values
    if key is None:
        need = "products (weight_product)" if order == "weight_product" else "values"
        raise ValueError(f"order {order!r} needs {need}")
    key = np.asarray(key, dtype=np.float64)
    key = key if order == "eigenvalue" else np.abs(key)
    return np.argsort(-key, kind="stable")


@dataclass
class RebuildCurve:
    """Loss and accuracy of weights rebuilt from the first ``counts[m]`` basis vectors.

    Attributes:
        counts: (m,) number of vectors added (0: the group set to zero).  The last entry is
            ``k + 1`` when the remainder outside the basis was added (the original weights).
        train_loss, train_accuracy, test_loss, test_accuracy: (m,) (NaN where not measured).
        order: the order rule; permutation: (k,) basis indices in the order added.
        coefficients: (k,) theta_j = w . b_j in the basis' own order.
        remainder_norm: ||w - sum_j theta_j b_j|| / ||w||.
        original: ``{"train_loss", "train_accuracy", "test_loss", "test_accuracy"}`` at w.
    """

    counts: np.ndarray
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    order: str
    permutation: np.ndarray
    coefficients: np.ndarray
    remainder_norm: float
    original: dict = field(default_factory=dict)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        names = ("counts", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
        out = {prefix + n: np.asarray(getattr(self, n)) for n in names}
        out[prefix + "permutation"] = self.permutation
        out[prefix + "coefficients"] = self.coefficients
        return out

    def count_for(self, fraction: float, *, metric: str = "test_accuracy") -> int | None:
        """The fewest basis vectors whose rebuilt weights reach ``fraction`` of the original
        ``metric`` (an accuracy), or None if no point of the curve does without the remainder."""
        target = fraction * self.original[metric]
        values = np.asarray(getattr(self, metric))
        inside = self.counts < len(self.coefficients) + 1  # not the remainder point
        hits = np.flatnonzero((values >= target) & inside)
        return int(self.counts[hits[0]]) if len(hits) else None


def _default_counts(k: int) -> np.ndarray:
    if k <= 64:
        return np.arange(k + 1)
    return np.unique(np.concatenate([np.arange(17), np.geomspace(16, k, 40).astype(int), [k]]))


def rebuild_curve(
    train: Any,
    theta: torch.Tensor,
    basis: Any,
    *,
    test: Any = None,
    params: Any = None,
    order: Order = "given",
    values: Any = None,
    counts: Sequence[int] | None = None,
    include_remainder: bool = True,
    indices: Any = None,
    progress: bool = False,
) -> RebuildCurve:
    """Evaluate the weights rebuilt from the first i vectors of ``basis`` (eq. 6.3 / 7.3).

    Args:
        train, test: :class:`~landscope.problem.Problem` on the training / test data (``test``
            optional); classification problems give accuracies, others NaN.
        theta: (p,) the trained parameters of the whole network.
        basis: (k, P_sub) orthonormal rows in the coordinates of the parameter group ``params``
            (:func:`~landscope.curvature.select_parameters`; None: the whole network).
        order: how the vectors are ordered (:func:`order_basis`); ``values`` the eigenvalues
            for ``"eigenvalue"`` / ``"abs_eigenvalue"``.
        counts: numbers of vectors to evaluate (default: all 0..k when k <= 64, else a log grid).
        include_remainder: add the part of w outside the basis as a final point (count k + 1).
        indices: evaluate the training loss on these samples only (default all).

    Raises:
        ValueError: the basis rows are not orthonormal (to 1e-6), or shapes disagree.
    """
    from landscope._progress import progress_bar
    from landscope.curvature import select_parameters

    selection = select_parameters(train.layout, params)
    B = _rows(basis).to(device=train.device)
    k, P = B.shape
    if P != selection.size:
        raise ValueError(
            f"basis vectors have {P} entries; the parameter group {params!r} has {selection.size}"
        )
    gram_err = float((B @ B.T - torch.eye(k, dtype=B.dtype, device=B.device)).abs().max())
    if gram_err > 1e-6:
        raise ValueError(f"basis rows are not orthonormal (max |B B^T - I| = {gram_err:.2g})")
    theta = train.check_theta(theta).detach()
    w = selection.restrict(theta).to(torch.float64)
    coef = B @ w
    products = (coef / w.norm()).cpu().numpy() if float(w.norm()) > 0 else None
    perm = order_basis(order, values=values, products=products, k=k)
    remainder = w - B.T @ coef
    rem_norm = float(remainder.norm() / w.norm()) if float(w.norm()) > 0 else 0.0
    chosen = _default_counts(k) if counts is None else np.asarray(sorted(set(counts)), dtype=int)
    if chosen.size and (chosen.min() < 0 or chosen.max() > k):
        raise ValueError(f"counts must lie in 0..{k}, got {chosen.min()}..{chosen.max()}")
    points = [int(c) for c in chosen]
    if include_remainder:
        points.append(k + 1)
    index = torch.as_tensor(perm, device=B.device)
    Bp, cp = B[index], coef[index]
    partial = torch.zeros(P, dtype=B.dtype, device=B.device)
    added = 0

    def rebuilt(i: int) -> torch.Tensor:  # points come in increasing order: a running sum
        nonlocal partial, added
        if i == k + 1:
            return selection.embed(theta, w.to(theta.dtype))
        partial = partial + Bp[added:i].T @ cp[added:i]
        added = i
        return selection.embed(theta, partial.to(theta.dtype))

    def measure(problem, th, idx=None) -> tuple[float, float]:
        if problem is None:
            return float("nan"), float("nan")
        r = problem.evaluate(th, idx)
        return r["loss"], r.get("accuracy", float("nan"))

    rows = []
    for i in progress_bar(points, enabled=progress, desc="rebuild", unit="point"):
        th = rebuilt(i)
        rows.append((*measure(train, th, indices), *measure(test, th)))
    rows_a = np.asarray(rows, dtype=np.float64)
    tl, ta = measure(train, theta, indices)
    sl, sa = measure(test, theta)
    return RebuildCurve(
        counts=np.asarray(points),
        train_loss=rows_a[:, 0],
        train_accuracy=rows_a[:, 1],
        test_loss=rows_a[:, 2],
        test_accuracy=rows_a[:, 3],
        order=order,
        permutation=np.asarray(perm),
        coefficients=coef.cpu().numpy(),
        remainder_norm=rem_norm,
        original={"train_loss": tl, "train_accuracy": ta, "test_loss": sl, "test_accuracy": sa},
    )
