"""The point cloud of Fjellstrom & Nystrom sec. 2: ``X = {x(t_i)}_{i=1..M}``, the iterates of one
or several recorded runs, in the full parameter space or a layer / parameter group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscope.runs import Run, Series, open_run

__all__ = ["PointCloud", "point_cloud", "select_cloud_steps"]


@dataclass
class PointCloud:
    """The iterates ``x_i`` (M, m) of one or several runs.

    Attributes:
        points: float64 array (M, m): theta(step) restricted to the selected coordinates.
        steps: int64 (M,): the training step of each point.
        run_index: int64 (M,): which of :attr:`runs` each point comes from.
        runs: the run folders, as strings.
        params: the parameter group (``None``: all of theta; a layer or parameter name, list).
        columns: int64 (m,): the selected entries of theta.
        num_params: p, the length of the full theta.
    """

    points: np.ndarray
    steps: np.ndarray
    run_index: np.ndarray
    runs: list[str]
    params: str | list[str] | None = None
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    num_params: int = 0

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def subset(self, rows: Sequence[int] | np.ndarray) -> PointCloud:
        """The points at ``rows`` (e.g. a rolling window)."""
        rows = np.asarray(rows, dtype=np.int64)
        return PointCloud(
            self.points[rows],
            self.steps[rows],
            self.run_index[rows],
            list(self.runs),
            self.params,
            self.columns,
            self.num_params,
        )


def select_cloud_steps(
    run: Run,
    *,
    steps: Sequence[int] | None = None,
    every: int | None = None,
    start: int | None = None,
    stop: int | None = None,
    max_points: int | None = None,
) -> list[int]:
    """The recorded ``params`` steps that become points: ``steps`` as given, or every
    ``every``-th recorded step in ``[start, stop)`` (:meth:`Run.select_steps`, last included), then
    thinned to at most ``max_points`` evenly spaced ones (first and last kept)."""
    chosen = run.select_steps(steps=steps, every=every, start=start, stop=stop)
    if max_points is not None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        if len(chosen) > max_points:
            pick = np.unique(np.round(np.linspace(0, len(chosen) - 1, max_points)).astype(int))
            chosen = [chosen[i] for i in pick]
    return chosen


def point_cloud(
    runs: Run | str | Path | Sequence[Run | str | Path],
    *,
    steps: Sequence[int] | None = None,
    every: int | None = None,
    start: int | None = None,
    stop: int | None = None,
    max_points: int | None = None,
    params: str | list[str] | None = None,
) -> PointCloud:
    """The iterates of one run, or several runs merged (same parameter layout), as a point cloud.

    Args:
        runs: a :class:`~landscope.runs.Run` or run folder, or a list of them (points stacked in
            order; :attr:`PointCloud.run_index` tells them apart).
        steps, every, start, stop, max_points: which recorded steps (:func:`select_cloud_steps`),
            applied to each run.
        params: a layer or parameter name (or a list) of the run's layout
            (:func:`landscope.curvature.select_parameters`): only those coordinates.

    Returns:
        :class:`PointCloud` with float64 points.

    Raises:
        ValueError: runs with different layouts, or a selection that leaves no points.
        KeyError: ``params`` names no layer or parameter (the message lists them).
    """
    from landscope.curvature import select_parameters

    if isinstance(runs, (Run, str, Path)):
        runs = [runs]
    opened = [r if isinstance(r, Run) else open_run(r) for r in runs]
    if not opened:
        raise ValueError("no runs given")
    layout = opened[0].layout
    if layout is None:
        raise ValueError(f"run {opened[0].path} records no parameter layout")
    for r in opened[1:]:
        if r.layout is None or r.layout.to_dicts() != layout.to_dicts():
            raise ValueError(
                f"runs {opened[0].path} and {r.path} have different parameter layouts: "
                "their iterates are not points of one space"
            )
    selection = select_parameters(layout, params)
    columns = selection.index.numpy().astype(np.int64)
    blocks, all_steps, index = [], [], []
    for k, r in enumerate(opened):
        chosen = select_cloud_steps(
            r, steps=steps, every=every, start=start, stop=stop, max_points=max_points
        )
        cols = None if selection.is_full else columns
        blocks.append(np.asarray(r.read(Series.PARAMS, steps=chosen, columns=cols), np.float64))
        all_steps.append(np.asarray(chosen, dtype=np.int64))
        index.append(np.full(len(chosen), k, dtype=np.int64))
    return PointCloud(
        np.concatenate(blocks),
        np.concatenate(all_steps),
        np.concatenate(index),
        [str(r.path) for r in opened],
        params,
        columns,
        layout.num_params,
    )
