"""Goodfellow, Vinyals & Saxe (2015), sec. 5 and Fig. 15: a deep factored linear model on
digits -- ten matrices multiplied together (nine square ones of the input size, 64 x 64 here,
and a last one to 10 outputs), trained with the mean squared error to one-hot targets -- and
its (alpha, beta) cost surface with the training trajectory.

Checks the paper's reading of Fig. 15: along the line from initialization to solution the cost
has negative curvature near the initialization and positive curvature near the solution, and
no local minimum in between.

Run:  python experiments/goodfellow/fig15_deep_linear_digits.py [--quick]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import check, curvature_near_ends, figure_path, interior_minima, parser

from landscope import Problem
from landscope.data import load_dataset
from landscope.landscape import (
    alpha_beta_surface,
    deep_linear_network,
    evaluate_surface,
    interpolate,
)
from landscope.plotting import plot_interpolation, plot_surface


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    ds = load_dataset("digits", seed=0)
    x, labels = ds.train.x.double(), ds.train.y
    targets = torch.nn.functional.one_hot(labels, 10).double()
    # small orthogonal matrices: the product starts near the saddle at 0 (0.7^10 ~ 0.03)
    net = deep_linear_network(
        [64] * 10 + [10], seed=0, init="orthogonal", gain=0.7, dtype=torch.float64
    )
    problem = Problem(net, "mse", (x, targets), task="regression", chunk_size=None)

    # full-batch gradient descent on theta (a local loop: the run is tiny and in memory)
    steps = 600 if args.quick else 3000
    lr, every = 2.0, 5
    theta = problem.theta_from_model()
    trajectory, losses = [theta.clone()], []
    for step in range(steps):
        loss, grad = problem.loss_and_gradient(theta)
        losses.append(float(loss))
        theta = theta - lr * grad
        if (step + 1) % every == 0:
            trajectory.append(theta.clone())
    trajectory = torch.stack(trajectory)
    final = problem.loss(theta).item()
    print(
        f"trained {steps} steps in {time.perf_counter() - t0:.1f} s: J {losses[0]:.4f} -> {final:.4f}"
    )
    check(final < 0.6 * losses[0], "gradient descent leaves the saddle region and reduces the cost")

    theta_i, theta_f = trajectory[0], trajectory[-1]
    alphas = np.round(np.linspace(-0.25, 1.25, 61), 10)
    line = interpolate(problem, theta_i, theta_f, alphas, label="init -> solution")
    plot_interpolation(
        line,
        title="Fig. 15 (line): deep linear net on digits",
        path=figure_path(args, "fig15_line"),
    )
    j, a = line["train_loss"], line.alphas
    near_init, near_sol = curvature_near_ends(a, j)
    check(
        near_init.min() < 0,
        f"negative curvature near the initialization (min d2J/da2 = {near_init.min():.3g})",
    )
    check(
        near_sol.min() > 0,
        f"positive curvature near the solution (min d2J/da2 = {near_sol.min():.3g})",
    )
    minima = interior_minima(a, j, 0.0, 1.0, rtol=0.0)
    check(
        list(minima) == [1.0],
        f"no local minimum between initialization and solution (minima at {minima.tolist()})",
    )

    n = 25 if args.quick else 51
    ruled = alpha_beta_surface(theta_i, theta_f, trajectory)
    beta_max = float(ruled.beta.max())
    surf = evaluate_surface(
        problem,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        trajectory=trajectory,
    )
    plot_surface(
        surf,
        log=True,
        title="Fig. 15: deep linear net (10 matrices) on digits, MSE",
        path=figure_path(args, "fig15_surface"),
    )
    surf.save(figure_path(args, "fig15_surface").with_suffix(""))
    print(f"done in {time.perf_counter() - t0:.1f} s; figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
