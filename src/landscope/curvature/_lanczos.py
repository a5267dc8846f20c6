"""Top-k eigenpairs of a symmetric curvature operator: thick-restart block Lanczos.

Gur-Ari, Roberts & Dyer (2018), App. A, track the top-k Hessian eigenvectors during training
with Lanczos on Hessian-vector products, never forming the Hessian.  :func:`top_eigenpairs`
does that on any :class:`~landscope.curvature.CurvatureOperator`.

The method is a Rayleigh-Ritz projection on a growing orthonormal basis ``Q`` (p, m) whose
operator products ``AQ`` are kept.  Each iteration expands ``Q`` by the orthonormalized
residuals ``r_i = A x_i - theta_i x_i`` of the wanted Ritz pairs that have not converged yet,
applies the operator to that block in one call, and recomputes the Ritz pairs of
``T = Q^T A Q``.  From one start vector this *is* the Lanczos process with full
reorthogonalization (the residuals of all Ritz vectors of a Krylov space are parallel to the
next Lanczos vector); from a block of start vectors it is block Lanczos whose block shrinks as
pairs converge (soft locking, so converged pairs cost no more products); from the previous
step's eigenvectors it is the warm start.  When the basis is full it restarts thickly
(Krylov-Schur style: keep the leading Ritz vectors, their products and ``diag(theta)``), which
costs no products.

Reported residual norms are explicit, ``||A x - theta x||`` evaluated from the stored
products (``A x = (AQ) y`` by linearity, exact up to rounding O(eps ||A||)), never the Lanczos
``|beta_m s_mi|`` estimate, which keeps reporting "converged" for the duplicated ghost
eigenvalues that appear when orthogonality is lost.  During the iteration a Gram-matrix
identity screens the residuals without p-sized work; convergence is only ever declared from
explicit residuals.  ``verify=True`` applies the operator once more to the returned vectors and
recomputes the residuals from those fresh products.  For float32 operators the basis and the
projection are kept in float64 (the products stay float32): on the digits MLP this brings the
eigenvalue error from 1.2e-6 to the 1e-7 that float32 products allow.

Why this solver rather than SciPy ``eigsh`` (ARPACK) or LOBPCG -- measured by
``benchmarks/bench_hessian_eigs.py`` (digits MLP 64-100-100-10, p = 17,610, float32, top 10,
tol 1e-6; results in ``benchmarks/results/hessian_eigs*.md``).  On CPU (2 threads, idle; one
plain-torch gradient 1.5 ms, one structured Hessian-vector product 2.0 ms = 1.3x that, 1.65 ms
per vector in a block of 16, all timed in one interleaved loop): single-vector Lanczos here takes
28 products / 0.11 s (eigenvalue error 1e-7; 63 gradients), ARPACK on the same operator 34 /
0.19 s, block Lanczos with a block of 10 64 / 0.19 s, SciPy LOBPCG 92 / 0.77 s.  Blocks do not
pay on CPU (a block saves at most ~20% per vector, and needs twice the products), so the
default there is one vector; LOBPCG is dominated because, without a preconditioner, its
iterates lie in the block Krylov space that Rayleigh-Ritz here searches whole.  On an H100 a block of 16
products costs 0.13 ms per vector against 1.05 ms for one: a block of 5 takes 44 products /
0.046 s, 10 takes 64 / 0.053 s, 1 takes 28 / 0.066 s and ARPACK 34 / 0.068 s, so the default
off the CPU is a block of about k/2.  Against ARPACK the torch solver needs fewer products,
keeps the basis on the device, and accepts warm starts and blocks.

Structure: the process is a :class:`LanczosState` (basis Q, products AQ, projection
``M = Q^T A Q``, Gram matrix) changed by steps -- :meth:`LanczosState.extend` (append a block
and its products), :meth:`LanczosState.ritz` (Rayleigh-Ritz), :meth:`LanczosState.restart`
(thick restart), :func:`orthonormalize` and :func:`lanczos_step` (full reorthogonalization of
the next block / the next Lanczos vector) -- and decisions -- :func:`check_convergence`
(screened, then explicit residuals), :func:`needs_probe`, :func:`expansion_block`,
:func:`thick_restart`.  :func:`top_eigenpairs` drives them with Ritz-residual blocks;
:func:`~landscope.curvature.spectral_density` (SLQ) drives the same state with
:func:`lanczos_step`, one state per probe.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from landscope.curvature._base import CurvatureOperator

__all__ = ["EigenResult", "top_eigenpairs"]

_WHICH = ("LA", "LM", "SA")


@dataclass
class EigenResult:
    """Eigenpairs of a symmetric operator found by :func:`top_eigenpairs`.

    Attributes:
        eigenvalues: (k,), ordered by ``which`` (LA: descending, SA: ascending, LM: by
            decreasing magnitude).
        eigenvectors: (p, k), orthonormal columns, ``eigenvectors[:, i]`` pairs with
            ``eigenvalues[i]``.
        residual_norms: (k,), ``||A v_i - lambda_i v_i||`` computed explicitly from operator
            products (absolute, in the operator's units).
        converged: (k,) bool, ``residual_norms[i] <= tol * max(|lambda_i|, eps^(2/3) ||A||)``,
            or the residual is at the rounding floor (``at_floor``): converged to working
            precision.
        num_matvecs: operator-vector products used (a block of b columns counts b).
        seconds: wall time of the solve.
        which: ``"LA"``, ``"LM"`` or ``"SA"``.
        tol: the relative residual tolerance asked for.
        at_floor: (k,) bool, the residual is at the rounding floor of the products
            (``<= 32 eps ||A||`` in the operator's dtype): more products cannot reduce it.  Such
            a pair counts as converged even if its relative residual exceeds ``tol`` (possible
            in float32); use float64 operators for more accuracy.
        block_size: vectors per operator call used.
        num_iterations: expansions of the basis (operator calls).
        num_restarts: thick restarts.
        norm_estimate: the largest |Ritz value| seen, an estimate of ||A||_2 (from below).
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    converged: torch.Tensor
    num_matvecs: int
    seconds: float
    which: str
    tol: float
    at_floor: torch.Tensor | None = None
    block_size: int = 1
    num_iterations: int = 0
    num_restarts: int = 0
    norm_estimate: float = float("nan")
    history: list[dict] = field(default_factory=list, repr=False)

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    @property
    def relative_residuals(self) -> torch.Tensor:
        """``||A v - lambda v|| / max(|lambda|, eps^(2/3) ||A||)``, the quantity ``tol`` bounds."""
        return self.residual_norms / _scale(
            self.eigenvalues, self.norm_estimate, self.eigenvalues.dtype
        )

    def to_dict(self, *, vectors: bool = False) -> dict:
        """JSON-ready summary (eigenvectors only if ``vectors``)."""
        out = {
            "which": self.which,
            "eigenvalues": self.eigenvalues.tolist(),
            "residual_norms": self.residual_norms.tolist(),
            "relative_residuals": self.relative_residuals.tolist(),
            "converged": self.converged.tolist(),
            "at_floor": None if self.at_floor is None else self.at_floor.tolist(),
            "num_matvecs": self.num_matvecs,
            "block_size": self.block_size,
            "seconds": self.seconds,
            "tol": self.tol,
            "num_iterations": self.num_iterations,
            "num_restarts": self.num_restarts,
        }
        if vectors:
            out["eigenvectors"] = self.eigenvectors.T.tolist()
        return out


def _scale(theta: torch.Tensor, norm: float, dtype: torch.dtype) -> torch.Tensor:
    # ARPACK's criterion ||r|| <= tol |theta|, floored at eps^(2/3) ||A|| (ARPACK floors at the
    # absolute eps^(2/3)) so that eigenvalues near zero can converge; eps of the operator's dtype.
    eps = torch.finfo(dtype).eps
    floor = eps ** (2.0 / 3.0) * (norm if math.isfinite(norm) and norm > 0 else 1.0)
    return theta.abs().clamp_min(floor)


def _order(theta: torch.Tensor, which: str) -> torch.Tensor:
    if which == "LA":
        return torch.argsort(theta, descending=True)
    if which == "SA":
        return torch.argsort(theta)
    return torch.argsort(theta.abs(), descending=True)


# Residuals below 32 eps ||A|| (eps of the operator's dtype) are rounding noise of the products.
_FLOOR_FACTOR = 32.0


# --- the Lanczos process, step by step ----------------------------------------------------------
# top_eigenpairs and spectral_density (SLQ, _slq.py) drive the same state: a LanczosState holds
# the orthonormal basis Q, optionally the products AQ, and the projection M = Q^T A Q; `extend`
# adds a block and its products, `ritz` solves the projected problem, `restart` compresses the
# basis.  The next basis vectors come from `orthonormalize` (top_eigenpairs: the residuals of
# Ritz pairs, a block) or `lanczos_step` (SLQ: the three-term Lanczos vector); both keep Q
# orthonormal to working precision (full reorthogonalization).  `check_convergence`,
# `expansion_block`, `needs_probe` and `thick_restart` are top_eigenpairs' decisions.


def orthonormalize(W: torch.Tensor, Q: torch.Tensor | None, drop_tol: float) -> torch.Tensor:
    """Orthonormal basis of the part of ``W`` (p, s) orthogonal to ``Q`` (p, m): classical
    Gram-Schmidt against Q and a QR of the block, repeated once if the first pass removed much
    (the DGKS criterion, "twice is enough"); columns that are (numerically) already in
    ``span(Q)`` or in the span of earlier columns are dropped.  ``drop_tol`` is relative to
    each column's norm before projection.  Returns (p, s') with s' <= s."""
    norms0 = torch.linalg.vector_norm(W, dim=0)
    keep = norms0 > 0
    if not bool(keep.all()):
        W, norms0 = W[:, keep], norms0[keep]
    if W.shape[1] == 0:
        return W
    W = W / norms0
    for _ in range(2):
        if Q is not None and Q.shape[1] > 0:
            W = W - Q @ (Q.T @ W)
        if W.shape[1] == 1:  # one vector: its norm is the QR (skips two LAPACK calls)
            diag = torch.linalg.vector_norm(W, dim=0)
            Wq = W / diag.clamp_min(torch.finfo(W.dtype).tiny)
        else:
            Wq, R = torch.linalg.qr(W)
            diag = R.diagonal().abs()
        good = diag > drop_tol
        W = Wq if bool(good.all()) else Wq[:, good]
        if W.shape[1] == 0 or bool((diag[good] > 0.7071).all()):
            # Little was removed: one pass was enough (the DGKS criterion).
            return W
    return W


class LanczosState:
    """The state of a (block) Lanczos process on a symmetric p x p operator A.

    Holds the orthonormal basis ``Q`` (p, m) of the Krylov space built so far and, with
    ``keep_products``, its operator products ``AQ`` (p, m), both stored transposed in buffers
    preallocated for ``capacity`` vectors (appending a vector and reading ``span(Q)`` are then
    contiguous); the projection ``M = Q^T (AQ)`` (m, m) as computed (not exactly symmetric when
    the products round; Rayleigh-Ritz uses its symmetric part :attr:`T`) and, with
    ``keep_products``, the Gram matrix ``G = (AQ)^T (AQ)``, both float64 on the CPU.  Without
    ``keep_products`` (SLQ) only Q and M are kept: half the memory, no residuals, no restart.

    Attributes:
        Qt, AQt: (capacity, p) buffers; rows ``:m`` are ``Q^T`` and ``(AQ)^T`` (``AQt`` is
            None without ``keep_products``).
        m: current basis size.
        M, G: (m, m) float64 CPU projections (``G`` empty without ``keep_products``).
        norm_est: the largest |Ritz value| seen by :meth:`ritz`, an estimate of ``||A||_2``
            from below.
    """

    def __init__(
        self,
        p: int,
        capacity: int,
        dtype: torch.dtype,
        device: torch.device,
        *,
        keep_products: bool = True,
    ):
        self.Qt = torch.empty(capacity, p, dtype=dtype, device=device)
        self.AQt = torch.empty(capacity, p, dtype=dtype, device=device) if keep_products else None
        self.m = 0
        self.M = torch.empty(0, 0, dtype=torch.float64)
        self.G = torch.empty(0, 0, dtype=torch.float64)
        self.norm_est = 0.0

    @property
    def Q(self) -> torch.Tensor:
        """(p, m) view of the orthonormal basis."""
        return self.Qt[: self.m].T

    @property
    def T(self) -> torch.Tensor:
        """(m, m) symmetric part of ``M``: the Rayleigh-Ritz (for one start vector and no
        restart: the Lanczos tridiagonal) matrix."""
        return 0.5 * (self.M + self.M.T)

    def extend(
        self, W: torch.Tensor, Z: torch.Tensor | None, *, column: torch.Tensor | None = None
    ) -> None:
        """Append the block ``W`` (p, s), orthonormal and orthogonal to Q, with its products
        ``Z = A W`` (p, s), and border M (and G) by the new rows and columns.

        One pass over Q and one over AQ: ``C = Q^T Z``, ``[Cr, Gc] = (AQ)^T [W, Z]`` and
        ``[D; Gd] = [W, Z]^T Z``, moved to the CPU in one transfer.  Without stored products
        the caller may pass ``column``, the new columns ``[Q, W]^T A W`` (m + s, s) it already
        knows (:func:`lanczos_step` does), and ``Z`` is not needed: no pass over Q."""
        m, s_new = self.m, W.shape[1]
        if self.AQt is not None:
            WZ = torch.cat([W, Z], dim=1)
            parts = (self.Qt[:m] @ Z, self.AQt[:m] @ WZ, WZ.T @ Z)
            flat = torch.cat([t.reshape(-1) for t in parts]).double().cpu()  # one transfer
            C, CG, DG = (
                t.reshape(shape)
                for t, shape in zip(
                    flat.split([m * s_new, 2 * m * s_new, 2 * s_new * s_new]),
                    ((m, s_new), (m, 2 * s_new), (2 * s_new, s_new)),
                    strict=True,
                )
            )
            Cr, Gc = CG[:, :s_new], CG[:, s_new:]
            D, Gd = DG[:s_new], DG[s_new:]
            G = self.G
            self.G = torch.cat([torch.cat([G, Gc], 1), torch.cat([Gc.T, 0.5 * (Gd + Gd.T)], 1)], 0)
            self.AQt[m : m + s_new] = Z.T
        else:
            if column is None:
                column = torch.cat([self.Qt[:m] @ Z, W.T @ Z]).double().cpu()
            C, D = column[:m], column[m:]
            Cr = C
        M = self.M
        self.M = torch.cat([torch.cat([M, C], 1), torch.cat([Cr.T, D], 1)], 0)
        self.Qt[m : m + s_new] = W.T
        self.m = m + s_new

    def ritz(self, which: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All Ritz pairs of ``span(Q)``: values (m,) and coordinates ``Y`` (m, m) in the basis
        (the Ritz vectors are ``Q Y``), float64 on the CPU, ordered by ``which`` (``None``:
        ascending, as ``eigh`` returns them).  Updates :attr:`norm_est`."""
        theta, Y = torch.linalg.eigh(self.T)
        self.norm_est = max(self.norm_est, float(theta.abs().max()))
        if which is None:
            return theta, Y
        order = _order(theta, which)
        return theta[order], Y[:, order]

    def vectors(self, Y: torch.Tensor) -> torch.Tensor:
        """``Q Y`` (p, j) for coordinates ``Y`` (m, j)."""
        return self.Qt[: self.m].T @ Y.to(device=self.Qt.device, dtype=self.Qt.dtype)

    def residuals(self, Y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Explicit residuals ``A x - theta x`` (p, j) of the Ritz pairs ``x = Q Y``, from the
        stored products (``A x = (AQ) Y`` by linearity: no operator call)."""
        Yd = Y.to(device=self.Qt.device, dtype=self.Qt.dtype)
        theta_d = theta.to(device=self.Qt.device, dtype=self.Qt.dtype)
        return self.AQt[: self.m].T @ Yd - (self.Qt[: self.m].T @ Yd) * theta_d

    def screen(self, Y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Residual norms (j,) of the Ritz pairs without p-sized work, from
        ``||A x - theta x||^2 = y^T G y - 2 theta y^T M y + theta^2``.  Cancellation leaves them
        unreliable below about ``100 sqrt(eps) ||A||``: a screen, never a verdict."""
        est = (Y * (self.G @ Y)).sum(dim=0) - 2 * theta * (Y * (self.M @ Y)).sum(dim=0) + theta**2
        return est.clamp_min(0).sqrt()

    def is_invariant(self, atol: float) -> bool:
        """Whether ``span(Q)`` is invariant under A up to ``atol`` per column: ``AQ = Q T``."""
        Q, AQ = self.Qt[: self.m].T, self.AQt[: self.m].T
        R = AQ - Q @ self.T.to(device=Q.device, dtype=Q.dtype)
        return bool(torch.linalg.vector_norm(R, dim=0).max() <= atol)

    def restart(self, Y: torch.Tensor) -> None:
        """Thick restart: replace the basis by the Ritz vectors ``Q Y`` (Y: (m, keep), from
        :meth:`ritz`), their products by ``AQ Y`` and the projections by ``Y^T M Y`` (then
        ``diag(theta)`` to rounding) and ``Y^T G Y``.  Costs no operator products."""
        keep = Y.shape[1]
        Yd = Y.to(device=self.Qt.device, dtype=self.Qt.dtype)
        self.Qt[:keep] = Yd.T @ self.Qt[: self.m]
        self.AQt[:keep] = Yd.T @ self.AQt[: self.m]
        self.M = Y.T @ self.M @ Y
        self.G = Y.T @ self.G @ Y
        self.m = keep


def lanczos_step(
    state: LanczosState, q: torch.Tensor, z: torch.Tensor, beta: float
) -> tuple[torch.Tensor | None, float]:
    """One step of the Lanczos recurrence with full reorthogonalization (Golub & Van Loan,
    Alg. 10.1.1 with reorthogonalization; Paige 1976): append ``q = q_j`` (p, 1) to the basis
    and return the next Lanczos vector.

    ``w = z - alpha_j q_j - beta q_{j-1}`` with ``z = A q_j``, ``alpha_j = q_j^T z`` and
    ``beta = beta_{j-1}`` (the previous step's); then ``r = w - Q h``, ``h = Q^T w`` over the
    whole basis (q_j included), so no ghost Ritz values appear; a second pass where the first
    removed more than a third of ``w`` (the DGKS criterion, rare while Q stays orthonormal).
    M is bordered by ``Q^T A q_j = h + alpha_j e_j + beta e_{j-1}``: the tridiagonal plus the
    rounding that reorthogonalization removed.  Two passes over the basis per step, none for
    the projection.

    Returns:
        ``(r / beta_j, beta_j)`` with ``beta_j = ||r||``, or ``(None, beta_j)`` when the Krylov
        space closed (an invariant subspace: ``beta_j <= 100 eps max|M|``, eps of the basis'
        dtype), where Gauss quadrature is exact.
    """
    m = state.m
    alpha = (q * z).sum()
    w = z - alpha * q
    if m > 0:
        w = w - beta * state.Qt[m - 1, :, None]
    state.Qt[m] = q[:, 0]
    Q = state.Qt[: m + 1]
    h = Q @ w
    r = w - Q.T @ h
    norms = torch.stack([torch.linalg.vector_norm(w), torch.linalg.vector_norm(r)])
    # One transfer per step (a device synchronization on accelerators).
    host = torch.cat([h.reshape(-1), alpha.reshape(1), norms]).double().cpu()
    column, alpha_j, before, after = host[: m + 1], float(host[m + 1]), host[m + 2], host[m + 3]
    if float(after) <= 0.7071 * float(before):
        h2 = Q @ r
        r = r - Q.T @ h2
        host = torch.cat([h2.reshape(-1), torch.linalg.vector_norm(r).reshape(1)]).double().cpu()
        column, after = column + host[: m + 1], host[m + 1]
    column[m] += alpha_j
    if m > 0:
        column[m - 1] += beta
    state.extend(q, None, column=column[:, None])
    beta_j = float(after)
    eps = torch.finfo(state.Qt.dtype).eps
    if beta_j <= 100 * eps * max(float(state.M.abs().max()), eps):
        return None, beta_j
    return r / beta_j, beta_j


@dataclass
class ConvergenceCheck:
    """Residuals of the leading Ritz pairs after one expansion (:func:`check_convergence`).

    Attributes:
        theta, Y: the leading ``n = min(m, max(k, b))`` Ritz values (n,) and coordinates (m, n).
        estimates: (n,) screened residual norms (:meth:`LanczosState.screen`).
        maybe: (n,) bool, the screen cannot rule out convergence.
        scale: (n,) ``max(|theta|, eps^(2/3) ||A||)``, what ``tol`` is relative to.
        floor: the rounding floor ``32 eps ||A||`` of the products.
        norms: (n,) the best residual norms known: explicit for the k wanted pairs when
            ``explicit`` is set, screened otherwise.
        explicit: (p, k) explicit residual vectors of the wanted pairs, computed only when the
            screen passed all of them (else None).
        converged: (k,) bool from the explicit residuals (None without them).
    """

    theta: torch.Tensor
    Y: torch.Tensor
    estimates: torch.Tensor
    maybe: torch.Tensor
    scale: torch.Tensor
    floor: float
    norms: torch.Tensor
    explicit: torch.Tensor | None = None
    converged: torch.Tensor | None = None

    @property
    def all_converged(self) -> bool:
        return self.converged is not None and bool(self.converged.all())


def check_convergence(
    state: LanczosState,
    theta_all: torch.Tensor,
    Y_all: torch.Tensor,
    *,
    k: int,
    block_size: int,
    tol: float,
    dtype: torch.dtype,
) -> ConvergenceCheck:
    """Screen the leading Ritz pairs, and when all k wanted ones may have converged, confirm with
    explicit residuals (2 p m flops per pair): convergence is only ever declared from explicit
    residuals, ``||r_i|| <= tol * scale_i`` or at the rounding floor.  ``dtype`` is the
    operator's (its eps sets the floor)."""
    eps = torch.finfo(dtype).eps
    # The screen's cancellation leaves it unreliable below about 100 sqrt(eps) ||A|| (eps of
    # the basis' dtype): anything under that may have converged.
    screen_floor_factor = 100.0 * math.sqrt(torch.finfo(state.Qt.dtype).eps)
    norm_est = state.norm_est
    n_res = min(state.m, max(k, block_size))
    theta, Y = theta_all[:n_res], Y_all[:, :n_res]
    est = state.screen(Y, theta)
    scale = _scale(theta, norm_est, dtype)
    floor = _FLOOR_FACTOR * eps * norm_est
    maybe = (est <= tol * scale) | (est <= max(floor, screen_floor_factor * norm_est))
    check = ConvergenceCheck(theta, Y, est, maybe, scale, floor, norms=est)
    if n_res >= k and bool(maybe[:k].all()):
        # The screen says all wanted pairs may have converged: check explicitly.
        R = state.residuals(Y[:, :k], theta[:k])
        norms = est.clone()
        norms[:k] = torch.linalg.vector_norm(R, dim=0).double().cpu()
        check.norms, check.explicit = norms, R
        check.converged = (norms[:k] <= tol * scale[:k]) | (norms[:k] <= floor)
    return check


def needs_probe(
    state: LanczosState,
    theta_all: torch.Tensor,
    probed: torch.Tensor | None,
    *,
    k: int,
    tol: float,
    dtype: torch.dtype,
    floor: float,
) -> bool:
    """After convergence: whether to probe the complement of ``span(Q)`` with a random vector.

    Yes when span(Q) is an invariant subspace (the Krylov space closed, as happens for exactly
    repeated eigenvalues: a Krylov space of one vector holds one vector per eigenvalue, so
    further copies of a wanted eigenvalue can only be found outside it) and the wanted Ritz
    values changed since the last probe (``probed``, or None)."""
    wanted = theta_all[:k]
    changed = probed is None or not torch.allclose(wanted, probed, rtol=0, atol=floor)
    atol = max(tol, _FLOOR_FACTOR * torch.finfo(dtype).eps) * state.norm_est
    return changed and state.is_invariant(atol)


def expansion_block(
    state: LanczosState, check: ConvergenceCheck, *, k: int, limit: int, randn
) -> torch.Tensor:
    """The next block's candidates (p, <= limit): residuals of the unconverged pairs, largest
    relative residual first.

    In exact arithmetic the residuals of all Ritz vectors lie in the span of the last Lanczos
    block, so any b of them continue the Krylov space; the largest are the least affected by
    rounding.  A residual at the rounding floor of the products is noise: expanding with it
    would waste a product, so converged pairs are left out.  ``randn(j)`` draws j random
    columns when no pair qualifies."""
    if check.explicit is not None:
        # Explicit residuals are at hand: expand with the unconverged wanted ones.
        rel = check.norms[:k] / check.scale[:k]
        idx = [i for i in torch.argsort(rel, descending=True).tolist() if not check.converged[i]]
        return check.explicit[:, idx[:limit]]
    rel = check.estimates / check.scale
    idx = [i for i in torch.argsort(rel, descending=True).tolist() if not check.maybe[i]]
    idx = idx[:limit]
    return state.residuals(check.Y[:, idx], check.theta[idx]) if idx else randn(limit)


def thick_restart(
    state: LanczosState,
    Y_all: torch.Tensor,
    *,
    k: int,
    block_size: int,
    capacity: int,
    incoming: int,
) -> None:
    """Make room for ``incoming`` vectors: keep the leading ``max(k + b, (k + capacity) / 2)``
    Ritz vectors and their products (Krylov-Schur style; T becomes ``diag(theta)``).  span(Q Y)
    contains every wanted Ritz vector, so nothing is lost, and no product is spent."""
    keep = max(k + block_size, (k + capacity) // 2)
    keep = min(keep, capacity - incoming, state.m)
    state.restart(Y_all[:, :keep])


def _start_block(
    p: int,
    b: int,
    *,
    warm_start: torch.Tensor | None,
    v0: torch.Tensor | None,
    randn,
    dtype: torch.dtype,
    device: torch.device,
    drop_tol: float,
) -> torch.Tensor:
    """The first block (p, <= b), orthonormal: the given start vectors (warm start first),
    combined or filled up with ``randn`` columns (see :func:`top_eigenpairs`)."""
    blocks = []
    for name, given in (("warm_start", warm_start), ("v0", v0)):
        if given is None:
            continue
        given = given.detach().reshape(p, -1) if given.ndim == 1 else given.detach()
        if given.ndim != 2 or given.shape[0] != p:
            raise ValueError(f"{name} must have shape ({p},) or ({p}, j), got {tuple(given.shape)}")
        blocks.append(given.to(device=device, dtype=dtype))
    W0 = torch.cat(blocks, dim=1) if blocks else torch.empty(p, 0, dtype=dtype, device=device)
    if W0.shape[1] > b:
        # More start vectors than the block: combine them (column i into block column i mod b).
        # The Krylov space of the sum of the previous eigenvectors is rich in all of them;
        # measured on the digits MLP after one SGD step this beats using them as a wider block.
        comb = torch.zeros(W0.shape[1], b, dtype=dtype, device=device)
        comb[torch.arange(W0.shape[1]), torch.arange(W0.shape[1]) % b] = 1.0
        W0 = (W0 / torch.linalg.vector_norm(W0, dim=0).clamp_min(torch.finfo(dtype).tiny)) @ comb
    if W0.shape[1] < b:
        W0 = torch.cat([W0, randn(b - W0.shape[1])], dim=1)
    W = orthonormalize(W0, None, drop_tol)
    if W.shape[1] == 0:
        W = orthonormalize(randn(b), None, drop_tol)
    return W


def _work_dtype(dtype: torch.dtype, device: torch.device, p: int, m_max: int) -> torch.dtype:
    low = dtype in (torch.float32, torch.float16, torch.bfloat16)
    if low and device.type != "mps" and 2 * p * m_max * 8 <= 2 * 1024**3:
        return torch.float64
    return dtype


def _default_block_size(op: CurvatureOperator, k: int) -> int:
    # Measured (module docstring; benchmarks/results/hessian_eigs*.md): on CPU a block of
    # Hessian-vector products costs about as much per vector as single ones, so the fewest
    # products win: single-vector Lanczos.  On CUDA one product is launch-bound and a block
    # costs little more than one vector, so block Lanczos wins on time despite more products;
    # a block of about k/2 measured fastest.
    return 1 if op.device.type == "cpu" else max(1, (k + 1) // 2)


def top_eigenpairs(
    op: CurvatureOperator,
    k: int = 10,
    *,
    which: str = "LA",
    tol: float = 1e-6,
    max_matvecs: int | None = None,
    block_size: int | None = None,
    max_basis: int | None = None,
    v0: torch.Tensor | None = None,
    warm_start: torch.Tensor | None = None,
    seed: int = 0,
    verify: bool = False,
    work_dtype: torch.dtype | None = None,
    record_history: bool = False,
) -> EigenResult:
    """The ``k`` extreme eigenpairs of a symmetric operator by thick-restart block Lanczos.

    Gur-Ari et al. (2018), App. A: the top-k Hessian subspace from Hessian-vector products.
    Full reorthogonalization is always on (the basis is kept orthonormal to working precision
    by two Gram-Schmidt passes per block), so no ghost eigenvalues; residuals are explicit.

    Args:
        op: a symmetric :class:`CurvatureOperator` of size p.
        k: number of eigenpairs, ``1 <= k <= p``.
        which: ``"LA"`` largest algebraic (the top of the spectrum; the default),
            ``"LM"`` largest magnitude, ``"SA"`` smallest algebraic (most negative).
        tol: relative residual tolerance: pair i has converged when
            ``||A v_i - lambda_i v_i|| <= tol * max(|lambda_i|, eps^(2/3) ||A||)``.  The
            eigenvalue error is then at most that residual, and about its square divided by
            the gap to the rest of the spectrum.  In float32 the attainable residual is about
            ``1e-6 ||A|| / |lambda_i|`` (the rounding of the products); a smaller ``tol`` runs
            to ``max_matvecs`` and reports ``converged=False``.
        max_matvecs: budget of operator-vector products (default ``max(500, 60 k)``,
            at most ``4 p``).
        block_size: at most this many residual directions are added per operator call.
            ``1`` is single-vector Lanczos.  Default: 1 on CPU, about ``k/2`` on other devices
            (measured, see the module docstring).  Single-vector Krylov spaces hold one vector
            per eigenvalue: where exactly repeated eigenvalues are expected among the wanted
            ones, use ``block_size`` >= their multiplicity (when the space closes, the solver
            probes its complement with a random vector, which finds missing copies in small
            problems, but not reliably in large ones).
        max_basis: basis size that triggers a thick restart (default ``max(4 k, k + 4 b, 40)``,
            at most p).
        v0: start vector (p,) or block (p, j); default a Gaussian block of ``block_size``
            columns from ``torch.Generator().manual_seed(seed)``.
        warm_start: previous eigenvectors (p, j), e.g. the last training step's top-k.  With
            more columns than the block they are summed into the start block (column i into
            block column i mod b), else used as the first block, filled up with seeded random
            vectors.  Krylov convergence depends on the start only logarithmically, so the
            saving is modest unless the subspace barely moved: after one SGD step (lr 0.1) on
            the digits MLP, whose old eigenvectors then have relative residuals 0.08-0.24, 24
            instead of 26 products on CPU and 37 instead of 46 on CUDA; steps of lr 0.01 /
            0.001: 20 / 18 instead of 27 / 28 (``benchmarks/results/hessian_eigs*.md``).  A
            solve that checks k vectors by explicit residuals needs at least k products; a
            start exactly on the eigenvectors costs one block (plus one probe, see
            ``block_size``).  Seeding a block with the k old vectors themselves measured worse
            (38-49 products): their corrections do not share one Krylov sequence.
        seed: seed of the random start (only used where random vectors are needed).
        verify: apply the operator once more to the returned vectors (k extra products) and
            report residuals from those fresh products.
        work_dtype: dtype of the basis, its products and the Rayleigh-Ritz projection.
            Default: float64 for float32 operators when the basis (``2 p max_basis`` numbers)
            fits in 2 GB, else the operator's dtype.  Measured on the digits MLP (float32), a
            float64 basis brings the top-10 eigenvalue error from 1.2e-6 (float32 basis) to the
            1e-7 that the float32 products allow, at no measurable cost.
        record_history: keep per-iteration diagnostics in ``result.history``.

    Returns:
        An :class:`EigenResult`; tensors on ``op.device`` in ``op.dtype``.

    Examples:
        >>> import torch
        >>> from landscope.curvature import DenseOperator
        >>> A = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64))
        >>> res = top_eigenpairs(DenseOperator(A), k=3, tol=1e-10)
        >>> res.eigenvalues.round().tolist(), bool(res.converged.all())
        ([100.0, 99.0, 98.0], True)
    """
    if not isinstance(op, CurvatureOperator):
        raise TypeError(f"op must be a CurvatureOperator, got {type(op).__name__}")
    p = op.shape[0]
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    if not 1 <= k <= p:
        raise ValueError(f"k must lie in [1, p = {p}], got {k}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    b = _default_block_size(op, k) if block_size is None else int(block_size)
    if b < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size}")
    b = min(b, p)
    m_max = max(4 * k, k + 4 * b, 40) if max_basis is None else int(max_basis)
    m_max = min(m_max, p)
    if m_max < min(k + b, p):
        raise ValueError(f"max_basis must be at least k + block_size = {k + b}, got {max_basis}")
    budget = min(max(500, 60 * k), 4 * p) if max_matvecs is None else int(max_matvecs)
    if budget < 1:
        raise ValueError(f"max_matvecs must be positive, got {max_matvecs}")
    dtype, device = op.dtype, op.device
    wdt = _work_dtype(dtype, device, p, m_max) if work_dtype is None else work_dtype
    drop_tol = 1e3 * torch.finfo(wdt).eps
    gen = torch.Generator().manual_seed(int(seed))

    def randn(cols: int) -> torch.Tensor:
        # Drawn on the CPU in float64 so a seed gives the same start on every device / dtype.
        return torch.randn(p, cols, generator=gen, dtype=torch.float64).to(device=device, dtype=wdt)

    start = op.num_matvecs
    t0 = time.perf_counter()
    W = _start_block(
        p, b, warm_start=warm_start, v0=v0, randn=randn, dtype=wdt, device=device, drop_tol=drop_tol
    )
    state = LanczosState(p, m_max, wdt, device)
    iterations = restarts = 0
    history: list[dict] = []
    probed: torch.Tensor | None = None
    while True:
        W = W[:, : m_max - state.m]
        state.extend(W, op.matmat(W).to(wdt))  # one operator call on the new block
        iterations += 1
        theta_all, Y_all = state.ritz(which)
        check = check_convergence(state, theta_all, Y_all, k=k, block_size=b, tol=tol, dtype=dtype)
        used = op.num_matvecs - start
        if record_history:
            history.append(
                {
                    "matvecs": used,
                    "basis": state.m,
                    "theta": check.theta[:k].tolist(),
                    "rel_residuals": (check.norms[:k] / check.scale[:k]).tolist(),
                    "explicit": check.explicit is not None,
                }
            )
        if used >= budget or state.m >= p:
            break
        probe = check.all_converged
        if probe:
            if not needs_probe(
                state, theta_all, probed, k=k, tol=tol, dtype=dtype, floor=check.floor
            ):
                break
            probed = theta_all[:k].clone()
        limit = min(b, budget - used)
        W_cand = randn(1) if probe else expansion_block(state, check, k=k, limit=limit, randn=randn)
        if state.m + W_cand.shape[1] > m_max == p:
            W_cand = W_cand[:, : p - state.m]  # the basis is about to span everything: no restart
        if state.m + W_cand.shape[1] > m_max:
            thick_restart(state, Y_all, k=k, block_size=b, capacity=m_max, incoming=W_cand.shape[1])
            restarts += 1
        W = orthonormalize(W_cand, state.Q, drop_tol)
        if W.shape[1] == 0:
            # Residuals numerically inside span(Q) (the Krylov space closed before all wanted
            # pairs appeared, e.g. fewer distinct eigenvalues than k); continue with random
            # directions orthogonal to it.
            W = orthonormalize(randn(limit), state.Q, drop_tol)
            if W.shape[1] == 0:
                break

    eigenvalues = theta_all[:k].to(device=device, dtype=dtype)
    Yk = Y_all[:, :k]
    vectors = state.vectors(Yk).to(dtype)
    R = check.explicit
    if R is None or R.shape[1] != k:  # stopped by the budget: compute them now
        R = state.residuals(Yk, theta_all[:k])
    residuals = torch.linalg.vector_norm(R, dim=0).double().cpu()
    if verify:
        AV = op.matmat(vectors)
        residuals = torch.linalg.vector_norm(AV - vectors * eigenvalues, dim=0).double().cpu()
    eps = torch.finfo(dtype).eps
    at_floor = residuals <= _FLOOR_FACTOR * eps * state.norm_est
    converged = (residuals <= tol * _scale(theta_all[:k], state.norm_est, dtype)) | at_floor
    return EigenResult(
        eigenvalues=eigenvalues,
        eigenvectors=vectors,
        residual_norms=residuals.to(device=device, dtype=dtype),
        converged=converged.to(device),
        at_floor=at_floor.to(device),
        block_size=b,
        num_matvecs=op.num_matvecs - start,
        seconds=time.perf_counter() - t0,
        which=which,
        tol=float(tol),
        num_iterations=iterations,
        num_restarts=restarts,
        norm_estimate=state.norm_est,
        history=history,
    )
