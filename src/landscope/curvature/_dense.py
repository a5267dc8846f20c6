"""The dense Hessian of small problems (and of one layer's block) and its full eigendecomposition.

For spectra of small networks and of single layers (Haink ch. 7: spectral density, level
spacing, eigenvector statistics of the whole-network and of the layer Hessian, sec. 7.5).
"""

from __future__ import annotations

import torch

from landscope.curvature._hessian import HessianOperator, Params
from landscope.problem._problem import Indices, Problem

__all__ = ["DEFAULT_MAX_PARAMS", "dense_hessian", "hessian_eigh"]

#: Largest p_sub the dense path accepts by default: a 10,000 x 10,000 float64 matrix is 0.8 GB,
#: and ``eigh`` needs about twice that again.
DEFAULT_MAX_PARAMS = 10_000

# Columns per block of Hessian-vector products: bounds memory (a vmapped block holds block
# copies of a chunk's backward pass) while amortizing the per-product overhead.
_BLOCK = 32


def _check_size(size: int, dtype: torch.dtype, max_params: int) -> None:
    if size > max_params:
        itemsize = torch.empty((), dtype=dtype).element_size()
        gb = size * size * itemsize / 1e9
        raise ValueError(
            f"the dense Hessian of {size} parameters would take {gb:.2f} GB ({dtype}), above the "
            f"limit max_params={max_params}. Use the matrix-free HessianOperator (top-k "
            "eigenpairs by Lanczos, density by SLQ, trace by Hutchinson), restrict params= to one "
            "layer's block, or raise max_params if the memory is there."
        )


def dense_hessian(
    problem: Problem,
    theta: torch.Tensor,
    *,
    indices: Indices = None,
    params: Params = None,
    max_params: int = DEFAULT_MAX_PARAMS,
) -> torch.Tensor:
    """The Hessian of the mean loss over the selected samples as a dense matrix.

    Built from exact Hessian-vector products with blocks of unit vectors (the same cost as
    ``torch.func.hessian`` but with memory bounded by the block, and chunked over the data).

    Args:
        problem, theta, indices, params: as for :class:`~landscope.curvature.HessianOperator`;
            with ``params`` the result is that group's (p_sub x p_sub) diagonal block.
        max_params: refuse above this p_sub (the message gives the size in GB).

    Returns:
        (p_sub, p_sub) tensor on the Problem's device and dtype (symmetric up to rounding).

    Examples:
        >>> import torch
        >>> from landscope import Problem
        >>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        >>> problem = Problem(torch.nn.Linear(3, 1).double(), "mse", (x, y))
        >>> dense_hessian(problem, problem.theta_from_model(), params="bias")
        tensor([[2.]], dtype=torch.float64)
    """
    operator = HessianOperator(problem, theta, indices=indices, params=params)
    size = operator.shape[0]
    _check_size(size, problem.dtype, max_params)
    eye = torch.eye(size, dtype=problem.dtype, device=problem.device)
    return torch.cat([operator @ eye[:, i : i + _BLOCK] for i in range(0, size, _BLOCK)], dim=1)


def hessian_eigh(
    problem: Problem,
    theta: torch.Tensor,
    *,
    indices: Indices = None,
    params: Params = None,
    max_params: int = DEFAULT_MAX_PARAMS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full eigendecomposition of the (symmetrized) dense Hessian.

    Returns:
        ``(eigenvalues, eigenvectors)``: eigenvalues (p_sub,) in *decreasing* order and the
        orthonormal eigenvectors as the columns of a (p_sub, p_sub) matrix, ``V[:, 0]`` the top
        one (the convention of :mod:`landscope.subspace`).
    """
    H = dense_hessian(problem, theta, indices=indices, params=params, max_params=max_params)
    evals, evecs = torch.linalg.eigh((H + H.T) / 2)
    return evals.flip(0), evecs.flip(1)
