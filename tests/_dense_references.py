"""Dense references for the diffusion tests (small m only): what the library computes by
low-rank factors and blocked products, written out the textbook way."""

from __future__ import annotations

import numpy as np


def dense_pinv_sq_distances(X, covariances, rcond: float) -> np.ndarray:
    """Fjellstrom eq. 2.5 with dense ``numpy.linalg.pinv``, every pair by its own quadratic form:
    ``d_ij^2 = 1/2 (x_i - x_j)^T (C_i^+ + C_j^+) (x_i - x_j)``, (M, M)."""
    X = np.asarray(X, dtype=np.float64)
    pinvs = [np.linalg.pinv(C, rcond=rcond, hermitian=True) for C in covariances]
    M = len(X)
    D = np.zeros((M, M))
    for i in range(M):
        for j in range(M):
            d = X[i] - X[j]
            D[i, j] = 0.5 * d @ (pinvs[i] + pinvs[j]) @ d
    return D
