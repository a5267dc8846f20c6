"""Conserved directions of a finished task: the directions and weights the forgetting penalties
(Haink eq. 3.10, 3.11 / 7.10, 7.11) and the gradient constraint (eq. 7.12) act on.

Every defence against forgetting here is built from one object, :class:`ConservedDirections`:
the parameters ``mu_A`` at the end of task A and groups of orthonormal directions ``d_i`` (each
group a block of ``theta``: one layer, one weight matrix, one bias, or the whole network) with
non-negative weights ``c_i``.  A penalty is then ``lambda sum_i c_i ((w - mu_A) . d_i)^2`` and
the constraint removes ``gamma (c_i / c_1) (v . d_i) d_i`` from an update ``v``.  The functions
below fill it from

- the top Hessian eigenpairs of task A's loss at ``mu_A`` (:func:`hessian_directions`,
  eq. 3.11 / 7.10: ``d_i = h_i`` eigenvectors, ``c_i`` = eigenvalues),
- the principal components of the end of task A's trajectory (:func:`pca_directions`, eq. 3.10:
  ``c_i = 1 / F_i^2`` with the flatness ``F_i`` measured along each component),
- the singular matrices of the weight matrices outside the Marchenko-Pastur bulk
  (:func:`singular_directions`, eq. 7.11: ``d_i = W~_i / ||W~_i||``, ``c_i = nu_i``), with biases
  conserved through their own small Hessian (the thesis' 20 % of its eigenvalues),

and :func:`fisher_diagonal` gives EWC's diagonal empirical Fisher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from landscope.problem import ParameterLayout, Problem
from landscope.problem._problem import Indices

__all__ = [
    "ConservedDirections",
    "DirectionGroup",
    "fisher_diagonal",
    "flatness",
    "hessian_directions",
    "parameter_groups",
    "pca_directions",
    "singular_directions",
]

#: Blocks up to this many parameters get the exact dense Hessian (``hessian_eigh``); larger
#: ones the top eigenpairs by Lanczos (``top_eigenpairs``).
DENSE_MAX = 1500


@dataclass
class DirectionGroup:
    """Orthonormal directions inside one block of ``theta``.

    Attributes:
        name: the block (a layer, a parameter, ``"network"``).
        kind: how they were found: ``"hessian"``, ``"pca"``, ``"singular"``, ``"bias_hessian"``.
        index: (p_g,) long, increasing: the entries of ``theta`` the block covers.
        vectors: (p_g, k) orthonormal columns ``d_i`` (unit vectors in the block).
        weights: (k,) non-negative ``c_i`` (eigenvalues, 1 / F_i^2 or singular values).
        values: (k,) the raw spectrum the weights come from (eigenvalues, PCA variances,
            singular values), for the record.
    """

    name: str
    kind: str
    index: torch.Tensor
    vectors: torch.Tensor
    weights: torch.Tensor
    values: torch.Tensor | None = None

    @property
    def k(self) -> int:
        return int(self.vectors.shape[1])

    def to(self, device=None, dtype=None) -> DirectionGroup:
        return DirectionGroup(
            self.name,
            self.kind,
            self.index.to(device=device),
            self.vectors.to(device=device, dtype=dtype),
            self.weights.to(device=device, dtype=dtype),
            None if self.values is None else self.values.to(device=device, dtype=dtype),
        )


@dataclass
class ConservedDirections:
    """Directions to conserve after task A, with the anchor ``mu_A`` (shape (p,)).

    The quadratic form of the penalties (Haink eq. 3.10, 3.11, 7.11) is
    ``Q(w) = sum_g sum_i c_gi ((w - mu_A)[index_g] . d_gi)^2`` (:meth:`quadratic`) and the
    constrained update of eq. 7.12 is :meth:`constrain`.
    """

    anchor: torch.Tensor
    groups: list[DirectionGroup] = field(default_factory=list)

    @property
    def num_params(self) -> int:
        return int(self.anchor.shape[0])

    @property
    def n_directions(self) -> int:
        return sum(g.k for g in self.groups)

    def to(self, device=None, dtype=None) -> ConservedDirections:
        return ConservedDirections(
            self.anchor.to(device=device, dtype=dtype), [g.to(device, dtype) for g in self.groups]
        )

    def coordinates(self, delta: torch.Tensor) -> list[torch.Tensor]:
        """``[V_g^T delta[index_g] for each group]``: (k_g,) projections of a (p,) vector."""
        return [g.vectors.T @ delta[g.index] for g in self.groups]

    def quadratic(self, theta: torch.Tensor) -> torch.Tensor:
        """``sum_g sum_i c_gi ((theta - mu_A)[index_g] . d_gi)^2``, a 0-d tensor differentiable
        in ``theta`` (shape (p,))."""
        delta = theta - self.anchor
        total = theta.new_zeros(())
        for g, c in zip(self.groups, self.coordinates(delta), strict=True):
            total = total + (g.weights * c * c).sum()
        return total

    def constrain(
        self, update: torch.Tensor, gamma: float = 1.0, weighting: str = "relative"
    ) -> torch.Tensor:
        """Eq. 7.12: ``v - gamma sum_g sum_i r_gi (v[index_g] . d_gi) d_gi`` with
        ``r_gi = c_gi / max_i c_gi`` (``weighting="relative"``: the thesis' nu_i / nu_1 or
        h_i / h_1, so each group's top direction is removed fully at gamma = 1) or ``r_gi = 1``
        (``"uniform"``: the update's projection onto the conserved span is removed).  The
        directions of a group are orthonormal and groups are disjoint blocks, so at gamma = 1
        with uniform weights the result is orthogonal to every conserved direction.
        """
        if weighting not in ("relative", "uniform"):
            raise ValueError(f"weighting must be 'relative' or 'uniform', got {weighting!r}")
        if gamma == 0 or not self.groups:
            return update
        out = update.clone()
        for g in self.groups:
            if g.k == 0:
                continue
            if weighting == "relative":
                top = g.weights.max()
                r = g.weights / top if top > 0 else torch.zeros_like(g.weights)
            else:
                r = torch.ones_like(g.weights)
            coords = g.vectors.T @ update[g.index]
            out[g.index] = out[g.index] - gamma * (g.vectors @ (r * coords))
        return out

    def summary(self) -> list[dict]:
        """One row per group: name, kind, block size, directions, largest / smallest weight."""
        rows = []
        for g in self.groups:
            w = g.weights.detach().cpu().double()
            rows.append(
                {
                    "group": g.name,
                    "kind": g.kind,
                    "size": int(g.index.numel()),
                    "directions": g.k,
                    "weight_max": float(w.max()) if g.k else float("nan"),
                    "weight_min": float(w.min()) if g.k else float("nan"),
                }
            )
        return rows


# --- blocks of theta ----------------------------------------------------------------------------
def parameter_groups(
    layout: ParameterLayout, params: Sequence[str] | str | None = None, *, per_layer: bool = True
) -> list[tuple[str, torch.Tensor]]:
    """Blocks of ``theta`` as ``(name, index)``: one per layer (``per_layer``; the thesis'
    per-layer Hessians) or one ``"network"`` block, restricted to ``params`` (layer or
    parameter names; default all of ``theta``).

    Raises:
        KeyError: a name in ``params`` is neither a layer nor a parameter (both lists named).
    """
    names = None if params is None else ([params] if isinstance(params, str) else list(params))
    mask = torch.zeros(layout.num_params, dtype=torch.bool)
    for s in layout:
        if names is None or s.layer in names or s.name in names:
            mask[s.slice] = True
    if names is not None:
        known = set(layout.layers) | set(layout.names)
        bad = [n for n in names if n not in known]
        if bad:
            raise KeyError(
                f"params {bad} are neither layers nor parameters; layers are {layout.layers}, "
                f"parameters are {layout.names}"
            )
    if not per_layer:
        return [("network", mask.nonzero().reshape(-1))]
    groups = []
    for layer in layout.layers:
        lm = layout.mask(lambda s, layer=layer: s.layer == layer) & mask
        if lm.any():
            groups.append((layer or "(root)", lm.nonzero().reshape(-1)))
    return groups


def _mask(num_params: int, index: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(num_params, dtype=torch.bool)
    mask[index.cpu()] = True
    return mask


def _top_hessian(
    problem: Problem,
    theta: torch.Tensor,
    index: torch.Tensor,
    k: int,
    *,
    indices: Indices,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k (largest algebraic) eigenpairs of the Hessian block ``index`` of the mean loss:
    exact dense ``eigh`` up to :data:`DENSE_MAX` parameters, else Lanczos."""
    from landscope.curvature import HessianOperator, hessian_eigh, top_eigenpairs

    size = int(index.numel())
    k = min(k, size)
    mask = _mask(problem.num_params, index)
    if size <= DENSE_MAX:
        evals, evecs = hessian_eigh(
            problem, theta, indices=indices, params=mask, max_params=DENSE_MAX
        )
        return evals[:k], evecs[:, :k]
    op = HessianOperator(problem, theta, indices=indices, params=mask)
    res = top_eigenpairs(op, k, seed=seed, tol=1e-4)
    return res.eigenvalues, res.eigenvectors


def _positive(name, kind, index, evals, evecs) -> DirectionGroup:
    """Keep the eigenpairs with a positive eigenvalue (a negative one would reward leaving
    mu_A along its eigenvector)."""
    keep = evals > 0
    return DirectionGroup(name, kind, index, evecs[:, keep], evals[keep], evals[keep])


# --- eq. 3.11 / 7.10 ----------------------------------------------------------------------------
def hessian_directions(
    problem: Problem,
    theta: torch.Tensor,
    *,
    n_directions: int = 20,
    params: Sequence[str] | str | None = None,
    per_layer: bool = True,
    indices: Indices = None,
    seed: int = 0,
) -> ConservedDirections:
    """The top ``n_directions`` Hessian eigenpairs ``(h_i, h_i)`` of task A's mean loss at
    ``mu_A = theta`` (Haink eq. 3.11 / 7.10), per layer block (``per_layer``, the thesis'
    per-layer computation) or of the whole selected network; eigenpairs with ``h_i <= 0`` are
    dropped.  Blocks of at most :data:`DENSE_MAX` parameters are diagonalized exactly, larger
    ones by Lanczos (:func:`landscope.curvature.top_eigenpairs`, seeded by ``seed``).

    Args:
        problem: task A's training Problem; theta: mu_A (p,).
        n_directions: N_lim per block.
        params: restrict to these layers / parameters (default: all of theta).
        indices: a subset of task A's samples for the Hessian (default all).
    """
    theta = problem.check_theta(theta).detach()
    groups = []
    for name, index in parameter_groups(problem.layout, params, per_layer=per_layer):
        evals, evecs = _top_hessian(problem, theta, index, n_directions, indices=indices, seed=seed)
        groups.append(_positive(name, "hessian", index.to(theta.device), evals, evecs))
    return ConservedDirections(theta.clone(), groups)


# --- eq. 3.10 -----------------------------------------------------------------------------------
def flatness(
    problem: Problem,
    theta: torch.Tensor,
    directions: torch.Tensor,
    index: torch.Tensor,
    *,
    factor: float = 2.0,
    indices: Indices = None,
    max_distance: float = 1e3,
    rtol: float = 1e-3,
) -> torch.Tensor:
    """Flatness ``F_i`` along each direction (Feng & Tu 2021, used in Haink eq. 3.10): the width
    ``delta_+ + delta_-`` of the interval around ``theta`` on which the loss
    ``L(theta + delta d_i)`` stays below ``factor * L(theta)``; found by doubling then bisection
    to relative precision ``rtol`` on each side (at most ``max_distance``: a direction along
    which the loss never rises that much gets ``F_i = 2 max_distance``).

    Args:
        directions: (p_g, k) unit directions inside the block ``index`` of theta.

    Returns:
        (k,) tensor of widths (units of theta).
    """
    theta = problem.check_theta(theta).detach()
    base = float(problem.loss(theta, indices))
    target = factor * base if base > 0 else 1e-12

    def loss_at(d: torch.Tensor, t: float) -> float:
        w = theta.clone()
        w[index] = w[index] + t * d
        return float(problem.loss(w, indices))

    def side(d: torch.Tensor) -> float:
        lo, hi = 0.0, 1e-3
        while loss_at(d, hi) < target:
            lo, hi = hi, 2 * hi
            if hi > max_distance:
                return max_distance
        while hi - lo > rtol * hi:
            mid = 0.5 * (lo + hi)
            if loss_at(d, mid) < target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    widths = [side(directions[:, i]) + side(-directions[:, i]) for i in range(directions.shape[1])]
    return torch.tensor(widths, dtype=theta.dtype, device=theta.device)


def pca_directions(
    problem: Problem,
    theta: torch.Tensor,
    trajectory: torch.Tensor | np.ndarray,
    *,
    n_directions: int = 20,
    params: Sequence[str] | str | None = None,
    per_layer: bool = True,
    flatness_factor: float = 2.0,
    indices: Indices = None,
) -> ConservedDirections:
    """The top ``n_directions`` principal components ``p_i`` of the end of task A's trajectory,
    weighted by ``1 / F_i^2`` with the flatness ``F_i`` measured along each (Haink eq. 3.10,
    after Feng & Tu 2021).

    The PCA is :class:`landscope.trajectory.TrajectoryPCA` (centred snapshots, eq. 3.3-3.5) of
    each block's columns; the thesis notes that N_lim + 1 snapshots suffice for N_lim
    components.

    Args:
        problem: task A's training Problem (the flatness is measured on its loss).
        theta: mu_A (p,), the end of task A.
        trajectory: (T, p) snapshots w(t) at the end of task A (rows in time order).
        flatness_factor: :func:`flatness`'s loss-rise factor.
    """
    from landscope.trajectory import TrajectoryPCA

    theta = problem.check_theta(theta).detach()
    X = torch.as_tensor(trajectory).detach().to(device="cpu", dtype=torch.float64)
    if X.ndim != 2 or X.shape[1] != problem.num_params:
        raise ValueError(
            f"trajectory must have shape (T, {problem.num_params}), got {tuple(X.shape)}"
        )
    if X.shape[0] < 2:
        raise ValueError(f"the PCA needs at least 2 snapshots, got {X.shape[0]}")
    groups = []
    for name, index in parameter_groups(problem.layout, params, per_layer=per_layer):
        k = min(n_directions, X.shape[0] - 1, int(index.numel()))
        pca = TrajectoryPCA(n_components=k).fit_matrix(X[:, index].numpy())
        comps = torch.as_tensor(pca.components_, dtype=theta.dtype, device=theta.device).T
        variances = torch.as_tensor(pca.explained_variance_, dtype=theta.dtype)
        idx = index.to(theta.device)
        widths = flatness(problem, theta, comps, idx, factor=flatness_factor, indices=indices)
        groups.append(
            DirectionGroup(name, "pca", idx, comps, 1.0 / widths**2, variances.to(theta.device))
        )
    return ConservedDirections(theta.clone(), groups)


# --- eq. 7.11 -----------------------------------------------------------------------------------
def singular_directions(
    problem: Problem,
    theta: torch.Tensor,
    *,
    n_singular: int | str = "outliers",
    params: Sequence[str] | str | None = None,
    bias_fraction: float = 0.2,
    conv: str = "thesis",
    indices: Indices = None,
) -> ConservedDirections:
    """Singular matrices of the weight matrices at ``mu_A = theta`` (Haink eq. 7.11), and the
    Hessian eigenvectors of each bias (the thesis' treatment of biases).

    Each weight matrix ``W = sum_i nu_i u_i v_i^T`` (conv kernels reshaped as ``conv`` says, see
    :func:`landscope.spectra.weight_matrices`) contributes the unit directions
    ``W~_i / ||W~_i|| = u_i v_i^T`` (flattened into theta, eq. 6.1) with weights ``nu_i`` for
    the singular values outside the Marchenko-Pastur bulk (``n_singular="outliers"``:
    :class:`landscope.spectra.MarchenkoPastur`, Tracy-Widom criterion) or the ``n_singular``
    largest (an int; the thesis' "five largest singular values").  Every other parameter
    tensor (biases, 1-D scales) is a block of its own: the top ``ceil(bias_fraction * size)``
    eigenpairs of its dense Hessian (task A's loss), weights ``h_i`` (eq. 7.10 on that block).

    Raises:
        ValueError: ``n_singular`` is neither ``"outliers"`` nor a positive int.
    """
    from landscope.spectra import MarchenkoPastur, singular_matrices, weight_matrices

    if not (n_singular == "outliers" or (isinstance(n_singular, int) and n_singular >= 1)):
        raise ValueError(f"n_singular must be 'outliers' or a positive int, got {n_singular!r}")
    if not 0 <= bias_fraction <= 1:
        raise ValueError(f"bias_fraction must be in [0, 1], got {bias_fraction}")
    theta = problem.check_theta(theta).detach()
    layout = problem.layout
    names = None if params is None else ([params] if isinstance(params, str) else list(params))
    parameter_groups(layout, names, per_layer=False)  # validates the names
    chosen = [s for s in layout if names is None or s.layer in names or s.name in names]
    matrices = weight_matrices(theta, layout, conv=conv, layers=[s.name for s in chosen])
    covered = set()
    groups = []
    for wm in matrices:
        covered.add(wm.name.split("[")[0])
        W = wm.matrix.to(torch.float64)
        if n_singular == "outliers":
            keep = np.asarray(MarchenkoPastur().fit(W.cpu()).outlier_indices_, dtype=np.int64)
        else:
            keep = np.arange(min(int(n_singular), min(W.shape)))
        S = torch.linalg.svdvals(W)
        keep = keep[S[keep].cpu().numpy() > 0] if keep.size else keep
        k = torch.as_tensor(keep, dtype=torch.long, device=W.device)
        # W~_i / ||W~_i|| = u_i v_i^T (eq. 6.1; ||W~_i|| = nu_i), rows (k, rows * cols)
        if k.numel():
            unit = singular_matrices(W, keep) / S[k][:, None]
        else:  # no outlier: nothing conserved in this matrix
            unit = W.new_zeros(0, W.numel())
        groups.append(
            DirectionGroup(
                wm.name,
                "singular",
                wm.index.to(theta.device),
                unit.T.to(dtype=theta.dtype, device=theta.device),
                S[k].to(dtype=theta.dtype, device=theta.device),
                S.to(dtype=theta.dtype, device=theta.device),
            )
        )
    for s in chosen:
        if s.name in covered or bias_fraction == 0:
            continue
        index = torch.arange(s.offset, s.stop)
        k = math.ceil(bias_fraction * s.numel)
        evals, evecs = _top_hessian(problem, theta, index, k, indices=indices, seed=0)
        groups.append(_positive(s.name, "bias_hessian", index.to(theta.device), evals, evecs))
    return ConservedDirections(theta.clone(), groups)


# --- EWC ----------------------------------------------------------------------------------------
def fisher_diagonal(
    problem: Problem,
    theta: torch.Tensor,
    *,
    indices: Indices = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Diagonal of the empirical Fisher at ``theta``: ``F_j = (1/n) sum_n (d f_n / d theta_j)^2``
    over the per-sample losses ``f_n`` (:func:`landscope.curvature.per_sample_gradients`), the
    Fisher of EWC (Kirkpatrick et al. 2017) -- not the square of the minibatch-mean gradient.

    Returns:
        (p,) tensor, the Problem's dtype and device.
    """
    from landscope.curvature import per_sample_gradients

    theta = problem.check_theta(theta).detach()
    idx = problem._indices(indices)
    n = problem.num_selected(idx)
    order = torch.arange(n) if idx is None else idx
    block = chunk_size or max(1, min(n, 2**22 // max(problem.num_params, 1)))
    total = torch.zeros_like(theta)
    for start in range(0, n, block):
        G = per_sample_gradients(problem, theta, order[start : start + block])
        total += (G * G).sum(0)
    return total / n
