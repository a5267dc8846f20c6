"""Goodfellow, Vinyals & Saxe (2015), Fig. 1 (maxout on MNIST: the linear interpolation experiment
and the learning curve) and the (alpha, beta) surface of Fig. 18 with the zoom of Fig. 19.

Offline: the zoo's ``maxout_mlp`` (two layers of 240 units x 5 pieces, as Goodfellow et al. 2013)
on the 8x8 digits, SGD with momentum, *without* dropout and adversarial training -- Fig. 1's bottom
row ("the previous best maxout network, without adversarial training").  Fig. 18/19 show the
adversarially trained net; adversarial training is not implemented here, so our Fig. 18/19 are
of the plainly trained net and the paper's "narrow canyon" is not expected (and not checked).

Checks: along init -> solution the cost has no local minimum before the solution and no barrier;
"the vast majority of learning happens in the first few epochs" (most of the loss decrease in the
first quarter of training); the trajectory lies on the (alpha, beta) surface.

Run:  python experiments/goodfellow/fig01_18_19_maxout.py [--quick]
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    MLP_CONFIG,
    LoadedRun,
    check,
    figure_path,
    parser,
    thinned_trajectory,
    train_or_reuse,
)

from landscope.landscape import alpha_beta_surface, evaluate_surface, interpolate, local_minima
from landscope.plotting import plot_interpolation, plot_surface


def maxout_config(data: str, quick: bool) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in MLP_CONFIG.items()}
    cfg.update(
        name=f"goodfellow_{data}_maxout",
        seed=0,
        data={"name": data},
        model={"name": "maxout_mlp", "options": {"widths": [240, 240], "pieces": 5}},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9},
    )
    if quick:
        cfg["model"] = {"name": "maxout_mlp", "options": {"widths": [64, 64], "pieces": 3}}
        cfg["training"] = {"batch_size": 64, "steps": 400}
        cfg["record"] = {"params": {"every": 2}, "eval": {"every": 20}, "flush_every": 200}
    else:
        cfg["record"] = {"params": {"every": 5}, "eval": {"every": 25}, "flush_every": 500}
    return cfg


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    cfg = maxout_config(args.data, args.quick)
    folder = train_or_reuse(cfg, args)
    run = LoadedRun(folder, dtype="float32")

    # Fig. 1 right: the learning curve; most of the decrease early
    steps = run.run.steps("train_loss")
    loss = np.asarray(run.run.read("train_loss"), dtype=float).ravel()
    quarter = loss[steps <= steps[-1] // 4][-1]
    share = (loss[0] - quarter) / (loss[0] - loss[-1])
    check(
        share > 0.8,
        f"Fig. 1: most learning happens early ({share:.0%} of the loss decrease in the first quarter)",
    )

    # Fig. 1 left: interpolation init -> solution
    alphas = np.round(np.linspace(-0.5, 1.5, 41 if args.quick else 81), 10)
    line = interpolate(
        run.train, run.theta_i, run.theta_f, alphas, test_problem=run.test, label="maxout"
    )
    plot_interpolation(
        line, title=f"Fig. 1: maxout MLP ({args.data})", path=figure_path(args, "fig01_maxout_line")
    )
    line.save(figure_path(args, "fig01_maxout_line").with_suffix(""))
    a, j = line.alphas, line["train_loss"]
    inside = (a >= 0) & (a <= 1)
    minima = a[inside][local_minima(j[inside], rtol=1e-4)]
    best = a[inside][np.argmin(j[inside])]
    check(
        len(minima) <= 1 and best >= 0.8,
        f"Fig. 1: no local minimum along init -> solution before the line's minimum near the solution (minima {minima.tolist()})",
    )
    check(
        j[inside].max() <= j[a == 0][0] * (1 + 1e-6),
        "Fig. 1: no barrier between initialization and solution",
    )

    # Fig. 18 / 19: (alpha, beta) surface, and a zoom near the end of learning
    n = 21 if args.quick else 41
    traj = thinned_trajectory(run)
    ruled = alpha_beta_surface(run.theta_i, run.theta_f, traj)
    bmax = float(ruled.beta.max())
    distance = float((run.theta_f - run.theta_i).double().norm())
    for name, a_range, b_range in (
        ("fig18_maxout_surface", (-0.25, 1.25), (-0.5 * bmax, 1.5 * bmax)),
        ("fig19_maxout_zoom", (0.8, 1.05), (-0.1 * bmax, 0.3 * bmax)),
    ):
        # Draw only the trajectory points inside the window (the zoom's axes follow the drawn
        # trajectory); they are points of the trajectory that defines the surface, so they lie on it.
        inside = (
            (ruled.alpha_fraction >= a_range[0])
            & (ruled.alpha_fraction <= a_range[1])
            & (ruled.beta >= b_range[0])
            & (ruled.beta <= b_range[1])
        )
        surf = evaluate_surface(
            run.train,
            ruled,
            np.linspace(*a_range, n),
            np.linspace(*b_range, n),
            trajectory=traj[inside.to(traj.device)],
        )
        gap = surf.meta["trajectory_max_distance_from_surface"]
        check(
            gap < 1e-3 * distance,
            f"{name}: the trajectory lies on the (alpha, beta) surface ({gap:.1e})",
        )
        plot_surface(
            surf,
            log=True,
            title=f"{name.split('_')[0].replace('fig', 'Fig. ')}: maxout (no adversarial training)",
            path=figure_path(args, name),
        )
        surf.save(figure_path(args, name).with_suffix(""))
    print(f"done in {time.perf_counter() - t0:.1f} s; figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
