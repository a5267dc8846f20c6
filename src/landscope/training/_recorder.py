"""Recording a training run: which series exist, what is appended at each step, checkpoints.

The loop (:mod:`landscope.training._loop`) steps; this module decides what goes to disk.  The
series names and conventions are those of :class:`landscope.runs.Series`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from landscope.config import RunConfig
from landscope.plugins import OnlineAnalysis, StepContext
from landscope.problem import Problem
from landscope.runs import Series, analysis_series

__all__ = ["RunRecorder"]


class RunRecorder:
    """Appends a run's records to a :class:`~landscope.runs.TrajectoryWriter`.

    Args:
        writer: the open writer of the run folder.
        config: the run config (its ``record`` section says what is recorded).
        problem, test_problem: full-dataset evaluation (test may be None).
        params_steps, eval_steps: the steps at which theta / the metrics are recorded.
        analyses: online analyses, called at their steps.
        total_steps: the last step T (analyses are also called there).
    """

    def __init__(
        self,
        writer,
        config: RunConfig,
        problem: Problem,
        test_problem: Problem | None,
        *,
        params_steps: np.ndarray,
        eval_steps: np.ndarray,
        analyses: Iterable[OnlineAnalysis],
        total_steps: int,
    ):
        self.writer, self.config = writer, config
        self.problem, self.test_problem = problem, test_problem
        self.params_steps, self.eval_steps = params_steps, eval_steps
        self._params_set = set(params_steps.tolist())
        self._eval_set = set(eval_steps.tolist())
        self.analyses = list(analyses)
        self.total_steps = total_steps
        self._analysis_state: dict[str, dict] = {a.name: {} for a in self.analyses}
        self._auto: set[str] = set()
        self.last_eval: dict[str, float] = {}
        self.last_eval_step: int | None = None

    # --- declaration -------------------------------------------------------------------------
    def declare_series(self) -> None:
        """Declare the fixed series of this run (online analyses declare theirs on first use)."""
        writer, rc, p = self.writer, self.config.record, self.problem.num_params
        np_dtype = np.dtype("float32" if self.problem.dtype == torch.float32 else "float64")
        flush = rc.flush_every
        column_chunk = p if p <= 1 << 16 else 1 << 16
        if len(self.params_steps):
            writer.add_series(
                Series.PARAMS,
                shape=(p,),
                dtype=np_dtype,
                chunk_rows=flush,
                column_chunk=column_chunk,
                description="theta(t), parameters after t updates",
            )
            if rc.updates:
                writer.add_series(
                    Series.UPDATES,
                    shape=(p,),
                    dtype=np_dtype,
                    chunk_rows=flush,
                    column_chunk=column_chunk,
                    description="theta(t+1) - theta(t)",
                )
        if rc.batches:
            writer.add_series(
                Series.BATCH_INDICES,
                shape=(self.config.training.batch_size,),
                dtype=np.int64,
                chunk_rows=flush,
                description="minibatch sample indices of update t (-1 pads a ragged last batch)",
            )
            writer.add_series(
                Series.BATCH_LOSS,
                shape=(),
                dtype=np.float64,
                chunk_rows=flush,
                description="minibatch loss at theta(t)",
            )
        if rc.lr:
            writer.add_series(
                Series.LR,
                shape=(),
                dtype=np.float64,
                chunk_rows=flush,
                description="learning rate of update t",
            )
        if len(self.eval_steps):
            splits = ["train"] + (["test"] if self.test_problem is not None else [])
            keys = ["loss"] + (["accuracy"] if self.problem.task == "classification" else [])
            for s in splits:
                for k in keys:
                    writer.add_series(
                        f"{s}_{k}",
                        shape=(),
                        dtype=np.float64,
                        chunk_rows=64,
                        description=f"full {s}-set {k} at theta(t)",
                    )

    # --- what is recorded at theta(step), before its update ----------------------------------
    def at_step(self, step: int, epoch: int, lr: float, theta: torch.Tensor) -> None:
        """theta(step) when it is a params step, the metrics when an eval step, the online
        analyses due at ``step``."""
        if step in self._params_set:
            self.writer.append(Series.PARAMS, step, theta)
        if step in self._eval_set:
            self.last_eval = self._evaluate(step, theta)
            self.last_eval_step = step
        for analysis in self.analyses:
            if step % analysis.every == 0 or step == self.total_steps:
                ctx = StepContext(
                    step,
                    epoch,
                    theta,
                    self.problem,
                    self.test_problem,
                    lr,
                    self._analysis_state[analysis.name],
                )
                for key, value in (analysis(ctx) or {}).items():
                    self._append_auto(analysis_series(analysis.name, key), step, value)

    # --- what is recorded about update ``step`` ----------------------------------------------
    def update(
        self,
        step: int,
        batch: torch.Tensor,
        loss: torch.Tensor,
        lr: float,
        update: torch.Tensor,
        penalties: dict[str, torch.Tensor],
    ) -> None:
        """The minibatch, its loss and penalties, the learning rate and the applied update of
        update ``step`` (each when the config records it)."""
        rc, bs = self.config.record, self.config.training.batch_size
        if rc.batches and step % rc.batches_every == 0:
            if batch.numel() < bs:  # ragged last batch: pad with -1
                pad = torch.full((bs - batch.numel(),), -1, dtype=batch.dtype)
                batch = torch.cat([batch, pad])
            self.writer.append(Series.BATCH_INDICES, step, batch)
            self.writer.append(Series.BATCH_LOSS, step, loss)
            for name, value in penalties.items():
                self._append_auto(analysis_series("penalty", name), step, value)
        if rc.lr:
            self.writer.append(Series.LR, step, lr)
        if rc.updates and step in self._params_set:
            self.writer.append(Series.UPDATES, step, update)

    # --- internals ---------------------------------------------------------------------------
    def _evaluate(self, step: int, theta: torch.Tensor) -> dict[str, float]:
        result = {}
        for prefix, problem in (("train", self.problem), ("test", self.test_problem)):
            if problem is None:
                continue
            for key, value in problem.evaluate(theta).items():
                result[f"{prefix}_{key}"] = value
                self.writer.append(f"{prefix}_{key}", step, value)
        return result

    def _append_auto(self, name: str, step: int, value: Any) -> None:
        """Append to a series declared on first use from the value's shape and dtype."""
        if name not in self._auto:
            arr = (
                value.detach().cpu().numpy()
                if isinstance(value, torch.Tensor)
                else np.asarray(value)
            )
            # Scalars and vectors are stored in float64; matrices (e.g. eigenvector bases, which
            # can be megabytes per record) keep their floating dtype, and their chunks hold as
            # many records as fit in about 4 MB, so a flush never rewrites a huge chunk.
            if arr.dtype.kind in "iub" or (arr.ndim >= 2 and arr.dtype.kind == "f"):
                dtype = arr.dtype
            else:
                dtype = np.dtype("float64")
            row_bytes = max(1, arr.size * dtype.itemsize)
            chunk_rows = int(max(1, min(64, (4 << 20) // row_bytes)))
            self.writer.add_series(
                name,
                shape=arr.shape,
                dtype=dtype,
                chunk_rows=chunk_rows,
                description="online analysis",
            )
            self._auto.add(name)
        self.writer.append(name, step, value)
