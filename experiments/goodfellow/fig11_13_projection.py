"""Goodfellow, Vinyals & Saxe (2015), App. B: how far SGD strays from the line between
initialization and solution.

- Fig. 11: random walks of increasing dimension (1,000 steps, the "solution" at step 900): the
  alpha-beta curve tends to a fixed shape as the dimension grows, so its shape says little.
- Fig. 13: alpha(t) (projection on the init -> solution line) against beta(t) (residual norm)
  for an SGD run (ReLU MLP), the ratio beta(t) / ||theta(t)||, the loss over time, and a
  random walk with the run's dimension and step norms as a control.

Checks: theta(t) = theta_i + alpha(t) u + r(t) to float64 rounding; beta = 0 at both ends; the
1-D subspace keeps a large share of the parameter norm (the paper reads >= 2/3 for maxout);
random walks in high dimension give nearly the same curve for different seeds.

Run:  python experiments/goodfellow/fig11_13_projection.py [--quick] [--data mnist1d]
"""

from __future__ import annotations

import numpy as np
from _common import LoadedRun, check, figure_path, parser, trained_run

from landscope.plotting import plot_trajectory_projection, save_figure
from landscope.trajectory import project_trajectory, projection_residuals, random_walk_control


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()

    # Fig. 11: random walks of varying dimension
    from matplotlib.figure import Figure

    dims = [2, 10, 100, 1000] if args.quick else [2, 10, 100, 1000, 10000]
    fig = Figure(figsize=(4 * len(dims), 3.4), layout="constrained")
    shapes = {}
    for k, dim in enumerate(dims):
        ax = fig.add_subplot(1, len(dims), k + 1)
        for seed in range(3):
            w = random_walk_control(num_steps=1000, dim=dim, seed=seed)
            ax.plot(w.alpha_fraction, w.beta / w.distance, lw=0.8)
            shapes.setdefault(dim, []).append(
                np.interp(np.linspace(0, 1, 50), np.linspace(0, 1, 1001), w.beta / w.distance)
            )
        ax.set_title(f"dimension {dim}")
        ax.set_xlabel(r"$\alpha$ / distance")
        ax.set_ylabel(r"$\beta$ / distance")
    save_figure(fig, figure_path(args, "fig11_random_walks"))
    spread = {d: float(np.std(np.stack(s), axis=0).mean()) for d, s in shapes.items()}
    check(
        spread[dims[-1]] < 0.5 * spread[dims[0]],
        f"Fig. 11: the random-walk curves converge to one shape as the dimension grows (seed spread {spread})",
    )

    # Fig. 13: an SGD trajectory
    run = LoadedRun(trained_run("relu", 0, args))
    traj = run.trajectory
    alpha, resid, u = projection_residuals(traj)
    recon = traj[0].double() + alpha[:, None] * u + resid
    err = float((recon - traj.double()).abs().max())
    check(err < 1e-12, f"theta(t) = theta_i + alpha(t) u + r(t) (max error {err:.1e})")
    steps = run.steps
    losses = run.run.read("train_loss").reshape(-1)
    loss_at = np.interp(steps, run.run.steps("train_loss"), losses)
    proj = project_trajectory(
        traj, steps=steps, values={"train_loss (interpolated from evals)": loss_at}
    )
    control = random_walk_control(traj, seed=0)
    plot_trajectory_projection(
        proj,
        controls=[control],
        title=f"Fig. 13: ReLU MLP on {args.data}",
        path=figure_path(args, "fig13_projection"),
    )
    proj.save(figure_path(args, "fig13_projection").with_suffix(""))
    check(
        proj.beta[0] == 0 and proj.beta[-1] < 1e-9 * proj.distance,
        "beta = 0 at initialization and solution",
    )
    ratio = float(np.nanmax(proj.residual_ratio))
    check(
        ratio < 1.0,
        f"the residual is smaller than the parameter vector at all times (max beta/||theta|| = {ratio:.3f})",
    )
    kept = float(np.nanmin(np.sqrt(1 - np.minimum(proj.residual_ratio, 1) ** 2)))
    print(
        f"the 1-D subspace keeps at least {kept:.2f} of ||theta(t)|| (the paper reads >= 2/3 for maxout)"
    )
    print(f"figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
