"""The statements of Goodfellow, Vinyals & Saxe (2015) as functions of measured data.

Each function takes what an entry measured through the library (a loss curve along a line,
eigenvalues of the generic Hessian operator, a surface's trajectory gap, ...) and returns a
:class:`~landscope.reproduce.Check` whose verdict is computed from that data: REPRODUCED when the
paper's statement holds for it, DIFFERS (with the measured reason) when it does not.  Keeping the
criterion apart from the computation lets the tests feed each one data for which the statement is
false (a curve with an interior bump, eigenvalues of ``-H``) and see it answer DIFFERS.

Curves are given as ``alphas`` (increasing, shape (n,)) and ``values`` (the train loss at those
alphas, shape (n,)); "strict local minimum" is :func:`landscope.landscape.local_minima` with a
relative tolerance ``rtol`` that ignores wiggles below the floating-point noise of the curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from landscope.reproduce._catalog import Check, check

__all__ = [
    "barrier_check",
    "below_check",
    "curvature_signs_check",
    "descent_check",
    "early_learning_check",
    "flat_start_check",
    "line_minima",
    "minima_at_solutions_check",
    "monotone_decrease_check",
    "one_minimum_check",
    "on_surface_check",
    "random_starts_check",
    "saddle_check",
    "second_differences_near_ends",
    "solution_curvature_check",
    "solutions_are_minima_check",
    "solutions_connected_check",
    "trained_check",
]


def line_minima(
    alphas: np.ndarray, values: np.ndarray, lo: float, hi: float, *, rtol: float = 0.0
) -> np.ndarray:
    """The alphas of the strict local minima met walking along the line from ``lo`` to ``hi``:
    local minima of the curve restricted to ``lo <= alpha <= hi``, where the far end ``hi`` (the
    solution) counts when it is below its neighbour, and the near end ``lo`` (where the walk
    starts, e.g. a random point) does not: a line that rises at first has a barrier there, not
    a minimum."""
    from landscope.landscape import local_minima

    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    inside = (alphas >= lo) & (alphas <= hi)
    idx = local_minima(values[inside], rtol=rtol)
    return alphas[inside][idx[idx > 0]]


def _fmt(alphas: np.ndarray) -> str:
    return "[" + ", ".join(f"{a:g}" for a in np.asarray(alphas).tolist()) + "]"


def one_minimum_check(
    alphas: np.ndarray,
    values: np.ndarray,
    *,
    claim: str,
    where: str,
    paper: str = "one minimum, at the solution",
    lo: float = 0.0,
    hi: float = 1.0,
    at_least: float = 1.0,
    rtol: float = 1e-4,
) -> Check:
    """ "No local minimum along the line but the solution": on ``[lo, hi]`` the curve has exactly
    one strict local minimum and it lies at ``alpha >= at_least`` (``at_least = 1``: at the
    solution itself; less for a last SGD iterate that sits a little up the valley wall).  A flat
    curve (no minimum at all) or a second minimum fails."""
    minima = line_minima(alphas, values, lo, hi, rtol=rtol)
    holds = len(minima) == 1 and minima[0] >= at_least - 1e-12
    reason = (
        "no strict minimum at all: the curve does not descend to the solution"
        if len(minima) == 0
        else f"strict local minima at alpha = {_fmt(minima)}"
    )
    where_ok = "at alpha = 1" if at_least >= 1.0 else f"at alpha >= {at_least:g}"
    return check(
        claim,
        where,
        paper=paper,
        ours=f"minima at alpha = {_fmt(minima)}",
        holds=holds,
        criterion=f"exactly one strict local minimum on [{lo:g}, {hi:g}], {where_ok} "
        f"(relative tolerance {rtol:g})",
        differs_because=reason,
    )


def monotone_decrease_check(
    alphas: np.ndarray,
    values: np.ndarray,
    *,
    claim: str,
    where: str,
    paper: str = "decreases monotonically",
    lo: float = 0.0,
    hi: float = 1.0,
    rtol: float = 1e-6,
) -> Check:
    """ "The cost decreases monotonically along the line" on ``[lo, hi]``: no step between
    neighbouring alphas rises by more than ``rtol * |J(lo)|`` and the curve falls by more than
    that over the window (a flat or a noisy curve resolves nothing and fails).  App. B: "a
    straight path from initialization to solution along which the objective function decreases
    smoothly and monotonically"; Fig. 4: no small structure at high resolution."""
    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    inside = (alphas >= lo) & (alphas <= hi)
    a, v = alphas[inside], values[inside]
    tol = rtol * abs(v[0])
    steps = np.diff(v)
    rise = float(steps.max()) if steps.size else 0.0
    drop = float(v[0] - v[-1])
    holds = rise <= tol and drop > tol
    if drop <= tol:
        reason = f"the curve does not fall across the window (J(lo) - J(hi) = {drop:.3g})"
    else:
        k = int(np.argmax(steps))
        reason = f"it rises by {rise:.3g} between alpha = {a[k]:g} and {a[k + 1]:g}"
    return check(
        claim,
        where,
        paper=paper,
        ours=f"largest step {rise:+.2g}, total fall {drop:.3g} ({len(a)} points)",
        holds=holds,
        criterion=f"on [{lo:g}, {hi:g}] no rise > {rtol:g} abs(J({lo:g})) between neighbours and a "
        "total fall above that",
        differs_because=reason,
    )


def solutions_are_minima_check(
    alphas: np.ndarray,
    values: np.ndarray,
    *,
    claim: str,
    where: str,
    rtol: float = 1e-4,
    context: str = "",
) -> Check:
    """Fig. 5 left: "each solution is a different local minimum within this 1-D subspace": on the
    line through two solutions (alpha = 0 and 1, the grid extending past both) both are strict
    local minima.  ``context`` is appended to the reason when they are not."""
    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    minima = line_minima(alphas, values, float(alphas[0]), float(alphas[-1]), rtol=rtol)
    ends = [float(values[np.argmin(np.abs(alphas - a))]) for a in (0.0, 1.0)]
    k = int(np.argmin(values))
    return check(
        claim,
        where,
        paper="each solution a different local minimum",
        ours=f"minima at alpha = {_fmt(minima)}",
        holds=0.0 in minima.tolist() and 1.0 in minima.tolist(),
        criterion=f"alpha = 0 and alpha = 1 among the strict local minima on "
        f"[{alphas[0]:g}, {alphas[-1]:g}]",
        differs_because="the loss keeps falling past the solutions, away from each other "
        f"(lowest {values[k]:.3g} at alpha = {alphas[k]:g} vs {ends[0]:.3g} and {ends[1]:.3g} at "
        "the solutions)" + (f": {context}" if context else ""),
    )


def barrier_check(
    height: float,
    end_losses: Sequence[float],
    *,
    claim: str,
    where: str,
    paper: str = "a barrier between the two solutions",
    minimum: float | None = None,
) -> Check:
    """ "The straight line between two solutions meets a barrier": the barrier height above the
    chord (:func:`landscope.landscape.barrier_height`) exceeds ``minimum``, by default the larger
    of the two endpoint losses (a bump higher than the solutions' own cost, not a wiggle)."""
    floor = float(max(end_losses)) if minimum is None else float(minimum)
    return check(
        claim,
        where,
        paper=paper,
        ours=f"barrier {height:.3g} above the chord; endpoint losses "
        + ", ".join(f"{v:.3g}" for v in end_losses),
        holds=height > floor,
        criterion=f"barrier height > {floor:.3g}"
        + (" (the larger endpoint loss)" if minimum is None else ""),
        differs_because=f"the line rises only {height:.3g} above the chord",
    )


def second_differences_near_ends(
    alphas: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Second differences ``d2J/da2`` of the curve on its uniform alpha grid, split into those
    near the initialization (0 < alpha <= 0.3) and near the solution (0.8 <= alpha <= 1)."""
    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    h = alphas[1] - alphas[0]
    if not np.allclose(np.diff(alphas), h, rtol=1e-9, atol=1e-12):
        raise ValueError("second differences need a uniform alpha grid")
    curvature = (values[2:] - 2 * values[1:-1] + values[:-2]) / h**2  # at alphas[1:-1]
    mid = alphas[1:-1]
    return curvature[(mid > 0.0) & (mid <= 0.3)], curvature[(mid >= 0.8) & (mid <= 1.0)]


def curvature_signs_check(
    at_init: float,
    at_solution: float,
    *,
    claim: str,
    where: str,
    how: str,
    paper: str = "negative near the initialization, positive near the solution",
) -> Check:
    """ "Negative curvature near the initialization, positive near the solution" (Fig. 14, 15,
    16): ``at_init < 0 < at_solution``, two curvatures measured as ``how`` says (e.g. ``u^T H u``
    of the generic Hessian operator along the line, or the extreme second difference of the curve
    in each region)."""
    holds = at_init < 0.0 < at_solution
    bad = []
    if not at_init < 0.0:
        bad.append(f"no negative curvature near the initialization ({at_init:.3g})")
    if not at_solution > 0.0:
        bad.append(f"no positive curvature near the solution ({at_solution:.3g})")
    return check(
        claim,
        where,
        paper=paper,
        ours=f"{at_init:.3g} near the initialization, {at_solution:.3g} near the solution",
        holds=holds,
        criterion=f"{how}: < 0 near the initialization and > 0 near the solution",
        differs_because="; ".join(bad) or "-",
    )


def descent_check(
    losses: Sequence[float], *, claim: str, where: str, final_tol: float, rtol: float = 1e-12
) -> Check:
    """Fig. 14's "does not encounter any exotic obstacles": the loss along a gradient-descent path
    never rises from one step to the next (beyond ``rtol`` times the initial loss) and ends below
    ``final_tol`` (on the manifold of solutions)."""
    v = np.asarray(losses, dtype=np.float64)
    rise = float(np.diff(v).max()) if v.size > 1 else 0.0
    holds = rise <= rtol * abs(v[0]) and v[-1] < final_tol
    return check(
        claim,
        where,
        paper="no obstacle on the way to the solutions",
        ours=f"J {v[0]:.3g} -> {v[-1]:.2g} in {v.size - 1} steps, largest rise {max(rise, 0):.2g}",
        holds=holds,
        criterion=f"J never rises along the path (tolerance {rtol:g} J(0)) and ends < {final_tol:g}",
        differs_because=f"the loss rises by {rise:.3g} along the path"
        if rise > rtol * abs(v[0])
        else f"the path ends at J = {v[-1]:.3g}, not on the solutions",
    )


def saddle_check(eigenvalues: Sequence[float], *, claim: str, where: str, tol: float) -> Check:
    """ "A saddle point at the origin": the Hessian there (eigenvalues from the generic operator)
    has an eigenvalue below ``-tol`` and one above ``tol``."""
    ev = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    holds = ev[0] < -tol and ev[-1] > tol
    return check(
        claim,
        where,
        paper="saddle point at the origin",
        ours="Hessian eigenvalues " + ", ".join(f"{e:.4g}" for e in ev),
        holds=holds,
        criterion=f"smallest eigenvalue < -{tol:g} and largest > {tol:g}",
        differs_because="the Hessian there is "
        + ("negative semi-definite" if ev[-1] <= tol else "positive semi-definite")
        + ": a maximum or a minimum, not a saddle",
    )


def solution_curvature_check(
    eigenvalues_init: Sequence[float],
    eigenvalues_solution: Sequence[float],
    *,
    claim: str,
    where: str,
    tol: float,
) -> Check:
    """Fig. 14's "negative curvature near its initial point and positive curvature near its
    final point": the Hessian at the start of the trajectory has an eigenvalue below ``-tol`` and
    the Hessian at its end is positive semi-definite (no eigenvalue below ``-tol``) with positive
    curvature (largest eigenvalue above ``tol``; the other one is ~0, along the manifold)."""
    ei = np.sort(np.asarray(eigenvalues_init, dtype=np.float64))
    es = np.sort(np.asarray(eigenvalues_solution, dtype=np.float64))
    holds = ei[0] < -tol and es[0] >= -tol and es[-1] > tol
    bad = []
    if not ei[0] < -tol:
        bad.append(f"no negative eigenvalue at the start ({ei[0]:.3g})")
    if not (es[0] >= -tol and es[-1] > tol):
        bad.append(f"the Hessian at the end is not positive semi-definite ({_fmt(es)})")
    return check(
        claim,
        where,
        paper="negative curvature near the start, positive near the end",
        ours=f"eigenvalues {_fmt(np.round(ei, 4))} at the start, {_fmt(np.round(es, 4))} at the end",
        holds=holds,
        criterion=f"start: smallest eigenvalue < -{tol:g}; end: all >= -{tol:g}, largest > {tol:g}",
        differs_because="; ".join(bad) or "-",
    )


def flat_start_check(
    alphas: np.ndarray, values: np.ndarray, *, claim: str, where: str, ratio: float = 0.1
) -> Check:
    """Fig. 9's "flattening of the objective function near the saddle point at the origin": the
    slope of the curve at alpha = 0 (central difference) is below ``ratio`` times the steepest
    slope on [0, 1], and the curve bends down there (second difference < 0, the saddle)."""
    alphas, values = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    h = alphas[1] - alphas[0]
    slope = np.gradient(values, h)
    i0 = int(np.argmin(np.abs(alphas)))
    if not (0 < i0 < len(alphas) - 1 and abs(alphas[i0]) < 1e-12):
        raise ValueError("the flat-start check needs alpha = 0 inside the grid")
    inside = (alphas >= 0) & (alphas <= 1)
    steepest = float(np.abs(slope[inside]).max())
    start = float(abs(slope[i0]))
    bend = float((values[i0 + 1] - 2 * values[i0] + values[i0 - 1]) / h**2)
    holds = start < ratio * steepest and bend < 0
    return check(
        claim,
        where,
        paper="flat near the saddle at the origin",
        ours=f"abs(dJ/da) = {start:.3g} at 0, steepest {steepest:.3g}; d2J/da2(0) = {bend:.3g}",
        holds=holds,
        criterion=f"abs(dJ/da) at alpha = 0 < {ratio:g} x the steepest on [0, 1], and d2J/da2 < 0",
        differs_because="the curve is not flat at the initialization"
        if start >= ratio * steepest
        else "the curve does not bend down at the initialization (no saddle)",
    )


def solutions_connected_check(
    theta_a: Sequence[float],
    theta_b: Sequence[float],
    arc_losses: np.ndarray | None,
    *,
    claim: str,
    where: str,
    tol: float = 1e-12,
) -> Check:
    """Fig. 10 left: "these two solutions lie on [a] connected manifold of globally minimal
    values": the two (w1, w2) lie on the same branch of ``w1 w2 = 1`` (``w1`` of one sign) and
    the loss along the hyperbola's arc between them, evaluated by the caller through the generic
    Problem (``arc_losses``; None when no arc exists), stays below ``tol``."""
    a, b = np.asarray(theta_a, dtype=np.float64), np.asarray(theta_b, dtype=np.float64)
    same_branch = bool(np.sign(a[0]) == np.sign(b[0]) != 0)
    worst = float(np.max(arc_losses)) if arc_losses is not None and len(arc_losses) else np.inf
    holds = same_branch and worst < tol
    reason = (
        f"({a[0]:g}, {a[1]:g}) and ({b[0]:g}, {b[1]:g}) lie on different branches of "
        "w1 w2 = 1: no path of solutions joins them"
        if not same_branch
        else f"the loss along the arc between them reaches {worst:.3g}"
    )
    return check(
        claim,
        where,
        paper="both on one connected manifold of global minima",
        ours=f"({a[0]:g}, {a[1]:g}) -> ({b[0]:g}, {b[1]:g}); max J along the arc "
        + (f"{worst:.2g}" if np.isfinite(worst) else "- (no arc)"),
        holds=holds,
        criterion=f"same branch of w1 w2 = 1 and J < {tol:g} along the hyperbola between them",
        differs_because=reason,
    )


def random_starts_check(
    clean: Sequence[bool],
    *,
    claim: str,
    where: str,
    paper: str,
    what: str,
    differs_because: str,
) -> Check:
    """A statement the paper shows for one random start, tested over several seeded starts:
    ``clean[i]`` says whether it held for start ``i``; REPRODUCED when it held for all."""
    clean = [bool(c) for c in clean]
    k, n = sum(clean), len(clean)
    return check(
        claim,
        where,
        paper=paper,
        ours=f"{k} of {n} seeded starts ({k / n:.0%})",
        holds=n > 0 and k == n,
        criterion=f"{what}, for every one of the {n} seeded starts",
        differs_because=differs_because.format(bad=n - k, n=n),
    )


def minima_at_solutions_check(
    minima_losses: Sequence[float], *, claim: str, where: str, tol: float = 1e-10
) -> Check:
    """Sec. 5: "all minima are global minima": every strict local minimum met along the lines
    (its loss in ``minima_losses``) is a solution, ``J < tol``."""
    worst = float(max(minima_losses)) if len(minima_losses) else 0.0
    return check(
        claim,
        where,
        paper="all minima are global minima",
        ours=f"{len(minima_losses)} minima met, largest J {worst:.2g}",
        holds=worst < tol,
        criterion=f"every minimum met has J < {tol:g}",
        differs_because=f"a minimum with J = {worst:.3g} (a spurious local minimum)",
    )


def below_check(
    value: float,
    limit: float,
    *,
    claim: str,
    where: str,
    paper: str,
    ours: str,
    criterion: str,
    differs_because: str,
) -> Check:
    """``value < limit``: a measured quantity (a ratio, an error) against the paper's bound or a
    tolerance; the strings say what was measured and why it would differ."""
    return check(
        claim,
        where,
        paper=paper,
        ours=ours,
        holds=bool(value < limit),
        criterion=criterion,
        differs_because=differs_because,
    )


def trained_check(
    loss: float, bayes: float, uniform: float, *, claim: str, where: str, share: float = 0.25
) -> Check:
    """The model is a solution, the precondition of every statement about "the solution": its
    train loss ``loss`` has come within ``share`` of the way from the task's Bayes loss ``bayes``
    back to the loss of a uniform guess ``uniform``."""
    excess = (loss - bayes) / (uniform - bayes)
    return check(
        claim,
        where,
        paper="a trained model",
        ours=f"train loss {loss:.3f} (Bayes {bayes:.3f}, uniform {uniform:.3f}): {excess:.0%} "
        "of the way back to uniform",
        holds=excess < share,
        criterion=f"(J - J_Bayes) / (J_uniform - J_Bayes) < {share:g}",
        differs_because="the model is far from the Bayes loss: not a solution",
    )


def early_learning_check(
    steps: np.ndarray, losses: np.ndarray, *, claim: str, where: str, share: float = 0.8
) -> Check:
    """Fig. 1 right: "the vast majority of learning happens in the first few epochs": more than
    ``share`` of the decrease of the recorded train loss (``losses`` at ``steps``) happens in
    the first quarter of the steps."""
    steps, losses = np.asarray(steps), np.asarray(losses, dtype=np.float64)
    quarter = losses[steps <= steps[-1] // 4][-1]
    early = float((losses[0] - quarter) / (losses[0] - losses[-1]))
    return check(
        claim,
        where,
        paper="the vast majority in the first few epochs",
        ours=f"{early:.0%} of the loss decrease in the first quarter of training",
        holds=early > share,
        criterion=f"> {share:.0%} of the train-loss decrease in the first quarter of the steps",
        differs_because=f"only {early:.0%} of the decrease in the first quarter",
    )


def on_surface_check(gap: float, distance: float, *, claim: str, where: str, rtol: float) -> Check:
    """The trajectory drawn on an (alpha, beta) surface lies on it (App. C's construction: every
    point theta(t) is the surface point at its (alpha(t), beta(t))): the largest distance between
    a trajectory point and its surface point is below ``rtol`` times the init-solution distance."""
    return check(
        claim,
        where,
        paper="theta(t) on the surface (construction)",
        ours=f"max distance {gap:.2g} (init-solution distance {distance:.3g})",
        holds=gap < rtol * distance,
        criterion=f"max distance < {rtol:g} x the init-solution distance",
        differs_because="the drawn trajectory is off the surface: wrong (alpha, beta) coordinates",
    )
