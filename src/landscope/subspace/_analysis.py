"""The top-subspace analysis of a whole trajectory (Gur-Ari, Roberts & Dyer 2018), offline on a
recorded run or read back from the online tracker's series, as one data container.

:class:`SubspaceAnalysis` holds the per-step measurements (Fig. 1, 8, 11, Table 1) and, when
eigenvectors were kept, the subspace-overlap grid (Fig. 2) and the overlap-vs-dimension summary
(Fig. 3).  It is saved as ``NAME.npz`` + ``NAME.json`` (the eigenvectors in the .npz only).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from landscope._results_io import load_arrays, save_arrays
from landscope.data import subset_indices
from landscope.problem import Problem
from landscope.subspace._overlaps import overlap_vs_dimension, subspace_overlap_grid
from landscope.subspace._top_subspace import SCALAR_KEYS, infer_num_classes, measure_top_subspace

__all__ = [
    "SCALAR_KEYS",
    "SubspaceAnalysis",
    "WindowMean",
    "analyze_run",
    "analyze_trajectory",
    "read_tracked",
]


@dataclass(frozen=True)
class WindowMean:
    """The mean of a series over the last steps of training, and what it was taken over
    (:meth:`SubspaceAnalysis.mean_over_last`).

    ``float(w)`` and ``f"{w:.3f}"`` give the number, ``str(w)`` the number with its window.

    Attributes:
        value: the mean of the finite values in the window (NaN if there are none).
        key: the series.
        asked: the window asked for, in steps.
        span: the steps the window really covers: ``asked``, or fewer when the measurements
            start later (last step - first measured step; the run is shorter than asked).
        records: the finite measurements averaged.
        first_step, last_step: the first and the last step averaged (``None`` if none).
        all_recorded: the window holds every measurement of the series.
        skipped: non-finite values in the window left out of the mean.
    """

    value: float
    key: str
    asked: int
    span: int
    records: int
    first_step: int | None
    last_step: int | None
    all_recorded: bool
    skipped: int = 0

    def __float__(self) -> float:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec) if spec else str(self)

    def __str__(self) -> str:
        return f"{self.value:.4g}: {self.key}, {self.describe()}"

    def describe(self) -> str:
        """The window in words, e.g. "mean over the last 100 steps (25 records, steps
        204-300)" or "mean over the last 300 steps (all recorded, 76 records; 1000 asked)"."""
        skipped = f", {self.skipped} non-finite left out" if self.skipped else ""
        asked = f"; {self.asked} asked" if self.span < self.asked else ""
        if self.records == 0:
            return f"mean over the last {self.span} steps (no finite records{skipped}{asked})"
        if self.records == 1:
            return f"value at step {self.last_step} (the only record{skipped}{asked})"
        if self.span < self.asked:
            where = f"all recorded, {self.records} records"
        else:
            where = f"{self.records} records, steps {self.first_step}-{self.last_step}"
        return f"mean over the last {self.span} steps ({where}{skipped}{asked})"

    def as_dict(self) -> dict:
        """The fields as JSON-ready values."""
        return dataclasses.asdict(self)


@dataclass
class SubspaceAnalysis:
    """Top-subspace measurements along a trajectory.

    Attributes:
        steps: (T,) training steps.
        k: top subspace dimension.
        scalars: key -> (T,) float arrays, the keys of :data:`SCALAR_KEYS` (``fraction`` is
            f_top, eq. 2; ``overlap`` is overlap(g, Hg), eq. 3; ...).
        eigenvalues: (T, m) top Hessian eigenvalues, descending (m = k + next).
        weights: (T, m) c_i^2 (eq. 12).
        eigenvectors: (T_v, p, m) float32 at ``eigenvector_steps`` (T_v,), or ``None``.
        meta: how it was computed.
    """

    steps: np.ndarray
    k: int
    scalars: dict[str, np.ndarray]
    eigenvalues: np.ndarray
    weights: np.ndarray
    eigenvectors: np.ndarray | None = None
    eigenvector_steps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.scalars[key]
        except KeyError:
            raise KeyError(f"no series {key!r}; have {sorted(self.scalars)}") from None

    # --- summaries ---------------------------------------------------------------------------
    def mean_over_last(self, key: str = "overlap", last_steps: int = 1000) -> WindowMean:
        """Mean of ``key`` over the measurements with step > last step - ``last_steps``
        (Table 1: the mean overlap over the last 1,000 steps of training), with what it was
        really taken over: a run shorter than ``last_steps`` averages all its records, and
        says so (``str(result)``: "0.931: mean of overlap over the last 300 steps (all
        recorded, 76 records; 1000 asked)").  Non-finite values are left out and counted.

        >>> a = SubspaceAnalysis(np.arange(0, 301, 4), 1, {"overlap": np.full(76, 0.5)},
        ...                      np.zeros((76, 2)), np.zeros((76, 2)))
        >>> a.mean_over_last("overlap", 1000).describe()
        'mean over the last 300 steps (all recorded, 76 records; 1000 asked)'
        """
        if last_steps < 1:
            raise ValueError(f"last_steps must be positive, got {last_steps}")
        values = np.asarray(self[key], dtype=np.float64)
        if not len(self.steps):
            raise ValueError("the analysis holds no measurements")
        steps = np.asarray(self.steps)
        last = int(steps[-1])
        keep = steps > last - last_steps
        finite = keep & np.isfinite(values)
        records = int(finite.sum())
        used = steps[finite]
        return WindowMean(
            value=float(values[finite].mean()) if records else float("nan"),
            key=key,
            asked=int(last_steps),
            span=min(int(last_steps), last - int(steps[0])),
            records=records,
            first_step=int(used[0]) if records else None,
            last_step=int(used[-1]) if records else None,
            all_recorded=bool(keep.all()),
            skipped=int(keep.sum()) - records,
        )

    def weight_sums(self, step: int) -> dict[str, float]:
        """sum_{i<=k} c_i^2 and sum_{k<i<=2k} c_i^2 at ``step`` (Fig. 11's quoted sums)."""
        i = self._index(step)
        w = self.weights[i]
        return {
            "top": float(w[: self.k].sum()),
            "next": float(w[self.k :].sum()),
            "all": float(w.sum()),
        }

    def overlap_grid(self, which: str = "top") -> np.ndarray:
        """Fig. 2: (T_v, T_v) subspace overlaps (eq. 5) between the top k (``"top"``) or the next
        k (``"next"``) eigenvectors at every pair of eigenvector steps."""
        V = self._vectors()
        m = V.shape[2]
        cols = (0, self.k) if which == "top" else (self.k, m) if which == "next" else None
        if cols is None:
            raise ValueError(f"which must be 'top' or 'next', got {which!r}")
        if cols[1] <= cols[0]:
            raise ValueError("no 'next' eigenvectors were computed (num_next = 0)")
        return subspace_overlap_grid(torch.from_numpy(V).double(), cols).numpy()

    def overlap_by_dimension(
        self, t1: Sequence[int] | None = None, max_dim: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fig. 3: for each start step ``t1`` (default: every eigenvector step but the last),
        the mean over later t2 of the overlap of the top-d subspaces, d = 1..max_dim.
        Returns ``(t1, table (len(t1), max_dim))``."""
        V = self._vectors()
        steps = self.eigenvector_steps
        assert steps is not None
        t1 = list(steps[:-1]) if t1 is None else list(t1)
        table = overlap_vs_dimension(
            torch.from_numpy(V).double(), steps.tolist(), t1, max_dim=max_dim
        )
        return np.asarray(t1), table.numpy()

    # --- I/O ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        arrays = {"steps": self.steps, "eigenvalues": self.eigenvalues, "weights": self.weights}
        arrays.update({f"scalar_{k}": v for k, v in self.scalars.items()})
        if self.eigenvectors is not None:
            arrays["eigenvectors"] = self.eigenvectors
            arrays["eigenvector_steps"] = self.eigenvector_steps
        return save_arrays(path, arrays, {**self.meta, "k": self.k}, json_exclude=("eigenvectors",))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubspaceAnalysis:
        arrays, meta = load_arrays(path)
        return cls(
            steps=arrays["steps"],
            k=int(meta["k"]),
            scalars={k[7:]: v for k, v in arrays.items() if k.startswith("scalar_")},
            eigenvalues=arrays["eigenvalues"],
            weights=arrays["weights"],
            eigenvectors=arrays.get("eigenvectors"),
            eigenvector_steps=arrays.get("eigenvector_steps"),
            meta=meta,
        )

    def _index(self, step: int) -> int:
        hits = np.flatnonzero(self.steps == step)
        if not len(hits):
            raise ValueError(f"step {step} was not measured; steps are {self.steps.tolist()}")
        return int(hits[0])

    def _vectors(self) -> np.ndarray:
        if self.eigenvectors is None or len(self.eigenvectors) < 2:
            raise ValueError(
                "subspace overlaps need eigenvectors at two or more steps: run the offline analysis "
                "(landscope analyze subspace) or the online tracker with store_eigenvectors"
            )
        return self.eigenvectors


def analyze_trajectory(
    problem: Problem,
    thetas: Callable[[int], torch.Tensor] | torch.Tensor,
    steps: Sequence[int],
    k: int | None = None,
    *,
    num_next: int | None = None,
    max_samples: int | None = None,
    tol: float = 1e-5,
    random_vectors: int = 4,
    keep_eigenvectors: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> SubspaceAnalysis:
    """Measure the top-k subspace (:func:`~landscope.subspace.measure_top_subspace`) at each of
    ``steps``; ``thetas`` is a (T, p) tensor aligned with ``steps`` or a function step -> theta.
    Each eigen-solve is warm-started from the previous step's eigenvectors."""
    k = k or infer_num_classes(problem) or 10
    indices = subset_indices(problem.num_samples, max_samples, seed)
    rows, eigvals, weights, vectors = [], [], [], []
    V = None
    t0 = time.perf_counter()
    from landscope._progress import progress_bar

    for i, step in enumerate(
        progress_bar(list(steps), enabled=progress, desc="top subspace", unit="step")
    ):
        theta = thetas(int(step)) if callable(thetas) else thetas[i]
        theta = torch.as_tensor(theta).to(device=problem.device, dtype=problem.dtype)
        m = measure_top_subspace(
            problem,
            theta,
            k,
            num_next=num_next,
            indices=indices,
            tol=tol,
            warm_start=V,
            random_vectors=random_vectors,
            seed=seed,
            step=int(step),
        )
        V = m.eigenvectors
        rows.append(m.scalars())
        eigvals.append(m.eigenvalues.cpu().double().numpy())
        weights.append(m.weights.cpu().double().numpy())
        if keep_eigenvectors:
            vectors.append(m.eigenvectors.cpu().float().numpy())
    steps_arr = np.asarray([int(s) for s in steps], dtype=np.int64)
    return SubspaceAnalysis(
        steps=steps_arr,
        k=int(k),
        scalars={key: np.asarray([r[key] for r in rows], dtype=np.float64) for key in SCALAR_KEYS},
        eigenvalues=np.stack(eigvals),
        weights=np.stack(weights),
        eigenvectors=np.stack(vectors) if keep_eigenvectors else None,
        eigenvector_steps=steps_arr if keep_eigenvectors else None,
        meta={
            "source": "offline",
            "num_samples": problem.num_selected(indices),
            "max_samples": max_samples,
            "tol": tol,
            "random_vectors": random_vectors,
            "seed": seed,
            "all_converged": bool(all(r["converged"] for r in rows)),
            "seconds": time.perf_counter() - t0,
        },
    )


def analyze_run(
    run_dir: str | os.PathLike,
    *,
    steps: Sequence[int] | None = None,
    every: int | None = None,
    k: int | None = None,
    dtype: str | None = None,
    **kwargs,
) -> SubspaceAnalysis:
    """:func:`analyze_trajectory` on a recorded run: the training Problem is rebuilt from the
    run's config, the parameters are read from its store at ``steps`` (default: every
    ``every``-th recorded params step, always including the last)."""
    from landscope.runs import open_run

    run = open_run(run_dir)
    problem, _ = run.problems(dtype=dtype)
    chosen = run.select_steps(steps=steps) if steps is not None else run.select_steps(every=every)
    thetas = run.thetas(chosen)
    result = analyze_trajectory(problem, thetas, chosen, k, **kwargs)
    result.meta["run"] = str(run_dir)
    return result


def read_tracked(run, name: str = "top_subspace") -> SubspaceAnalysis:
    """The online tracker's series (``<name>.*``) of a run as a :class:`SubspaceAnalysis`."""
    from landscope.runs import Run, open_run

    run = run if isinstance(run, Run) else open_run(run)
    prefix = f"{name}."
    have = [s for s in run.series() if s.startswith(prefix)]
    if f"{prefix}fraction" not in have:
        raise ValueError(
            f"run {run.path} has no {name!r} online analysis (series: {sorted(run.series())})"
        )
    steps = run.steps(f"{prefix}fraction")
    scalars = {
        key: np.asarray(run.read(prefix + key), dtype=np.float64).reshape(-1)
        for key in SCALAR_KEYS
        if prefix + key in have
    }
    eigenvalues = np.asarray(run.read(prefix + "eigenvalues"), dtype=np.float64)
    weights = np.asarray(run.read(prefix + "weights"), dtype=np.float64)
    vectors = vsteps = None
    if prefix + "eigenvectors" in have:
        vectors = np.asarray(run.read(prefix + "eigenvectors"))
        vsteps = run.steps(prefix + "eigenvectors")
    options = {}
    for a in run.config.get("analyses", []):
        if a.get("name") == name:
            options = a.get("options", {})
    m = eigenvalues.shape[1]
    num_next = options.get("num_next")
    k = options.get("k") or (m - num_next if num_next is not None else m // 2)
    return SubspaceAnalysis(
        steps=np.asarray(steps),
        k=int(k),
        scalars=scalars,
        eigenvalues=eigenvalues,
        weights=weights,
        eigenvectors=vectors,
        eigenvector_steps=vsteps,
        meta={"source": "online", "run": str(run.path), "options": options},
    )
