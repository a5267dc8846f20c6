"""Principal component analysis of a training trajectory (Haink 2023, sec. 3.2, eq. 3.3-3.5;
Lan et al. 2023) without a P x P covariance, streamed from the run store.

The snapshots w(t) of a layer, a parameter group or the whole network form a T x P matrix X
(T recorded steps, P parameters).  With the time mean <w> and the centred rows
Xc = X - 1 <w>^T, the covariance of eq. 3.3 is Sigma = Xc^T Xc / T (the thesis' 1/T: population
variance, so that eq. 6.6 holds exactly); its eigenvectors p_i are the principal components and
its eigenvalues sigma_i^2 their variances (eq. 3.4); the projections theta_i(t) = w(t) . p_i
(eq. 3.5, of the *uncentred* w(t), as the thesis writes them).

Sigma is never formed.  Its non-zero eigenvalues are those of the T x T Gram matrix
G = Xc Xc^T / T, and p_i = Xc^T u_i / sqrt(T sigma_i^2) for G's eigenvectors u_i:

- ``method="exact"``: G is accumulated over blocks of columns (parameters), G += Xc_b Xc_b^T;
  each block holds all T rows of its columns, so its time mean, and with it the centring, is
  exact inside the block, and X is read once.  A second pass over the blocks forms the k
  components.  Cost 2 T^2 P + 2 T k P flops, memory T x block + T^2 + k P.
- ``method="randomized"``: the randomized range finder (Halko, Martinsson & Tropp 2011, alg. 4.4,
  with ``n_iter`` power iterations, 7 by scikit-learn's rule) on Xc: 2 (n_iter + 1) T l P flops
  for l = k + ``n_oversamples``, cheaper than the Gram matrix when l << T, in n_iter + 2 passes
  (each power iteration Q <- orth(Xc Xc^T Q) reads a block once and uses it for both products).
  Memory T x block + l P.
- ``method="krylov"``: randomized block Krylov (Musco & Musco 2015) on the Gram operator
  M = Xc Xc^T: the basis [G, M G, ..., M^q G] (q = ``n_iter``, 3 by default), orthonormalised
  block by block, with every image M K_j kept, so the Rayleigh-Ritz step needs no extra pass;
  then one pass for the components.  q + 2 passes, (2 q + 3) T l P flops.  A Krylov space of q
  blocks is about as accurate as 2q-3q power iterations: on the benchmark's 2,000 x 100k
  trajectory 3 blocks beyond the first reach a variance error of 3e-6 (7 power iterations:
  2e-6; scikit-learn's randomized PCA: 6e-6) in 5 passes instead of 9.

Both randomized methods multiply in X's own precision (float32 snapshots: float32 BLAS, twice
the speed and half the memory traffic of float64; the T x l and l x l matrices, the QR and eigh
steps are float64) and on the *uncentred* blocks, the centring applied as rank-one corrections
(Xc^T Q = X^T Q - <w> (1^T Q), Xc Z = X Z - 1 (<w>^T Z)), so no block is copied.  In float32 the
results carry float32 rounding: relative errors of order 1e-7 times
||<w>|| / ||Xc|| per entry.

Why blocks of columns and not of rows (``run.iter_thetas``): G needs the product of every pair of
time rows, so blocks of rows would re-read X about T / rows / 2 times; a block of columns gives its
whole contribution to G at once, and the store's chunks are blocks of columns
(``column_chunk``), so a column block reads only its own chunk files.

The thesis' code (numpy.cov + eigh) builds the P x P matrix: 8256^2 doubles = 545 MB for the
(128, 64) layer of its MLP 256, and it cannot handle a 100k-parameter layer at all.
``benchmarks/bench_pca.py`` measures both methods against ``sklearn.decomposition.PCA``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

__all__ = ["SigmaHessianRelation", "TrajectoryPCA", "h_cross", "sigma_vs_hessian"]

Target = Literal["weights", "updates", "recorded_updates"]
Method = Literal["exact", "randomized", "krylov"]

#: Bytes of one streamed block (T x block columns, as float64) when ``block_columns`` is None.
#: 24 MB: below glibc's largest mmap threshold (32 MB), so blocks reuse heap memory instead of
#: being mapped and page-faulted afresh at every read; on the PCA benchmark (2,000 x 100k
#: float32, 1 thread) the randomized fit took 5.6 s with 64 MB blocks and 3.5-3.9 s with 12-24 MB.
BLOCK_BYTES = 24 * 2**20


# --- column sources ------------------------------------------------------------------------------
class _MatrixSource:
    """Column blocks of an in-memory (or memory-mapped) (T, P) matrix."""

    def __init__(self, X: Any, target: str):
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        elif not isinstance(X, np.ndarray) and not all(
            hasattr(X, a) for a in ("shape", "ndim", "dtype", "__getitem__")
        ):
            X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a (T, P) matrix, got shape {X.shape}")
        if not np.issubdtype(X.dtype, np.floating):
            raise TypeError(f"X must be floating point, got {X.dtype}")
        self.X, self.diff = X, target == "updates"
        self.num_rows = X.shape[0] - (1 if self.diff else 0)
        self.num_cols = X.shape[1]
        self.column_chunk = None
        # rows' steps; for updates the later step of each pair, as for a run
        self.steps = np.arange(1 if self.diff else 0, X.shape[0])

    def block(self, c0: int, c1: int) -> np.ndarray:
        return _native(self.X[:, c0:c1], self.diff)


class _RunSource:
    """Column blocks of a run's ``params`` (or ``updates``) at ``steps``, restricted to a
    parameter selection; ``target="updates"`` differences consecutive selected snapshots."""

    def __init__(self, run: Any, steps: Sequence[int], selection: Any, target: str):
        from landscope.runs import Series

        self.run, self.selection = run, selection
        self.series = Series.UPDATES if target == "recorded_updates" else Series.PARAMS
        if self.series not in run:
            raise ValueError(
                f"run {run.path} has no {self.series!r} series (record.updates was off); "
                "use target='updates' (differences of recorded params)"
            )
        self.diff = target == "updates"
        self.read_steps = [int(s) for s in steps]
        if len(self.read_steps) < 2 + self.diff:
            raise ValueError(
                f"PCA needs at least {2 + self.diff} recorded steps for target {target!r}, "
                f"got {len(self.read_steps)}"
            )
        self.num_rows = len(self.read_steps) - (1 if self.diff else 0)
        self.num_cols = selection.size
        self.column_chunk = run.info(self.series).get("column_chunk")
        self.steps = np.asarray(self.read_steps[1:] if self.diff else self.read_steps)

    def block(self, c0: int, c1: int) -> np.ndarray:
        sel = self.selection
        if sel.slice is not None:
            cols: Any = slice(sel.slice.start + c0, sel.slice.start + c1)
        else:
            cols = sel.index[c0:c1].numpy()
        return _native(self.run.read(self.series, steps=self.read_steps, columns=cols), self.diff)


def _native(block: Any, diff: bool) -> np.ndarray:
    """A (T, b) block as a float32 or float64 array (other floats become float64), not copied
    when it already is one; ``diff``: its consecutive row differences (in the same precision)."""
    b = np.asarray(block)
    if b.dtype not in (np.float32, np.float64):
        b = b.astype(np.float64)
    return np.diff(b, axis=0) if diff else b


def _top_eigh(A: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` eigenpairs of the symmetric PSD matrix ``A`` (symmetrised; eigenvalues
    clamped at 0, decreasing); ``k=None``: all above 1e-12 of the largest.  A ValueError when
    fewer than ``k`` directions of non-zero variance exist (the k-th at most 1e-12 of the
    first, i.e. its singular value at most 1e-6 of the first)."""
    evals, vecs = torch.linalg.eigh((A + A.T) / 2)
    evals, vecs = evals.flip(0).clamp_min(0), vecs.flip(1)
    floor = 1e-12 * max(float(evals[0]), 1e-300)
    if k is None:  # all directions of non-zero variance
        k = max(1, int((evals > floor).sum()))
    if evals.numel() < k or float(evals[k - 1]) <= floor:
        raise ValueError(
            f"the trajectory has fewer than {k} directions of non-zero variance; "
            "ask for fewer n_components"
        )
    return evals[:k], vecs[:, :k]


def _next_krylov_block(Q: torch.Tensor, Y: torch.Tensor) -> torch.Tensor | None:
    """The next orthonormal Krylov block: the part of the images Y = M K_j orthogonal to the
    basis Q (block Gram-Schmidt twice, Giraud et al. 2005), keeping only directions whose
    residual exceeds 1e-13 ||Y|| (a rank-deficient trajectory exhausts the Krylov space: the
    normalised rounding noise that is left would not be orthogonal to Q), orthogonalised once
    more; None when nothing is left."""
    V = Y - Q @ (Q.T @ Y)
    V -= Q @ (Q.T @ V)
    U, S, _ = torch.linalg.svd(V, full_matrices=False)
    scale = float(torch.linalg.matrix_norm(Y, ord=2))
    keep = S > 1e-13 * max(scale, 1e-300)
    if not bool(keep.any()):
        return None
    K = U[:, keep]
    K = K - Q @ (Q.T @ K)
    return torch.linalg.qr(K).Q


def _column_means(block: np.ndarray) -> np.ndarray:
    """(b,) float64 time means of a (T, b) block, accumulated in float64."""
    return np.mean(block, axis=0, dtype=np.float64)


def _block_edges(source: Any, block_columns: int | None) -> list[tuple[int, int]]:
    P = source.num_cols
    if block_columns is None:
        block_columns = max(1, BLOCK_BYTES // (8 * max(source.num_rows, 1)))
        chunk = source.column_chunk
        if chunk:  # whole store chunks per block
            block_columns = max(chunk, block_columns // chunk * chunk)
    if block_columns < 1:
        raise ValueError(f"block_columns must be positive, got {block_columns}")
    return [(c0, min(P, c0 + block_columns)) for c0 in range(0, P, block_columns)]


# --- the estimator --------------------------------------------------------------------------------
class TrajectoryPCA:
    """PCA of the snapshots w(t) or updates v(t) = w(t+1) - w(t) of a trajectory (Haink
    eq. 3.3-3.5), by the T x T Gram matrix or a randomized SVD, streamed in column blocks.

    The scikit-learn estimator contract: the constructor stores its arguments, :meth:`fit` /
    :meth:`fit_matrix` return ``self``, learned attributes end in ``_``, fitting twice gives the
    same result, randomness only through ``random_state``.

    Args:
        n_components: k, the components kept (default: all non-zero ones, at most T - 1 when
            centred, T otherwise).
        target: ``"weights"`` (the snapshots w(t)), ``"updates"`` (v(t) = w(t+1) - w(t) between
            consecutive analyzed snapshots, Haink sec. 7.1's velocities) or
            ``"recorded_updates"`` (the run's ``updates`` series: single optimizer steps).
        layer: a module name of the run's layout (e.g. ``"net.4"``); or
        params: any parameter group :func:`~landscope.curvature.select_parameters` takes (a
            parameter name, a list of names, a mask, a slice).  Neither: the whole network.
        steps, every, start, stop: which recorded steps (:meth:`Run.select_steps`); default all.
        method: ``"exact"`` (Gram matrix), ``"randomized"`` (subspace iteration) or
            ``"krylov"`` (randomized block Krylov; module docstring).
        center: subtract the time mean (eq. 3.3); ``False`` gives the uncentred second moment.
        block_columns: columns per streamed block (default: blocks of about 24 MB as float64,
            whole store chunks); memory is T x block_columns doubles.
        n_oversamples, n_iter: randomized methods: extra random vectors, and power iterations
            (``"randomized"``; ``"auto"``: scikit-learn's rule, 7 when k < 0.1 min(T, P), else 4)
            or Krylov blocks beyond the first (``"krylov"``; ``"auto"``: 3; fewer when the Krylov
            space runs out).
        random_state: seed of the randomized method's Gaussian test matrix.
        device: where the products run (``"cpu"``, ``"cuda"``).  Exact: float64 throughout.
            Randomized / Krylov: products with X in X's precision, the rest float64.

    Attributes (after fit):
        explained_variance_: (k,) sigma_i^2, decreasing (eq. 3.4, population variance 1/T).
        explained_variance_ratio_: (k,) sigma_i^2 / total variance.
        total_variance_: sum over all P directions of the variance (trace of Sigma).
        components_: (k, P) float64, the principal components p_i as rows, orthonormal; the
            sign makes each one's largest-magnitude entry positive
            (:func:`landscope.spectra.fix_sign`).
        projections_: (T, k) theta_i(t) = w(t) . p_i (eq. 3.5; w(t) is v(t) for updates).
        mean_: (P,) the time mean <w>.
        steps_: (T,) the recorded steps of the rows (for updates: the later step of each pair).
        n_samples_, n_features_: T and P.
        seconds_: wall time of the fit; passes_: streamed passes over X; n_iter_: power
            iterations used (randomized).

    Examples:
        >>> X = np.outer(np.arange(5.0), [3.0, 4.0]) + 1.0   # a straight line in 2-d
        >>> pca = TrajectoryPCA(n_components=1).fit_matrix(X)
        >>> pca.components_.round(3).tolist(), round(float(pca.explained_variance_[0]), 9)
        ([[0.6, 0.8]], 50.0)
    """

    def __init__(
        self,
        n_components: int | None = None,
        *,
        target: Target = "weights",
        layer: str | None = None,
        params: Any = None,
        steps: Sequence[int] | None = None,
        every: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        method: Method = "exact",
        center: bool = True,
        block_columns: int | None = None,
        n_oversamples: int = 10,
        n_iter: int | Literal["auto"] = "auto",
        random_state: int = 0,
        device: str | torch.device = "cpu",
    ):
        self.n_components = n_components
        self.target = target
        self.layer = layer
        self.params = params
        self.steps = steps
        self.every = every
        self.start = start
        self.stop = stop
        self.method = method
        self.center = center
        self.block_columns = block_columns
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.random_state = random_state
        self.device = device

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, run: Any) -> TrajectoryPCA:
        """Fit on a recorded run (a :class:`~landscope.runs.Run` or its path): the selected
        steps of its ``params`` (or ``updates``) series, restricted to ``layer`` / ``params``."""
        from landscope.curvature import select_parameters
        from landscope.runs import Run, Series, open_run

        self._check()
        run = run if isinstance(run, Run) else open_run(run)
        if run.layout is None:
            raise ValueError(f"run {run.path} has no parameter layout in meta.json")
        if self.layer is not None and self.params is not None:
            raise ValueError("give either layer or params, not both")
        selection = select_parameters(run.layout, self.layer or self.params)
        series = Series.UPDATES if self.target == "recorded_updates" else Series.PARAMS
        if self.steps is not None:
            steps = run.select_steps(steps=self.steps, series=series)
        else:
            steps = run.select_steps(
                every=self.every, start=self.start, stop=self.stop, series=series
            )
        self.selection_ = selection
        return self._fit_source(_RunSource(run, steps, selection, self.target))

    def fit_matrix(self, X: np.ndarray | torch.Tensor) -> TrajectoryPCA:
        """Fit on a (T, P) matrix of snapshots (rows in time order): an array, a tensor, or any
        object with ``shape``, ``ndim``, ``dtype`` and ``X[:, c0:c1]`` (a ``np.memmap``, an
        HDF5 / zarr dataset, a reader of a file on disk), read one column block at a time.
        ``target="updates"`` differences its rows."""
        self._check()
        if self.target == "recorded_updates":
            raise ValueError("target 'recorded_updates' needs a run; pass the updates as X")
        self.selection_ = None
        return self._fit_source(_MatrixSource(X, self.target))

    def _check(self) -> None:
        if self.target not in ("weights", "updates", "recorded_updates"):
            raise ValueError(
                f"target must be 'weights', 'updates' or 'recorded_updates', got {self.target!r}"
            )
        if self.method not in ("exact", "randomized", "krylov"):
            raise ValueError(
                f"method must be 'exact', 'randomized' or 'krylov', got {self.method!r}"
            )
        n_iter = self.n_iter
        if n_iter != "auto" and (
            isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0
        ):
            raise ValueError(f"n_iter must be 'auto' or a non-negative integer, got {n_iter!r}")
        ov = self.n_oversamples
        if isinstance(ov, bool) or not isinstance(ov, int) or ov < 0:
            raise ValueError(f"n_oversamples must be a non-negative integer, got {ov!r}")
        k = self.n_components
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"n_components must be a positive integer or None, got {k!r}")

    def _fit_source(self, source: Any) -> TrajectoryPCA:
        t0 = time.perf_counter()
        T, P = source.num_rows, source.num_cols
        if T < 2:
            raise ValueError(f"PCA needs at least 2 rows (time steps), got {T}")
        rank = min(T - 1 if self.center else T, P)
        k = rank if self.n_components is None else self.n_components
        if self.method != "exact" and self.n_components is None:
            raise ValueError(f"method={self.method!r} needs n_components")
        if k > rank:
            raise ValueError(
                f"n_components={k} exceeds the rank of the centred {T} x {P} trajectory ({rank})"
            )
        edges = _block_edges(source, self.block_columns)
        dev = torch.device(self.device)
        self.mean_ = np.zeros(P)
        self.passes_ = 0
        self.n_iter_ = None  # set by the randomized methods
        fit = {"exact": self._exact, "randomized": self._randomized, "krylov": self._krylov}
        variances, components, scores, total = fit[self.method](source, edges, k, dev)
        k = len(variances)
        # deterministic signs: each component's largest-magnitude entry positive
        flip = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
        flip[flip == 0] = 1.0
        components *= flip[:, None]
        scores *= flip[None, :]
        self.explained_variance_ = variances
        self.total_variance_ = total
        self.explained_variance_ratio_ = variances / total if total > 0 else variances * np.nan
        self.components_ = components
        # eq. 3.5: theta_i(t) = w(t) . p_i = (Xc p_i)(t) + <w> . p_i
        self.projections_ = scores + (components @ self.mean_)[None, :]
        self.steps_ = np.asarray(source.steps)
        self.n_samples_, self.n_features_ = T, P
        self.n_components_ = k
        self.seconds_ = time.perf_counter() - t0
        return self

    def _centred(self, source, c0, c1, dev) -> torch.Tensor:
        """Block [c0, c1) as float64 on ``dev``, centred (first pass: records the mean)."""
        block = source.block(c0, c1)
        B = torch.from_numpy(block).to(dev, torch.float64, copy=True)
        if self.center:
            self.mean_[c0:c1] = _column_means(block)
            B -= torch.from_numpy(self.mean_[c0:c1]).to(dev)
        return B

    def _exact(self, source, edges, k, dev):
        T = source.num_rows
        G = torch.zeros(T, T, dtype=torch.float64, device=dev)
        for c0, c1 in edges:
            B = self._centred(source, c0, c1, dev)
            G.addmm_(B, B.T)
        self.passes_ += 1
        total = float(torch.trace(G)) / T
        evals, evecs = _top_eigh(G, None if self.n_components is None else k)
        k, norms = len(evals), evals.sqrt()
        coef = evecs / norms  # p_i = Xc^T u_i / ||Xc^T u_i||
        components = np.empty((k, source.num_cols))
        for c0, c1 in edges:
            B = self._block_again(source, c0, c1, dev)
            components[:, c0:c1] = (B.T @ coef).T.cpu().numpy()
        self.passes_ += 1
        scores = (evecs * norms).cpu().numpy()  # Xc p_i = sqrt(T sigma^2) u_i
        return (evals / T).cpu().numpy(), components, scores, total

    def _block_again(self, source, c0, c1, dev) -> torch.Tensor:
        B = torch.from_numpy(source.block(c0, c1)).to(dev, torch.float64, copy=True)
        if self.center:
            B -= torch.from_numpy(self.mean_[c0:c1]).to(dev)
        return B

    def _raw(self, source, c0, c1, dev, work: torch.dtype | None = None) -> torch.Tensor:
        """Block [c0, c1) uncentred, in its own precision (or ``work``), on ``dev``; on the CPU
        not copied when it already is float32 / float64."""
        B = torch.from_numpy(source.block(c0, c1)).to(dev)
        return B if work is None else B.to(work)

    def _first_pass_block(self, source, c0, c1, dev, work):
        """Read block [c0, c1) in its own precision (or ``work``), record its time mean in
        ``mean_`` and return ``(B, mean (f64 on dev), centred sum of squares)``.  The mean and
        sum_t (x_tj - m_j)^2 = sum_t x_tj^2 - T m_j^2 are accumulated in float64 on the host
        array: numpy's float64 reductions cost about nothing beside the read here, torch's
        dtype-converting reductions over the strided time axis cost 3x a product pass."""
        block = source.block(c0, c1)
        B = torch.from_numpy(block).to(dev)
        B = B if work is None else B.to(work)
        m = _column_means(block) if self.center else np.zeros(c1 - c0)
        self.mean_[c0:c1] = m
        # centred in float64 before squaring: sum x^2 - T m^2 cancels catastrophically when the
        # offset dwarfs the spread (late in training)
        d = np.subtract(block, m, dtype=np.float64)
        total = float(np.einsum("ij,ij->", d, d))
        return B, torch.from_numpy(m).to(dev), total

    def _gram_times(self, B, mean, K, ones_k, work) -> torch.Tensor:
        """Xc_b Xc_b^T K for one uncentred block B (T, b) with column means ``mean``, the centring
        as rank-one corrections; products in ``work`` precision, result float64 (T, l)."""
        f64 = torch.float64
        Z = (B.T @ K.to(work)).to(f64) - mean[:, None] * ones_k[None, :]  # Xc_b^T K
        return (B @ Z.to(work)).to(f64) - (mean @ Z)[None, :]

    def _randomized(self, source, edges, k, dev):
        T, P = source.num_rows, source.num_cols
        ell = min(k + self.n_oversamples, T)
        n_iter = self._power_iterations(k, T, P)
        gen = torch.Generator(device="cpu").manual_seed(int(self.random_state))
        f64 = torch.float64
        # range finder on the column space of Xc: Y = Xc Omega = X Omega - 1 (<w>^T Omega)
        Y = torch.zeros(T, ell, dtype=f64, device=dev)
        total = 0.0
        work = None  # the products' precision: that of the first block
        for c0, c1 in edges:
            B, mean, sq = self._first_pass_block(source, c0, c1, dev, work)
            work, total = B.dtype, total + sq
            omega = torch.randn(c1 - c0, ell, generator=gen, dtype=B.dtype).to(dev)
            Y += (B @ omega).to(f64) - (mean @ omega.to(f64))[None, :]
        self.passes_ += 1
        Q = torch.linalg.qr(Y).Q
        for _ in range(n_iter):  # Q <- orth(Xc Xc^T Q): one read of each block, two products
            Y = torch.zeros_like(Q)
            ones_q = Q.sum(dim=0)  # 1^T Q
            for c0, c1 in edges:
                B = self._raw(source, c0, c1, dev, work)
                Y += self._gram_times(B, self._mean_on(c0, c1, dev), Q, ones_q, work)
            self.passes_ += 1
            Q = torch.linalg.qr(Y).Q
        # Bq = Q^T Xc (ell x P), then its SVD through the ell x ell Gram matrix
        Bq = self._project(source, edges, Q, dev, work)
        evals, W = _top_eigh(Bq @ Bq.T, k)
        s = evals.sqrt()
        components = ((W / s).T @ Bq).cpu().numpy()
        scores = ((Q @ W) * s).cpu().numpy()
        self.n_iter_ = n_iter
        return (evals / T).cpu().numpy(), components, scores, total / T

    def _krylov(self, source, edges, k, dev):
        """Randomized block Krylov (Musco & Musco 2015, alg. 2) on the T x T Gram operator
        M = Xc Xc^T, applied one pass at a time: K_0 = orth(G) for a Gaussian G (T, l), then
        K_j = orth(M K_{j-1} against K_0..K_{j-1}) (block Gram-Schmidt, twice), each image
        M K_j kept, so the Rayleigh-Ritz matrix Q^T M Q of the whole Krylov basis
        Q = [K_0 .. K_q] needs no further pass; its top k Ritz vectors U give, in one last
        pass, C = U^T Xc, whose k x k Gram matrix C C^T = V S^2 V^T yields the variances S^2 / T
        and the orthonormal components (V / S)^T C."""
        T, P = source.num_rows, source.num_cols
        ell = min(k + self.n_oversamples, T)
        # no cap from T: _next_krylov_block trims the basis when the space runs out
        n_blocks = self._krylov_blocks(k, T, P)
        gen = torch.Generator(device="cpu").manual_seed(int(self.random_state))
        f64 = torch.float64
        G = torch.randn(T, ell, generator=gen, dtype=f64)
        if self.center:  # M 1 = 0: start (and stay) orthogonal to the constant vector
            G -= G.mean(dim=0)
        K = torch.linalg.qr(G.to(dev)).Q
        basis: list[torch.Tensor] = []
        images: list[torch.Tensor] = []
        total, work = 0.0, None
        for j in range(n_blocks):
            Y = torch.zeros(T, K.shape[1], dtype=f64, device=dev)
            ones_k = K.sum(dim=0)
            for c0, c1 in edges:
                if j == 0:  # the first pass also records means and the total variance
                    B, mean, sq = self._first_pass_block(source, c0, c1, dev, work)
                    work, total = B.dtype, total + sq
                else:
                    B, mean = self._raw(source, c0, c1, dev, work), self._mean_on(c0, c1, dev)
                Y += self._gram_times(B, mean, K, ones_k, work)
            self.passes_ += 1
            basis.append(K)
            images.append(Y)
            if j + 1 < n_blocks:
                K = _next_krylov_block(torch.cat(basis, dim=1), Y)
                if K is None:  # the Krylov space is exhausted: an invariant subspace of M
                    break
        Q, MQ = torch.cat(basis, dim=1), torch.cat(images, dim=1)
        _, W = _top_eigh(Q.T @ MQ, k)
        U = Q @ W  # Ritz vectors in time (T, k)
        # the last pass: C = U^T Xc (k, P), then Rayleigh-Ritz once more on span(U) from C C^T
        # (float64): R's entries carry rounding of order eps ||M|| (float32 images), which the
        # small Ritz values and the mutual orthogonality of the components would inherit; C C^T
        # holds each direction in its own scale, and (V / s)^T C has orthonormal rows
        C = self._project(source, edges, U, dev, work)
        e, V = _top_eigh(C @ C.T, k)
        s = e.sqrt()
        components = ((V / s).T @ C).cpu().numpy()
        # theta_i - <w>.p_i = Xc p_i = M U v_i / s_i, and M U = (M Q) W from the kept images
        scores = ((MQ @ W @ V) / s).cpu().numpy()
        self.n_iter_ = len(basis) - 1  # fewer than asked when the Krylov space ran out
        return (e / T).cpu().numpy(), components, scores, total / T

    def _mean_on(self, c0, c1, dev) -> torch.Tensor:
        return torch.from_numpy(self.mean_[c0:c1]).to(dev)

    def _project(self, source, edges, Q, dev, work) -> torch.Tensor:
        """Q^T Xc (l, P) float64, one pass: the centring as a rank-one correction."""
        P = source.num_cols
        out = torch.empty(Q.shape[1], P, dtype=torch.float64, device=dev)
        ones_q = Q.sum(dim=0)
        q = Q.to(work)
        for c0, c1 in edges:
            B = self._raw(source, c0, c1, dev, work)
            mean = self._mean_on(c0, c1, dev)
            out[:, c0:c1] = ((B.T @ q).to(torch.float64) - mean[:, None] * ones_q[None, :]).T
        self.passes_ += 1
        return out

    def _krylov_blocks(self, k: int, T: int, P: int) -> int:
        """Krylov blocks q + 1 = ``n_iter`` + 1; ``"auto"``: 4 (3 products of M beyond the
        first block; benchmarks/results/pca.md measures it against 7 power iterations)."""
        if self.n_iter == "auto":
            return 4
        return int(self.n_iter) + 1

    def _power_iterations(self, k: int, T: int, P: int) -> int:
        """``n_iter``, or for ``"auto"`` scikit-learn's rule: 7 when k < 0.1 min(T, P), else 4."""
        if self.n_iter == "auto":
            return 7 if k < 0.1 * min(T, P) else 4
        return int(self.n_iter)

    # --- use ------------------------------------------------------------------------------------
    def transform(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """theta_i = x . p_i (eq. 3.5) of rows x of ``X`` (n, P) -> (n, k)."""
        self._fitted()
        X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
        return np.asarray(X, np.float64) @ self.components_.T

    def _fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise RuntimeError("this TrajectoryPCA is not fitted yet; call fit(run) first")

    def as_dict(self) -> dict:
        """The fitted numbers (no arrays of size P) as JSON-ready values."""
        self._fitted()
        return {
            "n_samples": self.n_samples_,
            "n_features": self.n_features_,
            "n_components": self.n_components_,
            "target": self.target,
            "method": self.method,
            "explained_variance": self.explained_variance_.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio_.tolist(),
            "total_variance": self.total_variance_,
            "passes": self.passes_,
            "seconds": self.seconds_,
        }

    def sigma_vs_hessian(
        self, hessian_eigenvalues: np.ndarray | torch.Tensor, *, h_cross: float | None = None
    ) -> SigmaHessianRelation:
        """:func:`sigma_vs_hessian` of this fit's variances (eq. 3.8, 3.9)."""
        self._fitted()
        return sigma_vs_hessian(self.explained_variance_, hessian_eigenvalues, h_cross=h_cross)


# --- sigma_i^2 against Hessian eigenvalues (eq. 3.8, 3.9) ---------------------------------------
def h_cross(*, batch_size: int, lr: float, num_train: int, momentum: float = 0.0) -> float:
    """Haink eq. 3.9 (after Kühn & Rosenow): h_cross = 3 S (1 - beta) / (eta N_train), the
    Hessian eigenvalue above which the variance sigma_i^2 of SGD's fluctuations stops growing
    with h_i.  Units: those of the loss's curvature (1 / parameter^2).

    >>> round(h_cross(batch_size=32, lr=0.01, num_train=1438), 3)
    6.676
    """
    if batch_size < 1 or lr <= 0 or num_train < 1 or not 0 <= momentum < 1:
        raise ValueError(
            f"need batch_size >= 1, lr > 0, num_train >= 1, 0 <= momentum < 1; got "
            f"{batch_size}, {lr}, {num_train}, {momentum}"
        )
    return 3.0 * batch_size * (1.0 - momentum) / (lr * num_train)


@dataclass(frozen=True)
class SigmaHessianRelation:
    """sigma_i^2 (PCA variances, decreasing) against h_i (Hessian eigenvalues, decreasing), paired
    by rank i (eq. 3.8), with power-law fits sigma^2 ~ h^alpha.

    Attributes:
        sigma2, h: (n,) the pairs with h_i > 0 (n = min of the two lengths, positive h only).
        alpha, alpha_stderr: the log-log least-squares slope over all pairs and its standard
            error (NaN with fewer than 3 pairs).
        h_cross: eq. 3.9's crossover (given, not fitted), or None.
        alpha_below, alpha_above: slopes over the pairs with h < h_cross and h > h_cross (eq.
            3.9 predicts 1 and 0), NaN where fewer than 3 pairs.
    """

    sigma2: np.ndarray
    h: np.ndarray
    alpha: float
    alpha_stderr: float
    h_cross: float | None
    alpha_below: float
    alpha_above: float

    def as_dict(self) -> dict:
        return {
            "sigma2": self.sigma2.tolist(),
            "h": self.h.tolist(),
            "alpha": self.alpha,
            "alpha_stderr": self.alpha_stderr,
            "h_cross": self.h_cross,
            "alpha_below": self.alpha_below,
            "alpha_above": self.alpha_above,
        }


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 3:
        return float("nan"), float("nan")
    lx, ly = np.log(x), np.log(y)
    A = np.stack([lx, np.ones_like(lx)], axis=1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = len(x) - 2
    sxx = float(((lx - lx.mean()) ** 2).sum())
    stderr = math.sqrt(float(resid @ resid) / dof / sxx) if sxx > 0 else float("nan")
    return float(coef[0]), stderr


def sigma_vs_hessian(
    sigma2: np.ndarray | torch.Tensor,
    hessian_eigenvalues: np.ndarray | torch.Tensor,
    *,
    h_cross: float | None = None,
) -> SigmaHessianRelation:
    """Pair the PCA variances with the Hessian eigenvalues by rank (both sorted decreasing; eq.
    3.8 sigma_i^2 ~ h_i^alpha, the thesis quotes alpha ~ 2 after [3]) and fit alpha on a log-log
    scale, overall and below / above ``h_cross`` (eq. 3.9: alpha = 1 below, 0 above).

    >>> h = np.array([8.0, 4.0, 2.0, 1.0])
    >>> round(sigma_vs_hessian(h**2, h).alpha, 6)
    2.0
    """
    s = np.sort(_numpy(sigma2))[::-1]
    h = np.sort(_numpy(hessian_eigenvalues))[::-1]
    n = min(len(s), len(h))
    s, h = s[:n], h[:n]
    keep = (h > 0) & (s > 0)
    s, h = s[keep], h[keep]
    alpha, stderr = _loglog_slope(h, s)
    below = above = float("nan")
    if h_cross is not None:
        lo, hi = h < h_cross, h > h_cross
        below = _loglog_slope(h[lo], s[lo])[0]
        above = _loglog_slope(h[hi], s[hi])[0]
    return SigmaHessianRelation(s, h, alpha, stderr, h_cross, below, above)
