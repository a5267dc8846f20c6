"""Goodfellow, Vinyals & Saxe (2015), Fig. 8 and 16: the linear interpolation experiment and the
(alpha, beta) cost surface of an LSTM.

The paper trains a dropout LSTM (Zaremba et al. 2014) on Penn Treebank.  Offline we train the
zoo's ``lstm`` (embedding 16, one layer of 32 cells, p = 6,762) on ``markov_sequences``: the next
token after 12 tokens of a random order-2 Markov chain over 10 tokens (its Bayes loss is stored
in the dataset's meta), with SGD + momentum via the landscope training engine.

Checks the paper's reading: along the line from initialization to solution there is no
difficult structure -- a single minimum on [0, 1], near the solution, and no barrier (the cost never rises
above its value at the initialization inside [0, 1]).  Fig. 16: "qualitatively the same as that
of the deep factored linear model" -- checked as for Fig. 15: along the line the cost has negative
curvature near the initialization (0 < alpha <= 0.3) and positive curvature near the solution
(0.8 <= alpha <= 1); and the trajectory lies on the (alpha, beta) surface.

Run:  python experiments/goodfellow/fig08_16_lstm.py [--quick]
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    LoadedRun,
    check,
    curvature_near_ends,
    figure_path,
    interior_minima,
    parser,
    thinned_trajectory,
    train_or_reuse,
)

import landscope
from landscope.landscape import alpha_beta_surface, evaluate_surface, interpolate
from landscope.plotting import plot_interpolation, plot_surface


def lstm_config(quick: bool) -> dict:
    return {
        "name": "goodfellow_lstm_markov",
        "seed": 0,
        "dtype": "float32",
        "data": {"name": "markov_sequences"},
        "model": {"name": "lstm", "options": {"embed": 16, "hidden": 32}},
        "init": {"weight": "glorot_uniform", "bias": "zeros"},
        "loss": "cross_entropy",
        "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9},
        "training": {"batch_size": 32, "steps": 600 if quick else 3000, "threads": 1},
        "record": {"params": {"every": 5}, "eval": {"every": 50}, "flush_every": 500},
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    cfg = lstm_config(args.quick)
    folder = train_or_reuse(cfg, args)
    run = LoadedRun(folder, dtype="float64")
    bayes = landscope.data.load_dataset("markov_sequences").meta["bayes_loss"]
    final = run.train.loss(run.theta_f).item()
    start = run.train.loss(run.theta_i).item()
    print(
        f"train loss {start:.3f} -> {final:.3f} (Bayes loss of the chain {bayes:.3f}, uniform {np.log(10):.3f})"
    )
    check(
        final < 0.6 * start, "the LSTM learns the task (train loss below 60% of its initial value)"
    )

    alphas = np.round(np.linspace(-0.5, 1.5, 41 if args.quick else 81), 10)
    line = interpolate(
        run.train, run.theta_i, run.theta_f, alphas, test_problem=run.test, label="init -> solution"
    )
    plot_interpolation(
        line, title="Fig. 8: LSTM on Markov sequences", path=figure_path(args, "fig08_lstm_line")
    )
    line.save(figure_path(args, "fig08_lstm_line").with_suffix(""))
    a, j = line.alphas, line["train_loss"]
    minima = interior_minima(a, j, 0.0, 1.0)
    inside = (a >= 0) & (a <= 1)
    best = a[inside][np.argmin(j[inside])]
    # The last SGD (momentum) iterate need not be the minimum along the line: it sits a little
    # up the valley wall, so the line's minimum may be just before alpha = 1.  "No difficult
    # structure" means: a single minimum on [0, 1], near the solution.
    check(
        len(minima) <= 1 and (len(minima) == 0 or minima[0] == best) and best >= 0.8,
        f"Fig. 8: one minimum along init -> solution on [0, 1], near the solution (at alpha = "
        f"{best:.2f}; J = {j[inside].min():.4f} vs {j[a == 1][0]:.4f} at alpha = 1)",
    )
    check(
        j[inside].max() <= j[a == 0][0] * (1 + 1e-6),
        f"Fig. 8: no barrier: the cost on [0, 1] never exceeds its initial value ({j[inside].max():.4f} <= {j[a == 0][0]:.4f})",
    )
    # Fig. 16's "same structure as the deep factored linear model" (Fig. 15): a saddle-like
    # start (concave along the line) and a convex basin at the solution.  Second differences on
    # the alpha grid (step 0.05 or 0.025); the sign is what is checked, no tolerance.
    near_init, near_sol = curvature_near_ends(a, j)
    check(
        near_init.min() < 0 and near_sol.min() > 0,
        f"Fig. 16: the factored linear model's structure along the line: negative curvature near "
        f"the initialization (min d2J/da2 = {near_init.min():.3g}), positive near the solution "
        f"(min {near_sol.min():.3g})",
    )

    n = 21 if args.quick else 41
    traj = thinned_trajectory(run)
    ruled = alpha_beta_surface(run.theta_i, run.theta_f, traj)
    beta_max = float(ruled.beta.max())
    surf = evaluate_surface(
        run.train,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        trajectory=traj,
    )
    distance = float((run.theta_f - run.theta_i).norm())
    gap = surf.meta["trajectory_max_distance_from_surface"]
    check(
        gap < 1e-6 * distance,
        f"Fig. 16: the trajectory lies on the (alpha, beta) surface (distance {gap:.1e})",
    )
    plot_surface(
        surf,
        log=True,
        title="Fig. 16: LSTM (alpha, beta) surface",
        path=figure_path(args, "fig16_lstm_surface"),
    )
    surf.save(figure_path(args, "fig16_lstm_surface").with_suffix(""))
    print(f"done in {time.perf_counter() - t0:.1f} s; figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
