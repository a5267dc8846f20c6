"""``goodfellow-interpolation``, ``goodfellow-maxout`` and ``goodfellow-lstm``: the linear path
experiments of Goodfellow, Vinyals & Saxe (2015), sec. 2-4 (Fig. 1-5, 8) with the (alpha, beta)
surfaces of App. C for maxout and the LSTM (Fig. 16, 18, 19).

Offline stand-ins: the 8x8 digits for MNIST (nets trained by the landscope engine from the
shipped configs ``configs/goodfellow/*.yaml``), generated order-2 Markov sequences for Penn
Treebank.  Every curve is :func:`landscope.landscape.interpolate` on the run's problems (the run
service: ``run.problems``, ``run.theta``); every verdict is a function of
:mod:`landscope.reproduce._goodfellow_checks` applied to those curves.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from landscope.reproduce._goodfellow_checks import (
    barrier_check,
    curvature_signs_check,
    early_learning_check,
    line_minima,
    monotone_decrease_check,
    on_surface_check,
    one_minimum_check,
    random_starts_check,
    second_differences_near_ends,
    solutions_are_minima_check,
    trained_check,
)
from landscope.reproduce._goodfellow_common import (
    add_figure,
    goodfellow_config,
    save_result,
    thinned_trajectory,
    trained_run,
)
from landscope.reproduce._report import Report

__all__ = ["INTERPOLATION", "LSTM", "MAXOUT", "interpolation", "lstm", "maxout"]

#: Grids and repetitions, (quick, full): points on the line [-0.5, 1.5] (Fig. 2, 3), points per
#: high-resolution tile (Fig. 4: the paper's 200), points between two solutions on
#: [-0.25, 1.25] (Fig. 5 left), seeded random starts of 3x the solution's norm and points on
#: [0, 1.25] (Fig. 5 right).
INTERPOLATION: dict = {
    "line_points": (21, 81),
    "tile_points": (50, 200),
    "between_points": (31, 121),
    "random_starts": (4, 8),
    "random_scale": 3.0,
    "random_points": (26, 101),
}

#: (quick, full): points on the line [-0.5, 1.5] (Fig. 1 left, Fig. 8) and grid points per axis
#: of each (alpha, beta) surface (Fig. 16, 18, 19).
MAXOUT: dict = {"line_points": (41, 81), "surface_points": (21, 41)}
LSTM: dict = {"line_points": (41, 81), "surface_points": (21, 41)}


def _line_checks(alphas, values, name: str, where: str, *, at_least: float, rtol: float) -> list:
    """The paper's reading of a line from initialization to solution: one minimum, at (or near)
    the solution, reached by a monotone descent (no barrier)."""
    inside = (alphas >= 0.0) & (alphas <= 1.0)
    best = float(alphas[inside][np.argmin(values[inside])])  # the line's lowest point on [0, 1]
    return [
        one_minimum_check(
            alphas,
            values,
            claim=f"{name}: no local minimum along init -> solution but "
            + ("the solution" if at_least >= 1.0 else "one near the solution"),
            where=where,
            at_least=at_least,
        ),
        monotone_decrease_check(
            alphas,
            values,
            claim=f"{name}: the cost decreases monotonically from the initialization to that "
            "minimum (no barrier)",
            where=where + "; App. B",
            hi=best,
            rtol=rtol,
        ),
    ]


def interpolation(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 2-5: lines through fully connected nets (sigmoid, ReLU) on the digits."""
    from landscope.config import build_dataset
    from landscope.landscape import (
        Evaluation,
        barrier_height,
        high_resolution_interpolations,
        interpolate,
        random_point,
    )
    from landscope.plotting import plot_interpolation

    out = Path(out)
    t0 = time.perf_counter()
    plan = {
        k: (v[0 if quick else 1] if isinstance(v, tuple) else v) for k, v in INTERPOLATION.items()
    }
    report = Report("Goodfellow, Vinyals & Saxe (2015) Fig. 2-5: linear interpolation", out)
    report.results.update({"quick": quick, "plan": plan})
    report.text(
        "Sec. 3 on the 8x8 digits (MNIST offline): 64-100-100-10 MLPs with sigmoid and ReLU units, "
        "SGD with momentum, no dropout (configs goodfellow/sigmoid_digits and "
        "goodfellow/relu_digits).  Lines are evaluated in float64 on the whole training split.  "
        "Fig. 5 left: a second ReLU run with seed 1 (initialization and minibatches) on the data "
        "split of seed 0."
    )
    alphas = np.round(np.linspace(-0.5, 1.5, plan["line_points"]), 10)  # holds 0 and 1 exactly
    checks, curves, trained = [], {}, {}

    # Fig. 2 and 3: init -> solution, sigmoid and ReLU
    for activation in ("sigmoid", "relu"):
        run, seconds = trained_run(
            goodfellow_config(f"{activation}_digits", quick=quick), out, progress=progress
        )
        train, test = run.problems(dtype="float64")
        theta_i, theta_f = run.theta("init", like=train), run.theta("last", like=train)
        trained[activation] = (run, train, test, theta_i, theta_f)
        res = interpolate(train, theta_i, theta_f, alphas, test_problem=test, label=activation)
        save_result(res, out, f"fig02_{activation}")
        curves[activation] = res
        add_figure(
            report,
            f"fig02_{activation}.png",
            f"Fig. 2: {activation} MLP, init -> solution (digits)",
            plot_interpolation,
            res,
            title=f"Fig. 2: {activation} MLP, init -> solution (digits)",
        )
        checks += _line_checks(
            alphas, res["train_loss"], f"{activation} MLP", "Fig. 2", at_least=1.0, rtol=1e-6
        )
        report.results[activation] = {
            "seconds_training": seconds,
            "train_loss": {
                "init": float(res["train_loss"][alphas == 0][0]),
                "solution": float(res["train_loss"][alphas == 1][0]),
            },
            "train_accuracy_solution": float(res["train_accuracy"][alphas == 1][0]),
            "test_accuracy_solution": float(res["test_accuracy"][alphas == 1][0]),
        }
    add_figure(
        report,
        "fig03_log.png",
        "Fig. 3: both lines on one log-scale axis",
        plot_interpolation,
        curves,
        logy=True,
        title="Fig. 3: interpolation, log scale",
    )

    # Fig. 4: high resolution (ReLU)
    run, train, test, theta_i, theta_f = trained["relu"]
    tiles = high_resolution_interpolations(train, theta_i, theta_f, num=plan["tile_points"])
    for name, res in tiles.items():
        lo, hi = float(res.alphas[0]), float(res.alphas[-1])
        add_figure(
            report,
            f"fig04_{name}.png",
            f"Fig. 4: alpha in [{lo:g}, {hi:g}], {len(res.alphas)} points",
            plot_interpolation,
            res,
            splits=("train",),
            title=f"Fig. 4: alpha in [{lo:g}, {hi:g}] ({len(res.alphas)} points)",
        )
        checks.append(
            monotone_decrease_check(
                res.alphas,
                res["train_loss"],
                claim=f"ReLU MLP at high resolution, alpha in [{lo:g}, {hi:g}]: no small "
                "structure, the cost falls monotonically",
                where="Fig. 4",
                lo=lo,
                hi=hi,
                rtol=1e-6,
            )
        )

    # Fig. 5 left: two solutions of the same problem: seeds 0 and 1 for the initialization and
    # the minibatches, the data split of seed 0 (the config's seed also seeds the split)
    other, seconds = trained_run(
        goodfellow_config("relu_digits", quick=quick, seed=1, name="goodfellow_relu_digits_s1"),
        out,
        progress=progress,
        dataset=build_dataset(run.run_config()),
    )
    theta_f1 = other.theta("last", like=train)
    between_alphas = np.round(np.linspace(-0.25, 1.25, plan["between_points"]), 10)
    between = interpolate(
        train,
        theta_f,
        theta_f1,
        between_alphas,
        test_problem=test,
        label="solution (seed 0) -> solution (seed 1)",
    )
    j = between["train_loss"]
    ends = [float(j[between_alphas == 0][0]), float(j[between_alphas == 1][0])]
    checks += [
        solutions_are_minima_check(
            between_alphas,
            j,
            claim="each of two solutions (seeds 0, 1) is a local minimum of the line through them",
            where="Fig. 5 left",
            context="the last SGD iterates of cross-entropy on the separable digits are not "
            "minima of this line (the paper's nets used dropout and early stopping)",
        ),
        barrier_check(
            barrier_height(between),
            ends,
            claim="the straight line between the two solutions meets a barrier",
            where="Fig. 5 left",
        ),
    ]
    add_figure(
        report,
        "fig05_two_solutions.png",
        "Fig. 5 left: between the solutions of seeds 0 and 1",
        plot_interpolation,
        between,
        title="Fig. 5 left: between two solutions",
    )

    # Fig. 5 right: seeded random points of 3x the solution's norm -> the solution
    rand_alphas = np.round(np.linspace(0.0, 1.25, plan["random_points"]), 10)
    clean, drawn = [], None
    for seed in range(plan["random_starts"]):
        start = random_point(theta_f, seed=seed, scale=plan["random_scale"])
        res = interpolate(
            train,
            start,
            theta_f,
            rand_alphas,
            test_problem=test if seed == 0 else None,
            evaluation=Evaluation(accuracy=seed == 0),
            label=f"random point (seed {seed}) -> solution",
        )
        clean.append(
            line_minima(rand_alphas, res["train_loss"], 0.0, 1.0, rtol=1e-4).tolist() == [1.0]
        )
        drawn = drawn or res
    checks.append(
        random_starts_check(
            clean,
            claim="a line from a random point of 3x the solution's norm meets no local minimum "
            "but the solution",
            where="Fig. 5 right",
            paper="no local minima besides the SGD solution",
            what="the only strict local minimum on [0, 1] is alpha = 1",
            differs_because="{bad} of {n} lines have another minimum before the solution",
        )
    )
    add_figure(
        report,
        "fig05_random.png",
        "Fig. 5 right: a random point of large norm -> the solution (seed 0)",
        plot_interpolation,
        drawn,
        logy=True,
        title="Fig. 5 right: random point -> solution",
    )
    report.checks(checks)
    report.results.update(
        {
            "barrier_two_solutions": barrier_height(between),
            "random_starts_clean": clean,
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results


def maxout(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 1 (maxout: line and learning curve), 18, 19 ((alpha, beta) surface and its zoom)."""
    from landscope.landscape import alpha_beta_surface, evaluate_surface, interpolate
    from landscope.plotting import plot_interpolation, plot_surface
    from landscope.runs import Series

    out = Path(out)
    t0 = time.perf_counter()
    report = Report("Goodfellow, Vinyals & Saxe (2015) Fig. 1, 18, 19: maxout", out)
    report.text(
        "The zoo's maxout MLP (two layers of 240 units x 5 pieces; quick: 64 x 3) on the 8x8 "
        "digits, SGD with momentum, without dropout and without adversarial training: Fig. 1's "
        "bottom row.  Fig. 18 and 19 of the paper show the adversarially trained net; its "
        "'narrow canyon' is not expected here and not checked."
    )
    run, seconds = trained_run(
        goodfellow_config("maxout_digits", quick=quick), out, progress=progress
    )
    train, test = run.problems(dtype="float32")
    theta_i, theta_f = run.theta("init", like=train), run.theta("last", like=train)

    # Fig. 1 right: the learning curve; most of the decrease early
    checks = [
        early_learning_check(
            run.steps(Series.TRAIN_LOSS),
            np.ravel(run.read(Series.TRAIN_LOSS)),
            claim="the vast majority of learning happens early",
            where="Fig. 1 right",
        )
    ]

    # Fig. 1 left: init -> solution
    alphas = np.round(np.linspace(-0.5, 1.5, MAXOUT["line_points"][0 if quick else 1]), 10)
    line = interpolate(train, theta_i, theta_f, alphas, test_problem=test, label="maxout")
    save_result(line, out, "fig01_maxout_line")
    add_figure(
        report,
        "fig01_maxout_line.png",
        "Fig. 1 left: maxout MLP, init -> solution (digits, no adversarial training)",
        plot_interpolation,
        line,
        title="Fig. 1: maxout MLP (digits)",
    )
    checks += _line_checks(
        alphas, line["train_loss"], "maxout", "Fig. 1 left", at_least=0.8, rtol=1e-5
    )

    # Fig. 18 / 19: (alpha, beta) surface, and a zoom near the end of learning
    n = MAXOUT["surface_points"][0 if quick else 1]
    traj = thinned_trajectory(run, like=train)
    ruled = alpha_beta_surface(theta_i, theta_f, traj)
    bmax = float(ruled.beta.max())
    distance = float((theta_f - theta_i).double().norm())
    for name, a_range, b_range in (
        ("fig18_maxout_surface", (-0.25, 1.25), (-0.5 * bmax, 1.5 * bmax)),
        ("fig19_maxout_zoom", (0.8, 1.05), (-0.1 * bmax, 0.3 * bmax)),
    ):
        # Draw only the trajectory points inside the window (the zoom's axes follow the drawn
        # trajectory); they are points of the trajectory that defines the surface.
        inside = (
            (ruled.alpha_fraction >= a_range[0])
            & (ruled.alpha_fraction <= a_range[1])
            & (ruled.beta >= b_range[0])
            & (ruled.beta <= b_range[1])
        )
        surf = evaluate_surface(
            train,
            ruled,
            np.linspace(*a_range, n),
            np.linspace(*b_range, n),
            trajectory=traj[inside.to(traj.device)],
        )
        figure = name.split("_")[0].replace("fig", "Fig. ")
        checks.append(
            on_surface_check(
                surf.meta["trajectory_max_distance_from_surface"],
                distance,
                claim=f"{figure}: the SGD trajectory lies on the (alpha, beta) surface",
                where=f"{figure}, App. C",
                rtol=1e-3,
            )
        )
        add_figure(
            report,
            f"{name}.png",
            f"{figure}: (alpha, beta) surface of the maxout net (no adversarial training)",
            plot_surface,
            surf,
            log=True,
            title=f"{figure}: maxout (no adversarial training)",
        )
        save_result(surf, out, name)
    report.checks(checks)
    report.results.update(
        {
            "quick": quick,
            "seconds_training": seconds,
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results


def lstm(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Fig. 8 (LSTM line) and 16 (LSTM (alpha, beta) surface) on Markov sequences."""
    from landscope.data import load_dataset
    from landscope.landscape import alpha_beta_surface, evaluate_surface, interpolate
    from landscope.plotting import plot_interpolation, plot_surface

    out = Path(out)
    t0 = time.perf_counter()
    report = Report("Goodfellow, Vinyals & Saxe (2015) Fig. 8, 16: an LSTM", out)
    report.text(
        "The paper's dropout LSTM on Penn Treebank, offline: the zoo's lstm (embedding 16, 32 "
        "cells, p = 6,762) predicting the next token after 12 tokens of a random order-2 Markov "
        "chain over 10 tokens (markov_sequences; its Bayes loss is known), SGD with momentum."
    )
    cfg = goodfellow_config("lstm_markov", quick=quick)
    run, seconds = trained_run(cfg, out, progress=progress)
    train, test = run.problems(dtype="float64")
    theta_i, theta_f = run.theta("init", like=train), run.theta("last", like=train)
    bayes = float(load_dataset("markov_sequences").meta["bayes_loss"])
    uniform = float(np.log(10))
    start, final = float(train.loss(theta_i)), float(train.loss(theta_f))
    checks = [
        trained_check(
            final,
            bayes,
            uniform,
            claim="the LSTM is trained: its loss is close to the chain's Bayes loss",
            where="Fig. 8 (a trained model)",
        )
    ]

    alphas = np.round(np.linspace(-0.5, 1.5, LSTM["line_points"][0 if quick else 1]), 10)
    line = interpolate(train, theta_i, theta_f, alphas, test_problem=test, label="init -> solution")
    save_result(line, out, "fig08_lstm_line")
    add_figure(
        report,
        "fig08_lstm_line.png",
        "Fig. 8: the LSTM, init -> solution (Markov sequences)",
        plot_interpolation,
        line,
        title="Fig. 8: LSTM on Markov sequences",
    )
    # The last SGD (momentum) iterate sits a little up the valley wall, so the line's minimum may
    # lie just before alpha = 1: "no difficult structure" = one minimum on [0, 1], near the
    # solution, reached by a monotone descent.
    j = line["train_loss"]
    checks += _line_checks(alphas, j, "LSTM", "Fig. 8", at_least=0.8, rtol=1e-6)
    # Fig. 16's "qualitatively the same as the deep factored linear model" (Fig. 15): concave
    # along the line near the initialization, convex near the solution (second differences on the
    # alpha grid, step 0.05 or 0.025).
    near_init, near_solution = second_differences_near_ends(alphas, j)
    checks.append(
        curvature_signs_check(
            float(near_init.min()),
            float(near_solution.min()),
            claim="Fig. 16: the deep linear model's structure along the line: negative curvature "
            "near the initialization, positive near the solution",
            where="Fig. 16",
            how="most negative d2J/da2 (second differences of the line) on 0 < alpha <= 0.3, "
            "smallest on 0.8 <= alpha <= 1",
        )
    )

    n = LSTM["surface_points"][0 if quick else 1]
    traj = thinned_trajectory(run, like=train)
    ruled = alpha_beta_surface(theta_i, theta_f, traj)
    beta_max = float(ruled.beta.max())
    surf = evaluate_surface(
        train,
        ruled,
        np.linspace(-0.25, 1.25, n),
        np.linspace(-0.5 * beta_max, 1.5 * beta_max, n),
        trajectory=traj,
    )
    checks.append(
        on_surface_check(
            surf.meta["trajectory_max_distance_from_surface"],
            float((theta_f - theta_i).norm()),
            claim="Fig. 16: the SGD trajectory lies on the (alpha, beta) surface",
            where="Fig. 16, App. C",
            rtol=1e-6,
        )
    )
    add_figure(
        report,
        "fig16_lstm_surface.png",
        "Fig. 16: the LSTM's (alpha, beta) surface with the SGD trajectory",
        plot_surface,
        surf,
        log=True,
        title="Fig. 16: LSTM (alpha, beta) surface",
    )
    save_result(surf, out, "fig16_lstm_surface")
    report.checks(checks)
    report.results.update(
        {
            "quick": quick,
            "seconds_training": seconds,
            "train_loss": {"init": start, "solution": final, "bayes": bayes},
            "seconds": time.perf_counter() - t0,
        }
    )
    report.save()
    return report.results
