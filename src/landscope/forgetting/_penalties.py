"""Curvature-based defences against catastrophic forgetting as plugins of the training engine
(Haink sec. 3.3, 7.7): four loss penalties (:data:`landscope.plugins.LOSS_PENALTIES`) and one
update transform (:data:`landscope.plugins.UPDATE_TRANSFORMS`).

Each is fitted once on task A (its training Problem and the parameters ``mu_A`` at its end),
either explicitly (``penalty.fit(problem_A, mu_A)``, the Python API) or, when the engine calls
:meth:`setup` on an unfitted one, from the run folder of task A named by ``anchor`` (its config's
data and model, its last recorded theta; the run-config route: one ``penalties:`` block).
Then it is added to task B's training: ``train(config_B, out, model=model_after_A,
penalties=[HessianEigenPenalty().fit(problem_A, mu_A)])``.

Conventions (all sums over the conserved directions of :mod:`landscope.forgetting._directions`;
``w`` is theta during task B, ``mu_A`` theta at the end of task A, ``lambda`` = ``strength``):

========================  =========================================================  ==========
name                      term added to the minibatch loss                          Haink
========================  =========================================================  ==========
``hessian_eigen``         ``lambda sum_i h_i ((w - mu_A) . h_i)^2``, top N_lim          eq. 3.11,
                          Hessian eigenpairs of task A's loss at mu_A                 eq. 7.10
``pca_flatness``          ``lambda sum_i F_i^-2 ((w - mu_A) . p_i)^2``, top N_lim       eq. 3.10
                          principal components of task A's last steps
``singular_value``        ``lambda sum_i nu_i ((w - mu_A) . W~_i / ||W~_i||)^2`` over   eq. 7.11
                          singular values outside the MP bulk, plus the bias blocks'
                          ``lambda sum_i h_i ((w - mu_A) . h_i)^2`` (top 20 %)
``ewc``                   ``lambda / 2 sum_j F_jj (w_j - mu_A,j)^2``, F the diagonal    Kirkpatrick
                          of the per-sample empirical Fisher of task A                  et al. 2017
========================  =========================================================  ==========

The update transform ``gradient_constraint`` is eq. 7.12:
``v~ = v - gamma sum_i (c_i / c_1) (v . d_i) d_i`` on the optimizer's update ``v``.

A projection penalty ``(d . (w - mu_A))^2`` couples all entries of the block (its gradient is
``2 c (d . (w - mu_A)) d``); only EWC is elementwise.  ``strength = 0`` (``gamma = 0``) leaves
training bitwise unchanged: the penalty returns a constant zero (the transform the update).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from landscope.forgetting._directions import (
    ConservedDirections,
    fisher_diagonal,
    hessian_directions,
    parameter_groups,
    pca_directions,
    singular_directions,
)
from landscope.plugins import LOSS_PENALTIES, UPDATE_TRANSFORMS, PenaltyContext, UpdateContext
from landscope.problem import Problem

__all__ = [
    "DIRECTION_SOURCES",
    "EWCPenalty",
    "GradientConstraint",
    "HessianEigenPenalty",
    "PCAFlatnessPenalty",
    "SingularValuePenalty",
    "task_from_run",
]

#: What the gradient constraint can conserve.
DIRECTION_SOURCES = ("singular", "hessian", "pca")


def task_from_run(anchor: str | Path, *, window: int | None = None):
    """``(problem_A, mu_A, trajectory)`` from the run folder of task A: its training Problem
    (rebuilt from its config), its last recorded theta and, with ``window``, the last ``window``
    recorded thetas (``(T, p)``, for the PCA variant; ``None`` otherwise)."""
    from landscope.runs import open_run

    run = open_run(Path(anchor))
    problem, _ = run.problems()
    theta = run.theta("last", like=problem)
    trajectory = None
    if window is not None:
        steps = run.param_steps()[-int(window) :]
        trajectory = run.thetas(steps, like=problem)
    return problem, theta, trajectory


class _Defence:
    """Shared plumbing: fitting on task A (directly or from an ``anchor`` run folder), moving the
    fitted state to the trained Problem's device and dtype, checking the parameter count."""

    name: str
    window: int | None = None  # snapshots of task A's trajectory needed (PCA only)

    def __init__(
        self,
        *,
        anchor: str | None,
        params: Sequence[str] | str | None,
        max_samples: int | None,
        seed: int,
    ):
        if max_samples is not None and max_samples < 1:
            raise ValueError(f"max_samples must be a positive int or None, got {max_samples}")
        self.anchor = anchor
        self.params = params
        self.max_samples = max_samples
        self.seed = int(seed)

    # subclasses: compute the fitted state from task A
    def _fit(self, problem: Problem, theta: torch.Tensor, trajectory) -> None:
        raise NotImplementedError

    def _indices(self, problem: Problem):
        from landscope.data import subset_indices

        return subset_indices(problem.num_samples, self.max_samples, self.seed)

    @property
    def fitted(self) -> bool:
        return hasattr(self, "anchor_")

    def fit(
        self,
        problem: Problem,
        theta: torch.Tensor,
        trajectory: torch.Tensor | None = None,
    ):
        """Fit on task A: ``problem`` its training Problem, ``theta`` mu_A (p,), ``trajectory``
        its last snapshots (T, p) (PCA variant only).  Returns ``self``."""
        theta = problem.check_theta(theta).detach()
        if parameter_groups(problem.layout, self.params, per_layer=False)[0][1].numel() == 0:
            raise ValueError(f"{self.name}: params {self.params!r} select no parameters")
        self._fit(problem, theta, trajectory)
        self.anchor_ = theta.clone()
        return self

    def _fit_from_anchor(self, problem: Problem) -> None:
        if self.anchor is None:
            raise RuntimeError(
                f"{self.name} is not fitted: call .fit(problem_A, mu_A) before training, or give "
                "anchor=<run folder of task A>"
            )
        problem_a, theta, trajectory = task_from_run(self.anchor, window=self.window)
        if problem_a.num_params != problem.num_params:
            raise ValueError(
                f"{self.name}: the anchor run {self.anchor} has {problem_a.num_params} "
                f"parameters, the trained model {problem.num_params}"
            )
        self.fit(problem_a, theta, trajectory)

    def _ready(self, problem: Problem) -> None:
        """Fit from the anchor if needed; put the fitted state on ``problem``'s device / dtype."""
        if not self.fitted:
            self._fit_from_anchor(problem)
        if self.anchor_.shape != (problem.num_params,):
            raise ValueError(
                f"{self.name} was fitted on {self.anchor_.numel()} parameters, the trained model "
                f"has {problem.num_params}"
            )
        self._move(problem.device, problem.dtype)

    def _move(self, device, dtype) -> None:
        self.anchor_ = self.anchor_.to(device=device, dtype=dtype)
        if getattr(self, "directions_", None) is not None:
            self.directions_ = self.directions_.to(device, dtype)

    def setup(self, ctx: PenaltyContext) -> None:
        """Called by the engine before task B's first step: fits from ``anchor`` if not fitted."""
        self._ready(ctx.problem)


class _ProjectionPenalty(_Defence):
    """``strength * ConservedDirections.quadratic(theta)``."""

    directions_: ConservedDirections

    def __init__(self, strength: float, **kwargs):
        if not strength >= 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        super().__init__(**kwargs)
        self.strength = float(strength)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError(f"{self.name} is not fitted (call .fit or let the engine set it up)")
        if self.strength == 0:
            return theta.new_zeros(())
        return self.strength * self.directions_.quadratic(theta)


@LOSS_PENALTIES.register("hessian_eigen")
class HessianEigenPenalty(_ProjectionPenalty):
    """Hessian eigenvector penalty ``lambda sum_i h_i ((w - mu_A) . h_i)^2`` (Haink eq. 3.11 /
    7.10): the top ``n_directions`` (N_lim) eigenpairs ``(h_i, h_i)`` of task A's training loss
    at ``mu_A``, with ``h_i > 0``, per layer block (``per_layer``) or of the whole selected
    network.  Its gradient is ``2 lambda sum_i h_i ((w - mu_A) . h_i) h_i``.

    Args:
        strength: lambda_cf >= 0 (thesis: 1000).
        n_directions: N_lim per block.
        per_layer: one eigenproblem per layer (the thesis' per-layer Hessians) or one for all
            selected parameters.
        params: layers / parameters to conserve (default: all of theta).
        anchor: run folder of task A, used when the engine sets up an unfitted penalty.
        max_samples: task A samples for the Hessian (seeded subset; default all).
        seed: seed of the sample subset and of Lanczos' start vector.
        name: the recorded series ``penalty.<name>``.

    >>> import torch
    >>> from landscope import Problem
    >>> x, y = torch.randn(20, 3, dtype=torch.float64), torch.randint(0, 2, (20,))
    >>> problem = Problem(torch.nn.Linear(3, 2).double(), "cross_entropy", (x, y))
    >>> mu = problem.theta_from_model()
    >>> pen = HessianEigenPenalty(strength=10.0, n_directions=3).fit(problem, mu)
    >>> float(pen(mu)), pen.directions_.n_directions <= 3
    (0.0, True)
    """

    def __init__(
        self,
        strength: float = 1000.0,
        n_directions: int = 20,
        per_layer: bool = True,
        params: Sequence[str] | str | None = None,
        anchor: str | None = None,
        max_samples: int | None = None,
        seed: int = 0,
        name: str = "hessian_eigen",
    ):
        if n_directions < 1:
            raise ValueError(f"n_directions must be >= 1, got {n_directions}")
        super().__init__(strength, anchor=anchor, params=params, max_samples=max_samples, seed=seed)
        self.n_directions, self.per_layer, self.name = int(n_directions), per_layer, name

    def _fit(self, problem, theta, trajectory) -> None:
        self.directions_ = hessian_directions(
            problem,
            theta,
            n_directions=self.n_directions,
            params=self.params,
            per_layer=self.per_layer,
            indices=self._indices(problem),
            seed=self.seed,
        )


@LOSS_PENALTIES.register("pca_flatness")
class PCAFlatnessPenalty(_ProjectionPenalty):
    """PCA penalty with flatness weights ``lambda sum_i F_i^-2 ((w - mu_A) . p_i)^2`` (Haink
    eq. 3.10, after Feng & Tu 2021): the top ``n_directions`` principal components ``p_i`` of
    the last ``window`` snapshots of task A's trajectory (default ``n_directions + 1``, the
    thesis' "N_lim + 1 time steps"), ``F_i`` the width of task A's loss valley along ``p_i`` at
    the level ``flatness_factor * L(mu_A)`` (:func:`~landscope.forgetting.flatness`).

    Args:
        strength, n_directions, per_layer, params, anchor, max_samples, seed, name: as
            :class:`HessianEigenPenalty` (``max_samples``: the samples the flatness is
            measured on).
        window: snapshots of the end of task A (``fit(..., trajectory=)`` gives them directly).
        flatness_factor: the loss-rise factor defining F_i.
    """

    def __init__(
        self,
        strength: float = 1000.0,
        n_directions: int = 20,
        window: int | None = None,
        per_layer: bool = True,
        params: Sequence[str] | str | None = None,
        flatness_factor: float = 2.0,
        anchor: str | None = None,
        max_samples: int | None = None,
        seed: int = 0,
        name: str = "pca_flatness",
    ):
        if n_directions < 1:
            raise ValueError(f"n_directions must be >= 1, got {n_directions}")
        if not flatness_factor > 1:
            raise ValueError(f"flatness_factor must be > 1, got {flatness_factor}")
        super().__init__(strength, anchor=anchor, params=params, max_samples=max_samples, seed=seed)
        self.n_directions, self.per_layer, self.name = int(n_directions), per_layer, name
        self.window = int(window) if window is not None else self.n_directions + 1
        self.flatness_factor = float(flatness_factor)

    def _fit(self, problem, theta, trajectory) -> None:
        if trajectory is None:
            raise ValueError(
                f"{self.name}: fit needs trajectory= (the last snapshots of task A, shape (T, p))"
            )
        self.directions_ = pca_directions(
            problem,
            theta,
            trajectory,
            n_directions=self.n_directions,
            params=self.params,
            per_layer=self.per_layer,
            flatness_factor=self.flatness_factor,
            indices=self._indices(problem),
        )


@LOSS_PENALTIES.register("singular_value")
class SingularValuePenalty(_ProjectionPenalty):
    """Singular-value penalty ``lambda sum_i nu_i ((w - mu_A) . W~_i / ||W~_i||)^2`` (Haink
    eq. 7.11) over each weight matrix's singular values outside the Marchenko-Pastur bulk
    (``n_singular="outliers"``) or its ``n_singular`` largest, plus, for every bias (and other
    vector parameter), ``lambda sum_i h_i ((w - mu_A) . h_i)^2`` over the top ``bias_fraction``
    of its own Hessian's eigenpairs (the thesis conserves 20 %).  See
    :func:`~landscope.forgetting.singular_directions`.

    Args:
        strength: lambda_sv >= 0 (thesis: 1000).
        n_singular: ``"outliers"`` or an int.
        bias_fraction: share of each bias block's eigenvalues conserved.
        conv: reshape of conv kernels (:data:`landscope.spectra.CONV_RESHAPES`).
        params, anchor, max_samples, seed, name: as :class:`HessianEigenPenalty`.
    """

    def __init__(
        self,
        strength: float = 1000.0,
        n_singular: int | str = "outliers",
        bias_fraction: float = 0.2,
        params: Sequence[str] | str | None = None,
        conv: str = "thesis",
        anchor: str | None = None,
        max_samples: int | None = None,
        seed: int = 0,
        name: str = "singular_value",
    ):
        super().__init__(strength, anchor=anchor, params=params, max_samples=max_samples, seed=seed)
        self.n_singular, self.bias_fraction, self.conv, self.name = (
            n_singular,
            float(bias_fraction),
            conv,
            name,
        )

    def _fit(self, problem, theta, trajectory) -> None:
        self.directions_ = singular_directions(
            problem,
            theta,
            n_singular=self.n_singular,
            params=self.params,
            bias_fraction=self.bias_fraction,
            conv=self.conv,
            indices=self._indices(problem),
        )


@LOSS_PENALTIES.register("ewc")
class EWCPenalty(_Defence):
    """Elastic weight consolidation ``lambda / 2 sum_j F_jj (w_j - mu_A,j)^2`` (Kirkpatrick et
    al. 2017) with ``F_jj = (1/n) sum_n (d f_n / d w_j)^2`` the diagonal of the empirical Fisher
    of task A's per-sample losses at mu_A (:func:`~landscope.forgetting.fisher_diagonal`; not
    the squared minibatch-mean gradient some libraries use).  Its gradient is
    ``lambda F_jj (w_j - mu_A,j)``; entries outside ``params`` have ``F_jj = 0``.

    Args:
        strength: lambda >= 0.
        params, anchor, max_samples, seed, name: as :class:`HessianEigenPenalty`.
    """

    fisher_: torch.Tensor

    def __init__(
        self,
        strength: float = 1000.0,
        params: Sequence[str] | str | None = None,
        anchor: str | None = None,
        max_samples: int | None = None,
        seed: int = 0,
        name: str = "ewc",
    ):
        if not strength >= 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        super().__init__(anchor=anchor, params=params, max_samples=max_samples, seed=seed)
        self.strength, self.name = float(strength), name

    def _fit(self, problem, theta, trajectory) -> None:
        fisher = fisher_diagonal(problem, theta, indices=self._indices(problem))
        (_, index), *_ = parameter_groups(problem.layout, self.params, per_layer=False)
        mask = torch.zeros_like(fisher)
        mask[index.to(fisher.device)] = 1
        self.fisher_ = fisher * mask

    def _move(self, device, dtype) -> None:
        super()._move(device, dtype)
        self.fisher_ = self.fisher_.to(device=device, dtype=dtype)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError(f"{self.name} is not fitted (call .fit or let the engine set it up)")
        if self.strength == 0:
            return theta.new_zeros(())
        delta = theta - self.anchor_
        return 0.5 * self.strength * (self.fisher_ * delta * delta).sum()


@UPDATE_TRANSFORMS.register("gradient_constraint")
class GradientConstraint(_Defence):
    """The gradient constraint of Haink eq. 7.12 on each optimizer update ``v``:
    ``v~ = v - gamma sum_i (c_i / c_1) (v . d_i) d_i`` with ``d_i`` the unit singular matrices
    ``W~_i / ||W~_i||`` and ``c_i = nu_i`` outside the Marchenko-Pastur bulk plus the bias
    blocks' Hessian eigenvectors (``directions="singular"``, the thesis' variant), or the top
    Hessian eigenpairs (``"hessian"``, ``c_i = h_i``), or flatness-weighted principal components
    (``"pca"``).  ``c_1`` is the largest weight of the direction's block (its weight matrix,
    bias or layer), so each block's top direction is removed fully at ``gamma = 1``;
    ``weighting="uniform"`` removes every conserved component fully (then the applied update is
    orthogonal to all conserved directions).  ``gamma = 0`` returns the update unchanged.

    The engine's :class:`~landscope.plugins.UpdateContext` carries no set-up hook: an unfitted
    constraint fits itself from ``anchor`` at its first call.

    Args:
        gamma: constraint strength in [0, 1].
        directions: one of :data:`DIRECTION_SOURCES`.
        weighting: ``"relative"`` (c_i / c_1) or ``"uniform"``.
        n_directions, per_layer: for ``"hessian"`` / ``"pca"`` (as the penalties).
        n_singular, bias_fraction, conv: for ``"singular"`` (as :class:`SingularValuePenalty`).
        params, anchor, max_samples, seed: as :class:`HessianEigenPenalty`.
    """

    directions_: ConservedDirections
    name = "gradient_constraint"

    def __init__(
        self,
        gamma: float = 1.0,
        directions: str = "singular",
        weighting: str = "relative",
        n_directions: int = 20,
        per_layer: bool = True,
        n_singular: int | str = "outliers",
        bias_fraction: float = 0.2,
        conv: str = "thesis",
        params: Sequence[str] | str | None = None,
        anchor: str | None = None,
        max_samples: int | None = None,
        seed: int = 0,
    ):
        if not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if directions not in DIRECTION_SOURCES:
            raise ValueError(f"directions must be one of {DIRECTION_SOURCES}, got {directions!r}")
        if weighting not in ("relative", "uniform"):
            raise ValueError(f"weighting must be 'relative' or 'uniform', got {weighting!r}")
        super().__init__(anchor=anchor, params=params, max_samples=max_samples, seed=seed)
        self.gamma, self.directions, self.weighting = float(gamma), directions, weighting
        self.n_directions, self.per_layer = int(n_directions), per_layer
        self.n_singular, self.bias_fraction, self.conv = n_singular, float(bias_fraction), conv
        self.window = self.n_directions + 1 if directions == "pca" else None

    def _fit(self, problem, theta, trajectory) -> None:
        indices = self._indices(problem)
        if self.directions == "singular":
            self.directions_ = singular_directions(
                problem,
                theta,
                n_singular=self.n_singular,
                params=self.params,
                bias_fraction=self.bias_fraction,
                conv=self.conv,
                indices=indices,
            )
        elif self.directions == "hessian":
            self.directions_ = hessian_directions(
                problem,
                theta,
                n_directions=self.n_directions,
                params=self.params,
                per_layer=self.per_layer,
                indices=indices,
                seed=self.seed,
            )
        else:
            if trajectory is None:
                raise ValueError("directions='pca' needs fit(..., trajectory=) or an anchor run")
            self.directions_ = pca_directions(
                problem,
                theta,
                trajectory,
                n_directions=self.n_directions,
                params=self.params,
                per_layer=self.per_layer,
                indices=indices,
            )

    def __call__(self, ctx: UpdateContext) -> torch.Tensor:
        if self.gamma == 0:
            return ctx.update
        if not self.fitted or self.anchor_.device != ctx.update.device:
            self._ready(ctx.problem)
        elif self.anchor_.dtype != ctx.update.dtype:
            self._move(ctx.update.device, ctx.update.dtype)
        return self.directions_.constrain(ctx.update, self.gamma, self.weighting)

    def describe(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "directions": self.directions, "weighting": self.weighting}
