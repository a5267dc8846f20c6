"""Goodfellow, Vinyals & Saxe (2015), sec. 3: linear interpolation experiments on fully
connected networks (here the 8x8 digits or MNIST-1D instead of MNIST).

- Fig. 2: J((1 - a) theta_i + a theta_f), train and test loss and error, sigmoid and ReLU MLPs.
- Fig. 3: the same curves on one log-scale axis.
- Fig. 4: high-resolution tilings of [0, 1], [0, 0.01] and [0.99, 1] (ReLU, no dropout).
- Fig. 5: between two solutions of different seeds (a barrier), and from a random point of
  large norm to a solution (no minimum but the solution).

Checks the paper's claims: along init -> solution the train loss has no local minimum inside
[0, 1] but the solution (up to float noise), none appears at high resolution, two solutions are
separated by a barrier, the random-point line meets no minimum before the solution.

Run:  python experiments/goodfellow/fig02_05_interpolation.py [--quick] [--data mnist1d]
"""

from __future__ import annotations

import time

import numpy as np
from _common import LoadedRun, check, figure_path, interior_minima, parser, trained_run

from landscope.landscape import (
    barrier_height,
    high_resolution_interpolations,
    interpolate,
    random_point,
)
from landscope.plotting import plot_interpolation


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    num = 21 if args.quick else 81
    alphas = np.round(np.linspace(-0.5, 1.5, num), 10)  # holds 0 and 1 exactly

    # Fig. 2 and 3: init -> solution for sigmoid and ReLU networks
    curves = {}
    for activation in ("sigmoid", "relu"):
        run = LoadedRun(trained_run(activation, 0, args))
        res = interpolate(
            run.train, run.theta_i, run.theta_f, alphas, test_problem=run.test, label=activation
        )
        res.save(figure_path(args, f"fig02_{activation}").with_suffix(""))
        plot_interpolation(
            res,
            title=f"Fig. 2: {activation} MLP, init -> solution ({args.data})",
            path=figure_path(args, f"fig02_{activation}"),
        )
        curves[activation] = res
        minima = interior_minima(res.alphas, res["train_loss"], 0.0, 1.0)
        check(
            list(minima) == [1.0] or (len(minima) == 0),
            f"{activation}: the train loss along init -> solution has no local minimum in [0, 1) "
            f"(minima at {minima.tolist()})",
        )
        check(
            res["train_loss"][alphas == 1.0][0] < 0.1 * res["train_loss"][alphas == 0.0][0],
            f"{activation}: the solution's loss is far below the initialization's",
        )
    plot_interpolation(
        curves,
        logy=True,
        title="Fig. 3: interpolation, log scale",
        path=figure_path(args, "fig03_log"),
    )

    # Fig. 4: high resolution (ReLU)
    run = LoadedRun(trained_run("relu", 0, args))
    tiles = high_resolution_interpolations(
        run.train, run.theta_i, run.theta_f, num=50 if args.quick else 200
    )
    for name, res in tiles.items():
        lo, hi = res.alphas[0], res.alphas[-1]
        plot_interpolation(
            res,
            splits=("train",),
            title=f"Fig. 4: alpha in [{lo}, {hi}] ({len(res.alphas)} points)",
            path=figure_path(args, f"fig04_{name}"),
        )
        minima = interior_minima(res.alphas, res["train_loss"], lo, hi, rtol=1e-6)
        check(
            all(m == hi for m in minima),
            f"high resolution [{lo}, {hi}]: no local minimum but at the end (minima at {minima.tolist()})",
        )

    # Fig. 5 left: two solutions (seeds 0 and 1)
    other = LoadedRun(trained_run("relu", 1, args))
    between = interpolate(
        run.train,
        run.theta_f,
        other.theta_f,
        np.round(np.linspace(-0.25, 1.25, 31 if args.quick else 121), 10),
        test_problem=run.test,
        label="solution (seed 0) -> solution (seed 1)",
    )
    height = barrier_height(between)
    plot_interpolation(
        between,
        title="Fig. 5 left: between two solutions",
        path=figure_path(args, "fig05_two_solutions"),
    )
    check(
        height > 0.1,
        f"two solutions are separated by a barrier (height {height:.3f} above the chord)",
    )

    # Fig. 5 right: a random point of large norm -> a solution
    start = random_point(run.theta_f, seed=0, scale=3.0)
    rand = interpolate(
        run.train,
        start,
        run.theta_f,
        np.round(np.linspace(0, 1.25, 26 if args.quick else 101), 10),
        test_problem=run.test,
        label="random point -> solution",
    )
    plot_interpolation(
        rand,
        logy=True,
        title="Fig. 5 right: random point -> solution",
        path=figure_path(args, "fig05_random"),
    )
    minima = interior_minima(rand.alphas, rand["train_loss"], 0.0, 1.0)
    check(
        len(minima) == 0 or list(minima) == [1.0],
        f"random point -> solution meets no local minimum before the solution (minima at {minima.tolist()})",
    )
    print(f"done in {time.perf_counter() - t0:.1f} s; figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
