"""One measurement of Gur-Ari, Roberts & Dyer (2018) at one point theta: the top-k Hessian
subspace and how the gradient lives in it.

:func:`measure_top_subspace` is shared by the online tracker (during training) and the offline
analysis of a recorded run, so both produce the same numbers.  :func:`measure_gradient_overlap`
is the cheap proxy of sec. 2.2 (one gradient and one Hessian-vector product), used for Table 1's
mean over the last steps of training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from landscope.curvature import EigenResult, HessianOperator, top_eigenpairs
from landscope.problem import Problem
from landscope.subspace._overlaps import (
    eigenvector_weights,
    gradient_hessian_overlap,
    random_vertex_overlap_estimate,
    top_subspace_fraction,
)

__all__ = [
    "SCALAR_KEYS",
    "GradientOverlap",
    "TopSubspaceMeasurement",
    "infer_num_classes",
    "measure_gradient_overlap",
    "measure_top_subspace",
]

Indices = torch.Tensor | list[int] | None

#: The per-step numbers of a :class:`TopSubspaceMeasurement` kept as float series along training.
SCALAR_KEYS = (
    "loss",
    "accuracy",
    "gradient_norm",
    "fraction",
    "fraction_next",
    "overlap",
    "vertex_estimate",
    "random_top_overlap",
    "random_full_overlap",
    "max_relative_residual",
    "num_matvecs",
)


def infer_num_classes(problem: Problem) -> int | None:
    """The number of model outputs of a classification Problem (the paper's k = number of
    classes), ``None`` for regression.  One forward pass on one sample."""
    if problem.task != "classification":
        return None
    with torch.no_grad():
        x, _ = next(problem.chunks([0]))
        theta = problem.theta_from_model()
        out = problem.output(theta, x[:1])
    return int(out.shape[-1]) if out.ndim > 1 else 2


def _generator(seed: int, step: int) -> torch.Generator:
    # Random control vectors are a function of (seed, step) only: identical online and offline.
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63 - 1))


def _unit_columns(shape: tuple[int, int], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    W = torch.randn(shape, generator=gen, dtype=torch.float64)
    W = W / W.norm(dim=0, keepdim=True)
    return W.to(device=like.device, dtype=like.dtype)


def _column_overlaps(W: torch.Tensor, HW: torch.Tensor) -> torch.Tensor:
    """overlap(w, Hw) (eq. 3) for each column pair."""
    return (W * HW).sum(0) / (W.norm(dim=0) * HW.norm(dim=0))


@dataclass
class GradientOverlap:
    """overlap(g, Hg) (Gur-Ari eq. 3) at one step, with the whole-space random control.

    Attributes:
        step: training step (-1 when not from a run).
        loss: full-dataset (or subset) loss at theta.
        gradient_norm: ||g||.
        overlap: g^T H g / (||g|| ||H g||), in [-1, 1].
        random_overlap: mean overlap(w, Hw) over ``random_vectors`` random unit vectors w in the
            whole parameter space (sec. 2.2: "negligible"); NaN when none were asked for.
    """

    step: int
    loss: float
    gradient_norm: float
    overlap: float
    random_overlap: float

    def to_dict(self) -> dict:
        return asdict(self)


def measure_gradient_overlap(
    problem: Problem,
    theta: torch.Tensor,
    *,
    indices: Indices = None,
    random_vectors: int = 0,
    seed: int = 0,
    step: int = -1,
) -> GradientOverlap:
    """overlap(g, Hg) of eq. 3 with g the gradient of the (subset) mean loss and H its Hessian,
    at the cost of one gradient and ``1 + random_vectors`` Hessian-vector products (one block).
    """
    loss, g = problem.loss_and_gradient(theta, indices)
    H = HessianOperator(problem, theta, indices=indices)
    if random_vectors > 0:
        W = _unit_columns((H.shape[0], random_vectors), _generator(seed, step), g)
        block = torch.cat([g[:, None], W], 1)
    else:
        block = g[:, None]
    HB = H.matmat(block)
    overlap = gradient_hessian_overlap(g, HB[:, 0])
    rand = (
        _column_overlaps(W, HB[:, 1:]).mean() if random_vectors > 0 else torch.tensor(float("nan"))
    )
    return GradientOverlap(step, float(loss), float(g.norm()), float(overlap), float(rand))


@dataclass
class TopSubspaceMeasurement:
    """Everything Gur-Ari et al. measure at one step, for the top ``k`` and next ``k`` eigenvectors.

    Attributes:
        step: training step (-1 when not from a run).
        k: dimension of the top subspace (the paper: the number of classes).
        loss, accuracy: full-dataset (or subset) loss and accuracy at theta (accuracy NaN for
            regression).
        gradient_norm: ||g||.
        fraction: f_top = ||P_top g||^2 / ||g||^2 (eq. 2), top k eigenvectors.
        fraction_next: the same for the next k eigenvectors k+1..2k (NaN if not computed).
        overlap: overlap(g, Hg) (eq. 3).
        eigenvalues: (m,) the top m = k + num_next Hessian eigenvalues, descending.
        weights: (m,) c_i^2 = (v_i . g)^2 / ||g||^2 (eq. 12).
        vertex_estimate: eq. 4's estimate sum lambda / sqrt(k sum lambda^2) over the top k.
        random_top_overlap: mean overlap(w, Hw) for random unit vectors w in the top subspace
            (sec. 2.2, "comparable to that of the gradient"); NaN if none asked for.
        random_full_overlap: the same for random unit vectors in the whole space ("negligible").
        converged: all m eigenpairs met the solver tolerance.
        max_relative_residual: largest ||H v - lambda v|| / |lambda| among them.
        num_matvecs: Hessian-vector products the measurement used (solver + controls).
        eigenvectors: (p, m) orthonormal columns (on theta's device and dtype).
    """

    step: int
    k: int
    loss: float
    accuracy: float
    gradient_norm: float
    fraction: float
    fraction_next: float
    overlap: float
    eigenvalues: torch.Tensor
    weights: torch.Tensor
    vertex_estimate: float
    random_top_overlap: float
    random_full_overlap: float
    converged: bool
    max_relative_residual: float
    num_matvecs: int
    eigenvectors: torch.Tensor

    def scalars(self) -> dict[str, float | int | bool]:
        """The per-step numbers (no arrays)."""
        return {key: getattr(self, key) for key in ("step", "k", *SCALAR_KEYS, "converged")}

    @property
    def top_weight(self) -> float:
        """sum_{i<=k} c_i^2 (equals ``fraction`` up to rounding)."""
        return float(self.weights[: self.k].sum())

    @property
    def next_weight(self) -> float:
        """sum_{k<i<=2k} c_i^2."""
        return float(self.weights[self.k :].sum())


def measure_top_subspace(
    problem: Problem,
    theta: torch.Tensor,
    k: int,
    *,
    num_next: int | None = None,
    indices: Indices = None,
    tol: float = 1e-5,
    warm_start: torch.Tensor | None = None,
    random_vectors: int = 4,
    seed: int = 0,
    step: int = -1,
    block_size: int | None = None,
    max_matvecs: int | None = None,
) -> TopSubspaceMeasurement:
    """f_top (eq. 2), overlap(g, Hg) (eq. 3), c_i^2 (eq. 12), the top eigenvalues and the random
    controls of sec. 2.2 at one theta, with the full-dataset (or ``indices`` subset) gradient and
    Hessian as in the paper.

    The top ``k + num_next`` eigenpairs (``num_next`` defaults to ``k``: the "next k" of Fig. 2,
    11) come from :func:`~landscope.curvature.top_eigenpairs` (Lanczos on Hessian-vector
    products, App. A), warm-started from ``warm_start`` (p, m') when given.  The gradient's
    product ``Hg`` and the random control vectors' products are applied in one extra block of
    ``1 + 2 random_vectors`` products, so every overlap uses an exact product, never the
    eigen-decomposition.

    Args:
        problem, theta: the model and data, and the parameters (p,).
        k: top subspace dimension (the paper: the number of classes).
        tol: relative residual tolerance of the eigenpairs; f_top's error is about
            ``tol^2 ||H|| / gap`` (the eigenvectors' error squared), far below what is plotted.
        random_vectors: random unit vectors per control (0 disables the controls).
        seed, step: make the control vectors a function of (seed, step).

    Raises:
        ValueError: ``k`` is not in [1, p - num_next].
    """
    p = problem.num_params
    num_next = k if num_next is None else int(num_next)
    if not 1 <= k or num_next < 0 or k + num_next > p:
        raise ValueError(
            f"top subspace needs 1 <= k and k + num_next <= p = {p}; got k={k}, num_next={num_next}"
        )
    loss, g = problem.loss_and_gradient(theta, indices)
    accuracy = (
        problem.accuracy(theta, indices) if problem.task == "classification" else float("nan")
    )
    H = HessianOperator(problem, theta, indices=indices)
    m = k + num_next
    res: EigenResult = top_eigenpairs(
        H,
        m,
        tol=tol,
        warm_start=warm_start,
        seed=seed,
        block_size=block_size,
        max_matvecs=max_matvecs,
    )
    V = res.eigenvectors
    cols = [g[:, None]]
    if random_vectors > 0:
        gen = _generator(seed, step)
        C = _unit_columns((k, random_vectors), gen, g)
        cols += [V[:, :k] @ C, _unit_columns((p, random_vectors), gen, g)]
    block = torch.cat(cols, 1)
    HB = H.matmat(block)
    overlap = gradient_hessian_overlap(g, HB[:, 0])
    if random_vectors > 0:
        r = random_vectors
        rand_top = float(_column_overlaps(block[:, 1 : 1 + r], HB[:, 1 : 1 + r]).mean())
        rand_full = float(_column_overlaps(block[:, 1 + r :], HB[:, 1 + r :]).mean())
    else:
        rand_top = rand_full = float("nan")
    weights = eigenvector_weights(g, V)
    rel = res.residual_norms / res.eigenvalues.abs().clamp_min(torch.finfo(V.dtype).tiny)
    return TopSubspaceMeasurement(
        step=int(step),
        k=int(k),
        loss=float(loss),
        accuracy=float(accuracy),
        gradient_norm=float(g.norm()),
        fraction=float(top_subspace_fraction(g, V[:, :k])),
        fraction_next=float(top_subspace_fraction(g, V[:, k:])) if num_next else float("nan"),
        overlap=float(overlap),
        eigenvalues=res.eigenvalues.detach(),
        weights=weights.detach(),
        vertex_estimate=float(random_vertex_overlap_estimate(res.eigenvalues[:k])),
        random_top_overlap=rand_top,
        random_full_overlap=rand_full,
        converged=bool(res.all_converged),
        max_relative_residual=float(rel.max()),
        num_matvecs=int(res.num_matvecs + block.shape[1]),
        eigenvectors=V.detach(),
    )
