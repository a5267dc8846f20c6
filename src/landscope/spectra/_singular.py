"""Weight matrices of a network and their singular matrices (Haink ch. 4, eq. 4.1; eq. 6.1).

A layer's weight tensor is turned into a matrix (dense layers as they are; conv kernels by a
stated reshape), decomposed ``W = U diag(nu) V^T`` (eq. 4.1), and each singular value gives a
*singular matrix* ``W~_i = nu_i u_i v_i^T`` (eq. 6.1), flattened into the coordinates of the
layer's parameters in ``theta`` so that it can be compared with principal components and
Hessian eigenvectors (eq. 6.2, 7.4) and used as a direction (eq. 7.11).

Conv reshapes (PyTorch kernel (out, in, kh, kw)):

* ``"thesis"`` (default): ``(out * in, kh * kw)``.  Haink sec. 7.3 merges "the first two and the
  last two dimensions" of the Keras kernel (kh, kw, in, out), i.e. a (kh kw) x (in out) matrix:
  the transpose of this one, with the same singular values; it keeps min(kh kw, in out)
  singular values (25 for a 5 x 5 kernel).
* ``"output"``: ``(out, in * kh * kw)``, the matrix of the convolution as a linear map on
  patches (``weight.flatten(1)``; Martin & Mahoney's "conv2D as a matrix" variant).
* ``"per_position"``: WeightWatcher's default: ``kh * kw`` matrices ``(out, in)``, one per kernel
  position, named ``"<param>[i,j]"``.

Every :class:`WeightMatrix` carries ``index``: the positions of its entries (row-major) in
``theta``, so singular matrices of any reshape live in the same space as Hessian eigenvectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscope.problem import ParameterLayout

__all__ = [
    "CONV_RESHAPES",
    "WeightMatrix",
    "remove_bulk",
    "singular_matrices",
    "weight_matrices",
]

CONV_RESHAPES = ("thesis", "output", "per_position")


@dataclass(frozen=True)
class WeightMatrix:
    """One weight matrix of a network.

    Attributes:
        name: the parameter name (``"net.0.weight"``), with ``"[i,j]"`` for one kernel position.
        layer: the module name owning it (the layout's ``layer``).
        matrix: (rows, cols) tensor.
        index: (rows * cols,) long tensor: ``theta[index] == matrix.flatten()``.
        reshape: how it was made (``"dense"``, or the conv reshape).
    """

    name: str
    layer: str
    matrix: torch.Tensor
    index: torch.Tensor
    reshape: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.matrix.shape)


def _matrices_of_tensor(
    name: str, layer: str, weight: torch.Tensor, offset: int, conv: str
) -> list[WeightMatrix]:
    shape = tuple(weight.shape)
    pos = torch.arange(weight.numel()).reshape(shape) + offset
    if weight.ndim == 2:
        return [WeightMatrix(name, layer, weight, pos.flatten(), "dense")]
    if conv == "thesis":
        rows = shape[0] * shape[1]
        mat = weight.reshape(rows, -1)
        return [WeightMatrix(name, layer, mat, pos.flatten(), conv)]
    if conv == "output":
        return [WeightMatrix(name, layer, weight.reshape(shape[0], -1), pos.flatten(), conv)]
    spatial = shape[2:]
    out = []
    for k in np.ndindex(*spatial):
        sel = (slice(None), slice(None), *k)
        label = ",".join(str(i) for i in k)
        out.append(WeightMatrix(f"{name}[{label}]", layer, weight[sel], pos[sel].flatten(), conv))
    return out


def weight_matrices(
    source: nn.Module | torch.Tensor,
    layout: ParameterLayout | None = None,
    *,
    conv: str = "thesis",
    layers: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    min_size: int = 2,
) -> list[WeightMatrix]:
    """The weight matrices of a model, or of a flat ``theta`` with its layout.

    Args:
        source: an ``nn.Module`` (its trainable parameters) or a flat theta (p,).
        layout: required with a flat theta (e.g. ``run.layout`` or ``problem.layout``).
        conv: reshape of >2-D kernels, one of :data:`CONV_RESHAPES` (module docstring).
        layers: keep only these module names (layout ``layer``) or parameter names.
        kinds: parameter attribute names that count as weights (default: every >= 2-D
            parameter whose name ends in ``weight``, e.g. ``weight``, ``in_proj_weight``).
        min_size: skip matrices with fewer rows or columns than this.

    Returns:
        A list of :class:`WeightMatrix` in parameter order; entries are views of the source.
    """
    if conv not in CONV_RESHAPES:
        raise ValueError(f"conv must be one of {CONV_RESHAPES}, got {conv!r}")
    if isinstance(source, nn.Module):
        layout = ParameterLayout.from_module(source)
        theta = torch.cat([p.detach().reshape(-1) for p in source.parameters() if p.requires_grad])
    else:
        theta = torch.as_tensor(source).detach()
        if layout is None:
            raise ValueError("a flat theta needs its ParameterLayout (layout=run.layout)")
        if theta.shape != (layout.num_params,):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, the layout {layout.num_params} parameters"
            )
    if layers is not None:
        known = set(layout.layers) | set(layout.names)
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; the layout has layers {layout.layers}")
    out: list[WeightMatrix] = []
    for slot in layout:
        is_weight = slot.kind.endswith("weight") if kinds is None else slot.kind in kinds
        if not is_weight or len(slot.shape) < 2:
            continue
        if layers is not None and slot.layer not in layers and slot.name not in layers:
            continue
        weight = theta[slot.slice].reshape(slot.shape)
        for wm in _matrices_of_tensor(slot.name, slot.layer, weight, slot.offset, conv):
            if min(wm.shape) >= min_size:
                out.append(wm)
    return out


def singular_matrices(W, indices: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
    """The flattened singular matrices ``W~_i = nu_i u_i v_i^T`` of eq. 6.1.

    Args:
        W: (rows, cols) tensor or array.
        indices: which singular values (into the descending order; default all min(rows, cols)).

    Returns:
        (k, rows * cols) tensor (W's dtype, float64 for arrays), row i the row-major flattening
        of ``W~_{indices[i]}``; summed over all indices they give ``W.flatten()``.  Their norms
        are the singular values and distinct rows are orthogonal.

    >>> W = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> singular_matrices(W).sum(0).reshape(3, 2).equal(W)
    True
    """
    W = torch.as_tensor(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {tuple(W.shape)}")
    if not W.is_floating_point():
        W = W.to(torch.float64)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    if indices is None:
        idx = torch.arange(S.numel(), device=W.device)
    else:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=W.device)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= S.numel()):
            raise ValueError(f"indices must lie in [0, {S.numel()}), got {idx.tolist()}")
    mats = S[idx, None, None] * U[:, idx].T[:, :, None] * Vh[idx][:, None, :]
    return mats.reshape(idx.numel(), -1)


def remove_bulk(W, keep: Sequence[int] | np.ndarray) -> torch.Tensor:
    """``W`` with all singular values but ``keep`` set to zero (Haink ch. 4, ref. [37]).

    Equals ``singular_matrices(W, keep).sum(0)`` reshaped; ``keep`` are indices into the
    descending singular values (e.g. ``MarchenkoPastur().fit(W).outlier_indices_``).
    """
    W = torch.as_tensor(W)
    if len(keep) == 0:
        return torch.zeros_like(W)
    return singular_matrices(W, keep).sum(0).reshape(W.shape).to(W.dtype)
