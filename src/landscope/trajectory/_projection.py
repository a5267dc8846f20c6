"""Projection of a trajectory on the line from initialization to solution (Goodfellow et al.
2015, App. B, Fig. 11-13), and the random-walk control of Fig. 11."""

from __future__ import annotations

import numpy as np
import torch

from landscope.trajectory._results import TrajectoryProjection

__all__ = [
    "as_trajectory",
    "project_trajectory",
    "projection_residuals",
    "random_walk",
    "random_walk_control",
]

_BLOCK_ROWS = 256


def as_trajectory(trajectory: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A (T, p) trajectory as a floating tensor (NumPy arrays are wrapped without a copy)."""
    if isinstance(trajectory, np.ndarray):
        trajectory = torch.from_numpy(trajectory)
    if not isinstance(trajectory, torch.Tensor):
        raise TypeError(
            f"trajectory must be a (T, p) tensor or array, got {type(trajectory).__name__}"
        )
    if trajectory.ndim != 2 or trajectory.shape[0] < 1:
        raise ValueError(
            f"trajectory must have shape (T, p) with T >= 1, got {tuple(trajectory.shape)}"
        )
    if not trajectory.is_floating_point():
        raise TypeError(f"trajectory must be floating point, got {trajectory.dtype}")
    return trajectory.detach()


def _endpoints(
    trajectory: torch.Tensor,
    theta_i: torch.Tensor | np.ndarray | None,
    theta_f: torch.Tensor | np.ndarray | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    p = trajectory.shape[1]
    out = []
    for name, value, default in (
        ("theta_i", theta_i, trajectory[0]),
        ("theta_f", theta_f, trajectory[-1]),
    ):
        value = default if value is None else torch.as_tensor(value)
        if value.shape != (p,):
            raise ValueError(
                f"{name} must have shape ({p},) like the trajectory's rows, got {tuple(value.shape)}"
            )
        out.append(value.detach().to(device=trajectory.device, dtype=torch.float64))
    if float((out[1] - out[0]).norm()) == 0.0:
        raise ValueError(
            "theta_f equals theta_i: the line from initialization to solution is undefined"
        )
    return out[0], out[1]


def projection_residuals(
    trajectory: torch.Tensor | np.ndarray,
    theta_i: torch.Tensor | np.ndarray | None = None,
    theta_f: torch.Tensor | np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``alpha(t)``, the residuals and the unit vector u (Goodfellow et al. App. B), in float64.

    ``u = (theta_f - theta_i) / ||theta_f - theta_i||``, ``alpha(t) = (theta(t) - theta_i)^T u``
    and ``r(t) = theta(t) - theta_i - alpha(t) u``, so that
    ``theta(t) = theta_i + alpha(t) u + r(t)`` and ``r(t) ⟂ u``.  ``theta_i`` / ``theta_f``
    default to the first / last row.

    Returns:
        ``(alpha (T,), residuals (T, p), u (p,))`` as float64 tensors on the trajectory's device.
    """
    traj = as_trajectory(trajectory)
    theta_i, theta_f = _endpoints(traj, theta_i, theta_f)
    d = theta_f - theta_i
    u = d / d.norm()
    diff = traj.to(torch.float64) - theta_i
    alpha = diff @ u
    return alpha, diff - alpha[:, None] * u, u


def project_trajectory(
    trajectory: torch.Tensor | np.ndarray,
    theta_i: torch.Tensor | np.ndarray | None = None,
    theta_f: torch.Tensor | np.ndarray | None = None,
    *,
    steps: np.ndarray | None = None,
    values: dict[str, np.ndarray] | None = None,
) -> TrajectoryProjection:
    """alpha(t), beta(t) and the residual-to-parameter norm ratio of a trajectory.

    Goodfellow et al. (2015), App. B: with ``u`` the unit vector from ``theta_i`` to
    ``theta_f``, ``alpha(t) = (theta(t) - theta_i)^T u`` and ``beta(t)`` is the norm of the
    residual ``theta(t) - theta_i - alpha(t) u``.  Fig. 13 plots beta against alpha and reads
    the ratio ``beta(t) / ||theta(t)||``.  Works block by block in float64 (memory: a block of
    rows), so long trajectories of big models fit.

    Args:
        trajectory: (T, p) parameters over time (rows in time order).
        theta_i, theta_f: the line's endpoints (default: the first and last rows; pass the
            early-stopping solution as ``theta_f`` to continue past it, as in Fig. 11).
        steps: (T,) step numbers of the rows (default 0..T-1).
        values: optional (T,) series stored with the result (e.g. the loss along the trajectory).

    >>> traj = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    >>> proj = project_trajectory(traj)
    >>> proj.alpha.tolist(), proj.beta.tolist()
    ([0.0, 1.0, 2.0], [0.0, 1.0, 0.0])
    """
    traj = as_trajectory(trajectory)
    t_i, t_f = _endpoints(traj, theta_i, theta_f)
    d = t_f - t_i
    distance = float(d.norm())
    u = d / distance
    alphas, betas, norms = [], [], []
    for start in range(0, traj.shape[0], _BLOCK_ROWS):
        block = traj[start : start + _BLOCK_ROWS].to(torch.float64)
        diff = block - t_i
        a = diff @ u
        alphas.append(a)
        betas.append((diff - a[:, None] * u).norm(dim=1))
        norms.append(block.norm(dim=1))
    num = traj.shape[0]
    steps = np.arange(num) if steps is None else np.asarray(steps)
    if steps.shape != (num,):
        raise ValueError(f"steps must have shape ({num},), got {steps.shape}")
    series = {}
    for name, v in (values or {}).items():
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (num,):
            raise ValueError(f"values[{name!r}] must have shape ({num},), got {v.shape}")
        series[name] = v
    return TrajectoryProjection(
        steps=steps,
        alpha=torch.cat(alphas).cpu().numpy(),
        beta=torch.cat(betas).cpu().numpy(),
        param_norm=torch.cat(norms).cpu().numpy(),
        distance=distance,
        values=series,
    )


def random_walk(
    num_steps: int,
    dim: int,
    *,
    seed: int = 0,
    step_norms: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """A Gaussian random walk: (num_steps + 1, dim) positions starting at ``start`` (default 0).

    Each step adds an independent sample of N(0, I_dim) (Goodfellow et al. Fig. 11); with
    ``step_norms`` (num_steps,), each step is rescaled to that norm (a control matched to a
    trajectory's step lengths).  Uses ``numpy.random.default_rng(seed)``.

    >>> random_walk(3, 2, seed=0).shape
    (4, 2)
    """
    if num_steps < 1 or dim < 1:
        raise ValueError(f"num_steps and dim must be positive, got {num_steps} and {dim}")
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal((num_steps, dim))
    if step_norms is not None:
        step_norms = np.asarray(step_norms, dtype=np.float64)
        if step_norms.shape != (num_steps,):
            raise ValueError(f"step_norms must have shape ({num_steps},), got {step_norms.shape}")
        steps *= (step_norms / np.linalg.norm(steps, axis=1))[:, None]
    walk = np.zeros((num_steps + 1, dim))
    np.cumsum(steps, axis=0, out=walk[1:])
    if start is not None:
        start = np.asarray(start, dtype=np.float64)
        if start.shape != (dim,):
            raise ValueError(f"start must have shape ({dim},), got {start.shape}")
        walk += start
    return walk


def random_walk_control(
    trajectory: torch.Tensor | np.ndarray | None = None,
    *,
    num_steps: int = 1000,
    dim: int | None = None,
    solution_step: int | None = None,
    seed: int = 0,
) -> TrajectoryProjection:
    """The random-walk control of Goodfellow et al. Fig. 11, projected like a trajectory.

    Without ``trajectory``: a walk of ``num_steps`` unit-covariance Gaussian steps in ``dim``
    dimensions, with step ``solution_step`` (default: 90% of the walk, as the paper's 900 of
    1,000) taken as the "solution" theta_f and the walk continued past it.  With
    ``trajectory`` (T, p): a walk with the same dimension, number of steps and step norms,
    starting at the trajectory's first row, the solution at the same row index (default: the
    last).  Either way the result shows how high dimension alone shapes the alpha-beta curve.
    """
    if trajectory is not None:
        traj = as_trajectory(trajectory).to(torch.float64)
        if traj.shape[0] < 2:
            raise ValueError("the trajectory needs at least 2 rows")
        step_norms = (traj[1:] - traj[:-1]).norm(dim=1).cpu().numpy()
        num_steps, dim = traj.shape[0] - 1, traj.shape[1]
        walk = random_walk(
            num_steps, dim, seed=seed, step_norms=step_norms, start=traj[0].cpu().numpy()
        )
        solution = num_steps if solution_step is None else solution_step
    else:
        if dim is None:
            raise ValueError("give a trajectory or the walk's dimension dim")
        walk = random_walk(num_steps, dim, seed=seed)
        solution = round(0.9 * num_steps) if solution_step is None else solution_step
    if not 0 < solution <= num_steps:
        raise ValueError(f"solution_step must lie in (0, {num_steps}], got {solution}")
    proj = project_trajectory(walk, walk[0], walk[solution])
    proj.meta.update(
        {"control": "random_walk", "seed": seed, "solution_step": solution, "dim": dim}
    )
    return proj
