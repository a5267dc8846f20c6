"""Directions in parameter space for 2-D landscape plots.

- Gaussian random directions (Goodfellow et al. 2015, App. D controls),
- filter-normalized random directions (Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing
  the loss landscape of neural nets*, sec. 4: each filter of the direction is rescaled to the
  norm of the corresponding filter of the weights),
- the top principal directions of a trajectory (Li et al. 2018, sec. 7).

Parameter selection is explicit: 1-D tensors (biases, BatchNorm scales and shifts) follow the
``one_dim`` rule, and any tensor can be excluded (its entries set to zero in the direction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from landscope.problem import ParameterLayout, ParameterSlot
from landscope.trajectory import as_trajectory

__all__ = [
    "NORMALIZATIONS",
    "ONE_DIM_RULES",
    "filter_normalize",
    "orthogonalize",
    "parameter_mask",
    "pca_directions",
    "random_direction",
]

Normalization = Literal["filter", "layer", "model"] | None
OneDimRule = Literal["zero", "weights", "normalize", "keep"]
NORMALIZATIONS = ("filter", "layer", "model", None)
ONE_DIM_RULES = ("zero", "weights", "normalize", "keep")
"""What :func:`filter_normalize` does with 1-D tensors (biases, BatchNorm weight and bias):

- ``"zero"``: set the direction to 0 there (Li et al.'s ``ignore='biasbn'``): the plot moves only
  weight matrices / filters.
- ``"weights"``: the direction equals the parameter itself there (what Li et al.'s code does
  when 1-D tensors are not ignored).
- ``"normalize"``: treat the whole tensor as one filter: rescale to the parameter's norm.
- ``"keep"``: leave the random direction as it is.
"""

Exclude = Callable[[ParameterSlot], bool] | Sequence[str] | None


def parameter_mask(layout: ParameterLayout, exclude: Exclude) -> torch.Tensor:
    """Boolean (p,) mask of the entries *kept*: all but those of the slots ``exclude`` names
    (a predicate on :class:`ParameterSlot`, or a list of substrings of parameter names)."""
    if exclude is None:
        return torch.ones(layout.num_params, dtype=torch.bool)
    if callable(exclude):
        return ~layout.mask(exclude)
    names = [str(e) for e in exclude]
    unknown = [n for n in names if not any(n in s.name for s in layout)]
    if unknown:
        raise KeyError(f"exclude names {unknown} match no parameter; parameters are {layout.names}")
    return ~layout.mask(lambda s: any(n in s.name for n in names))


def filter_normalize(
    direction: torch.Tensor,
    weights: torch.Tensor,
    layout: ParameterLayout,
    *,
    one_dim: OneDimRule = "zero",
    eps: float = 0.0,
) -> torch.Tensor:
    """Li et al. (2018) filter normalization: ``d_{i,j} <- d_{i,j} ||theta_{i,j}|| / ||d_{i,j}||``.

    A "filter" is one slice along the first dimension of a weight tensor of two or more
    dimensions (a row of a fully connected weight = one output neuron's incoming weights; one
    output channel of a convolution).  After normalization every filter of the direction has
    exactly the norm of the corresponding filter of ``weights``.  1-D tensors follow
    ``one_dim`` (:data:`ONE_DIM_RULES`).  A filter whose direction is zero stays zero.

    Args:
        direction, weights: (p,) vectors laid out by ``layout``.
        one_dim: rule for 1-D tensors.
        eps: added to the direction's filter norms (0: exact; a zero filter stays zero).

    Returns:
        A new (p,) tensor.
    """
    if one_dim not in ONE_DIM_RULES:
        raise ValueError(f"one_dim must be one of {ONE_DIM_RULES}, got {one_dim!r}")
    if direction.shape != (layout.num_params,) or weights.shape != (layout.num_params,):
        raise ValueError(
            f"direction and weights must have shape ({layout.num_params},), got "
            f"{tuple(direction.shape)} and {tuple(weights.shape)}"
        )
    out = direction.clone()
    weights = weights.to(out)
    for slot in layout:
        d, w = out[slot.slice], weights[slot.slice]
        if len(slot.shape) >= 2:
            rows_d = d.view(slot.shape[0], -1)
            rows_w = w.reshape(slot.shape[0], -1)
            nd = rows_d.norm(dim=1, keepdim=True)
            scale = torch.where(
                nd > 0, rows_w.norm(dim=1, keepdim=True) / (nd + eps), torch.zeros_like(nd)
            )
            rows_d.mul_(scale)
        elif one_dim == "zero":
            d.zero_()
        elif one_dim == "weights":
            d.copy_(w)
        elif one_dim == "normalize":
            nd = d.norm()
            d.mul_(w.norm() / (nd + eps) if nd > 0 else 0.0)
    return out


def random_direction(
    like: torch.Tensor,
    *,
    seed: int = 0,
    layout: ParameterLayout | None = None,
    normalization: Normalization = None,
    one_dim: OneDimRule = "zero",
    exclude: Exclude = None,
    norm: float | None = None,
) -> torch.Tensor:
    """A random direction (i.i.d. Gaussian entries), optionally normalized to ``like``.

    Args:
        like: (p,) the parameters the direction is for (the plot's centre); gives dtype/device.
        seed: seed of the CPU ``torch.Generator`` the entries are drawn from (device-independent).
        layout: where each tensor lives in theta (needed for ``"filter"`` / ``"layer"`` and
            for ``exclude``); e.g. ``problem.layout``.
        normalization: ``None`` (raw Gaussian), ``"filter"`` (Li et al. 2018, see
            :func:`filter_normalize`), ``"layer"`` (each tensor rescaled to the parameter
            tensor's norm) or ``"model"`` (the whole vector rescaled to ``||like||``).
        one_dim: rule for 1-D tensors under ``"filter"`` (:data:`ONE_DIM_RULES`).
        exclude: parameters left out of the direction (zeroed): a predicate on
            :class:`ParameterSlot` or substrings of parameter names, e.g. ``["bn", "bias"]``.
        norm: finally rescale the whole direction to this norm (``None``: leave it).

    Returns:
        (p,) tensor with ``like``'s dtype and device.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalization in ("filter", "layer") or exclude is not None:
        if layout is None:
            raise ValueError(
                f"normalization={normalization!r} / exclude need the parameter layout (layout=problem.layout)"
            )
    if layout is not None and like.shape != (layout.num_params,):
        raise ValueError(f"like must have shape ({layout.num_params},), got {tuple(like.shape)}")
    like = like.detach()
    g = torch.Generator().manual_seed(int(seed))
    d = torch.randn(like.shape, generator=g, dtype=torch.float64).to(
        device=like.device, dtype=like.dtype
    )
    if normalization == "filter":
        d = filter_normalize(d, like, layout, one_dim=one_dim)
    elif normalization == "layer":
        for slot in layout:
            piece, w = d[slot.slice], like[slot.slice]
            piece.mul_(w.norm() / piece.norm())
    elif normalization == "model":
        d = d * (like.norm() / d.norm())
    if exclude is not None:
        d = d * parameter_mask(layout, exclude).to(d.device)
    if norm is not None:
        n = d.norm()
        if n == 0:
            raise ValueError("the direction is zero (everything excluded?); cannot rescale it")
        d = d * (norm / n)
    return d


def orthogonalize(v: torch.Tensor, against: Sequence[torch.Tensor]) -> torch.Tensor:
    """``v`` minus its projections on the (not necessarily orthonormal) vectors ``against``
    (Gram-Schmidt, repeated once for accuracy), computed in float64; same norm as before the
    projection is *not* kept.  Returns a tensor of ``v``'s dtype."""
    basis: list[torch.Tensor] = []
    for a in against:
        a = a.detach().to(torch.float64)
        for b in basis:
            a = a - (a @ b) * b
        n = a.norm()
        if n > 0:
            basis.append(a / n)
    out = v.detach().to(torch.float64)
    for _ in range(2):
        for b in basis:
            out = out - (out @ b) * b
    return out.to(v.dtype)


def pca_directions(
    trajectory: torch.Tensor | np.ndarray,
    k: int = 2,
) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """Top-k principal directions of a trajectory (Li et al. 2018, sec. 7), in float64.

    PCA of the rows of the (T, p) trajectory centred on their mean, computed from the T x T Gram
    matrix (``torch.linalg.eigh``: O(T^2 p), exact, and on the trajectory's device) when T <= p,
    else from the SVD.  Each component's sign is fixed so that its largest-magnitude entry is
    positive (deterministic results).

    Returns:
        ``(components (k, p) orthonormal rows, explained_variance_ratio (k,), mean (p,))``.
    """
    traj = as_trajectory(trajectory).to(torch.float64)
    num, p = traj.shape
    if not 1 <= k <= min(num - 1, p):
        raise ValueError(f"k must lie in [1, min(T - 1, p)] = [1, {min(num - 1, p)}], got {k}")
    mean = traj.mean(dim=0)
    x = traj - mean
    total = float(x.square().sum())
    if total == 0:
        raise ValueError("the trajectory does not move: no principal directions")
    if num <= p:
        evals, evecs = torch.linalg.eigh(x @ x.T)
        order = torch.argsort(evals, descending=True)[:k]
        s2 = evals[order].clamp_min(0)
        comps = (evecs[:, order].T @ x) / s2.sqrt()[:, None]
    else:
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
        comps, s2 = vh[:k], s[:k] ** 2
    idx = comps.abs().argmax(dim=1)
    signs = torch.sign(comps[torch.arange(k), idx])
    comps = comps * signs[:, None]
    return comps, (s2 / total).cpu().numpy(), mean
