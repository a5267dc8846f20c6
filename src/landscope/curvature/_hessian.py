"""Exact Hessian-vector products of a Problem's empirical risk, as a :class:`CurvatureOperator`.

The Hessian is that of the mean loss ``f(theta) = (1/n) sum_{i in S} f_i(theta)`` over the
selected samples S (Fjellstrom eq. 1.1; the matrix whose top eigenvectors Gur-Ari et al. track,
their App. A).  Products are exact (double backward, i.e. reverse-over-reverse), accumulated over
the Problem's memory-bounded chunks in a fixed order (each chunk contributes
``sum_{i in chunk} f_i / n``, so a ragged last chunk is weighted right), hence deterministic.

Also here: the selection of a parameter group (a layer, named tensors, a mask, a slice) that the
operators of this package restrict to, and the determinism probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from landscope.curvature._base import CurvatureOperator
from landscope.problem._layout import ParameterLayout
from landscope.problem._problem import Indices, Problem

__all__ = [
    "HessianOperator",
    "ParameterSelection",
    "check_operator_determinism",
    "select_parameters",
]

Params = str | Sequence[str] | torch.Tensor | slice | None
BlockMode = Literal["auto", "loop", "vmap"]
Backend = Literal["auto", "autograd", "structured"]
_BACKENDS = ("auto", "autograd", "structured")
# Cached state of the structured backend (activations, derivatives, per layer and chunk) is
# kept by default while it needs at most this many bytes in all.
_STRUCTURED_CACHE_BYTES = 2**30

# The product: exact double backward (reverse-over-reverse) through a per-chunk graph of the
# gradient, kept between products when it fits (``cache``).  Measured by benchmarks/hvp_cost.py
# (results/hvp_cost.md) on the digits MLP 64-100-100-10, N = 1,797 in one chunk, per vector, in
# units of one plain-torch gradient (torch.autograd.grad of the module's loss, 1.5-1.75 ms
# float32 on 2 CPU threads, timed in the same interleaved loop; ratio of minima):
#   CPU 2 threads, float32 (float64): cached graph k = 1: 1.71x (1.84x); k = 16: 1.47x (1.62x);
#     uncached k = 1: 3.1x.  Forward-over-reverse vmap(jvp(grad)): 5.1x (k = 1), 1.6x (k = 16);
#     the same with the linearization traced once (torch.func.linearize): 2.2x / 1.2x.
#   H100, float32 and float64 (older unit: our own gradient): cached, vmap over the block:
#     k = 1: 1.0x; k = 16: 0.12x; k = 64: 0.05x (a loop over the block stays at ~0.8x).
# So: double backward with a cached graph, everywhere autograd is used.  For chains of dense
# layers and elementwise activations (MLPs) the default is the structured backend instead
# (landscope.curvature._structured: the same exact products, written out per layer):
#   CPU 2 threads, float32, per vector in plain-torch gradients (bench_hessian_eigs.py,
#   bench_structured.py, hvp_cost.py): k = 1: 1.3-1.5x, 16: 0.9-1.1x (autograd cached:
#   1.6-1.75x, 1.5-1.75x); hvp_cost.py k = 4: 0.95x, 64: 0.86x; float64 k = 16: 1.04x.
# How a block of k vectors goes through the autograd graph ("auto"): vmap (one batched
# backward, ``is_grads_batched``) on accelerators; on CPU vmap wins only while a chunk is small
# (per-vector ms, float32, k = 16, loop vs vmap: n = 64: 0.70 vs 0.22; n = 256: 1.04 vs 0.53;
# n = 1,797: 2.8 vs 3.0; in float64 at k = 256 vmap still loses from n = 256), so "auto" uses
# vmap on CPU up to p * chunk samples = 2^23, else a loop.
_VMAP_MAX_WORK_CPU = 2**23


@dataclass(frozen=True)
class ParameterSelection:
    """A group of entries of ``theta`` that an operator acts on (a layer's block of the Hessian).

    Attributes:
        index: long tensor (p_sub,) of the selected entries of ``theta``, increasing.
        slice: the same entries as a ``slice`` when they are contiguous, else ``None``.
        size: p_sub.
        num_params: p, the length of the full ``theta``.
    """

    index: torch.Tensor
    slice: slice | None
    size: int
    num_params: int

    @property
    def is_full(self) -> bool:
        return self.size == self.num_params

    def restrict(self, theta: torch.Tensor) -> torch.Tensor:
        """The selected entries of a full vector (p,) -> (p_sub,) (or rows of a (p, k) block)."""
        if self.is_full:
            return theta
        if self.slice is not None:
            return theta[self.slice]
        return theta[self.index.to(theta.device)]

    def embed(self, theta: torch.Tensor, sub: torch.Tensor) -> torch.Tensor:
        """``theta`` with its selected entries replaced by ``sub``, differentiable in ``sub``."""
        if self.is_full:
            return sub
        if self.slice is not None:
            return torch.cat([theta[: self.slice.start], sub, theta[self.slice.stop :]])
        return theta.index_put((self.index.to(theta.device),), sub)


def select_parameters(layout: ParameterLayout, params: Params = None) -> ParameterSelection:
    """Resolve a parameter group into a :class:`ParameterSelection`.

    Args:
        layout: the Problem's :class:`~landscope.problem.ParameterLayout`.
        params: ``None`` (all of ``theta``); a layer name (module owning parameters, e.g.
            ``"layers.0"``) or a parameter name (``"layers.0.weight"``); a list of such names;
            a boolean mask of shape (p,); or a ``slice`` of ``theta``.

    Examples:
        >>> import torch
        >>> from landscope.problem import ParameterLayout
        >>> layout = ParameterLayout.from_module(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)))
        >>> select_parameters(layout, "1").slice, select_parameters(layout, ["0.bias", "1.bias"]).index.tolist()
        (slice(9, 13, None), [6, 7, 8, 12])
    """
    p = layout.num_params
    if params is None:
        return ParameterSelection(torch.arange(p), slice(0, p), p, p)
    if isinstance(params, slice):
        start, stop, step = params.indices(p)
        if step != 1:
            raise ValueError(f"params slice must have step 1, got {params}")
        index = torch.arange(start, stop)
    elif isinstance(params, torch.Tensor):
        if params.dtype != torch.bool or params.shape != (p,):
            raise ValueError(
                f"a tensor params must be a boolean mask of shape ({p},), got dtype {params.dtype} "
                f"and shape {tuple(params.shape)}"
            )
        index = params.detach().cpu().nonzero().reshape(-1)
    else:
        names = [params] if isinstance(params, str) else list(params)
        if not names or not all(isinstance(n, str) for n in names):
            raise TypeError(
                "params must be a layer or parameter name, a list of names, a mask or a slice"
            )
        mask = torch.zeros(p, dtype=torch.bool)
        for name in names:
            slots = [s for s in layout if s.layer == name] or [s for s in layout if s.name == name]
            if not slots:
                raise KeyError(
                    f"params {name!r} is neither a layer nor a parameter; layers are {layout.layers}, "
                    f"parameters are {layout.names}"
                )
            for s in slots:
                mask[s.slice] = True
        index = mask.nonzero().reshape(-1)
    if index.numel() == 0:
        raise ValueError(f"params {params!r} selects no entries of theta")
    start, stop = int(index[0]), int(index[-1]) + 1
    contiguous = stop - start == index.numel()
    return ParameterSelection(
        index, slice(start, stop) if contiguous else None, int(index.numel()), p
    )


def check_theta(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    """``theta`` validated by :meth:`Problem.check_theta`, detached (operators fix their point)."""
    return problem.check_theta(theta).detach()


def check_operator_determinism(operator: CurvatureOperator, *, seed: int = 0) -> None:
    """Apply ``operator`` twice to the same seeded random vector, rebuilding everything (no
    cached graphs), and raise if the two products are not bitwise equal.

    A Problem in train mode with dropout, data augmentation inside the model or any other
    randomness makes the loss a random function of ``theta``; its "Hessian" is then a different
    matrix at every product and Lanczos-type solvers silently return garbage.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(operator.shape[0], 1, generator=gen, dtype=torch.float64)
    v = v.to(device=operator.device, dtype=operator.dtype)
    fresh = getattr(operator, "_uncached_matmat", operator._matmat)
    first, second = fresh(v), fresh(v)
    if not torch.equal(first, second):
        diff = float((first - second).abs().max())
        raise RuntimeError(
            f"two passes of the same {type(operator).__name__} product differ (max |diff| = "
            f"{diff:.3g}): the loss is not a deterministic function of theta. Likely causes: "
            "dropout or other random layers in train mode (use train_mode=False), data "
            "augmentation or random transforms in the dataset, or nondeterministic GPU kernels "
            "(torch.use_deterministic_algorithms(True))."
        )


def _resolve_block_mode(block: BlockMode, device: torch.device, work: int) -> str:
    """``work``: parameters x samples per chunk, a proxy for the cost of one backward pass."""
    if block not in ("auto", "loop", "vmap"):
        raise ValueError(f"block must be 'auto', 'loop' or 'vmap', got {block!r}")
    if block == "auto":
        return "vmap" if device.type != "cpu" or work <= _VMAP_MAX_WORK_CPU else "loop"
    return block


def backward_block(
    output: torch.Tensor, inputs: torch.Tensor, V: torch.Tensor, mode: str
) -> torch.Tensor:
    """``(d output / d inputs)^T`` applied to each column of ``V`` (shape (m, k)) through one
    retained graph; returns (inputs.numel(), k).  ``mode`` is ``"loop"`` (k backward passes)
    or ``"vmap"`` (one batched backward, ``is_grads_batched``)."""
    k = V.shape[1]
    if not output.requires_grad:
        # ``output`` does not depend on ``inputs`` (e.g. a loss linear in the parameters).
        return torch.zeros(inputs.numel(), k, dtype=V.dtype, device=V.device)
    shape = output.shape
    if mode == "vmap" and k > 1:
        cols = V.T.reshape(k, *shape).contiguous()
        (out,) = torch.autograd.grad(
            output, inputs, cols, retain_graph=True, is_grads_batched=True, allow_unused=True
        )
        if out is None:
            return torch.zeros(inputs.numel(), k, dtype=V.dtype, device=V.device)
        return out.reshape(k, -1).T
    cols = []
    for j in range(k):
        (g,) = torch.autograd.grad(
            output, inputs, V[:, j].reshape(shape), retain_graph=True, allow_unused=True
        )
        cols.append(
            torch.zeros(inputs.numel(), dtype=V.dtype, device=V.device)
            if g is None
            else g.reshape(-1)
        )
    return torch.stack(cols, dim=1)


class ProblemOperator(CurvatureOperator):
    """Shared plumbing of the operators built on a Problem: theta, sample and parameter
    selection, per-chunk graphs (optionally cached), the determinism probe.

    Subclasses implement ``_chunk_graph(x, y)`` (build the graph of one chunk, with the chunk's
    contribution already weighted by ``1 / num_samples``) and ``_chunk_product(graph, V)`` for
    the autograd backend, and set ``_gauss_newton`` for the structured one
    (:mod:`landscope.curvature._structured`).
    """

    _gauss_newton: bool = False

    def __init__(
        self,
        problem: Problem,
        theta: torch.Tensor,
        *,
        indices: Indices = None,
        params: Params = None,
        cache: bool | None = None,
        block: BlockMode = "auto",
        backend: Backend = "auto",
        check_determinism: bool = False,
    ):
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a landscope Problem, got {type(problem).__name__}")
        self.problem = problem
        # A private copy: the operator is the curvature at this theta even if the caller's
        # tensor is later updated in place (a training loop), and its cached graphs stay valid.
        self.theta = check_theta(problem, theta).clone()
        self.selection = select_parameters(problem.layout, params)
        super().__init__(self.selection.size, problem.dtype, problem.device)
        # Validate once; keep as a tensor so chunks() does not re-validate a numpy copy.
        self.indices = problem._indices(indices)
        self.num_samples: int = problem.num_selected(self.indices)
        chunk = (
            self.num_samples
            if problem.chunk_size is None
            else min(problem.chunk_size, self.num_samples)
        )
        self.block = _resolve_block_mode(block, self.device, problem.num_params * chunk)
        num_chunks = -(-self.num_samples // chunk)
        self.backend, self.backend_reason = self._resolve_backend(backend)
        # Attention: the kernel with a double backward (Problem.derivatives), said with the
        # backend's reason.
        self.attention_reason: str | None = problem.attention
        if self.attention_reason is not None:
            self.backend_reason = f"{self.backend_reason}; {self.attention_reason}"
        if self.backend == "structured":
            # The cached state is a few activations per layer and sample, far less than an
            # autograd graph: kept whenever it fits the budget.
            need = num_chunks * self._engine.state_bytes(chunk, self.theta.element_size())
            default_cache = need <= _STRUCTURED_CACHE_BYTES
        else:
            # Caching keeps each chunk's double-backward graph alive between products, saving
            # the forward and first backward pass (~1 gradient) per product.  With one chunk it
            # costs no more peak memory than a single uncached product, so it is on by default
            # there; with several chunks it multiplies memory by their number, so it is opt-in.
            default_cache = num_chunks == 1
        self.cache = default_cache if cache is None else bool(cache)
        self._graphs: list | None = None
        if check_determinism:
            check_operator_determinism(self)

    @property
    def param_index(self) -> torch.Tensor:
        """Long tensor (p_sub,): the entries of ``theta`` this operator acts on."""
        return self.selection.index

    def _resolve_backend(self, backend: str) -> tuple[str, str]:
        """``(backend, why)``: on CPU, the structured products where the model is a chain of
        dense layers and elementwise activations with a named loss (measured faster there and
        exact all the same), else autograd."""
        from landscope.curvature._structured import DenseChainProducts, structured_support

        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        if backend == "autograd":
            return "autograd", "asked for"
        if backend == "auto" and self.device.type != "cpu":
            # Measured faster on CPU only; on accelerators autograd's batched double backward
            # is measured (0.12x a gradient per vector at k = 16 on an H100) and this is not.
            return (
                "autograd",
                f"auto uses the structured backend on CPU only (device {self.device})",
            )
        x, _ = next(
            iter(self.problem.chunks(self.indices[:1] if self.indices is not None else [0]))
        )
        chain = structured_support(self.problem, x)
        if isinstance(chain, str):
            if backend == "structured":
                raise ValueError(f"backend='structured' cannot be used: {chain}")
            return "autograd", chain
        self._engine = DenseChainProducts(self.problem, chain, gauss_newton=self._gauss_newton)
        # Layers holding selected parameters: the products skip work for the others.
        self._active_layers = (
            None
            if self.selection.is_full
            else chain.stages_touched(self.selection.index, self.selection.num_params)
        )
        return "structured", "dense layers and elementwise activations"

    def _state(self, x: torch.Tensor, y: torch.Tensor):
        if self.backend == "structured":
            return self._engine.state(self.theta, x, y, self.num_samples)
        return self._chunk_graph(x, y)

    def _apply(self, graph, V: torch.Tensor) -> torch.Tensor:
        if self.backend != "structured":
            return self._chunk_product(graph, V)
        if self.selection.is_full:
            return self._engine.product(graph, V)
        # A parameter group: the full product of the embedded directions, restricted.
        full = torch.zeros(self.selection.num_params, V.shape[1], dtype=V.dtype, device=V.device)
        index = self.selection.index.to(V.device)
        full[index] = V
        return self._engine.product(graph, full, self._active_layers)[index]

    def _theta_sub_leaf(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh leaf for the selected entries, and the full theta built from it."""
        sub = self.selection.restrict(self.theta).detach().clone().requires_grad_(True)
        return sub, self.selection.embed(self.theta, sub)

    def _chunk_graph(self, x: torch.Tensor, y: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    def _chunk_product(self, graph, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _graph_list(self):
        if self._graphs is None:
            graphs = [self._state(x, y) for x, y in self.problem.chunks(self.indices)]
            if not self.cache:
                return graphs
            self._graphs = graphs
        return self._graphs

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        if not self.cache:
            return self._uncached_matmat(V)
        # Products work the same inside torch.no_grad() or torch.inference_mode() blocks.
        with torch.inference_mode(False), torch.enable_grad(), self.problem.derivatives():
            out = None
            for graph in self._graph_list():
                part = self._apply(graph, V)
                out = part if out is None else out.add_(part)
        return out

    def _uncached_matmat(self, V: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(False), torch.enable_grad(), self.problem.derivatives():
            out = None
            for x, y in self.problem.chunks(self.indices):
                part = self._apply(self._state(x, y), V)
                out = part if out is None else out.add_(part)
        return out

    def clear_cache(self) -> None:
        """Free the cached per-chunk graphs (they are rebuilt on the next product) and the
        structured backend's work buffers."""
        self._graphs = None
        if self.backend == "structured":
            self._engine.clear()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(p={self.shape[0]}, n={self.num_samples}, dtype={self.dtype}, "
            f"device={self.device}, backend={self.backend!r}, cache={self.cache}, "
            f"block={self.block!r})"
        )


class HessianOperator(ProblemOperator):
    """The Hessian ``H = (1/n) sum_{i in S} nabla^2 f_i(theta)`` of a Problem's mean loss over
    the selected samples S, matrix-free (Gur-Ari et al. 2018, App. A: the operator Lanczos runs on).

    Products ``H @ V`` for ``V`` of shape (p_sub, k) are exact double-backward
    (reverse-over-reverse) Hessian-vector products, summed over the Problem's chunks in a fixed
    order, hence deterministic.  Restricted to a parameter group, the operator is the
    (p_sub x p_sub) diagonal block ``H[idx][:, idx]`` of the full Hessian (Haink sec. 7.5's
    layer Hessian), computed without forming the rest.

    Args:
        problem: the model, loss and data.
        theta: parameters (p,) at which the Hessian is taken; copied, never modified.
        indices: sample subset S (default: all samples).
        params: parameter group (see :func:`select_parameters`); default all of theta.
        cache: keep each chunk's gradient graph (structured backend: its activations and
            derivatives) between products (saves ~1 gradient per product).  Default: on when
            the selected samples fit in one chunk (structured: when the state fits in 1 GiB).
        block: how a block of vectors is applied: ``"loop"`` (one backward per vector through
            the shared graph), ``"vmap"`` (one batched backward) or ``"auto"`` (the one measured
            faster: vmap on GPU and for small chunks on CPU, a loop for large chunks on CPU; see
            ``benchmarks/hvp_cost.py``).  Autograd backend only.
        backend: ``"autograd"`` (double backward through the model, any model),
            ``"structured"`` (the chain rule written out per layer for chains of ``nn.Linear``
            and elementwise activations with a named loss, :mod:`landscope.curvature._structured`:
            the same matrix, measured 0.6-0.8x a gradient per vector for a block of 16 on CPU
            against 0.9-1.3x) or ``"auto"`` (on CPU structured where the model and loss allow
            it, else autograd; ``backend_reason`` says why; on accelerators autograd, whose
            batched products are measured there).
        check_determinism: apply one product twice at construction and raise if they differ
            (catches dropout / random augmentation in train mode).

    Attributes:
        shape: (p_sub, p_sub).  num_samples: n = |S|.  param_index: entries of theta acted on.
        num_matvecs: Hessian-vector products applied so far.
        backend: ``"autograd"`` or ``"structured"``, the one in use; backend_reason: why.

    Examples:
        >>> import torch
        >>> from landscope import Problem
        >>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        >>> problem = Problem(torch.nn.Linear(3, 1).double(), "mse", (x, y))
        >>> H = HessianOperator(problem, problem.theta_from_model())
        >>> X = torch.cat([x, torch.ones(8, 1, dtype=torch.float64)], 1)   # least squares: H = 2 X^T X / n
        >>> torch.allclose(H.to_dense(), 2 * X.T @ X / 8)
        True
    """

    def _chunk_graph(self, x: torch.Tensor, y: torch.Tensor):
        with torch.enable_grad():
            sub, full = self._theta_sub_leaf()
            loss = self.problem.chunk_loss_sum(full, x, y) / self.num_samples
            (g,) = torch.autograd.grad(loss, sub, create_graph=True)
        return sub, g

    def _chunk_product(self, graph, V: torch.Tensor) -> torch.Tensor:
        sub, g = graph
        return backward_block(g, sub, V, self.block)
