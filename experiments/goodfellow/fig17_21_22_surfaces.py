"""Goodfellow, Vinyals & Saxe (2015), App. C and D: 2-D cost surfaces with the SGD trajectory
drawn on them, and the control planes.

- Fig. 17: the (alpha, beta) surface of a ReLU MLP (the paper's construction: each column a is a
  line through the trajectory point with that alpha, along its residual direction).
- Fig. 21: a random 2-D plane through the solution: almost no variation of the cost.
- Fig. 22: alpha on one axis and a random direction on the other.
- Options users of Li et al. (2018) expect: a filter-normalized random plane and the plane of
  the trajectory's top-2 principal directions (with their explained variance).

Checks: the trajectory lies on the (alpha, beta) surface; the cost varies far less on the random
plane than on the (alpha, beta) surface over comparable distances (Fig. 21's point); the PCA
plane holds most of the trajectory's variance.

Run:  python experiments/goodfellow/fig17_21_22_surfaces.py [--quick] [--data mnist1d]
"""

from __future__ import annotations

import time

import numpy as np
from _common import LoadedRun, check, figure_path, parser, trained_run

from landscope.landscape import (
    Evaluation,
    alpha_beta_surface,
    alpha_random_plane,
    evaluate_surface,
    pca_plane,
    random_plane,
)
from landscope.plotting import plot_surface


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    n = 21 if args.quick else 51
    run = LoadedRun(trained_run("relu", 0, args), dtype="float32")
    every = max(1, len(run.steps) // 100)
    traj = run.trajectory[::every]
    if not bool((traj[-1] == run.theta_f).all()):
        traj = __import__("torch").cat([traj, run.theta_f[None]])
    kw = dict(
        test_problem=run.test,
        trajectory=traj,
        evaluation=Evaluation(subset=None if not args.quick else 1000, seed=0),
    )
    distance = float((run.theta_f - run.theta_i).double().norm())

    ruled = alpha_beta_surface(run.theta_i, run.theta_f, traj)
    beta_max = float(ruled.beta.max())
    ab = evaluate_surface(
        run.train,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        **kw,
    )
    check(
        ab.meta["trajectory_max_distance_from_surface"] < 1e-3 * distance,
        f"Fig. 17: the trajectory lies on the (alpha, beta) surface (distance {ab.meta['trajectory_max_distance_from_surface']:.1e})",
    )
    plot_surface(
        ab,
        log=True,
        title=f"Fig. 17: (alpha, beta) surface, ReLU MLP ({args.data})",
        path=figure_path(args, "fig17_alpha_beta"),
    )
    ab.save(figure_path(args, "fig17_alpha_beta").with_suffix(""))

    # Fig. 21: random plane through the solution, directions of the init-solution distance
    rp = random_plane(run.theta_f, seed=0, norm=distance)
    rand = evaluate_surface(
        run.train, rp, np.linspace(-0.5, 0.5, n), np.linspace(-0.5, 0.5, n), **kw
    )
    plot_surface(
        rand,
        log=True,
        title="Fig. 21: random plane through the solution",
        path=figure_path(args, "fig21_random_plane"),
    )
    # compare the spread of the loss over comparable regions: the (alpha, beta) surface from the
    # solution back to the half-way point vs the random plane out to half the distance
    span_ab = float(np.ptp(np.log10(ab["train_loss"][ab.alphas >= 0.5])))
    span_rand = float(np.ptp(np.log10(rand["train_loss"])))
    check(
        span_rand < span_ab,
        f"Fig. 21: the random plane shows less variation of log10 J ({span_rand:.2f}) than the (alpha, beta) surface ({span_ab:.2f})",
    )

    # Fig. 22: alpha and a random direction
    arp = alpha_random_plane(run.theta_i, run.theta_f, seed=1)
    ar = evaluate_surface(
        run.train,
        arp,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * distance, 0.5 * distance, n),
        **kw,
    )
    plot_surface(
        ar,
        log=True,
        title="Fig. 22: alpha x random direction",
        path=figure_path(args, "fig22_alpha_random"),
    )

    # Li et al. (2018): filter-normalized random plane; PCA plane of the trajectory
    fp = random_plane(
        run.theta_f, seed=2, layout=run.train.layout, normalization="filter", one_dim="zero"
    )
    filt = evaluate_surface(run.train, fp, np.linspace(-1, 1, n), np.linspace(-1, 1, n), **kw)
    plot_surface(
        filt,
        log=True,
        title="filter-normalized random plane (Li et al. 2018)",
        path=figure_path(args, "li_filter_plane"),
    )
    pp = pca_plane(traj)
    coords, _ = pp.coordinates(traj)
    span = 1.25 * float(np.abs(coords).max())
    pca = evaluate_surface(
        run.train, pp, np.linspace(-span, span, n), np.linspace(-span, span, n), **kw
    )
    ratio = pp.info["explained_variance_ratio"]
    plot_surface(
        pca,
        log=True,
        title=f"PCA plane, explained variance {ratio[0]:.2f} + {ratio[1]:.2f}",
        path=figure_path(args, "li_pca_plane"),
    )
    check(
        sum(ratio) > 0.5,
        f"the top-2 principal directions hold most of the trajectory's variance ({sum(ratio):.2f})",
    )
    per_point = [r.meta["seconds_per_point"] for r in (ab, rand, ar, filt, pca)]
    print("seconds per surface:", [round(r.meta["seconds"], 2) for r in (ab, rand, ar, filt, pca)])
    print(
        f"{5 * n * n} points, {1e3 * float(np.mean(per_point)):.2f} ms/point; done in {time.perf_counter() - t0:.1f} s"
    )
    print(f"figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
