"""Goodfellow, Vinyals & Saxe (2015), sec. 5 and App. C: the factored linear model
y = w1 w2 x trained to output 1 at x = 1, J(w1, w2) = (1 - w1 w2)^2.

- Fig. 9: interpolation from a small random initialization to a solution: flat near the saddle
  at the origin, one minimum.
- Fig. 10 left: between two solutions (on the two branches of the hyperbola w2 = 1 / w1): a
  barrier although both are global minima; right: from a random point of large norm to a
  solution, no other minimum.
- Fig. 14: the cost surface with its saddle at the origin and the gradient-descent trajectory.

Every curve is computed twice, by the generic landscope machinery on a Problem and in closed
form, and the script checks that they agree (float64, to 1e-12) and that the Hessian at the
origin has eigenvalues -2 and +2 (a saddle).

Run:  python experiments/goodfellow/fig09_10_14_factored.py [--quick]
"""

from __future__ import annotations

import numpy as np
import torch
from _common import check, figure_path, interior_minima, parser

from landscope.landscape import (
    SurfaceResult,
    barrier_height,
    factored_gradient_descent,
    factored_hessian,
    factored_interpolation,
    factored_loss,
    factored_problem,
    interpolate,
    surface,
)
from landscope.plotting import plot_interpolation, plot_surface


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    problem = factored_problem()
    f64 = dict(dtype=torch.float64)
    alphas = np.round(np.linspace(-0.5, 1.5, 81), 10)

    # Fig. 9: small random init -> the solution gradient descent finds from it
    init = np.array([0.02, -0.01])
    traj = factored_gradient_descent(init, lr=0.1, steps=300)
    solution = traj[-1]
    res = interpolate(
        problem,
        torch.tensor(init, **f64),
        torch.tensor(solution, **f64),
        alphas,
        label="init -> solution",
    )
    closed = factored_interpolation(init, solution, alphas)
    check(
        np.allclose(res["train_loss"], closed, rtol=1e-12, atol=1e-14),
        "Fig. 9: generic interpolation = closed form",
    )
    # (the line through the near-zero init also meets the mirror solution -theta_f at alpha ~ -1)
    check(
        list(interior_minima(alphas, res["train_loss"], 0.0, 1.5, rtol=0)) == [1.0],
        "Fig. 9: one minimum for alpha >= 0, at the solution",
    )
    check(
        abs(res["train_loss"][alphas == 0.0][0] - 1.0) < 1e-3,
        "Fig. 9: the initialization sits on the saddle plateau (J ~ 1)",
    )
    plot_interpolation(
        res,
        title="Fig. 9: factored model, init -> solution",
        path=figure_path(args, "fig09_factored"),
    )

    # Fig. 10 left: two solutions on the two branches of the hyperbola
    a, b = np.array([1.0, 1.0]), np.array([-1.0, -1.0])
    two = interpolate(
        problem,
        torch.tensor(a, **f64),
        torch.tensor(b, **f64),
        alphas,
        label="solution -> solution",
    )
    check(
        np.allclose(
            two["train_loss"], factored_interpolation(a, b, alphas), rtol=1e-12, atol=1e-14
        ),
        "Fig. 10: generic = closed form",
    )
    check(
        abs(barrier_height(two) - 1.0) < 1e-12,
        "Fig. 10 left: a barrier of height 1 between two global minima",
    )
    # Fig. 10 right: random point of large norm -> solution
    start = np.array([2.5, -3.0])
    rand = interpolate(
        problem,
        torch.tensor(start, **f64),
        torch.tensor([2.0, 0.5], **f64),
        np.linspace(0, 1, 101),
        label="random -> solution",
    )
    check(
        list(interior_minima(rand.alphas, rand["train_loss"], 0, 1, rtol=0)) == [1.0],
        "Fig. 10 right: no minimum but the solution",
    )
    plot_interpolation(
        {"two solutions": two, "random -> solution": rand},
        logy=False,
        title="Fig. 10: factored model",
        path=figure_path(args, "fig10_factored"),
    )

    # Fig. 14: the surface (1 - w1 w2)^2 over the (w1, w2) plane, with the GD trajectory
    w = np.linspace(-2.0, 2.0, 41 if args.quick else 201)
    e1, e2 = torch.eye(2, **f64)
    surf = surface(problem, torch.zeros(2, **f64), e1, e2, w, w)
    W1, W2 = np.meshgrid(w, w, indexing="ij")
    check(
        np.allclose(surf["train_loss"], factored_loss(W1, W2), rtol=1e-13, atol=1e-15),
        "Fig. 14: generic surface = (1 - w1 w2)^2",
    )
    check(
        np.allclose(np.linalg.eigvalsh(factored_hessian(0.0, 0.0)), [-2.0, 2.0]),
        "Fig. 14: saddle at the origin (eigenvalues -2, +2)",
    )
    drawn = SurfaceResult(
        surf.alphas,
        surf.betas,
        surf.values,
        traj,
        {"train_loss": factored_loss(traj[:, 0], traj[:, 1])},
        {**surf.meta, "surface": "factored"},
    )
    plot_surface(
        drawn,
        labels=("w1", "w2"),
        clip=3.0,
        title="Fig. 14: (1 - w1 w2)^2 and the gradient-descent path",
        path=figure_path(args, "fig14_factored"),
    )
    check(
        factored_loss(*traj[-1]) < 1e-8,
        "Fig. 14: gradient descent reaches the hyperbola of solutions",
    )
    print(f"figures in {figure_path(args, 'x').parent}")


if __name__ == "__main__":
    main()
