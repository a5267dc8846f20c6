"""Figures checked on the figure objects (plotted data, axis limits, reference lines), never by
eye: a sparsely recorded series is drawn at every record (issue 12, item 5), and the zoomed
interpolation tiles of Goodfellow et al. Fig. 4 fill their axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.landscape import InterpolationResult
from landscope.plotting import (
    plot_interpolation,
    plot_top_subspace_fraction,
    plot_trajectory_projection,
)
from landscope.subspace import SubspaceAnalysis
from landscope.trajectory import project_trajectory

pytest.importorskip("matplotlib")


def _axis(fig, ylabel: str):
    (ax,) = [a for a in fig.axes if a.get_ylabel() == ylabel]
    return ax


def _vertical_lines(ax) -> list[float]:
    """x of the axvline reference lines (x data constant, y spanning the axes)."""
    found = []
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if len(x) == 2 and x[0] == x[1] and y.tolist() == [0.0, 1.0]:
            found.append(float(x[0]))
    return sorted(found)


def _projection(values: np.ndarray):
    gen = torch.Generator().manual_seed(0)
    traj = torch.randn(len(values), 5, generator=gen, dtype=torch.float64).cumsum(0)
    return project_trajectory(traj, steps=np.arange(len(values)), values={"train_loss": values})


def test_sparse_train_loss_is_drawn_at_every_record():
    """The quickstart's case: 301 parameter steps, the train loss recorded every 25 steps (13
    values, 288 NaN).  Every record is drawn, joined (no NaN in the line, which would break
    it into invisible single points) and marked, over the same steps as the ratio panel."""
    loss = np.full(301, np.nan)
    recorded = np.arange(0, 301, 25)
    loss[recorded] = np.exp(-recorded / 100.0)
    proj = _projection(loss)
    fig = plot_trajectory_projection(proj)
    ax = _axis(fig, "train_loss")
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), recorded)
    np.testing.assert_array_equal(line.get_ydata(), loss[recorded])
    assert line.get_marker() == "o"
    assert ax.get_xlim() == _axis(fig, r"$\beta(t) / \|\theta(t)\|$").get_xlim()
    lo, hi = ax.get_ylim()
    assert lo <= loss[recorded].min() and hi >= loss[recorded].max()
    assert "13 of 301" in ax.get_title()


def test_series_without_gaps_is_the_plain_line():
    loss = np.linspace(2.0, 0.1, 301)
    fig = plot_trajectory_projection(_projection(loss))
    ax = _axis(fig, "train_loss")
    (line,) = ax.get_lines()
    assert len(line.get_xdata()) == 301 and line.get_marker() in ("None", "", None)
    assert ax.get_title() == ""


def _line(lo: float, hi: float, num: int = 200, label: str = "") -> InterpolationResult:
    alphas = np.linspace(lo, hi, num)
    return InterpolationResult(
        alphas,
        {"train_loss": 1.0 + (alphas - 0.5) ** 2, "train_accuracy": 0 * alphas + 0.9},
        {"label": label},
    )


@pytest.mark.parametrize(
    ("lo", "hi", "marks"),
    [
        (0.99, 1.0, [1.0]),  # Fig. 4's end tile
        (0.0, 0.01, [0.0]),  # Fig. 4's start tile
        (-0.5, 1.5, [0.0, 1.0]),  # the default line
        (0.2, 0.8, []),
    ],
)
def test_interpolation_axis_spans_the_alphas(lo, hi, marks):
    """The x axis is the data range exactly (a [0.99, 1] tile got (-0.05, 1.05) before, its
    curve a sliver of 1% of the width); alpha = 0 and 1 are marked only inside it."""
    fig = plot_interpolation(_line(lo, hi), splits=("train",))
    ax = _axis(fig, r"$J((1-\alpha)\theta_0 + \alpha\theta_1)$")
    assert ax.get_xlim() == pytest.approx((lo, hi), abs=0, rel=1e-15)
    assert _vertical_lines(ax) == marks
    curve = next(c for c in ax.get_lines() if len(c.get_xdata()) == 200)
    x = np.asarray(curve.get_xdata())
    assert (x.max() - x.min()) / np.subtract(*ax.get_xlim()[::-1]) == pytest.approx(1.0)
    # the error axis (twin) shares the limits
    twin = _axis(fig, "classification error")
    assert twin.get_xlim() == ax.get_xlim()


def test_interpolation_of_several_ranges_spans_them_all():
    fig = plot_interpolation({"a": _line(0.0, 0.01), "b": _line(0.99, 1.0)}, error=False)
    (ax,) = fig.axes
    assert ax.get_xlim() == (0.0, 1.0) and _vertical_lines(ax) == [0.0, 1.0]


def _analysis(accuracy: np.ndarray) -> SubspaceAnalysis:
    steps = np.arange(0, 301, 4)
    n = len(steps)
    scalars = {
        "fraction": np.linspace(0.2, 0.9, n),
        "overlap": np.linspace(0.5, 0.95, n),
        "loss": np.linspace(2.0, 0.1, n),
        "accuracy": accuracy,
    }
    return SubspaceAnalysis(steps, 2, scalars, np.ones((n, 4)), np.ones((n, 4)))


def test_fraction_figure_draws_sparse_accuracy_and_skips_missing_accuracy():
    n = len(np.arange(0, 301, 4))
    accuracy = np.full(n, np.nan)
    accuracy[::5] = np.linspace(0.1, 0.95, len(accuracy[::5]))
    fig = plot_top_subspace_fraction(_analysis(accuracy))
    (line,) = _axis(fig, "accuracy").get_lines()
    assert len(line.get_ydata()) == np.isfinite(accuracy).sum() == 16
    assert np.isfinite(line.get_ydata()).all() and line.get_marker() == "o"
    (loss,) = _axis(fig, "loss").get_lines()
    assert len(loss.get_xdata()) == n and loss.get_marker() in ("None", "", None)
    # regression: no accuracy at all, no accuracy line
    fig = plot_top_subspace_fraction(_analysis(np.full(n, np.nan)))
    assert _axis(fig, "accuracy").get_lines() == []
