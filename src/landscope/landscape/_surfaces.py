"""2-D cost surfaces (Goodfellow, Vinyals & Saxe 2015, App. C and D; Li et al. 2018).

A surface is a map from grid coordinates ``(a, b)`` to parameter vectors; the loss is
evaluated at every grid cell in batches (see :mod:`._evaluate`).  Two kinds:

- :class:`Plane`: a true 2-D affine subspace ``origin + a dir1 + b dir2``, or, when it has an
  ``end``, ``(1 - a) origin + a end + b dir2`` so that ``a = 1, b = 0`` is ``end`` exactly.
  Constructors: :func:`alpha_beta_plane`, :func:`random_plane` (Fig. 21), :func:`alpha_random_plane`
  (Fig. 22), :func:`pca_plane`.
- :class:`AlphaBetaSurface`: the paper's own App. C construction, "multiple 1-D subspaces
  rotated to be parallel" -- each column a goes through the trajectory point theta(t) whose
  alpha(t) is nearest, along its own residual direction; the trajectory lies exactly on it.

Each surface knows the part of its coordinates worth drawing (``extent``) and makes the default
grid from it (:meth:`Plane.default_grid`), so callers pass a grid only to override it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from landscope.landscape._directions import (
    Exclude,
    Normalization,
    OneDimRule,
    orthogonalize,
    pca_directions,
    random_direction,
)
from landscope.landscape._evaluate import (
    Evaluation,
    GridStore,
    RowBuffer,
    affine_rows,
    check_grid,
    check_vector,
    evaluate_cells,
    fingerprint,
    problem_signature,
    selected_indices,
)
from landscope.landscape._results import SurfaceResult
from landscope.problem import ParameterLayout, Problem
from landscope.trajectory import as_trajectory

__all__ = [
    "AlphaBetaSurface",
    "Plane",
    "alpha_beta_plane",
    "alpha_beta_surface",
    "alpha_random_plane",
    "evaluate_surface",
    "pca_plane",
    "random_plane",
    "surface",
]


@dataclass
class Plane:
    """A 2-D affine plane of parameter space with coordinates (a, b).

    ``point(a, b) = origin + a dir1 + b dir2``; with ``end`` given,
    ``point(a, b) = (1 - a) origin + a end + b dir2`` (then ``dir1 = end - origin``), which
    makes ``(0, 0)`` and ``(1, 0)`` reproduce ``origin`` and ``end`` bitwise.

    Attributes:
        origin, dir1, dir2: (p,) tensors.
        end: optional (p,) second endpoint of the first axis.
        name: what the plane is (stored in results).
        info: extra facts (e.g. the explained variance of PCA directions).
        extent: ``((a_min, a_max), (b_min, b_max))``, the coordinates :meth:`default_grid`
            covers; each constructor sets the range its plane is drawn on.  ``None``:
            ``a`` in [-0.25, 1.25] with an ``end`` (the segment and a quarter beyond each
            end) or [-1, 1] without, ``b`` in [-1, 1].
    """

    origin: torch.Tensor
    dir1: torch.Tensor | None
    dir2: torch.Tensor
    end: torch.Tensor | None = None
    name: str = "plane"
    info: dict = field(default_factory=dict)
    extent: tuple[tuple[float, float], tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if self.dir1 is None and self.end is None:
            raise ValueError("a Plane needs dir1, or end (then dir1 = end - origin)")
        self.origin = check_vector("origin", self.origin)
        self.dir2 = check_vector("dir2", self.dir2)
        if self.end is not None:
            self.end = check_vector("end", self.end)
            if self.end.shape != self.origin.shape:
                raise ValueError(
                    f"end must have shape {tuple(self.origin.shape)}, got {tuple(self.end.shape)}"
                )
            self.dir1 = self.end - self.origin
        self.dir1 = check_vector("dir1", self.dir1)
        for name in ("dir1", "dir2"):
            if getattr(self, name).shape != self.origin.shape:
                raise ValueError(
                    f"{name} must have shape {tuple(self.origin.shape)}, got {tuple(getattr(self, name).shape)}"
                )
        if float(self.dir1.double().norm()) == 0 or float(self.dir2.double().norm()) == 0:
            raise ValueError("the plane's directions must be non-zero")

    @property
    def num_params(self) -> int:
        return int(self.origin.shape[0])

    def default_grid(self, num: int = 51) -> tuple[np.ndarray, np.ndarray]:
        """``(alphas, betas)``: ``num`` evenly spaced coordinates over each range of
        :attr:`extent` (the grid :func:`evaluate_surface` uses when given none)."""
        if self.extent is not None:
            extent = self.extent
        else:
            extent = ((-0.25, 1.25) if self.end is not None else (-1.0, 1.0), (-1.0, 1.0))
        return _grid_over(extent, num)

    def points(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Parameter vectors at coordinates ``(a[k], b[k])``: shape (m, p), written into
        ``out`` if given.  Elementwise (see :func:`affine_rows`), so a point is the same
        whichever batch it is computed in."""
        dtype = self.origin.dtype if dtype is None else dtype
        device = self.origin.device if device is None else device
        a, b = a.reshape(-1), b.reshape(-1)
        if self.end is not None:
            terms = [(1 - a, self.origin), (a, self.end), (b, self.dir2)]
        else:
            terms = [(torch.ones_like(a), self.origin), (a, self.dir1), (b, self.dir2)]
        return affine_rows(terms, dtype=dtype, device=device, out=out)

    def coordinates(self, thetas: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares coordinates (T, 2) of the rows of ``thetas`` in the plane (the
        orthogonal projection on the plane), and their distances (T,) from it; float64."""
        traj = as_trajectory(thetas).to(torch.float64)
        basis = torch.stack([self.dir1, self.dir2]).to(traj.device, torch.float64)
        diff = traj - self.origin.to(traj.device, torch.float64)
        gram = basis @ basis.T
        coords = torch.linalg.solve(gram, basis @ diff.T).T
        dist = (diff - coords @ basis).norm(dim=1)
        return coords.cpu().numpy(), dist.cpu().numpy()

    def fingerprint_parts(self) -> list:
        parts = [self.name, self.origin, self.dir1, self.dir2]
        return parts + ([self.end] if self.end is not None else [])

    def describe(self) -> dict:
        out = {
            "surface": self.name,
            "kind": "plane",
            "norm_dir1": float(self.dir1.double().norm()),
            "norm_dir2": float(self.dir2.double().norm()),
            "cosine_dir1_dir2": float(
                (self.dir1.double() @ self.dir2.double())
                / (self.dir1.double().norm() * self.dir2.double().norm())
            ),
            "has_end": self.end is not None,
            **self.info,
        }
        return out


class AlphaBetaSurface:
    """The (alpha, beta) cost surface of Goodfellow et al. (2015), App. C (Fig. 15-19).

    Coordinates: ``a`` = the fraction of the way from ``theta_i`` to ``theta_f`` (the
    interpolation coordinate; ``alpha(t) / ||theta_f - theta_i||`` of App. B) and ``b`` = the
    distance (parameter-norm units) along a residual direction.  Column ``a`` is the line through
    ``(1 - a) theta_i + a theta_f`` along ``v(t*) = r(t*) / beta(t*)``, the unit residual of the
    trajectory point ``t*`` whose ``alpha(t)`` is nearest to ``a`` (among points with
    ``beta(t) > 0``):  ``point(a, b) = (1 - a) theta_i + a theta_f + b v(t*)``.  This is the
    paper's "multiple 1-D subspaces rotated to be parallel to each other": not a plane, but each
    trajectory point lies on it at ``(alpha(t) / ||theta_f - theta_i||, beta(t))``.  Neighbouring
    columns can use quite different directions where beta(t) is small (near both ends, where the
    residual is dominated by the last steps' noise), which shows as ridges along alpha; the
    smooth alternative is the true plane of :func:`alpha_beta_plane`.

    Args:
        theta_i, theta_f: (p,) initialization and solution.
        trajectory: (T, p) the recorded parameters (kept on its device, in its dtype).
    """

    name = "alpha_beta_ruled"

    def __init__(
        self, theta_i: torch.Tensor, theta_f: torch.Tensor, trajectory: torch.Tensor | np.ndarray
    ):
        traj = as_trajectory(trajectory)
        self.trajectory = traj
        self.theta_i = check_vector("theta_i", theta_i).to(traj.device)
        self.theta_f = check_vector("theta_f", theta_f).to(traj.device)
        p = traj.shape[1]
        if self.theta_i.shape != (p,) or self.theta_f.shape != (p,):
            raise ValueError(
                f"theta_i and theta_f must have shape ({p},) like the trajectory's rows"
            )
        d = (self.theta_f - self.theta_i).to(torch.float64)
        self.distance = float(d.norm())
        if self.distance == 0:
            raise ValueError("theta_f equals theta_i")
        self._u = d / self.distance
        diff = traj.to(torch.float64) - self.theta_i.to(torch.float64)
        alpha = diff @ self._u
        self.alpha_fraction = (alpha / self.distance).cpu()
        self.beta = (diff - alpha[:, None] * self._u).norm(dim=1).cpu()
        usable = self.beta > 1e-12 * max(float(self.beta.max()), 1e-300)
        if not bool(usable.any()):
            raise ValueError(
                "the trajectory never leaves the line theta_i -> theta_f: no residual direction"
            )
        self._usable = torch.nonzero(usable).reshape(-1)

    @property
    def num_params(self) -> int:
        return int(self.trajectory.shape[1])

    @property
    def extent(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The drawn coordinates: ``a`` in [-0.25, 1.25] (the segment theta_i -> theta_f and
        a quarter beyond each end), ``b`` in [-0.5, 1.5] x the trajectory's largest beta(t)."""
        beta_max = float(self.beta.max())
        return ((-0.25, 1.25), (-0.5 * beta_max, 1.5 * beta_max))

    def default_grid(self, num: int = 51) -> tuple[np.ndarray, np.ndarray]:
        """``(alphas, betas)``: ``num`` coordinates over each range of :attr:`extent`."""
        return _grid_over(self.extent, num)

    def nearest(self, a: torch.Tensor) -> torch.Tensor:
        """Index of the trajectory point whose alpha fraction is nearest to each ``a`` (first
        such point on ties), among points off the line."""
        cand = self.alpha_fraction[self._usable]
        gap = (a.double().cpu().reshape(-1, 1) - cand.reshape(1, -1)).abs()
        return self._usable[gap.argmin(dim=1)]

    def directions(self, rows: torch.Tensor) -> torch.Tensor:
        """Unit residual directions v(t) (float64) of the trajectory rows ``rows``: (m, p)."""
        rows = rows.to(self.trajectory.device)
        diff = self.trajectory[rows].to(torch.float64) - self.theta_i.to(torch.float64)
        alpha = diff @ self._u
        r = diff - alpha[:, None] * self._u
        return r / r.norm(dim=1, keepdim=True)

    def points(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(1 - a) theta_i + a theta_f + b v(t*(a))``: shape (m, p) (into ``out`` if given)."""
        dtype = self.theta_i.dtype if dtype is None else dtype
        device = self.theta_i.device if device is None else device
        a, b = a.reshape(-1), b.reshape(-1)
        v = self.directions(self.nearest(a))
        terms = [(1 - a, self.theta_i), (a, self.theta_f), (b, v)]
        return affine_rows(terms, dtype=dtype, device=device, out=out)

    def coordinates(
        self, thetas: torch.Tensor | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(alpha fraction, beta) of the rows of ``thetas`` (default: the trajectory), and their
        distances from the surface (0 for the trajectory's own points, up to rounding)."""
        if thetas is None:
            coords = torch.stack([self.alpha_fraction, self.beta], dim=1).numpy()
        else:
            traj = as_trajectory(thetas).to(self.trajectory.device, torch.float64)
            diff = traj - self.theta_i.to(torch.float64)
            alpha = diff @ self._u
            beta = (diff - alpha[:, None] * self._u).norm(dim=1)
            coords = torch.stack([alpha / self.distance, beta], dim=1).cpu().numpy()
        a, b = torch.from_numpy(coords[:, 0]), torch.from_numpy(coords[:, 1])
        on = self.points(a, b, dtype=torch.float64)
        ref = self.trajectory if thetas is None else as_trajectory(thetas)
        dist = (on - ref.to(on.device, torch.float64)).norm(dim=1).cpu().numpy()
        return coords, dist

    def fingerprint_parts(self) -> list:
        return [self.name, self.theta_i, self.theta_f, self.trajectory]

    def describe(self) -> dict:
        return {
            "surface": self.name,
            "kind": "ruled",
            "distance": self.distance,
            "max_beta": float(self.beta.max()),
            "num_trajectory_points": int(self.trajectory.shape[0]),
        }


Surface = Plane | AlphaBetaSurface


def _grid_over(
    extent: tuple[tuple[float, float], tuple[float, float]], num: int
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(num, bool) or int(num) != num or num < 1:
        raise ValueError(f"num must be a positive integer, got {num!r}")
    (a0, a1), (b0, b1) = extent
    return np.linspace(a0, a1, int(num)), np.linspace(b0, b1, int(num))


# --- constructors --------------------------------------------------------------------------------


def alpha_beta_surface(
    theta_i: torch.Tensor, theta_f: torch.Tensor, trajectory: torch.Tensor | np.ndarray
) -> AlphaBetaSurface:
    """The paper's App. C (alpha, beta) surface; see :class:`AlphaBetaSurface`."""
    return AlphaBetaSurface(theta_i, theta_f, trajectory)


def alpha_beta_plane(
    theta_i: torch.Tensor,
    theta_f: torch.Tensor,
    trajectory: torch.Tensor | np.ndarray,
    *,
    which: Literal["max", "mean"] = "max",
) -> Plane:
    """The true plane spanned by the line ``theta_i -> theta_f`` and one residual direction.

    ``point(a, b) = (1 - a) theta_i + a theta_f + b v`` with ``v`` the unit residual
    (Goodfellow et al. App. B) of the trajectory point farthest from the line (``which="max"``)
    or the normalized mean of the unit residuals (``"mean"``).  ``v ⟂ theta_f - theta_i``.
    Unlike :class:`AlphaBetaSurface` this is a linear 2-D subspace; the trajectory is drawn at
    its orthogonal projection (:meth:`Plane.coordinates`).
    """
    if which not in ("max", "mean"):
        raise ValueError(f"which must be 'max' or 'mean', got {which!r}")
    ruled = AlphaBetaSurface(theta_i, theta_f, trajectory)
    if which == "max":
        v = ruled.directions(torch.argmax(ruled.beta).reshape(1))[0]
    else:
        v = ruled.directions(ruled._usable).mean(dim=0)
    v = orthogonalize(v, [ruled._u])
    v = v / v.norm()
    dtype = ruled.theta_i.dtype
    return Plane(
        ruled.theta_i,
        None,
        v.to(dtype),
        end=ruled.theta_f,
        name=f"alpha_beta_plane_{which}",
        info={"distance": ruled.distance, "max_beta": float(ruled.beta.max())},
        extent=ruled.extent,
    )


def random_plane(
    center: torch.Tensor,
    *,
    seed: int = 0,
    layout: ParameterLayout | None = None,
    normalization: Normalization = None,
    one_dim: OneDimRule = "zero",
    exclude: Exclude = None,
    norm: float | None = None,
    orthogonal: bool | None = None,
) -> Plane:
    """A random 2-D plane through ``center`` (Goodfellow et al. App. D, Fig. 21; with
    ``normalization="filter"`` the plot of Li et al. 2018).

    Two random directions from seeds ``(seed, seed + 1)`` (see :func:`random_direction` for
    ``layout``, ``normalization``, ``one_dim``, ``exclude``).  ``orthogonal`` (default: true for
    unnormalized directions, false for normalized ones, whose filter norms orthogonalization
    would change) makes the second orthogonal to the first.  Each direction is finally rescaled
    to ``norm`` if given; unnormalized directions default to unit norm, so the coordinates are
    parameter-norm units.  Drawn on ``[-1, 1]^2`` by default (one ``norm`` each way).
    """
    kw = dict(layout=layout, normalization=normalization, one_dim=one_dim, exclude=exclude)
    d1 = random_direction(center, seed=seed, **kw)
    d2 = random_direction(center, seed=seed + 1, **kw)
    if orthogonal is None:
        orthogonal = normalization is None
    if orthogonal:
        d2 = orthogonalize(d2, [d1])
    if norm is None and normalization is None:
        norm = 1.0
    if norm is not None:
        d1 = d1 * (norm / d1.norm())
        d2 = d2 * (norm / d2.norm())
    name = "random_plane" if normalization is None else f"random_plane_{normalization}"
    return Plane(
        center,
        d1,
        d2,
        name=name,
        info={
            "seed": seed,
            "normalization": normalization,
            "one_dim": one_dim,
            "orthogonal": bool(orthogonal),
        },
        extent=((-1.0, 1.0), (-1.0, 1.0)),
    )


def alpha_random_plane(
    theta_i: torch.Tensor,
    theta_f: torch.Tensor,
    *,
    seed: int = 0,
    layout: ParameterLayout | None = None,
    normalization: Normalization = None,
    one_dim: OneDimRule = "zero",
    exclude: Exclude = None,
) -> Plane:
    """The "alpha + random direction" control (Goodfellow et al. App. D, Fig. 22): the line
    ``theta_i -> theta_f`` as the first axis (fraction units) and a random direction orthogonal
    to it, of unit norm, as the second (parameter-norm units).  Drawn by default on ``a`` in
    [-0.25, 1.25] and ``b`` within half the distance ``||theta_f - theta_i||`` each way."""
    theta_i, theta_f = check_vector("theta_i", theta_i), check_vector("theta_f", theta_f)
    r = random_direction(
        theta_f,
        seed=seed,
        layout=layout,
        normalization=normalization,
        one_dim=one_dim,
        exclude=exclude,
    )
    r = orthogonalize(r, [theta_f - theta_i])
    r = r / r.norm()
    distance = float((theta_f - theta_i).double().norm())
    return Plane(
        theta_i,
        None,
        r,
        end=theta_f,
        name="alpha_random_plane",
        info={"seed": seed, "normalization": normalization, "distance": distance},
        extent=((-0.25, 1.25), (-0.5 * distance, 0.5 * distance)),
    )


def pca_plane(
    trajectory: torch.Tensor | np.ndarray,
    *,
    origin: torch.Tensor | None = None,
) -> Plane:
    """The plane of the top-2 principal directions of the trajectory (Li et al. 2018, sec. 7),
    through ``origin`` (default: the last row, the solution).  Directions have unit norm
    (coordinates in parameter-norm units); ``info["explained_variance_ratio"]`` says how much of
    the trajectory's variance the plane holds.  Drawn by default on ``[-s, s]^2`` with ``s`` =
    1.25 x the largest coordinate of the trajectory's projection on the plane."""
    traj = as_trajectory(trajectory)
    comps, ratio, _ = pca_directions(traj, 2)
    origin = traj[-1] if origin is None else check_vector("origin", origin)
    dtype = traj.dtype
    plane = Plane(
        origin.to(traj.device),
        comps[0].to(dtype),
        comps[1].to(dtype),
        name="pca_plane",
        info={"explained_variance_ratio": ratio.tolist()},
    )
    coords, _ = plane.coordinates(traj)
    span = float(abs(coords).max()) * 1.25
    plane.extent = ((-span, span), (-span, span))
    return plane


# --- evaluation ----------------------------------------------------------------------------------


def evaluate_surface(
    problem: Problem,
    spec: Surface,
    alphas: np.ndarray | torch.Tensor | None = None,
    betas: np.ndarray | torch.Tensor | None = None,
    *,
    test_problem: Problem | None = None,
    trajectory: torch.Tensor | np.ndarray | None = None,
    evaluation: Evaluation | None = None,
    store: str | Path | None = None,
    overwrite: bool = False,
) -> SurfaceResult:
    """Loss (and accuracy) on the grid ``alphas x betas`` of a :class:`Plane` or
    :class:`AlphaBetaSurface` (Goodfellow et al. App. C, D).

    Args:
        problem: the training loss; ``test_problem``: also evaluate this one.
        spec: the surface.
        alphas, betas: (A,), (B,) grid coordinates; ``values[m][i, j]`` is at
            ``(alphas[i], betas[j])``.  Either left out: that axis of ``spec.default_grid()``
            (51 points over the surface's ``extent``).
        trajectory: (T, p) parameters to draw on the surface: their coordinates
            (orthogonal projection for a plane, (alpha, beta) for the ruled surface) and the
            metrics at those surface points are stored in the result.
        evaluation: on which samples and how the points are evaluated (subset, BatchNorm,
            batching, progress bar, flush interval): an :class:`Evaluation`, default
            ``Evaluation()``.
        store: folder of a resumable grid (see :class:`GridStore`): finished cells are flushed
            every ``evaluation.flush_seconds`` and on interruption; calling again with the same
            inputs continues; other inputs are refused unless ``overwrite``.
    """
    evaluation = Evaluation() if evaluation is None else evaluation
    if not isinstance(spec, Plane | AlphaBetaSurface):
        raise TypeError(f"spec must be a Plane or an AlphaBetaSurface, got {type(spec).__name__}")
    if spec.num_params != problem.num_params:
        raise ValueError(
            f"the surface lives in R^{spec.num_params}, the problem has {problem.num_params} parameters"
        )
    if alphas is None or betas is None:
        default_alphas, default_betas = spec.default_grid()
        alphas = default_alphas if alphas is None else alphas
        betas = default_betas if betas is None else betas
    a_grid, b_grid = check_grid("alphas", alphas), check_grid("betas", betas)
    evaluators = evaluation.evaluators(problem, test_problem)
    bn, seed = evaluation.bn, evaluation.seed
    shape = (a_grid.size, b_grid.size)
    a_t = torch.as_tensor(a_grid, dtype=torch.float64)
    b_t = torch.as_tensor(b_grid, dtype=torch.float64)

    buffer = RowBuffer()

    def points(cells: np.ndarray) -> torch.Tensor:
        i, j = np.divmod(cells, shape[1])
        return spec.points(
            a_t[torch.as_tensor(i)],
            b_t[torch.as_tensor(j)],
            dtype=problem.dtype,
            device=problem.device,
            out=buffer.get(len(cells), problem.num_params, problem.dtype, problem.device),
        )

    meta = {**spec.describe(), "indices": selected_indices(evaluators), "seed": seed, "bn": bn}
    grid_store = None
    if store is not None:
        metrics = [
            f"{s}_{m}"
            for s, ev in evaluators.items()
            for m in (("loss", "accuracy") if ev.classification else ("loss",))
        ]
        key = fingerprint(
            *spec.fingerprint_parts(),
            a_grid,
            b_grid,
            meta["indices"],
            bn,
            {s: problem_signature(ev.problem) for s, ev in evaluators.items()},
        )
        grid_store = GridStore(
            store,
            shape,
            metrics,
            key,
            {"alphas": a_grid, "betas": b_grid, **meta},
            overwrite=overwrite,
        )
    start = time.perf_counter()
    done_before = 0 if grid_store is None else grid_store.num_done
    values = evaluate_cells(
        evaluators,
        points,
        shape,
        store=grid_store,
        progress=evaluation.progress,
        flush_seconds=evaluation.flush_seconds,
        description=spec.name,
        exact_cells=_anchor_cells(spec, a_grid, b_grid),
    )
    seconds = time.perf_counter() - start
    evaluated = a_grid.size * b_grid.size - done_before
    meta.update(
        {
            "seconds": seconds,
            "points_evaluated": int(evaluated),
            "seconds_per_point": seconds / evaluated if evaluated else None,
            "batch_points": min(ev._batch_points or 0 for ev in evaluators.values()) or None,
        }
    )

    coords, tvalues = None, {}
    if trajectory is not None:
        traj = as_trajectory(trajectory)
        coords, dist = spec.coordinates(traj)
        meta["trajectory_max_distance_from_surface"] = float(dist.max())
        on_surface = spec.points(
            torch.from_numpy(coords[:, 0]),
            torch.from_numpy(coords[:, 1]),
            dtype=problem.dtype,
            device=problem.device,
        )
        for split, evaluator in evaluators.items():
            loss, correct = evaluator(on_surface)
            tvalues[f"{split}_loss"] = loss.cpu().numpy()
            if correct is not None:
                tvalues[f"{split}_accuracy"] = (correct / evaluator.num_selected).cpu().numpy()
    return SurfaceResult(a_grid, b_grid, values, coords, tvalues, meta)


def _anchor_cells(spec: Surface, a_grid: np.ndarray, b_grid: np.ndarray) -> np.ndarray:
    """Flat indices of the cells at the surface's anchor points: (0, 0) (the origin) and, when
    the first axis ends at a point (``end``, or theta_f of the ruled surface), (1, 0)."""
    anchors = [0.0, 1.0] if isinstance(spec, AlphaBetaSurface) or spec.end is not None else [0.0]
    ii = np.flatnonzero(np.isin(a_grid, anchors))
    jj = np.flatnonzero(b_grid == 0.0)
    return (ii[:, None] * b_grid.size + jj[None, :]).reshape(-1)


def surface(
    problem: Problem,
    origin: torch.Tensor,
    dir1: torch.Tensor | None,
    dir2: torch.Tensor,
    alphas: np.ndarray | torch.Tensor | None = None,
    betas: np.ndarray | torch.Tensor | None = None,
    *,
    end: torch.Tensor | None = None,
    **kwargs,
) -> SurfaceResult:
    """Loss on the plane ``origin + a dir1 + b dir2`` (or ``(1 - a) origin + a end + b dir2``
    with ``end``) over the grid ``alphas x betas``; the other keyword arguments
    (``test_problem``, ``trajectory``, ``evaluation``, ``store``, ``overwrite``) as in
    :func:`evaluate_surface`.

    >>> import torch
    >>> from landscope import Problem
    >>> model = torch.nn.Linear(2, 1, bias=False).double()
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> problem = Problem(model, "mse", (x, torch.zeros(2, 1, dtype=torch.float64)))
    >>> e1, e2 = torch.eye(2, dtype=torch.float64)
    >>> res = surface(problem, torch.zeros(2, dtype=torch.float64), e1, e2, [0.0, 1.0], [0.0, 2.0])
    >>> res["train_loss"].tolist()  # (a^2 + b^2) / 2
    [[0.0, 2.0], [0.5, 2.5]]
    """
    origin = check_vector("origin", origin, problem.num_params)
    if end is None:
        if dir1 is None:
            raise ValueError("give dir1, or end (then dir1 = end - origin)")
        dir1 = check_vector("dir1", dir1, problem.num_params)
    else:
        end = check_vector("end", end, problem.num_params)
    dir2 = check_vector("dir2", dir2, problem.num_params)
    return evaluate_surface(problem, Plane(origin, dir1, dir2, end=end), alphas, betas, **kwargs)
