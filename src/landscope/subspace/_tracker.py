"""Online analyses of Gur-Ari, Roberts & Dyer (2018) for the training engine.

``analyses:`` entries in a run config (or objects passed to :func:`landscope.train`)::

    analyses:
      - {name: top_subspace, every: 10, options: {k: 10, store_eigenvectors: 5}}
      - {name: gradient_overlap, every: 1}

write the series ``top_subspace.fraction``, ``top_subspace.eigenvalues`` ... and
``gradient_overlap.overlap`` into the run folder (see :class:`TopSubspaceTracker`).
"""

from __future__ import annotations

from typing import Any

import torch

from landscope.data import subset_indices
from landscope.plugins import ONLINE_ANALYSES, StepContext
from landscope.subspace._top_subspace import (
    infer_num_classes,
    measure_gradient_overlap,
    measure_top_subspace,
)

__all__ = ["GradientOverlapTracker", "TopSubspaceTracker"]


def _problem(ctx: StepContext, data: str):
    if data == "train":
        return ctx.problem
    if ctx.test_problem is None:
        raise ValueError("data='test' needs a test split (record.eval.test and a test set)")
    return ctx.test_problem


@ONLINE_ANALYSES.register("top_subspace")
class TopSubspaceTracker:
    """Online analysis ``top_subspace``: the top-k Hessian subspace during training (Gur-Ari
    et al. Fig. 1, 8, 11; with stored eigenvectors, Fig. 2 and 3 offline).

    Every ``every`` steps it finds the top ``k + num_next`` Hessian eigenpairs of the full
    training loss (or of a fixed ``max_samples`` subset, or of the test set) by Lanczos,
    warm-started from the previous call's eigenvectors, and records the series
    ``<name>.<key>`` for the keys of
    :meth:`~landscope.subspace.TopSubspaceMeasurement.scalars` (``fraction`` is f_top of eq. 2,
    ``overlap`` is eq. 3, ...), ``eigenvalues`` (m,), ``weights`` (m,) (c_i^2, eq. 12) and, every
    ``store_eigenvectors``-th call, ``eigenvectors`` (p, m) in float32.

    Args:
        every: steps between measurements.
        name: series prefix.
        k: top subspace dimension; default the number of classes (model outputs) for
            classification, 10 otherwise.
        num_next: eigenvectors beyond the top k (default k: the "next k").
        data: ``"train"`` or ``"test"``.
        max_samples: use a fixed random subset of this many samples (default: all).
        tol: eigenpair relative residual tolerance.
        random_vectors: random control vectors per measurement (sec. 2.2).
        store_eigenvectors: ``False``/0 never, ``True``/1 every call, n every n-th call
            (eigenvectors cost 4 p m bytes per record).
        warm_start: start Lanczos from the previous eigenvectors.
        seed: seed of the random control vectors and of the subset.
    """

    def __init__(
        self,
        every: int = 10,
        name: str = "top_subspace",
        *,
        k: int | None = None,
        num_next: int | None = None,
        data: str = "train",
        max_samples: int | None = None,
        tol: float = 1e-5,
        random_vectors: int = 4,
        store_eigenvectors: bool | int = False,
        warm_start: bool = True,
        seed: int = 0,
        block_size: int | None = None,
    ):
        if data not in ("train", "test"):
            raise ValueError(f"data must be 'train' or 'test', got {data!r}")
        if k is not None and k < 1:
            raise ValueError(f"k must be positive, got {k}")
        self.every, self.name = int(every), name
        self.k, self.num_next, self.data = k, num_next, data
        self.max_samples, self.tol, self.random_vectors = (
            max_samples,
            float(tol),
            int(random_vectors),
        )
        self.store_every = int(store_eigenvectors)
        self.warm_start, self.seed, self.block_size = bool(warm_start), int(seed), block_size

    def __call__(self, ctx: StepContext) -> dict[str, Any]:
        state = ctx.state
        problem = _problem(ctx, self.data)
        if "k" not in state:
            state["k"] = self.k or infer_num_classes(problem) or 10
            state["indices"] = subset_indices(problem.num_samples, self.max_samples, self.seed)
            state["calls"] = 0
        m = measure_top_subspace(
            problem,
            ctx.theta,
            state["k"],
            num_next=self.num_next,
            indices=state["indices"],
            tol=self.tol,
            warm_start=state.get("V") if self.warm_start else None,
            random_vectors=self.random_vectors,
            seed=self.seed,
            step=ctx.step,
            block_size=self.block_size,
        )
        state["V"] = m.eigenvectors
        out: dict[str, Any] = {k: v for k, v in m.scalars().items() if k not in ("step", "k")}
        out["eigenvalues"] = m.eigenvalues
        out["weights"] = m.weights
        if self.store_every and state["calls"] % self.store_every == 0:
            out["eigenvectors"] = m.eigenvectors.to(torch.float32)
        state["calls"] += 1
        return out


@ONLINE_ANALYSES.register("gradient_overlap")
class GradientOverlapTracker:
    """Online analysis ``gradient_overlap``: overlap(g, Hg) (Gur-Ari eq. 3) every ``every``
    steps at the cost of one full-dataset gradient and ``1 + random_vectors`` Hessian-vector
    products -- cheap enough for every step, as Table 1's mean over the last 1,000 steps needs.
    Series: ``<name>.overlap``, ``.loss``, ``.gradient_norm``, ``.random_overlap``.  With
    ``start``, steps before it are skipped (e.g. only the last 1,000 steps of training)."""

    def __init__(
        self,
        every: int = 1,
        name: str = "gradient_overlap",
        *,
        data: str = "train",
        max_samples: int | None = None,
        random_vectors: int = 1,
        seed: int = 0,
        start: int = 0,
    ):
        if data not in ("train", "test"):
            raise ValueError(f"data must be 'train' or 'test', got {data!r}")
        self.every, self.name, self.data, self.start = int(every), name, data, int(start)
        self.max_samples, self.random_vectors, self.seed = (
            max_samples,
            int(random_vectors),
            int(seed),
        )

    def __call__(self, ctx: StepContext) -> dict[str, float] | None:
        if ctx.step < self.start:
            return None
        problem = _problem(ctx, self.data)
        if "indices" not in ctx.state:
            ctx.state["indices"] = subset_indices(problem.num_samples, self.max_samples, self.seed)
        r = measure_gradient_overlap(
            problem,
            ctx.theta,
            indices=ctx.state["indices"],
            random_vectors=self.random_vectors,
            seed=self.seed,
            step=ctx.step,
        )
        return {
            "overlap": r.overlap,
            "loss": r.loss,
            "gradient_norm": r.gradient_norm,
            "random_overlap": r.random_overlap,
        }
