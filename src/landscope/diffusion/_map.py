"""The diffusion map of Fjellstrom & Nystrom sec. 2.2, eq. 2.10-2.14, on precomputed distances.

From squared distances ``d^2`` (M x M; eq. 2.5 or any other metric):

    K = exp(-d^2 / eps)                  (eq. 2.10; the diagonal, exp(0) = 1, included)
    D = diag(sum_j K_ij),   K~ = D^-1/2 K D^-1/2
    P = D~^-1 K~,   D~ = diag(sum_j K~_ij)      (eq. 2.11; row-stochastic)

``alpha`` generalises the 1/2 (Coifman & Lafon's alpha-normalisation ``K~ = D^-alpha K
D^-alpha``; the paper's is alpha = 1/2, our default).  P is similar to the symmetric
``S = D~^-1/2 K~ D~^-1/2``: with ``S = U diag(lam) U^T`` the right eigenvectors of P are
``psi = D~^-1/2 U`` and the left ``phi = D~^1/2 U``, scaled so that ``phi_0`` is the stationary
distribution pi (sums to 1) and ``psi_0 = 1`` (then ``sum_k pi_k psi_l(k)^2 = 1``), which makes

    p_tau(x_i, x_j) = sum_l lam_l^tau psi_l(x_i) phi_l(x_j)                          (eq. 2.12)
    D_tau(x_i, x_j)^2 = sum_k (p_tau(i, k) - p_tau(j, k))^2 / phi_0(k)
                      = sum_{l >= 1} lam_l^(2 tau) (psi_l(i) - psi_l(j))^2            (eq. 2.13)
    Psi_tau(x_i) = (lam_1^tau psi_1(x_i), ..., lam_d^tau psi_d(x_i))                  (eq. 2.14)

exact identities (tested).  We use ``eigh`` on S (all M eigenpairs, the default) or
``scipy.sparse.linalg.eigsh`` for the top ``n_components`` (start vector from ``random_state``),
never a non-symmetric solver; each psi_l has its sign fixed (``landscope.spectra.fix_sign``: the
entry of largest magnitude positive).  Eigenvalues are ordered by |lambda| decreasing, the
trivial lambda_0 = 1 first (the paper's convention, sec. 3.2).

kNN sparsification (``knn=k``): K_ij is kept when j is among the k nearest of i or i among the k
nearest of j (the point itself counts), so K stays symmetric; the dropped fraction of the full
kernel's mass is reported (``dropped_mass_``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DiffusionMap", "kernel_matrix", "transition_eigenvalues"]


def kernel_matrix(sq_distances: np.ndarray, eps: float) -> np.ndarray:
    """``K = exp(-d^2 / eps)`` of eq. 2.10 (diagonal included), float64 (M, M).

    >>> kernel_matrix(np.array([[0.0, 2.0], [2.0, 0.0]]), 2.0).round(4).tolist()
    [[1.0, 0.3679], [0.3679, 1.0]]
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return np.exp(-np.asarray(sq_distances, dtype=np.float64) / eps)


def transition_eigenvalues(sq_distances, eps: float, *, alpha: float = 0.5) -> np.ndarray:
    """All M eigenvalues of P (eq. 2.11) ordered by |lambda| decreasing, without eigenvectors
    (``eigvalsh`` of the symmetric conjugate): the spectrum the eps scans and rolling windows
    need, about 3x faster than :meth:`DiffusionMap.fit`.

    >>> d2 = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> np.allclose(transition_eigenvalues(d2, 1.0), DiffusionMap(eps=1.0).fit(d2).eigenvalues_)
    True
    """
    sq = np.asarray(sq_distances, dtype=np.float64)
    if hasattr(sq_distances, "numpy"):
        sq = sq_distances.detach().cpu().numpy().astype(np.float64)
    K = kernel_matrix(sq, eps)
    dinv = K.sum(axis=1) ** -alpha
    K *= dinv[:, None]
    K *= dinv[None, :]
    s = 1.0 / np.sqrt(K.sum(axis=1))
    K *= s[:, None]
    K *= s[None, :]
    lam = np.linalg.eigvalsh((K + K.T) / 2)
    return lam[np.argsort(-np.abs(lam), kind="stable")]


def _check_sq_distances(sq: np.ndarray) -> np.ndarray:
    sq = np.asarray(sq, dtype=np.float64)
    if sq.ndim != 2 or sq.shape[0] != sq.shape[1]:
        raise ValueError(f"squared distances must be a square (M, M) matrix, got {sq.shape}")
    if sq.shape[0] < 2:
        raise ValueError(f"a diffusion map needs at least 2 points, got {sq.shape[0]}")
    if not np.all(np.isfinite(sq)):
        raise ValueError("squared distances contain NaN or inf")
    if np.any(sq < 0):
        raise ValueError(f"squared distances must be >= 0 (min {sq.min():.3g})")
    asym = np.abs(sq - sq.T).max()
    if asym > 1e-10 * max(np.abs(sq).max(), 1e-300):
        raise ValueError(f"squared distances are not symmetric (max |d2 - d2^T| = {asym:.3g})")
    return sq


class DiffusionMap:
    """Diffusion map (eq. 2.10-2.14) of a point cloud given by its squared distances.

    Args:
        eps: the kernel scale epsilon of eq. 2.10, in the units of the squared distances.
        n_components: eigenpairs to compute, including the trivial one; ``None`` (default): all M
            (dense ``eigh``; needed for the energy ratio of eq. 3.3, whose denominator sums all).
        alpha: the density normalisation exponent (``K~ = D^-alpha K D^-alpha``); 0.5 is eq. 2.11.
        knn: keep only each point's ``knn`` nearest neighbours (symmetrised); ``None``: dense K.
        random_state: seed (int or ``numpy.random.Generator``) of eigsh's start vector.

    Attributes (after :meth:`fit`):
        eigenvalues_: (k,) ordered by |lambda| decreasing, lambda_0 = 1 first.
        eigenvectors_: (M, k) right eigenvectors psi_l of P (psi_0 = 1, ``sum pi psi_l^2 = 1``).
        left_eigenvectors_: (M, k) phi_l (phi_0 = pi, the stationary distribution).
        stationary_: pi (M,).  degrees_: diag of D (M,).
        dropped_mass_: fraction of ``sum K`` removed by ``knn`` (0.0 for dense).
        kernel_sum_: L(eps) = sum_ij K_ij (eq. 3.4) of the kernel used.
        n_points_: M.

    Examples:
        >>> theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        >>> X = np.c_[np.cos(theta), np.sin(theta)]
        >>> d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
        >>> dm = DiffusionMap(eps=0.05).fit(d2)
        >>> round(float(dm.eigenvalues_[0]), 12), np.allclose(dm.transition_matrix().sum(1), 1)
        (1.0, True)
    """

    def __init__(
        self,
        eps: float,
        n_components: int | None = None,
        *,
        alpha: float = 0.5,
        knn: int | None = None,
        random_state: int | np.random.Generator | None = 0,
    ):
        self.eps = eps
        self.n_components = n_components
        self.alpha = alpha
        self.knn = knn
        self.random_state = random_state

    # --- fitting --------------------------------------------------------------------------------
    def _kernel(self, sq: np.ndarray):
        import scipy.sparse as sps

        K = kernel_matrix(sq, self.eps)
        full = float(K.sum())
        if self.knn is None:
            return K, full, 0.0
        k = int(self.knn)
        M = len(sq)
        if not 1 <= k <= M:
            raise ValueError(f"knn must lie in [1, M = {M}], got {k}")
        nearest = np.argpartition(sq, k - 1, axis=1)[:, :k] if k < M else None
        if nearest is None:
            return K, full, 0.0
        mask = np.zeros((M, M), dtype=bool)
        mask[np.repeat(np.arange(M), k), nearest.reshape(-1)] = True
        mask |= mask.T
        np.fill_diagonal(mask, True)
        Ks = sps.csr_matrix(np.where(mask, K, 0.0))
        return Ks, float(Ks.sum()), float(K[~mask].sum()) / full

    def fit(self, sq_distances: np.ndarray) -> DiffusionMap:
        """Build K, P and their eigenpairs from squared distances (M, M); returns ``self``."""
        import scipy.sparse as sps

        from landscope.spectra import fix_sign

        sq = _check_sq_distances(sq_distances)
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        M = len(sq)
        K, ksum, dropped = self._kernel(sq)
        sparse = sps.issparse(K)
        deg = np.asarray(K.sum(axis=1)).ravel()
        dinv = deg**-self.alpha
        if sparse:
            Dm = sps.diags(dinv)
            Kt = (Dm @ K @ Dm).tocsr()
        else:
            Kt = K * dinv[:, None] * dinv[None, :]
        deg_t = np.asarray(Kt.sum(axis=1)).ravel()
        s = 1.0 / np.sqrt(deg_t)
        if sparse:
            S = (sps.diags(s) @ Kt @ sps.diags(s)).tocsr()
            S = (S + S.T) / 2
        else:
            S = Kt * s[:, None] * s[None, :]
            S = (S + S.T) / 2
        k = M if self.n_components is None else int(self.n_components)
        if not 1 <= k <= M:
            raise ValueError(f"n_components must lie in [1, M = {M}], got {k}")
        if k >= M - 1 or (not sparse and M <= 500):
            dense = S.toarray() if sparse else S
            lam, U = np.linalg.eigh(dense)
        else:
            from scipy.sparse.linalg import eigsh

            rng = np.random.default_rng(self.random_state)
            v0 = rng.standard_normal(M)
            lam, U = eigsh(S, k=k, which="LM", v0=v0)
        order = np.argsort(-np.abs(lam), kind="stable")[:k]
        lam, U = lam[order], U[:, order]
        total = float(deg_t.sum())
        pi = deg_t / total
        psi = U * s[:, None] * np.sqrt(total)  # D~^-1/2 U, scaled: sum pi psi^2 = 1
        for j in range(psi.shape[1]):
            psi[:, j] = fix_sign(psi[:, j])
        phi = psi * pi[:, None]  # D~^1/2 U / sqrt(total) = pi * psi
        self.eigenvalues_ = lam
        self.eigenvectors_ = psi
        self.left_eigenvectors_ = phi
        self.stationary_ = pi
        self.degrees_ = deg
        self.dropped_mass_ = float(dropped)
        self.kernel_sum_ = ksum
        self.n_points_ = M
        self._S_sparse = sparse
        self._Kt = Kt
        self._deg_t = deg_t
        return self

    # --- results --------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "eigenvalues_"):
            raise RuntimeError("DiffusionMap is not fitted: call .fit(sq_distances) first")

    def transition_matrix(self) -> np.ndarray:
        """P = D~^-1 K~ (eq. 2.11) as a dense (M, M) array (row-stochastic)."""
        self._check_fitted()
        Kt = self._Kt.toarray() if self._S_sparse else self._Kt
        return Kt / self._deg_t[:, None]

    def embedding(self, tau: float = 1.0, n_components: int | None = None) -> np.ndarray:
        """Psi_tau of eq. 2.14: ``(lam_l^tau psi_l(x_i))_{l=1..d}``, shape (M, d); d =
        ``n_components`` (default: all computed but the trivial one)."""
        self._check_fitted()
        d = self.eigenvalues_.size - 1 if n_components is None else int(n_components)
        if not 0 <= d <= self.eigenvalues_.size - 1:
            raise ValueError(f"n_components must lie in [0, {self.eigenvalues_.size - 1}], got {d}")
        lam = self.eigenvalues_[1 : d + 1]
        return self.eigenvectors_[:, 1 : d + 1] * np.sign(lam) ** tau * np.abs(lam) ** tau

    def diffusion_distance(
        self, tau: float = 1.0, n_components: int | None = None, *, squared: bool = True
    ) -> np.ndarray:
        """Diffusion distances of eq. 2.13 from the spectrum, ``sum_{l>=1} lam_l^(2 tau)
        (psi_l(i) - psi_l(j))^2``, (M, M) (squared by default, as eq. 2.13 is written); with
        all M eigenpairs equal to the left-hand side of eq. 2.13."""
        Y = self.embedding(tau, n_components)
        sq = (Y * Y).sum(1)
        D = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Y @ Y.T, 0.0)
        np.fill_diagonal(D, 0.0)
        return D if squared else np.sqrt(D)
