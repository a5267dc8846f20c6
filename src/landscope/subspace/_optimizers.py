"""Optimizers of Gur-Ari, Roberts & Dyer (2018) sec. 4, as update transforms of the training engine.

- :class:`TopSubspaceProjection`: SGD whose update is projected onto the current top-k Hessian
  subspace ("one could explicitly make this projection onto g_top and use that to update the
  parameters"): ``theta <- theta + P_top u`` with ``u`` the optimizer's update (``-eta g`` for
  plain SGD, so the step is ``-eta g_top``).
- :class:`LowRankNewton`: eq. 11, ``theta <- theta - H_top^{-1} g_top`` with ``g`` the minibatch
  gradient and ``H_top`` the Hessian restricted to its top-k eigenspace.

Both find the top-k eigenpairs of the full training loss (or a fixed ``max_samples`` subset)
by Lanczos every ``refresh_every`` steps, warm-started from the previous basis.  Use them from
Python (``landscope.train(config, update_transform=TopSubspaceProjection(k=10))``) or from a
config::

    update_transform: {name: top_subspace_sgd, options: {k: 10, refresh_every: 10}}

Caveats (documented, not hidden): the transform acts on the optimizer's output, so with
momentum the velocity itself is not projected; the basis is not checkpointed, so a resumed run
recomputes it at the resume step and is not bitwise identical to an uninterrupted one.
"""

from __future__ import annotations

import torch

from landscope.curvature import HessianOperator, top_eigenpairs
from landscope.data import subset_indices
from landscope.plugins import UPDATE_TRANSFORMS, UpdateContext
from landscope.subspace._top_subspace import infer_num_classes

__all__ = ["LowRankNewton", "TopSubspaceProjection"]


class _TopSubspaceTransform:
    def __init__(
        self,
        k: int | None = None,
        *,
        refresh_every: int = 10,
        max_samples: int | None = None,
        tol: float = 1e-4,
        warm_start: bool = True,
        seed: int = 0,
        start: int = 0,
    ):
        if k is not None and k < 1:
            raise ValueError(f"k must be positive, got {k}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be positive, got {refresh_every}")
        self.k, self.refresh_every, self.max_samples = k, int(refresh_every), max_samples
        self.tol, self.warm_start, self.seed = float(tol), bool(warm_start), int(seed)
        self.start = int(start)
        self.basis: torch.Tensor | None = None  # (p, k) orthonormal
        self.eigenvalues: torch.Tensor | None = None  # (k,)
        self.basis_step: int | None = None
        self.num_refreshes = 0
        self.num_matvecs = 0
        self._indices: torch.Tensor | None = None

    def refresh(self, ctx: UpdateContext) -> None:
        problem = ctx.problem
        if self.basis is None:
            self.k = self.k or infer_num_classes(problem) or 10
            self._indices = subset_indices(problem.num_samples, self.max_samples, self.seed)
        H = HessianOperator(problem, ctx.theta, indices=self._indices)
        res = top_eigenpairs(
            H,
            self.k,
            tol=self.tol,
            warm_start=self.basis if self.warm_start else None,
            seed=self.seed,
        )
        self.basis, self.eigenvalues = res.eigenvectors, res.eigenvalues
        self.basis_step = ctx.step
        self.num_refreshes += 1
        self.num_matvecs += res.num_matvecs

    def _current(self, ctx: UpdateContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.basis is None or ctx.step % self.refresh_every == 0:
            self.refresh(ctx)
        assert self.basis is not None and self.eigenvalues is not None
        return self.basis, self.eigenvalues


@UPDATE_TRANSFORMS.register("top_subspace_sgd")
class TopSubspaceProjection(_TopSubspaceTransform):
    """Projected SGD (Gur-Ari sec. 4): the applied update is ``V V^T u``, ``u`` the optimizer's
    update and ``V`` (p, k) the top-k Hessian eigenvectors at the last refresh.  The step
    therefore lies in span(V) exactly (up to rounding): the parameters never leave the affine
    subspace ``theta(refresh) + span(V)`` between refreshes.

    Args:
        k: subspace dimension (default: the number of classes, 10 for regression).
        refresh_every: steps between eigenvector refreshes (the paper's m).
        max_samples: Hessian on a fixed random subset of this many training samples.
        tol: Lanczos relative residual tolerance.
        warm_start: start each refresh from the previous basis.
        seed: Lanczos start vector / subset seed.
        start: plain optimizer updates before this step (e.g. project only after a warm-up,
            when the gradient has entered the top subspace).
    """

    name = "top_subspace_sgd"

    def __call__(self, ctx: UpdateContext) -> torch.Tensor:
        if ctx.step < self.start:
            return ctx.update
        V, _ = self._current(ctx)
        return V @ (V.T @ ctx.update)


@UPDATE_TRANSFORMS.register("low_rank_newton")
class LowRankNewton(_TopSubspaceTransform):
    """The low-rank Newton step of Gur-Ari eq. 11: ``theta <- theta - H_top^{-1} g_top``,
    i.e. ``update = -scale * sum_i (v_i . g / lambda_i) v_i`` over the top-k eigenpairs, with
    ``g`` the minibatch gradient (the optimizer's own update is ignored).

    The paper notes that the top eigenvalues are strictly positive, so the step descends.
    Directions whose eigenvalue is below ``min_eigenvalue * lambda_1`` (non-positive or tiny,
    possible early in training or with too large a k) are dropped rather than inverted: their
    Newton step is undefined or unbounded.  ``scale`` (default 1, the pure eq. 11) damps the
    step; the learning rate of the config is not used.
    """

    name = "low_rank_newton"

    def __init__(
        self, k: int | None = None, *, scale: float = 1.0, min_eigenvalue: float = 1e-3, **kw
    ):
        super().__init__(k, **kw)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale, self.min_eigenvalue = float(scale), float(min_eigenvalue)

    def __call__(self, ctx: UpdateContext) -> torch.Tensor:
        if ctx.step < self.start:
            return ctx.update
        V, lam = self._current(ctx)
        keep = lam > self.min_eigenvalue * lam[0].clamp_min(0)
        keep &= lam > 0
        inv = torch.where(
            keep, 1.0 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam)
        )
        return -self.scale * (V @ (inv * (V.T @ ctx.gradient)))
