"""``goodfellow-projection`` and ``goodfellow-surfaces``: how far SGD strays from the line between
initialization and solution (Goodfellow, Vinyals & Saxe 2015, App. B: Fig. 11, 13), and the 2-D
cost surfaces with their controls (App. C, D: Fig. 17, 21, 22; the filter-normalized and PCA
planes of Li et al. 2018).

Both use the ReLU MLP of ``configs/goodfellow/relu_digits.yaml`` on the digits, opened through the
run service; projections come from :mod:`landscope.trajectory`, surfaces from
:func:`landscope.landscape.evaluate_surface`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from landscope.reproduce._goodfellow_checks import below_check, on_surface_check
from landscope.reproduce._goodfellow_common import (
    add_figure,
    goodfellow_config,
    save_result,
    thinned_trajectory,
    trained_run,
)
from landscope.reproduce._report import Report

__all__ = ["PROJECTION", "SURFACES", "projection", "random_walk_spread", "surfaces"]

#: (quick, full): the random walks' dimensions (Fig. 11: 1,000 steps, three seeds each).
PROJECTION: dict = {"dims": ((2, 10, 100, 1000), (2, 10, 100, 1000, 10000)), "seeds": 3}

#: (quick, full): grid points per axis of each surface, and the seeded subset of samples the
#: losses are evaluated on (None: all 1,438).
SURFACES: dict = {"points": (21, 51), "subset": (1000, None)}


def random_walk_spread(dims, *, seeds: int = 3, num_steps: int = 1000) -> dict[int, float]:
    """Fig. 11: for each dimension, the spread over ``seeds`` random walks of their curve
    beta / distance against alpha / distance (std over seeds at 50 points of the walk, averaged).
    Small spread: the dimension alone fixes the curve's shape."""
    from landscope.trajectory import random_walk_control

    spread = {}
    for dim in dims:
        shapes = []
        for seed in range(seeds):
            w = random_walk_control(num_steps=num_steps, dim=dim, seed=seed)
            shapes.append(
                np.interp(
                    np.linspace(0, 1, 50), np.linspace(0, 1, num_steps + 1), w.beta / w.distance
                )
            )
        spread[int(dim)] = float(np.std(np.stack(shapes), axis=0).mean())
    return spread


def projection(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """App. B, Fig. 11 (random walks of growing dimension) and Fig. 13 (alpha(t), beta(t) of an
    SGD run with a step-norm-matched random-walk control)."""
    from landscope.plotting import plot_trajectory_projection, save_figure
    from landscope.plotting._landscape import _figure
    from landscope.runs import Series
    from landscope.trajectory import (
        project_trajectory,
        projection_residuals,
        random_walk_control,
    )

    out = Path(out)
    t0 = time.perf_counter()
    report = Report(
        "Goodfellow, Vinyals & Saxe (2015) App. B, Fig. 11, 13: straying from the line", out
    )
    report.text(
        "alpha(t) is the projection of theta(t) - theta_i on the unit vector u towards theta_f, "
        "beta(t) the norm of the residual (App. B).  Fig. 11: Gaussian random walks of 1,000 "
        "steps with step 900 as the 'solution'.  Fig. 13: the ReLU MLP of goodfellow/relu_digits "
        "(the paper shows maxout), every recorded step, with a random walk of the same dimension "
        "and step norms as the control."
    )

    # Fig. 11: random walks of growing dimension
    dims = list(PROJECTION["dims"][0 if quick else 1])
    fig = _figure(figsize=(4 * len(dims), 3.4))
    for k, dim in enumerate(dims):
        ax = fig.add_subplot(1, len(dims), k + 1)
        for seed in range(PROJECTION["seeds"]):
            w = random_walk_control(num_steps=1000, dim=dim, seed=seed)
            ax.plot(w.alpha_fraction, w.beta / w.distance, lw=0.8)
        ax.set_title(f"dimension {dim}")
        ax.set_xlabel(r"$\alpha$ / distance")
        ax.set_ylabel(r"$\beta$ / distance")
    add_figure(
        report,
        "fig11_random_walks.png",
        "Fig. 11: random walks (1,000 steps, the 'solution' at step 900), three seeds each",
        save_figure,
        fig,
    )
    spread = random_walk_spread(dims, seeds=PROJECTION["seeds"])
    checks = [
        below_check(
            spread[dims[-1]] / spread[dims[0]],
            0.5,
            claim="the random walks' alpha-beta curves converge to one shape as the dimension "
            "grows",
            where="Fig. 11",
            paper="converges to a simple geometric shape",
            ours="seed spread " + ", ".join(f"{d}: {s:.3f}" for d, s in spread.items()),
            criterion=f"spread at dimension {dims[-1]} < 0.5 x spread at dimension {dims[0]}",
            differs_because="the curves of different seeds do not draw together",
        )
    ]

    # Fig. 13: an SGD trajectory
    run, seconds = trained_run(
        goodfellow_config("relu_digits", quick=quick), out, progress=progress
    )
    train, _ = run.problems(dtype="float64")
    steps = run.param_steps()
    traj = run.thetas(steps, like=train)
    alpha, resid, u = projection_residuals(traj)
    recon = traj[0] + alpha[:, None] * u + resid
    err = float((recon - traj).abs().max())
    losses = np.interp(steps, run.steps(Series.TRAIN_LOSS), np.ravel(run.read(Series.TRAIN_LOSS)))
    proj = project_trajectory(
        traj, steps=steps, values={"train_loss (interpolated from evals)": losses}
    )
    control = random_walk_control(traj, seed=0)
    add_figure(
        report,
        "fig13_projection.png",
        "Fig. 13: alpha(t) vs beta(t) of the ReLU MLP's SGD run, with a random walk of the same "
        "dimension and step norms",
        plot_trajectory_projection,
        proj,
        controls=[control],
        title="Fig. 13: ReLU MLP on digits",
    )
    save_result(proj, out, "fig13_projection")
    ends = float(max(abs(proj.beta[0]), abs(proj.beta[-1])))
    ratio = float(np.nanmax(proj.residual_ratio))
    ratio_walk = float(np.nanmax(control.residual_ratio))
    checks += [
        below_check(  # both errors in units of their tolerance
            max(err / 1e-12, ends / (1e-9 * proj.distance)),
            1.0,
            claim="theta(t) = theta_i + alpha(t) u + r(t), and SGD is on the line at both ends",
            where="App. B",
            paper="the decomposition; beta = 0 at theta_i and theta_f",
            ours=f"reconstruction error {err:.1g}; abs(beta) at the ends {ends:.1g}",
            criterion="max reconstruction error < 1e-12 and abs(beta) at the ends < 1e-9 x distance "
            "(float64)",
            differs_because="the projection does not reconstruct the trajectory",
        ),
        below_check(
            ratio,
            1 / 3,
            claim="the line captures at least 2/3 of the parameter norm at all times",
            where="App. B, Fig. 13",
            paper="at least 2/3 of norm(theta(t)) (maxout)",
            ours=f"max beta(t) / norm(theta(t)) = {ratio:.3f} (random-walk control {ratio_walk:.3f})",
            criterion="max_t beta(t) / norm(theta(t)) < 1/3 (the residual's share of the norm)",
            differs_because=f"the residual reaches {ratio:.0%} of the parameter norm",
        ),
    ]
    report.checks(checks)
    report.results.update(
        {
            "quick": quick,
            "seconds_training": seconds,
            "random_walk_spread": spread,
            "reconstruction_error": err,
            "max_residual_ratio": ratio,
            "max_residual_ratio_random_walk": ratio_walk,
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results


def surfaces(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """App. C, D: Fig. 17 ((alpha, beta) surface), 21 (random plane through the solution), 22
    (alpha x a random direction), and Li et al.'s filter-normalized and PCA planes."""
    from landscope.landscape import (
        Evaluation,
        alpha_beta_surface,
        alpha_random_plane,
        evaluate_surface,
        pca_plane,
        random_plane,
    )
    from landscope.plotting import plot_surface
    from landscope.trajectory import random_walk

    out = Path(out)
    t0 = time.perf_counter()
    report = Report("Goodfellow, Vinyals & Saxe (2015) App. C, D: cost surfaces and controls", out)
    report.text(
        "The ReLU MLP of goodfellow/relu_digits in float32 (quick: losses on a seeded subset of "
        "1,000 samples).  The (alpha, beta) surface is the paper's ruled surface (each column a "
        "line through the trajectory point with that alpha along its residual); the random "
        "planes use directions of the init-solution length.  Fig. 17 of the paper shows the "
        "adversarially trained ReLU net; ours is trained plainly."
    )
    n = SURFACES["points"][0 if quick else 1]
    run, seconds = trained_run(
        goodfellow_config("relu_digits", quick=quick), out, progress=progress
    )
    train, test = run.problems(dtype="float32")
    theta_i, theta_f = run.theta("init", like=train), run.theta("last", like=train)
    traj = thinned_trajectory(run, like=train)
    kw = {
        "test_problem": test,
        "trajectory": traj,
        "evaluation": Evaluation(subset=SURFACES["subset"][0 if quick else 1], seed=0),
    }
    distance = float((theta_f - theta_i).double().norm())

    # Fig. 17: the (alpha, beta) surface
    ruled = alpha_beta_surface(theta_i, theta_f, traj)
    beta_max = float(ruled.beta.max())
    ab = evaluate_surface(
        train,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        **kw,
    )
    save_result(ab, out, "fig17_alpha_beta")
    checks = [
        on_surface_check(
            ab.meta["trajectory_max_distance_from_surface"],
            distance,
            claim="Fig. 17: the SGD trajectory lies on the (alpha, beta) surface",
            where="Fig. 17, App. C",
            rtol=1e-3,
        )
    ]
    add_figure(
        report,
        "fig17_alpha_beta.png",
        "Fig. 17: the (alpha, beta) surface of the ReLU MLP with its SGD trajectory",
        plot_surface,
        ab,
        log=True,
        title="Fig. 17: (alpha, beta) surface, ReLU MLP (digits)",
    )

    # Fig. 21: a random plane through the solution, directions of the init-solution distance;
    # the spread of log10 J over it vs the (alpha, beta) surface from the half-way point to the
    # solution (comparable distances)
    rand = evaluate_surface(
        train,
        random_plane(theta_f, seed=0, norm=distance),
        np.linspace(-0.5, 0.5, n),
        np.linspace(-0.5, 0.5, n),
        **kw,
    )
    span_ab = float(np.ptp(np.log10(ab["train_loss"][ab.alphas >= 0.5])))
    span_rand = float(np.ptp(np.log10(rand["train_loss"])))
    checks.append(
        below_check(
            span_rand / span_ab,
            0.25,
            claim="Fig. 21: a random plane through the solution shows almost no variation of "
            "the cost (against the (alpha, beta) surface over a comparable distance)",
            where="Fig. 21, App. D",
            paper="essentially no variation",
            ours=f"spread of log10 J: {span_rand:.2f} on the random plane, {span_ab:.2f} on the "
            "(alpha, beta) surface (alpha >= 0.5)",
            criterion="random-plane spread < 1/4 of the (alpha, beta) surface's",
            differs_because="the random plane varies about as much as the (alpha, beta) surface",
        )
    )
    add_figure(
        report,
        "fig21_random_plane.png",
        "Fig. 21: a random plane through the solution (directions of the init-solution length)",
        plot_surface,
        rand,
        log=True,
        title="Fig. 21: random plane through the solution",
    )

    # Fig. 22: alpha and a random direction
    ar = evaluate_surface(
        train,
        alpha_random_plane(theta_i, theta_f, seed=1),
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * distance, 0.5 * distance, n),
        **kw,
    )
    j_ar = np.log10(ar["train_loss"])
    along_alpha = float(np.ptp(j_ar[:, n // 2]))  # beta = 0
    along_random = float(np.ptp(j_ar[np.argmin(np.abs(ar.alphas - 1.0)), :]))  # alpha = 1
    checks.append(
        below_check(
            along_random / along_alpha,
            0.25,
            claim="Fig. 22: the variation is due to the alpha axis, the random direction adds "
            "little",
            where="Fig. 22, App. D",
            paper="significant variation due to the first axis (alpha)",
            ours=f"spread of log10 J: {along_alpha:.2f} along alpha (beta = 0), "
            f"{along_random:.2f} along the random direction (alpha = 1)",
            criterion="spread along the random direction < 1/4 of that along alpha",
            differs_because="the random direction varies the cost as much as alpha",
        )
    )
    add_figure(
        report,
        "fig22_alpha_random.png",
        "Fig. 22: alpha x a random direction",
        plot_surface,
        ar,
        log=True,
        title="Fig. 22: alpha x random direction",
    )

    # Li et al. (2018): filter-normalized random plane; PCA plane of the trajectory
    filt = evaluate_surface(
        train,
        random_plane(theta_f, seed=2, layout=train.layout, normalization="filter", one_dim="zero"),
        np.linspace(-1, 1, n),
        np.linspace(-1, 1, n),
        **kw,
    )
    add_figure(
        report,
        "li_filter_plane.png",
        "Li et al. (2018): a filter-normalized random plane through the solution",
        plot_surface,
        filt,
        log=True,
        title="filter-normalized random plane (Li et al. 2018)",
    )
    pp = pca_plane(traj)
    coords, _ = pp.coordinates(traj)
    span = 1.25 * float(np.abs(coords).max())
    pca = evaluate_surface(
        train, pp, np.linspace(-span, span, n), np.linspace(-span, span, n), **kw
    )
    ratio = [float(r) for r in pp.info["explained_variance_ratio"]]
    # the control: a random walk of the same dimension, number of steps and step norms
    steps = (traj[1:] - traj[:-1]).double().norm(dim=1).cpu().numpy()
    walk = random_walk(
        len(steps), traj.shape[1], seed=0, step_norms=steps, start=traj[0].double().cpu().numpy()
    )
    ratio_walk = [float(r) for r in pca_plane(walk).info["explained_variance_ratio"]]
    checks.append(
        below_check(
            sum(ratio_walk) / sum(ratio),
            1.0,
            claim="the top-2 principal directions of the SGD trajectory hold more of its variance "
            "than those of a random walk",
            where="Li et al. (2018) sec. 7; App. B, Fig. 11 (random-walk control)",
            paper="the PCA plane captures the trajectory",
            ours=f"{sum(ratio):.3f} (random walk of the same step norms: {sum(ratio_walk):.3f})",
            criterion="explained variance of the top 2: the random walk's < the trajectory's",
            differs_because="the trajectory is no more two-dimensional than a random walk",
        )
    )
    add_figure(
        report,
        "li_pca_plane.png",
        f"the plane of the trajectory's top-2 principal directions (explained variance "
        f"{ratio[0]:.2f} + {ratio[1]:.2f})",
        plot_surface,
        pca,
        log=True,
        title=f"PCA plane, explained variance {ratio[0]:.2f} + {ratio[1]:.2f}",
    )
    report.checks(checks)
    surfaces_ = (ab, rand, ar, filt, pca)
    report.results.update(
        {
            "quick": quick,
            "seconds_training": seconds,
            "explained_variance_ratio": ratio,
            "explained_variance_ratio_random_walk": ratio_walk,
            "log10_spread": {
                "alpha_beta": span_ab,
                "random_plane": span_rand,
                "alpha_axis": along_alpha,
                "random_axis": along_random,
            },
            "points": 5 * n * n,
            "ms_per_point": 1e3 * float(np.mean([r.meta["seconds_per_point"] for r in surfaces_])),
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results
