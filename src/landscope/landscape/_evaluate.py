"""Evaluate the empirical risk (and accuracy) at many parameter vectors.

Every landscape analysis (Goodfellow, Vinyals & Saxe 2015, sec. 2 and App. C, D) evaluates
``J(theta)`` at many points ``theta`` of a line or a plane.  Most tools load each point into the
model (or a fresh copy of it) and call it, one Python round trip per point.  Here:

- points are built from their coordinates in blocks (stacked parameter vectors, shape (m, p),
  computed in place from the plane's vectors, never by walking the model in place);
- a small model is evaluated on a whole batch of points at once with
  ``torch.func.vmap(problem.output)`` (one batched matrix product per layer instead of m small
  ones), the batch sized by a memory bound -- this is where batching pays: on a GPU, and for
  small models whose forward pass is shorter than Python's per-call overhead;
- a model too large to batch is evaluated point by point on one private copy whose parameters
  are views into a flat buffer, so loading a point is one ``copy_`` and evaluating it is the
  plain forward pass (measured within 10% of the bare forward pass, benchmarks/bench_surface.py).

The user's model is never modified.  BatchNorm is handled explicitly (see :data:`BN_MODES`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.func import vmap
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from landscope._results_io import write_atomic, write_json_atomic
from landscope.data import subset_indices
from landscope.problem import Problem

__all__ = [
    "BN_MODES",
    "Evaluation",
    "GridStore",
    "PointEvaluator",
    "evaluate_points",
    "has_batchnorm",
]

BNMode = Literal["freeze", "recompute"]
BN_MODES = ("freeze", "recompute")
"""How BatchNorm layers are treated at each evaluated point:

- ``"freeze"``: the Problem's own mode.  With ``Problem(train_mode=False)`` (the default) the
  running statistics stored in the model are used at every point (they belong to the model's
  own parameters, not to the point; the loss is a deterministic function of theta).  With
  ``train_mode=True`` every chunk is normalized by its own batch statistics.
- ``"recompute"``: at each point the running statistics are re-estimated from scratch by a
  forward pass in train mode over the evaluated samples (cumulative average over chunks,
  ``momentum=None``), then the loss is evaluated in eval mode with those statistics.  This is
  what a model whose parameters were *trained* to theta would have; it costs one extra forward
  pass per point and is evaluated point by point (no batching over points).
"""

_MAX_BATCH_POINTS = 4096
_MIN_BATCH_POINTS = 8


def has_batchnorm(model: nn.Module) -> bool:
    """True if ``model`` contains a BatchNorm layer that tracks running statistics."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for m in model.modules()
    )


def affine_rows(
    terms: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rows ``sum_k c_k[i] v_k`` for terms ``(c_k (m,), v_k (p,) or (m, p))``: shape (m, p).

    Evaluated term by term in place (``mul`` then ``addcmul_``) into ``out`` (reusable, no
    temporaries: building points is memory-bound and fresh (m, p) buffers cost more than the
    arithmetic).  Elementwise, so a row is the same whatever batch it is computed in; a term
    whose coefficient is exactly 0 adds an exact zero, so e.g. ``(1 - a) x + a y`` is ``y``
    bitwise at ``a = 1``.  Coefficients are rounded to ``dtype`` from their own precision.
    """
    (c0, v0), rest = terms[0], terms[1:]
    m = c0.shape[0]
    p = v0.shape[-1]
    if out is None:
        out = torch.empty((m, p), dtype=dtype, device=device)
    torch.mul(v0.to(device, dtype), c0.to(device, dtype).reshape(-1, 1), out=out)
    for c, v in rest:
        out.addcmul_(c.to(device, dtype).reshape(-1, 1), v.to(device, dtype))
    return out


class RowBuffer:
    """A reusable (m, p) buffer for blocks of points (grown on demand)."""

    def __init__(self) -> None:
        self._buf: torch.Tensor | None = None

    def get(self, m: int, p: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        buf = self._buf
        if (
            buf is None
            or buf.shape[0] < m
            or buf.shape[1] != p
            or buf.dtype != dtype
            or buf.device != torch.device(device)
        ):
            buf = self._buf = torch.empty((m, p), dtype=dtype, device=device)
        return buf[:m]


class _CountOutputs(TorchFunctionMode):
    """Adds up the number of elements of every tensor produced by torch functions in a block:
    an upper bound on the memory a forward pass allocates (used to size batches of points)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.elements += leaf.numel()
        return out


def _elements_per_sample(
    problem: Problem, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> int:
    """Tensor elements one forward pass allocates per sample (difference of a 2-sample and a
    1-sample pass, so parameter views and other per-call constants cancel)."""
    counts = []
    with torch.no_grad():
        for n in (1, 2):
            xs, ys = torch.cat([x[:1]] * n), torch.cat([y[:1]] * n)
            mode = _CountOutputs()
            with mode:
                problem.per_sample_loss(problem.output(theta, xs), ys)
            counts.append(mode.elements)
    return max(1, counts[1] - counts[0])


class _LoadedCopy:
    """A private copy of the Problem's model whose parameters are views into one flat buffer:
    loading a point is one ``copy_`` of p numbers, and evaluating it is a plain forward call,
    without the per-call cost of ``functional_call`` (which re-binds every parameter).  One copy
    per analysis, not per point; the user's model is never touched."""

    def __init__(self, problem: Problem):
        self.model = copy.deepcopy(problem.model).eval()
        self.flat = torch.zeros(problem.num_params, dtype=problem.dtype, device=problem.device)
        named = dict(self.model.named_parameters())
        for slot in problem.layout:
            param = named[slot.name]
            param.requires_grad_(False)
            param.data = self.flat[slot.slice].view(slot.shape)

    def load(self, theta: torch.Tensor) -> nn.Module:
        self.flat.copy_(theta)
        return self.model


def _check_options(bn: str, batch_points: object, memory_mb: float | None) -> None:
    """The one check of the evaluation options (:class:`PointEvaluator`, :class:`Evaluation`)."""
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    if not (
        batch_points == "auto"
        or (
            isinstance(batch_points, int)
            and not isinstance(batch_points, bool)
            and batch_points >= 1
        )
    ):
        raise ValueError(f"batch_points must be a positive integer or 'auto', got {batch_points!r}")
    if memory_mb is not None and not memory_mb > 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")


class PointEvaluator:
    """Mean loss and accuracy of one :class:`Problem` at a batch of parameter vectors.

    Args:
        problem: the model, loss and data.
        indices: the samples the loss is averaged over (all by default).
        batch_points: how many points are evaluated per ``torch.func.vmap`` call: an int
            (1 = point by point, no ``vmap``), or ``"auto"``: as many as fit in ``memory_mb``.
        memory_mb: the memory bound of ``"auto"``: the activations of one chunk of the
            Problem's data for all points of a batch, plus their parameter vectors.  Default
            256 MB on an accelerator and 8 MB on the CPU, where batching points pays only while
            a batch stays cache-sized.  When fewer than 8 points fit, "auto" evaluates point by
            point (batched products are then no faster than one model's on a CPU, move more
            memory, and vmap's per-call cost is not repaid).  Train mode (``Problem(...,
            train_mode=True)``) and ``bn="recompute"`` always run point by point.
        bn: BatchNorm handling, one of :data:`BN_MODES`.
        accuracy: also count correct classifications (classification problems); ``False``
            evaluates the loss alone.

    Calling the evaluator on ``thetas`` of shape (m, p) returns ``(loss, correct)``: float64
    tensors of shape (m,) on the Problem's device with the mean loss over the selected samples
    and the number of correctly classified samples (``None`` for regression).

    Point by point, the model is a private copy whose parameters are loaded from each theta
    (:class:`_LoadedCopy`), and the loss is accumulated as :meth:`Problem.loss` does, so it
    equals it bitwise.  Batched evaluation (``vmap`` over :meth:`Problem.output`) agrees to the
    rounding of batched matrix products.
    """

    def __init__(
        self,
        problem: Problem,
        indices: torch.Tensor | None = None,
        *,
        batch_points: int | Literal["auto"] = "auto",
        memory_mb: float | None = None,
        bn: BNMode = "freeze",
        accuracy: bool = True,
    ):
        _check_options(bn, batch_points, memory_mb)
        if memory_mb is None:
            memory_mb = 8.0 if problem.device.type == "cpu" else 256.0
        self.problem = problem
        self.indices = problem._indices(indices)
        self.num_selected = problem.num_selected(self.indices)
        self.classification = problem.task == "classification" and bool(accuracy)
        self.bn = bn if has_batchnorm(problem.model) else "freeze"
        self.memory_mb = float(memory_mb)
        # Point-by-point evaluation where batching over points cannot work: BatchNorm whose
        # statistics change per point (recompute re-estimates them) and train mode (BatchNorm
        # writes into buffers, dropout draws random masks, neither of which vmap batches).
        self._pointwise_only = self.bn == "recompute" or problem.train_mode
        self._requested = batch_points
        self._batch_points: int | None = 1 if (batch_points == 1 or self._pointwise_only) else None
        self._copy: _LoadedCopy | None = None
        self._chunk_cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    # --- sizing --------------------------------------------------------------------------------
    def batch_points(self, theta: torch.Tensor) -> int:
        """The number of points per batch (resolved on first use for ``"auto"``)."""
        if self._batch_points is None:
            if self._requested != "auto":
                self._batch_points = int(self._requested)
            else:
                self._batch_points = self._auto_batch_points(theta)
        return self._batch_points

    def _auto_batch_points(self, theta: torch.Tensor) -> int:
        problem = self.problem
        x, y = next(iter(self._chunks()))
        per_sample = _elements_per_sample(problem, theta, x, y)
        itemsize = torch.empty((), dtype=problem.dtype).element_size()
        per_point = (per_sample * x.shape[0] + 2 * problem.num_params) * itemsize
        m = int(self.memory_mb * 2**20 // max(per_point, 1))
        # vmap's per-call cost is only repaid by batches of several points; fewer than
        # _MIN_BATCH_POINTS fit: the model is big enough to run point by point at full speed.
        return 1 if m < _MIN_BATCH_POINTS else min(m, _MAX_BATCH_POINTS)

    # --- evaluation ----------------------------------------------------------------------------
    def __call__(
        self, thetas: torch.Tensor, *, pointwise: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(loss, correct)`` at each row of ``thetas``; ``pointwise=True`` evaluates the rows
        one by one whatever ``batch_points`` says (bitwise equal to :meth:`Problem.loss`)."""
        parts: list = []
        self.evaluate_into(thetas, parts, pointwise=pointwise)
        return self.finish(parts)

    def evaluate_into(
        self,
        thetas: torch.Tensor,
        parts: list,
        *,
        pointwise: bool = False,
        step: int | None = None,
    ) -> None:
        """Evaluate the rows of ``thetas`` (m, p) batch by batch, appending
        ``(stop, loss_sums, correct)`` to ``parts`` as each batch of rows ``:stop`` is done, so
        the finished rows are known even if evaluation is interrupted.  :meth:`finish` turns
        the parts into mean losses and counts."""
        problem = self.problem
        if thetas.ndim != 2 or thetas.shape[1] != problem.num_params:
            raise ValueError(
                f"thetas must have shape (m, {problem.num_params}), got {tuple(thetas.shape)}"
            )
        thetas = thetas.to(device=problem.device, dtype=problem.dtype)
        if step is None:
            step = 1 if pointwise else self.batch_points(thetas[0])
        m = thetas.shape[0]
        with torch.no_grad():
            if step == 1:
                for k in range(m):
                    loss_sum, correct = self._one(thetas[k])
                    parts.append((k + 1, loss_sum, correct))
            else:
                for start in range(0, m, step):
                    stop = min(start + step, m)
                    loss_sums, correct = self._batched(thetas[start:stop])
                    parts.append((stop, loss_sums, correct))

    def finish(
        self, parts: list, rows: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean losses (float64, (rows,)) and correct counts (float64 or ``None``) of the first
        ``rows`` rows (default: all) of ``parts`` from :meth:`evaluate_into`.  The division by
        the number of samples happens in the Problem's dtype, as in :meth:`Problem.loss`."""
        sums = torch.cat([p[1].reshape(-1) for p in parts])[:rows]
        loss = (sums / self.num_selected).to(torch.float64)
        correct = None
        if self.classification:
            correct = torch.cat([p[2].reshape(-1) for p in parts])[:rows].to(torch.float64)
        return loss, correct

    def _one(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Summed loss over the selected samples (and correct count) at one point.  Sums chunk
        by chunk like :meth:`Problem.loss` (which starts from a zero: 0 + s is s exactly)."""
        problem = self.problem
        total = correct = None
        if problem.train_mode:
            # Problem.output copies the buffers per call (running statistics never updated).
            outputs = ((problem.output(theta, x), y) for x, y in self._chunks())
        else:
            if self._copy is None:
                self._copy = _LoadedCopy(problem)
            model = self._copy.load(theta)
            if self.bn == "recompute":
                self._recompute_statistics(model)
            # the private copy stays in eval mode (toggling module flags costs per point)
            outputs = ((problem._guarded(model, x), y) for x, y in self._chunks())
        for out, y in outputs:
            chunk = problem.per_sample_loss(out, y).sum()
            total = chunk if total is None else total + chunk
            if self.classification:
                c = problem._correct(out, y)
                correct = c if correct is None else correct + c
        return total, correct

    def _recompute_statistics(self, model: nn.Module) -> None:
        """BatchNorm running statistics of the loaded point, re-estimated from the evaluated
        samples: reset, then one train-mode pass with a cumulative average (momentum None)."""
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
                module.reset_running_stats()
                module.momentum = None
        model.train()
        for x, _ in self._chunks():
            self.problem._guarded(model, x)
        model.eval()

    def _chunks(self) -> list[tuple[torch.Tensor, torch.Tensor]] | Iterator:
        """The evaluated chunks; for in-memory data gathered once (a subset is then copied
        once per analysis, not once per point), for a map-style dataset read each time."""
        if self.problem.data is None:
            return self.problem.chunks(self.indices)
        if self._chunk_cache is None:
            self._chunk_cache = list(self.problem.chunks(self.indices))
        return self._chunk_cache

    def _batched(self, thetas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        problem = self.problem
        classification = self.classification

        def stats(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
            out = problem.output(theta, x)
            loss = problem.per_sample_loss(out, y).sum()
            if classification:
                return loss, problem._correct(out, y)
            return loss, loss.new_zeros((), dtype=torch.long)

        batched = vmap(stats, in_dims=(0, None, None))
        total = correct = None
        # The fused attention kernels have no vmap batching rule (torch falls back to a loop over
        # the points, with a warning); the math kernel of Problem.derivatives() has one.
        with problem.derivatives():
            for x, y in self._chunks():
                loss_sum, num_correct = batched(thetas, x, y)
                total = loss_sum if total is None else total + loss_sum
                correct = num_correct if correct is None else correct + num_correct
        return total, correct


def evaluate_points(
    problem: Problem,
    thetas: torch.Tensor,
    *,
    indices: torch.Tensor | np.ndarray | None = None,
    batch_points: int | Literal["auto"] = "auto",
    memory_mb: float | None = None,
    bn: BNMode = "freeze",
    accuracy: bool = True,
) -> dict[str, np.ndarray]:
    """Mean loss (and accuracy) of ``problem`` at each row of ``thetas`` (shape (m, p)).

    Returns ``{"loss": (m,), "accuracy": (m,)}`` as float64 NumPy arrays (no ``"accuracy"``
    for regression).  See :class:`PointEvaluator` for the arguments.

    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> problem = Problem(model, "cross_entropy", (torch.randn(5, 2), torch.tensor([0, 1, 0, 1, 1])))
    >>> theta = problem.theta_from_model()
    >>> out = evaluate_points(problem, torch.stack([theta, 2 * theta]))
    >>> bool(out["loss"][0] == problem.loss(theta).item()), out["loss"].shape
    (True, (2,))
    """
    evaluator = PointEvaluator(
        problem, indices, batch_points=batch_points, memory_mb=memory_mb, bn=bn, accuracy=accuracy
    )
    loss, correct = evaluator(thetas)
    result = {"loss": loss.cpu().numpy()}
    if correct is not None:
        result["accuracy"] = (correct / evaluator.num_selected).cpu().numpy()
    return result


# --- resumable grids ----------------------------------------------------------------------------


def fingerprint(*parts: object) -> str:
    """SHA-256 over tensors, arrays and JSON-able values: identifies the inputs of a grid so a
    resumed grid is refused when anything it depends on changed."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            part = part.detach().to("cpu", torch.float64).contiguous().numpy()
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"|")
    return h.hexdigest()


def problem_signature(problem: Problem) -> dict:
    """What identifies a Problem's loss for resuming: sizes, loss, dtype, mode and a checksum
    of the data (sum and sum of squares of inputs and targets, in float64)."""
    info: dict = {
        "num_params": problem.num_params,
        "num_samples": problem.num_samples,
        "loss": problem.loss_name,
        "dtype": str(problem.dtype),
        "train_mode": problem.train_mode,
        "layout": problem.layout.names,
    }
    data = problem.data
    if data is not None:
        xs, ys = data.x.double(), data.y.double()
        info["data_checksum"] = [
            float(xs.sum()),
            float(xs.square().sum()),
            float(ys.sum()),
            float(ys.square().sum()),
        ]
    return info


class GridStore:
    """A resumable grid of values on disk: a folder with ``meta.json`` and ``values.npz``.

    ``values.npz`` holds one float64 array per metric with the grid's shape, NaN where a cell
    is not computed yet, and a boolean ``done`` mask.  It is rewritten atomically (write to a
    temporary file, then ``os.replace``), so an interrupted run leaves the last flushed state;
    re-running with the same inputs (same ``fingerprint``) continues from there.

    Args:
        path: the folder (created if missing).
        shape: the grid's shape.
        metrics: the metric names.
        fingerprint: identifies the inputs; a stored grid with another fingerprint is refused
            (``overwrite=True`` starts afresh instead).
        meta: JSON-able description stored in ``meta.json``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, ...],
        metrics: list[str],
        fingerprint: str,
        meta: dict | None = None,
        *,
        overwrite: bool = False,
    ):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.metrics = list(metrics)
        self.fingerprint = fingerprint
        self.path.mkdir(parents=True, exist_ok=True)
        meta_file = self.path / "meta.json"
        values_file = self.path / "values.npz"
        self.values = {k: np.full(self.shape, np.nan) for k in self.metrics}
        self.done = np.zeros(self.shape, dtype=bool)
        if meta_file.exists() and not overwrite:
            stored = json.loads(meta_file.read_text())
            if (
                stored.get("fingerprint") != fingerprint
                or tuple(stored.get("shape", ())) != self.shape
            ):
                raise ValueError(
                    f"{self.path} holds a grid of other inputs (fingerprint or shape differ); "
                    "use another folder or overwrite=True"
                )
            if values_file.exists():
                with np.load(values_file) as stored_values:
                    for k in self.metrics:
                        if k in stored_values:
                            self.values[k] = stored_values[k].astype(np.float64)
                    self.done = stored_values["done"].astype(bool)
        else:
            if values_file.exists():
                values_file.unlink()
            body = {
                "fingerprint": fingerprint,
                "shape": list(self.shape),
                "metrics": self.metrics,
                **(meta or {}),
            }
            write_json_atomic(meta_file, body, indent=2)

    @property
    def num_done(self) -> int:
        return int(self.done.sum())

    def flush(self) -> None:
        """Write the current values and ``done`` mask (atomically)."""
        buffer = io.BytesIO()
        np.savez(buffer, done=self.done, **self.values)
        write_atomic(self.path / "values.npz", buffer.getbuffer())


def evaluate_cells(
    evaluators: dict[str, PointEvaluator],
    points: Callable[[np.ndarray], torch.Tensor],
    shape: tuple[int, ...],
    *,
    store: GridStore | None = None,
    progress: bool = False,
    flush_seconds: float = 10.0,
    description: str = "points",
    exact_cells: Iterable[int] = (),
) -> dict[str, np.ndarray]:
    """Fill a grid of ``shape`` with the metrics of each evaluator at ``points(cells)``.

    ``points(cells)`` maps flat cell indices (int array, row-major over ``shape``) to the stacked
    parameter vectors (len(cells), p).  Cells already ``done`` in ``store`` are skipped; the
    store is flushed every ``flush_seconds`` and when the loop ends for any reason (including an
    exception or Ctrl-C), so an interrupted grid resumes where it stopped.  ``exact_cells`` (the
    cells that are a line's endpoints) are evaluated one by one, so their values equal
    :meth:`Problem.loss` / :meth:`Problem.evaluate` at those points bitwise whatever the batch
    size (batched products round differently in the last bits).  Returns
    ``{"<split>_loss": array, "<split>_accuracy": array, ...}`` with ``shape``.
    """
    metrics = _metric_names(evaluators)
    if store is None:
        values = {k: np.full(shape, np.nan) for k in metrics}
        done = np.zeros(shape, dtype=bool)
    else:
        values, done = store.values, store.done
    flat_values = {k: v.reshape(-1) for k, v in values.items()}
    flat_done = done.reshape(-1)
    todo = np.flatnonzero(~flat_done)
    if todo.size == 0:
        return values
    first = points(todo[:1])
    step = min(ev.batch_points(first[0]) for ev in evaluators.values())
    # Blocks of cells whose parameter vectors are built at once: one batch of the evaluators,
    # or for point-by-point evaluation a few points, at most about 1 MB of them, so the block
    # stays in cache (building large blocks is memory-bound and would cost more per point than
    # loading it into the model).
    row_bytes = max(first.shape[1] * first.element_size(), 1)
    block = step if step > 1 else max(1, min(256, 2**20 // row_bytes))
    exact = np.intersect1d(np.asarray(list(exact_cells), dtype=np.int64), todo)
    batches = [(exact, True)] if exact.size else []
    rest = np.setdiff1d(todo, exact)
    batches += [(rest[k : k + block], False) for k in range(0, rest.size, block)]
    bar = None
    if progress:
        from landscope._progress import progress_bar

        bar = progress_bar(
            total=flat_done.size, initial=int(flat_done.sum()), unit="pt", desc=description
        )
    last_flush = time.monotonic()
    try:
        splits = list(evaluators.items())
        for block_cells, pointwise in batches:
            block_thetas = points(block_cells)
            parts: dict[str, list] = {split: [] for split, _ in splits}
            try:
                for split, evaluator in splits:
                    evaluator.evaluate_into(
                        block_thetas,
                        parts[split],
                        pointwise=pointwise,
                        step=1 if pointwise else step,
                    )
            finally:
                # record the rows every split finished (all of them unless interrupted)
                rows = min((p[-1][0] if p else 0) for p in parts.values())
                if rows:
                    cells = block_cells[:rows]
                    for split, evaluator in splits:
                        loss, correct = evaluator.finish(parts[split], rows)
                        flat_values[f"{split}_loss"][cells] = loss.cpu().numpy()
                        if correct is not None:
                            flat_values[f"{split}_accuracy"][cells] = (
                                (correct / evaluator.num_selected).cpu().numpy()
                            )
                    flat_done[cells] = True
                    if bar is not None:
                        bar.update(rows)
            if store is not None and time.monotonic() - last_flush >= flush_seconds:
                store.flush()
                last_flush = time.monotonic()
    finally:
        if store is not None:
            store.flush()
        if bar is not None:
            bar.close()
    return values


def _metric_names(evaluators: dict[str, PointEvaluator]) -> list[str]:
    names = []
    for split, evaluator in evaluators.items():
        names.append(f"{split}_loss")
        if evaluator.classification:
            names.append(f"{split}_accuracy")
    return names


# --- the settings of a landscape analysis ----------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """How a landscape analysis evaluates the loss at its points: on which samples, how
    BatchNorm is treated, in what batches, and what it reports while it runs.

    One settings object instead of the same nine keyword arguments on every function: build it
    once (the CLI builds it from its flags) and hand it to :func:`interpolate`,
    :func:`high_resolution_interpolations`, :func:`evaluate_surface` or :func:`surface`; they
    turn it into one :class:`PointEvaluator` per split with :meth:`evaluators`, the only place
    where these options reach the evaluator.  ``Evaluation()`` (the default of every analysis)
    evaluates loss and accuracy on all samples with the Problem's own BatchNorm mode.

    Attributes:
        subset: evaluate on a seeded random subset of this many samples of each split
            (``None``: all samples).  The training split draws
            :func:`landscope.data.subset_indices` ``(n, subset, seed)``, the test split
            ``(n_test, subset, seed + 1)``: the library's one subset rule, so the same seed gives
            a surface and a Hessian the same samples.
        seed: the seed of the subset.
        indices: or evaluate the training split on exactly these sample indices (stored as a
            tuple of ints; not together with ``subset``; the test split then uses all samples).
        bn: BatchNorm handling, one of :data:`BN_MODES`.
        batch_points: points per ``torch.func.vmap`` call, an int (1: point by point) or
            ``"auto"`` (as many as fit in ``memory_mb``); see :class:`PointEvaluator`.
        memory_mb: the memory bound of ``"auto"`` (default 8 MB on the CPU, 256 MB on an
            accelerator).
        accuracy: also count correct classifications (classification problems).
        progress: show a progress bar with the remaining time.
        flush_seconds: how often a resumable grid (``evaluate_surface(..., store=...)``) is
            written to disk (it is also written when the evaluation ends or is interrupted).

    >>> Evaluation(subset=1000, bn="recompute").seed
    0
    """

    subset: int | None = None
    seed: int = 0
    indices: Sequence[int] | None = None
    bn: BNMode = "freeze"
    batch_points: int | Literal["auto"] = "auto"
    memory_mb: float | None = None
    accuracy: bool = True
    progress: bool = False
    flush_seconds: float = 10.0

    def __post_init__(self) -> None:
        _check_options(self.bn, self.batch_points, self.memory_mb)
        if self.subset is not None and self.indices is not None:
            raise ValueError("give either subset (a size) or indices, not both")
        if self.indices is not None:
            idx = self.indices
            if isinstance(idx, torch.Tensor):
                idx = idx.detach().cpu().numpy()
            object.__setattr__(self, "indices", tuple(int(i) for i in np.asarray(idx).reshape(-1)))
        if not self.flush_seconds >= 0:
            raise ValueError(f"flush_seconds must be non-negative, got {self.flush_seconds}")

    def evaluator(self, problem: Problem, indices: torch.Tensor | None = None) -> PointEvaluator:
        """A :class:`PointEvaluator` of ``problem`` on ``indices`` with these options."""
        return PointEvaluator(
            problem,
            indices,
            batch_points=self.batch_points,
            memory_mb=self.memory_mb,
            bn=self.bn,
            accuracy=self.accuracy,
        )

    def evaluators(
        self, problem: Problem, test_problem: Problem | None = None
    ) -> dict[str, PointEvaluator]:
        """``{"train": ..., "test": ...}`` evaluators (``"test"`` only with a ``test_problem``,
        which must have as many parameters as ``problem``), on the samples the settings
        select."""
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a Problem, got {type(problem).__name__}")
        if test_problem is not None:
            if not isinstance(test_problem, Problem):
                raise TypeError(
                    f"test_problem must be a Problem, got {type(test_problem).__name__}"
                )
            if test_problem.num_params != problem.num_params:
                raise ValueError(
                    f"test_problem has {test_problem.num_params} parameters, problem has "
                    f"{problem.num_params}"
                )
        train_idx = (
            self.indices
            if self.indices is not None
            else subset_indices(problem.num_samples, self.subset, self.seed)
        )
        evaluators = {"train": self.evaluator(problem, train_idx)}
        if test_problem is not None:
            test_idx = subset_indices(test_problem.num_samples, self.subset, self.seed + 1)
            evaluators["test"] = self.evaluator(test_problem, test_idx)
        return evaluators


def selected_indices(evaluators: dict[str, PointEvaluator]) -> dict[str, list[int] | None]:
    return {
        k: (None if ev.indices is None else ev.indices.tolist()) for k, ev in evaluators.items()
    }


def check_vector(
    name: str, value: torch.Tensor | np.ndarray, num_params: int | None = None
) -> torch.Tensor:
    """A parameter vector argument as a detached floating-point tensor of shape (p,) (``p =
    num_params`` when given, any length otherwise), or a one-line error naming ``name``."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    shape = "(p,)" if num_params is None else f"({num_params},)"
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {shape}, got {type(value).__name__}")
    if value.ndim != 1 or (num_params is not None and value.shape[0] != num_params):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {value.dtype}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} has non-finite entries")
    return value.detach()


def check_grid(name: str, values: Iterable[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    """A 1-D float64 coordinate array (alphas / betas), or a clear error."""
    arr = np.asarray(
        values.cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64
    ).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries")
    return arr
