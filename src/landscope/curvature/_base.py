"""The linear-operator contract every curvature matrix implements.

As in curvlinops, a curvature matrix (Hessian, generalized Gauss-Newton, SGD noise covariance,
a layer's block) is a symmetric linear operator on the flat parameter vector with *one* method
to implement: a matrix-matrix product :meth:`CurvatureOperator._matmat` on a block of column
vectors ``V`` of shape (p, k).  Solvers (Lanczos, LOBPCG, stochastic Lanczos quadrature,
Hutchinson) are functions of an operator, so they work the same on a dense matrix
(:class:`DenseOperator`) in tests.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["CurvatureOperator", "DenseOperator"]


class CurvatureOperator:
    """A symmetric p x p linear operator applied to torch tensors.

    Subclasses implement :meth:`_matmat` for ``V`` of shape (p, k) on ``self.device`` with
    ``self.dtype``; everything else (vectors, ``@``, SciPy interop, counting products) is here.

    Attributes:
        shape: (p, p).
        dtype, device: of the tensors the operator takes and returns.
        num_matvecs: number of operator-vector products applied so far (a block of k columns
            counts k); solvers report it as their cost.
    """

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str):
        self.shape = (int(size), int(size))
        self.dtype = dtype
        self.device = torch.device(device)
        self.num_matvecs = 0

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A @ V`` for ``V`` of shape (p, k) (or (p,) for one vector)."""
        vector = V.ndim == 1
        V2 = V.reshape(-1, 1) if vector else V
        if V2.ndim != 2 or V2.shape[0] != self.shape[0]:
            raise ValueError(
                f"expected a tensor of shape ({self.shape[0]}, k), got {tuple(V.shape)}"
            )
        V2 = V2.to(device=self.device, dtype=self.dtype)
        out = self._matmat(V2)
        self.num_matvecs += V2.shape[1]
        return out.reshape(-1) if vector else out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v.reshape(-1))

    def __matmul__(self, V: torch.Tensor) -> torch.Tensor:
        return self.matmat(V)

    def to_dense(self) -> torch.Tensor:
        """The full p x p matrix, built column block by column block (small p only)."""
        eye = torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
        return torch.cat(
            [self.matmat(eye[:, i : i + 256]) for i in range(0, self.shape[0], 256)], dim=1
        )

    def to_scipy(self):
        """A ``scipy.sparse.linalg.LinearOperator`` on float64 NumPy arrays."""
        from scipy.sparse.linalg import LinearOperator

        def mm(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X)
            T = torch.as_tensor(X.reshape(self.shape[0], -1), dtype=self.dtype, device=self.device)
            return self.matmat(T).detach().cpu().double().numpy().reshape(X.shape)

        return LinearOperator(
            self.shape, matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64
        )


class DenseOperator(CurvatureOperator):
    """A dense symmetric matrix seen as a :class:`CurvatureOperator` (tests, small problems)."""

    def __init__(self, matrix: torch.Tensor):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"expected a square matrix, got shape {tuple(matrix.shape)}")
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self.matrix = matrix

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V
