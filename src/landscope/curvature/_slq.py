"""Spectral density by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019).

For a symmetric p x p operator A with eigenvalues lambda_1..lambda_p, the spectral density is
``phi(t) = (1/p) sum_i delta(t - lambda_i)``.  For a Rademacher probe ``z`` and ``v = z/sqrt(p)``,
``E[v^T f(A) v] = tr f(A) / p``; m steps of Lanczos from ``v`` give the tridiagonal ``T_m`` whose
eigenvalues (nodes) ``theta_l`` and squared first eigenvector components (weights) ``tau_l``
are the m-point Gauss quadrature of the measure ``sum_i (v . u_i)^2 delta(t - lambda_i)``:
``v^T f(A) v ~ sum_l tau_l f(theta_l)``, exact for polynomials of degree < 2m (Golub & Meurant).
Averaging over probes and replacing each delta by a Gaussian of width sigma gives the smoothed
density, as in PyHessian (Yao et al. 2020).

Here all probes run together, so every Lanczos step is one block product of ``num_probes``
vectors (cheaper per vector than single products), with full reorthogonalization per probe.
The Lanczos process is the one :func:`~landscope.curvature.top_eigenpairs` runs
(``_lanczos.LanczosState``: basis, projection, Ritz pairs), advanced by ``lanczos_step``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from landscope.curvature._base import CurvatureOperator
from landscope.curvature._lanczos import LanczosState, lanczos_step

__all__ = ["SpectralDensity", "spectral_density"]


@dataclass
class SpectralDensity:
    """Gauss quadrature nodes and weights of the spectral measure, one set per probe.

    Attributes:
        nodes: (num_probes, m) Ritz values of each probe's Lanczos tridiagonal.
        weights: (num_probes, m) squared first components of its eigenvectors; each row sums to
            1.  A probe whose Krylov space closed early (an invariant subspace, e.g. when m >= p)
            has fewer nodes: the rest of its row is padded with weight 0.
        dim: p, the operator's size.
        num_matvecs: operator-vector products used.
        seconds: wall time.
    """

    nodes: torch.Tensor
    weights: torch.Tensor
    dim: int
    num_matvecs: int
    seconds: float

    @property
    def num_probes(self) -> int:
        return self.nodes.shape[0]

    def moment(self, j: int) -> float:
        """Estimate of ``tr(A^j) / p`` (the j-th moment of the spectral density)."""
        return float(self.moment_samples(j).mean())

    def moment_samples(self, j: int) -> torch.Tensor:
        """Per-probe quadrature values ``sum_l tau_l theta_l^j`` (num_probes,): unbiased
        estimates of ``tr(A^j)/p`` for Rademacher probes when ``j < 2 m``; their standard
        deviation / sqrt(num_probes) is the standard error of :meth:`moment`."""
        if j < 0:
            raise ValueError(f"moment order must be non-negative, got {j}")
        return (self.weights * self.nodes.pow(j)).sum(dim=1)

    def moment_standard_error(self, j: int) -> float:
        s = self.moment_samples(j)
        return float(s.std(unbiased=True) / math.sqrt(len(s))) if len(s) > 1 else float("nan")

    def trace(self) -> float:
        """Estimate of ``tr(A) = p * moment(1)``."""
        return self.dim * self.moment(1)

    def default_sigma(self) -> float:
        """1% of the spread of the nodes (with weight)."""
        used = self.nodes[self.weights > 0]
        spread = float(used.max() - used.min()) if used.numel() else 1.0
        return 0.01 * spread if spread > 0 else 1e-3 * max(1.0, float(used.abs().max()))

    def grid(self, num_points: int = 2000, sigma: float | None = None) -> torch.Tensor:
        """Evenly spaced points covering every node +- 6 sigma."""
        sigma = self.default_sigma() if sigma is None else sigma
        used = self.nodes[self.weights > 0]
        return torch.linspace(
            float(used.min()) - 6 * sigma,
            float(used.max()) + 6 * sigma,
            num_points,
            dtype=torch.float64,
        )

    def density(
        self,
        grid: torch.Tensor | None = None,
        *,
        sigma: float | None = None,
        num_points: int = 2000,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian-smoothed spectral density on a grid.

        ``phi_sigma(t) = (1/P) sum_probes sum_l tau_l N(t; theta_l, sigma^2)`` (Ghorbani et al.
        2019, eq. 6), a probability density: it integrates to 1 when the grid covers the nodes
        +- several sigma (the default grid covers +- 6 sigma).

        Args:
            grid: points t (1-D); default :meth:`grid`.
            sigma: Gaussian width in eigenvalue units; default :meth:`default_sigma`.
            num_points: size of the default grid.

        Returns:
            ``(grid, density)``, both float64 of shape (num_points,), on the CPU.
        """
        sigma = self.default_sigma() if sigma is None else float(sigma)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        t = (
            self.grid(num_points, sigma)
            if grid is None
            else torch.as_tensor(grid, dtype=torch.float64).cpu()
        )
        nodes = self.nodes.double().cpu().reshape(-1)
        weights = self.weights.double().cpu().reshape(-1) / self.num_probes
        out = torch.zeros_like(t)
        # Chunk the nodes so memory stays O(grid * chunk).
        for s in range(0, nodes.numel(), 512):
            z = (t[:, None] - nodes[None, s : s + 512]) / sigma
            out += (torch.exp(-0.5 * z * z) * weights[None, s : s + 512]).sum(dim=1)
        return t, out / (sigma * math.sqrt(2 * math.pi))

    def to_dict(self, *, sigma: float | None = None, num_points: int = 400) -> dict:
        """JSON-ready: nodes, weights, and the smoothed density on a grid."""
        sigma = self.default_sigma() if sigma is None else sigma
        t, phi = self.density(sigma=sigma, num_points=num_points)
        return {
            "num_probes": self.num_probes,
            "lanczos_steps": self.nodes.shape[1],
            "dim": self.dim,
            "num_matvecs": self.num_matvecs,
            "seconds": self.seconds,
            "sigma": sigma,
            "nodes": self.nodes.tolist(),
            "weights": self.weights.tolist(),
            "grid": t.tolist(),
            "density": phi.tolist(),
        }


def rademacher(
    p: int, n: int, generator: torch.Generator, dtype: torch.dtype, device
) -> torch.Tensor:
    """(p, n) matrix of independent +-1 entries drawn from ``generator`` on the CPU (so a seed
    gives the same probes on every device), then moved to ``device``."""
    z = torch.randint(0, 2, (p, n), generator=generator, dtype=torch.int8)
    return (2 * z - 1).to(device=device, dtype=dtype)


def spectral_density(
    op: CurvatureOperator,
    *,
    num_probes: int = 10,
    lanczos_steps: int = 80,
    seed: int = 0,
    probes_per_block: int | None = None,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature of the spectral density of a symmetric operator.

    Ghorbani, Krishnan & Xiao (2019), Sec. 2 and App. A (as implemented in PyHessian): for each
    of ``num_probes`` Rademacher vectors, ``lanczos_steps`` Lanczos steps with full
    reorthogonalization give Gauss-quadrature nodes and weights.

    Args:
        op: symmetric operator of size p.
        num_probes: number of random probes (the estimator's sample size).
        lanczos_steps: m, Lanczos steps per probe (quadrature exact for moments < 2m); capped
            at p.
        seed: seed of the probes (a private ``torch.Generator``; the global RNG is untouched).
        probes_per_block: probes advanced together, one block product per Lanczos step
            (default: all).  Memory is ``probes_per_block * m * p`` numbers for the bases.

    Returns:
        A :class:`SpectralDensity`.

    Examples:
        >>> import torch
        >>> from landscope.curvature import DenseOperator
        >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
        >>> sd = spectral_density(DenseOperator(A), num_probes=3, lanczos_steps=4)
        >>> round(sd.moment(1), 10), round(sd.moment(2), 10)  # tr(A)/4, tr(A^2)/4, exact here
        (2.5, 7.5)
    """
    if not isinstance(op, CurvatureOperator):
        raise TypeError(f"op must be a CurvatureOperator, got {type(op).__name__}")
    if num_probes < 1:
        raise ValueError(f"num_probes must be positive, got {num_probes}")
    if lanczos_steps < 1:
        raise ValueError(f"lanczos_steps must be positive, got {lanczos_steps}")
    p = op.shape[0]
    m = min(int(lanczos_steps), p)
    per = num_probes if probes_per_block is None else max(1, int(probes_per_block))
    gen = torch.Generator().manual_seed(int(seed))
    start, t0 = op.num_matvecs, time.perf_counter()
    all_nodes, all_weights = [], []
    for s in range(0, num_probes, per):
        n = min(per, num_probes - s)
        V0 = rademacher(p, n, gen, op.dtype, op.device) / math.sqrt(p)
        nodes, weights = _block_of_lanczos(op, V0, m)
        all_nodes.append(nodes)
        all_weights.append(weights)
    return SpectralDensity(
        nodes=torch.cat(all_nodes),
        weights=torch.cat(all_weights),
        dim=p,
        num_matvecs=op.num_matvecs - start,
        seconds=time.perf_counter() - t0,
    )


def _block_of_lanczos(
    op: CurvatureOperator, V0: torch.Tensor, m: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """n independent Lanczos processes (unit start vectors = columns of ``V0``, (p, n)),
    advanced with one block product per step; returns nodes and weights (n, m), float64 on the
    CPU.

    Each probe is a :class:`~landscope.curvature._lanczos.LanczosState` without stored products
    (only its basis and ``T = Q^T A Q``, the Lanczos tridiagonal to rounding); the next vector
    comes from :func:`~landscope.curvature._lanczos.lanczos_step` (three-term recurrence with
    full reorthogonalization against the probe's own basis, so no ghost nodes).  The Ritz
    values of T are the Gauss nodes; the squared first components of its eigenvectors are the
    weights (the first basis vector is the probe)."""
    p, n = V0.shape
    states = [LanczosState(p, m, V0.dtype, V0.device, keep_products=False) for _ in range(n)]
    current = {i: V0[:, i : i + 1] for i in range(n)}  # next basis vector of each active probe
    beta = dict.fromkeys(range(n), 0.0)
    for j in range(m):
        active = list(current)
        W = torch.cat([current[i] for i in active], dim=1)
        Z = op.matmat(W)
        for col, i in enumerate(active):
            if j + 1 == m:  # the last step: only the projection is needed
                states[i].extend(W[:, col : col + 1], Z[:, col : col + 1])
                continue
            q, beta[i] = lanczos_step(states[i], W[:, col : col + 1], Z[:, col : col + 1], beta[i])
            if q is None:  # the Krylov space closed: the quadrature is exact
                del current[i]
            else:
                current[i] = q
        if not current:
            break
    nodes = torch.zeros(n, m, dtype=torch.float64)
    weights = torch.zeros(n, m, dtype=torch.float64)
    for i, state in enumerate(states):
        theta, Y = state.ritz()
        nodes[i, : state.m] = theta
        weights[i, : state.m] = Y[0] ** 2
    return nodes, weights
