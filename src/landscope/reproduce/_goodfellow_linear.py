"""``goodfellow-factored`` and ``goodfellow-deep-linear``: the deep linear models of Goodfellow,
Vinyals & Saxe (2015), sec. 5 and App. C (Fig. 9, 10, 14, 15).

Every verdict is computed through the generic library path: losses along lines and planes with
:func:`landscope.landscape.interpolate` / :func:`~landscope.landscape.surface` on a
:class:`~landscope.Problem`, gradient descent with :meth:`Problem.loss_and_gradient`, curvature with
:class:`landscope.curvature.HessianOperator`.  The closed forms of the factored model
(:mod:`landscope.landscape._linear`: loss, Hessian, interpolation, gradient descent) are only the
independent references the tests compare these with (``tests/test_reproduce_goodfellow.py``); no
verdict uses them, so a wrong operator or a wrong line evaluation changes the verdicts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from landscope.curvature import HessianOperator
from landscope.reproduce._goodfellow_checks import (
    barrier_check,
    curvature_signs_check,
    descent_check,
    flat_start_check,
    line_minima,
    minima_at_solutions_check,
    on_surface_check,
    one_minimum_check,
    random_starts_check,
    saddle_check,
    second_differences_near_ends,
    solution_curvature_check,
    solutions_connected_check,
)
from landscope.reproduce._goodfellow_common import add_figure, save_result
from landscope.reproduce._report import Report

__all__ = [
    "DEEP_LINEAR",
    "FACTORED",
    "deep_linear",
    "factored",
    "gradient_descent",
    "hessian_eigenvalues",
    "line_curvature",
]

#: The factored model's experiment (Fig. 9, 10, 14).  ``init_scale``: the small random
#: initialization ``init_scale * N(0, I_2)`` (seed ``init_seed``) gradient descent starts from;
#: ``pair``: two solutions on the same branch of ``w1 w2 = 1`` (Fig. 10 left: "on [a] connected
#: manifold of globally minimal values"); ``random_norm`` / ``random_seeds``: the seeded random
#: starts of large norm of Fig. 10 right (quick, full).
FACTORED: dict = {
    "init_scale": 0.01,
    "init_seed": 0,
    "lr": 0.1,
    "steps": 300,
    "pair": ((2.0, 0.5), (0.5, 2.0)),
    "random_norm": 4.0,
    "random_seeds": (8, 64),
    "surface_points": (41, 201),
}

#: Fig. 15: ten matrices (nine 64 x 64 and one 64 -> 10; the zoo's ``deep_linear`` with
#: ``depth=10``) on the digits, squared error to one-hot targets, full-batch gradient descent in
#: float64 from a small orthogonal initialization (gain 0.7: the product starts near the saddle
#: at 0, 0.7^10 ~ 0.03).  ``steps``: (quick, full).
DEEP_LINEAR: dict = {
    "depth": 10,
    "gain": 0.7,
    "seed": 0,
    "lr": 2.0,
    "steps": (600, 3000),
    "record_every": 5,
    "surface_points": (25, 51),
}


def hessian_eigenvalues(problem, theta: torch.Tensor) -> np.ndarray:
    """Eigenvalues (increasing) of the Hessian of ``problem``'s loss at ``theta``, from the
    generic operator (:class:`~landscope.curvature.HessianOperator`, densified)."""
    H = HessianOperator(problem, theta).to_dense()
    return torch.linalg.eigvalsh((H + H.T) / 2).cpu().numpy()


def line_curvature(problem, theta: torch.Tensor, direction: torch.Tensor) -> float:
    """``d^T H(theta) d``: the second derivative ``d2J/da2`` of the loss along
    ``theta + a d`` at ``a = 0``, one product of the generic Hessian operator."""
    H = HessianOperator(problem, theta)
    return float(direction @ (H @ direction[:, None])[:, 0])


def gradient_descent(problem, theta0: torch.Tensor, *, lr: float, steps: int, every: int = 1):
    """Full-batch gradient descent ``theta <- theta - lr grad J(theta)`` on a Problem
    (:meth:`Problem.loss_and_gradient`).  Returns the trajectory recorded every ``every`` steps,
    shape (steps // every + 1, p), and the losses before every step and at the end, shape
    (steps + 1,)."""
    theta = theta0.clone()
    trajectory, losses = [theta.clone()], []
    for step in range(steps):
        loss, grad = problem.loss_and_gradient(theta)
        losses.append(float(loss))
        theta = theta - lr * grad
        if (step + 1) % every == 0:
            trajectory.append(theta.clone())
    losses.append(float(problem.loss(theta)))
    return torch.stack(trajectory), np.asarray(losses)


def _refined_minimum(problem, a: torch.Tensor, b: torch.Tensor, alpha: float, h: float) -> float:
    """The loss at the minimum of the line near the grid minimum ``alpha`` (bounded Brent search
    on [alpha - h, alpha + h], each point evaluated by the Problem)."""
    from scipy.optimize import minimize_scalar

    def j(t: float) -> float:
        return float(problem.loss((1 - t) * a + t * b))

    res = minimize_scalar(
        j, bounds=(alpha - h, alpha + h), method="bounded", options={"xatol": 1e-13}
    )
    return min(float(res.fun), j(alpha))


def factored(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 9, 10, 14: the factored linear model ``y = w1 w2 x``, ``J = (1 - w1 w2)^2``."""
    from landscope.landscape import (
        barrier_height,
        factored_problem,
        interpolate,
        random_point,
        surface,
    )
    from landscope.plotting import plot_interpolation, plot_surface

    out = Path(out)
    t0 = time.perf_counter()
    cfg = FACTORED
    report = Report(
        "Goodfellow, Vinyals & Saxe (2015) Fig. 9, 10, 14: the factored linear model", out
    )
    report.results.update({"quick": quick, "settings": cfg})
    report.text(
        "The factored linear model y = w1 w2 x trained to output 1 at x = 1 with the squared "
        "error, J(w1, w2) = (1 - w1 w2)^2 (sec. 5), as a landscope Problem (the model zoo's "
        "factored_scalar).  Gradient descent (lr 0.1, 300 steps) starts from a small seeded "
        "random initialization; lines and the surface are evaluated by the generic landscape "
        "code, curvature by the generic Hessian operator (the closed forms are the tests' "
        "reference).  Fig. 10 left uses two solutions on the same branch of w1 w2 = 1, "
        f"{cfg['pair'][0]} and {cfg['pair'][1]}; Fig. 10 right seeded random starts of norm "
        f"{cfg['random_norm']:g}."
    )
    problem = factored_problem()
    f64 = {"dtype": torch.float64}
    alphas = np.round(np.linspace(-0.5, 1.5, 81), 10)

    # gradient descent from a small random initialization (the generic Problem's gradient)
    g = torch.Generator().manual_seed(cfg["init_seed"])
    init = cfg["init_scale"] * torch.randn(2, generator=g, **f64)
    traj, gd_losses = gradient_descent(problem, init, lr=cfg["lr"], steps=cfg["steps"])
    solution = traj[-1]

    # Fig. 9: init -> solution
    line = interpolate(problem, init, solution, alphas, label="init -> solution")
    checks = [
        flat_start_check(
            alphas,
            line["train_loss"],
            claim="flattening of the cost near the saddle at the origin",
            where="Fig. 9",
        ),
        one_minimum_check(
            alphas,
            line["train_loss"],
            claim="only one minimum along the line from a small random init to a solution",
            where="Fig. 9",
            lo=0.0,
            hi=1.5,
            rtol=0.0,
        ),
    ]
    add_figure(
        report,
        "fig09_factored.png",
        "Fig. 9: small random initialization -> the gradient-descent solution",
        plot_interpolation,
        line,
        title="Fig. 9: factored model, init -> solution",
    )

    # Fig. 10 left: two solutions on one branch of the hyperbola
    pa, pb = (torch.tensor(p, **f64) for p in cfg["pair"])
    two = interpolate(problem, pa, pb, alphas, label="solution -> solution (same branch)")
    w1_arc = np.geomspace(float(pa[0]), float(pb[0]), 51) * np.sign(float(pa[0]))
    arc = (
        np.array([float(problem.loss(torch.tensor([w, 1.0 / w], **f64))) for w in w1_arc])
        if np.sign(float(pa[0])) == np.sign(float(pb[0]))
        else None
    )
    checks += [
        solutions_connected_check(
            pa.tolist(),
            pb.tolist(),
            arc,
            claim="the two solutions lie on one connected manifold of global minima",
            where="Fig. 10 left, sec. 5",
        ),
        barrier_check(
            barrier_height(two),
            [
                float(two["train_loss"][alphas == 0.0][0]),
                float(two["train_loss"][alphas == 1.0][0]),
            ],
            claim="the straight line between them meets a barrier of higher cost",
            where="Fig. 10 left",
            minimum=0.01,
        ),
    ]

    # Fig. 10 right: seeded random points of large norm -> the solution
    n_starts = cfg["random_seeds"][0 if quick else 1]
    rand_alphas = np.linspace(0.0, 1.0, 101)
    clean, minima_losses, rand_lines, first_minimum = [], [], {}, []
    for seed in range(n_starts):
        start = random_point(solution, seed=seed, norm=cfg["random_norm"])
        res = interpolate(problem, start, solution, rand_alphas, label=f"random (seed {seed})")
        minima = line_minima(rand_alphas, res["train_loss"], 0.0, 1.0)
        clean.append(minima.tolist() == [1.0])
        first_minimum.append(float(minima[0]) if len(minima) else float("nan"))
        h = rand_alphas[1] - rand_alphas[0]
        minima_losses += [_refined_minimum(problem, start, solution, float(m), h) for m in minima]
        if seed < 4:
            rand_lines[f"random start (seed {seed})"] = res
    checks += [
        random_starts_check(
            clean,
            claim="a line from a random point of large norm (4) to the solution meets no "
            "minimum but the solution",
            where="Fig. 10 right",
            paper="no minimum but the solution (one random point)",
            what="the only strict local minimum on [0, 1] is alpha = 1",
            differs_because="{bad} of {n} lines cross the hyperbola w1 w2 = 1 before the "
            "solution: they meet another global minimum first (none meets a spurious one, "
            "next check)",
        ),
        minima_at_solutions_check(
            minima_losses,
            claim="every minimum met along those lines is a global minimum (J = 0)",
            where="sec. 5",
        ),
    ]
    report.results["fig10_right"] = {
        "starts": n_starts,
        "norm": cfg["random_norm"],
        "no_other_minimum": clean,
        "first_minimum_alpha": first_minimum,
        "refined_minima_losses": minima_losses,
    }
    add_figure(
        report,
        "fig10_left_factored.png",
        f"Fig. 10 left: between the solutions {cfg['pair'][0]} and {cfg['pair'][1]} on one "
        "branch of w1 w2 = 1",
        plot_interpolation,
        two,
        title="Fig. 10 left: two solutions, one branch of w1 w2 = 1",
    )
    add_figure(
        report,
        "fig10_right_factored.png",
        f"Fig. 10 right: from seeded random points of norm {cfg['random_norm']:g} to the "
        "solution (the first four starts)",
        plot_interpolation,
        rand_lines,
        logy=True,
        title="Fig. 10 right: random point -> solution",
    )

    # Fig. 14: the surface (1 - w1 w2)^2 with the gradient-descent path; curvature from the
    # generic Hessian operator at the origin, at the start and at the end of the path
    w = np.linspace(-2.0, 2.0, cfg["surface_points"][0 if quick else 1])
    e1, e2 = torch.eye(2, **f64)
    surf = surface(problem, torch.zeros(2, **f64), e1, e2, w, w, trajectory=traj)
    ev_origin = hessian_eigenvalues(problem, torch.zeros(2, **f64))
    ev_start, ev_end = hessian_eigenvalues(problem, traj[0]), hessian_eigenvalues(problem, traj[-1])
    checks += [
        saddle_check(ev_origin, claim="a saddle point at the origin", where="Fig. 14", tol=1e-3),
        solution_curvature_check(
            ev_start,
            ev_end,
            claim="the descent path meets negative curvature near its start and positive "
            "curvature near its end",
            where="Fig. 14",
            tol=1e-3,
        ),
        descent_check(
            gd_losses,
            claim="gradient descent from the small init reaches the hyperbola of solutions "
            "without meeting an obstacle",
            where="Fig. 14",
            final_tol=1e-8,
        ),
    ]
    add_figure(
        report,
        "fig14_factored.png",
        "Fig. 14: (1 - w1 w2)^2 and the gradient-descent path from the small random init",
        plot_surface,
        surf,
        labels=("w1", "w2"),
        clip=3.0,
        title="Fig. 14: (1 - w1 w2)^2 and the gradient-descent path",
    )
    report.checks(checks)
    report.results.update(
        {
            "init": init.tolist(),
            "solution": solution.tolist(),
            "gd_final_loss": float(gd_losses[-1]),
            "hessian_eigenvalues": {
                "origin": ev_origin.tolist(),
                "start": ev_start.tolist(),
                "end": ev_end.tolist(),
            },
            "barrier_same_branch": barrier_height(two),
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results


def deep_linear(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 15: a deep factored linear model (ten matrices) on the digits, squared error."""
    from landscope import Problem
    from landscope.data import load_dataset
    from landscope.landscape import alpha_beta_surface, evaluate_surface, interpolate
    from landscope.models import deep_linear as deep_linear_model
    from landscope.models import initialize
    from landscope.plotting import plot_interpolation, plot_surface

    out = Path(out)
    t0 = time.perf_counter()
    cfg = DEEP_LINEAR
    report = Report("Goodfellow, Vinyals & Saxe (2015) Fig. 15: a deep linear network", out)
    report.results.update({"quick": quick, "settings": cfg})
    report.text(
        "Fig. 15 on the 8x8 digits (MNIST offline): ten matrices multiplied together (nine 64 x 64, "
        "one 64 -> 10; the zoo's deep_linear), the squared error to one-hot targets, full-batch "
        "gradient descent (lr 2) in float64 from an orthogonal initialization of gain 0.7 (near "
        "the saddle at 0).  The curvature along the line init -> solution is u^T H u of the "
        "generic Hessian operator at both ends."
    )
    ds = load_dataset("digits", seed=0)
    x, labels = ds.train.x.double(), ds.train.y
    targets = torch.nn.functional.one_hot(labels, 10).double()
    model = deep_linear_model(ds.input_shape, 10, depth=cfg["depth"]).double()
    initialize(model, "orthogonal", seed=cfg["seed"], weight_params={"gain": cfg["gain"]})
    problem = Problem(model, "mse", (x, targets), task="regression", chunk_size=None)

    steps = cfg["steps"][0 if quick else 1]
    trajectory, losses = gradient_descent(
        problem,
        problem.theta_from_model(),
        lr=cfg["lr"],
        steps=steps,
        every=cfg["record_every"],
    )
    theta_i, theta_f = trajectory[0], trajectory[-1]
    seconds_training = time.perf_counter() - t0

    alphas = np.round(np.linspace(-0.25, 1.25, 61), 10)
    line = interpolate(problem, theta_i, theta_f, alphas, label="init -> solution")
    j = line["train_loss"]
    u = theta_f - theta_i
    at_init, at_solution = line_curvature(problem, theta_i, u), line_curvature(problem, theta_f, u)
    near_init, near_solution = second_differences_near_ends(alphas, j)
    checks = [
        curvature_signs_check(
            at_init,
            at_solution,
            claim="negative curvature near the initialization, positive near the solution",
            where="Fig. 15",
            how="d2J/da2 = u^T H u along the line u = theta_f - theta_i (Hessian operator) at "
            "alpha = 0 and alpha = 1",
        ),
        one_minimum_check(
            alphas,
            j,
            claim="no local minimum along the line but the solution (no obstacle)",
            where="Fig. 15",
            rtol=0.0,
        ),
    ]
    add_figure(
        report,
        "fig15_line.png",
        "Fig. 15 (the line): init -> solution",
        plot_interpolation,
        line,
        title="Fig. 15 (line): deep linear net on digits",
    )

    n = cfg["surface_points"][0 if quick else 1]
    ruled = alpha_beta_surface(theta_i, theta_f, trajectory)
    beta_max = float(ruled.beta.max())
    surf = evaluate_surface(
        problem,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        trajectory=trajectory,
    )
    checks.append(
        on_surface_check(
            surf.meta["trajectory_max_distance_from_surface"],
            float(u.norm()),
            claim="the gradient-descent trajectory lies on the (alpha, beta) surface",
            where="Fig. 15, App. C",
            rtol=1e-9,
        )
    )
    add_figure(
        report,
        "fig15_surface.png",
        "Fig. 15: the (alpha, beta) surface with the gradient-descent trajectory",
        plot_surface,
        surf,
        log=True,
        title="Fig. 15: deep linear net (10 matrices) on digits, MSE",
    )
    save_result(surf, out, "fig15_surface")
    report.checks(checks)
    report.results.update(
        {
            "num_params": problem.num_params,
            "steps": steps,
            "loss_initial": float(losses[0]),
            "loss_final": float(losses[-1]),
            "line_curvature": {"alpha0": at_init, "alpha1": at_solution},
            "second_differences": {
                "near_init_min": float(near_init.min()),
                "near_solution_min": float(near_solution.min()),
            },
            "seconds_training": seconds_training,
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results
