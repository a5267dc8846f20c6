"""Structured Hessian- and GGN-vector products for chains of dense layers and elementwise
activations (MLPs), written out layer by layer.

The products are the same exact matrices as the autograd ones in
:mod:`landscope.curvature._hessian` (Pearlmutter's R-operator, i.e. double backward), with the
chain rule carried out by hand for a network

    a_0 = x,   z_l = a_{l-1} W_l^T + b_l,   a_l = s_l(z_l)   (l = 1..L),   loss(a_L, y),

where each ``s_l`` is an elementwise function (the identity after the last layer unless the
model ends with an activation).  With ``dL/da_L = g_o`` (the loss gradient in the output),
``delta_l = dL/da_l`` and ``g_l = dL/dz_l = delta_l * s_l'(z_l)`` cached from one forward and
one backward pass, a direction ``V = (dW_l, db_l)_l`` gives

    forward  (J V):  Rz_l = Ra_{l-1} W_l^T + a_{l-1} dW_l^T + db_l,   Ra_l = s_l'(z_l) Rz_l,
    output:          R delta_L = H_out Ra_L      (the loss Hessian in the output, per sample),
    backward:        Rg_l = R delta_l * s_l'(z_l) + delta_l * s_l''(z_l) * Rz_l,
                     (H V)_{W_l} = Rg_l^T a_{l-1} + g_l^T Ra_{l-1},   (H V)_{b_l} = sum_n Rg_l,
                     R delta_{l-1} = Rg_l W_l + g_l dW_l.

Dropping the three terms that carry first derivatives of the loss (``delta_l s_l''``,
``g_l^T Ra``, ``g_l dW_l``) leaves ``J^T H_out J V``, the generalized Gauss-Newton product.

Why write this by hand rather than use autograd (which :class:`HessianOperator` otherwise
does): on a CPU, a block of k vectors then runs as a few large matrix products per layer, with
the block folded into the feature dimension ((n, k, width) tensors, so that
``a_{l-1} [dW_1^T ... dW_k^T]`` is one GEMM), sub-chunked over samples so the intermediates
stay in cache, and with work buffers kept between products.  Measured on the digits MLP
64-100-100-10 (N = 1,797, float32, 2 CPU threads), per vector in units of one plain-torch
gradient (1.5-1.75 ms, ``torch.autograd.grad`` of the module's loss timed in the same loop;
ratio of minima): one product 1.3-1.5x and a block of 16 0.9-1.1x, against 1.6-1.75x and
1.5-1.75x through autograd with a cached graph (``benchmarks/bench_hessian_eigs.py``,
``bench_structured.py``, ``hvp_cost.py``; float64 k = 16: 1.04x against 1.62x).  On accelerators it has not been measured,
so ``backend="auto"`` uses it on CPU only.  Fresh (n, k, width) tensors were the largest single cost
of a first version (page faults on every allocation of a few MB), hence the buffers.

Which models: ``nn.Sequential`` (nested allowed) of ``nn.Linear``, ``nn.Flatten`` and
elementwise activations (:data:`ELEMENTWISE_MODULES`; dropout only in eval mode), landscope's
:class:`~landscope.models.MLP`, or a bare ``nn.Linear``; every trainable parameter must belong
to one of the Linear layers (each called once), and no module may carry hooks or an overridden
``forward``.  Losses: landscope's named ones (cross-entropy with class indices, ignored index
-100 or probability targets; squared and absolute error, binary cross-entropy of logits, all
averaged over outputs), whose output Hessians are written in closed form; a user callable is not
(its Hessian in the output is unknown).  :func:`structured_support` says why a Problem is not
supported; the operators then fall back to autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from landscope.problem._losses import LOSSES, SEQUENCE_LOSSES

__all__ = [
    "ELEMENTWISE_MODULES",
    "DenseChain",
    "DenseChainProducts",
    "DenseStage",
    "dense_chain",
    "structured_support",
]

#: Activation modules applied entry by entry (their derivatives are taken by autograd on the
#: activation alone, so any of them is exact, smooth or not).
ELEMENTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Tanhshrink,
)
_DROPOUT = (nn.Dropout, nn.AlphaDropout)

# Elements per (samples x block x width) work buffer on the CPU: sub-chunks of the samples are
# sized so one buffer holds about this many numbers (2 MB in float32, about the L2 cache).
# Measured on the digits MLP, k = 16: whole chunk 0.96x, 512 samples 0.90x, 256 samples 0.88x
# a gradient per vector; k = 64: 1.06x whole, 128 samples 0.81x.  On accelerators a chunk goes
# at once (fewer launches) unless a buffer would exceed _DEVICE_BUFFER_ELEMENTS.
_CPU_BUFFER_ELEMENTS = 2**19
_DEVICE_BUFFER_ELEMENTS = 2**26  # 256 MB in float32: bounds GPU memory for large blocks


@dataclass
class DenseStage:
    """One ``nn.Linear`` of a chain and the elementwise modules applied after it.

    Attributes:
        weight, bias: offsets of the layer's tensors in ``theta`` as slices (bias ``None``).
        in_features, out_features: the layer's shape.
        activations: elementwise modules applied to its output, in order (may be empty).
    """

    weight: slice
    bias: slice | None
    in_features: int
    out_features: int
    activations: list[nn.Module] = field(default_factory=list)


@dataclass
class DenseChain:
    """A model recognized as ``prefix -> (Linear -> activations)*``.

    Attributes:
        prefix: parameter-free elementwise modules applied to the input before the first layer.
        flatten: whether the input is flattened to (n, features) first.
        stages: the dense layers in order.
    """

    prefix: list[nn.Module]
    flatten: bool
    stages: list[DenseStage]

    @property
    def max_width(self) -> int:
        return max(max(s.in_features, s.out_features) for s in self.stages)

    def stages_touched(self, index: torch.Tensor, num_params: int) -> list[bool]:
        """Which layers hold any of the entries ``index`` of theta (a parameter group)."""
        mask = torch.zeros(num_params, dtype=torch.bool)
        mask[index] = True
        return [
            bool(mask[st.weight].any()) or (st.bias is not None and bool(mask[st.bias].any()))
            for st in self.stages
        ]


def _has_hooks(module: nn.Module) -> bool:
    """Hooks, or a ``forward`` replaced on the instance: the module may not compute what its
    type says."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return "forward" in vars(module) or any(bool(getattr(module, n, None)) for n in names)


def _leaves(model: nn.Module) -> list[nn.Module] | str:
    """The modules of a chain in call order, or why ``model`` is not one."""
    from landscope.models._dense import MLP  # the zoo's MLP; models do not import curvature

    if _has_hooks(model):
        return f"{type(model).__name__} has hooks or an overridden forward"
    if type(model) is nn.Sequential:
        out: list[nn.Module] = []
        for child in model:
            sub = _leaves(child)
            if isinstance(sub, str):
                return sub
            out.extend(sub)
        return out
    if type(model) is MLP:  # its leaves are checked for hooks by the caller
        out = [nn.Flatten()]
        for i, layer in enumerate(model.layers):
            if i > 0:
                out.append(model.activation)
            out.append(layer)
        return out
    return [model]


def dense_chain(model: nn.Module, layout, *, train_mode: bool) -> DenseChain | str:
    """Recognize ``model`` as a chain of dense layers and elementwise activations.

    Args:
        model: the Problem's module.
        layout: its :class:`~landscope.problem.ParameterLayout` (where each tensor is in theta).
        train_mode: whether the Problem evaluates in train mode (dropout is then random).

    Returns:
        a :class:`DenseChain`, or a sentence saying why the model is not one.
    """
    from torch.nn.modules import module as module_mod

    hooks = (
        "_global_forward_hooks",
        "_global_forward_pre_hooks",
        "_global_backward_hooks",
        "_global_backward_pre_hooks",
    )
    if any(getattr(module_mod, h, None) for h in hooks):
        return "global module hooks are registered"
    leaves = _leaves(model)
    if isinstance(leaves, str):
        return leaves
    names = {id(m): n for n, m in model.named_modules()}
    slots = {s.name: s for s in layout}
    prefix: list[nn.Module] = []
    flatten = False
    stages: list[DenseStage] = []
    used: set[str] = set()
    linears: set[int] = set()
    for m in leaves:
        if _has_hooks(m):
            return f"{type(m).__name__} has hooks or an overridden forward"
        if type(m) is nn.Linear:
            if id(m) in linears:
                return "an nn.Linear is called more than once (shared weights)"
            linears.add(id(m))
            name = names[id(m)]
            wname = f"{name}.weight" if name else "weight"
            bname = f"{name}.bias" if name else "bias"
            w = slots.get(wname)
            if w is None or w.shape != tuple(m.weight.shape):
                return f"{wname} is not a trainable parameter of the layout"
            b = None
            if m.bias is not None:
                b = slots.get(bname)
                if b is None:
                    return f"{bname} is not a trainable parameter of the layout"
            used.update({wname} | ({bname} if b is not None else set()))
            stages.append(
                DenseStage(w.slice, None if b is None else b.slice, m.in_features, m.out_features)
            )
        elif type(m) is nn.Flatten:
            if (m.start_dim, m.end_dim) != (1, -1):
                return f"nn.Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is not supported"
            if not stages:
                flatten = True
            # After a dense layer the tensor is (n, features) and Flatten is the identity.
        elif type(m) in _DROPOUT and (not train_mode or m.p == 0):
            continue  # the identity in eval mode
        elif type(m) in ELEMENTWISE_MODULES:
            (stages[-1].activations if stages else prefix).append(m)
        else:
            return f"{type(m).__name__} is not a dense layer or an elementwise activation"
    if not stages:
        return "the model has no nn.Linear layer"
    extra = set(slots) - used
    if extra:
        return f"parameters outside the dense layers: {sorted(extra)[:3]}"
    return DenseChain(prefix, flatten, stages)


def _derivatives(acts: list[nn.Module], z: torch.Tensor):
    """``s(z)``, ``s'(z)`` and ``s''(z)`` (``None`` where identically zero) of the composition of
    elementwise modules ``acts``, by autograd on the activations alone."""
    with torch.inference_mode(False), torch.enable_grad():
        zl = z.detach().clone().requires_grad_(True)
        h = zl.clone()  # in-place activations (ReLU(inplace=True)) act on this copy
        for m in acts:
            h = m(h)
        (d1,) = torch.autograd.grad(h.sum(), zl, create_graph=True)
        d2 = None
        if d1.requires_grad:
            (d2,) = torch.autograd.grad(d1.sum(), zl, allow_unused=True)
    if d2 is not None and not bool(d2.any()):
        d2 = None  # piecewise linear (ReLU, ...): the second-order term vanishes exactly
    return h.detach(), d1.detach(), d2


def _loss_support(problem) -> str | None:
    name = problem.loss_name
    if name in SEQUENCE_LOSSES:
        return f"the sequence loss {name!r} has no structured products (one sample, T tokens)"
    if name in LOSSES and problem._per_sample_loss is LOSSES[name]:  # each has a closed form below
        return None
    return (
        f"the loss {name!r} is not one of landscope's named losses "
        f"({', '.join(LOSSES)}), whose output Hessians the structured backend knows"
    )


def structured_support(problem, sample: torch.Tensor | None = None) -> DenseChain | str:
    """The :class:`DenseChain` of a Problem whose model and loss the structured products
    handle, or a sentence saying why not.  ``sample``: a batch of inputs, to check that the
    first dense layer receives (n, features) as the chain would give it."""
    reason = _loss_support(problem)
    if reason is not None:
        return reason
    chain = dense_chain(problem.model, problem.layout, train_mode=problem.train_mode)
    if isinstance(chain, str) or sample is None:
        return chain
    shape = tuple(sample.shape[1:])
    features = (math.prod(shape),) if chain.flatten else shape
    if len(features) != 1 or features[0] != chain.stages[0].in_features:
        return (
            f"the first nn.Linear ({chain.stages[0].in_features} inputs) receives samples of "
            f"shape {shape}; the structured backend needs (n, features) (add nn.Flatten)"
        )
    return chain


def _output_hessian_data(loss: str, o: torch.Tensor, y: torch.Tensor, num_samples: int) -> tuple:
    """The per-sample Hessian of landscope's named losses in the model output ``o`` (n, C),
    divided by the number of samples N of the mean (``landscope.problem._losses``):
    cross-entropy ``w (diag(p) - p p^T) / N`` (p = softmax(o); w = 1 for a class index, 0 for
    the ignored index -100, the sum of the target row for probability targets); squared error
    averaged over the C outputs ``2 / (C N)``; binary cross-entropy of logits
    ``sigma (1 - sigma) / (C N)``; absolute error 0 (almost everywhere, as autograd has it)."""
    C = o[0].numel()
    if loss == "cross_entropy":
        if o.ndim != 2:
            raise ValueError(f"cross-entropy needs outputs (n, C), got {tuple(o.shape)}")
        if y.is_floating_point():
            w = y.reshape(o.shape[0], -1).sum(dim=1)
        else:
            w = (y.reshape(-1) != -100).to(o.dtype)  # F.cross_entropy's default ignore_index
        scale = 1.0 / num_samples if bool((w == 1).all()) else w.reshape(-1, 1, 1) / num_samples
        return ("softmax", torch.softmax(o, dim=1), scale)
    if loss == "mse":
        return ("diagonal", 2.0 / (C * num_samples))
    if loss == "bce_with_logits":
        sig = torch.sigmoid(o).reshape(o.shape[0], -1)
        return ("diagonal", sig * (1 - sig) / (C * num_samples))
    if loss == "mae":
        return ("diagonal", 0.0)
    raise ValueError(f"no closed-form output Hessian for the loss {loss!r}")


@dataclass
class _ChunkState:
    """What one forward and one backward pass over a chunk leave for the products."""

    n: int
    inputs: list[torch.Tensor]  # a_{l-1}, with a column of ones appended when b_l exists
    weights: list[torch.Tensor]  # W_l (out, in), views of theta
    d1: list[torch.Tensor | None]  # s_l'(z_l) (n, out), None for the identity
    curv: list[torch.Tensor | None]  # delta_l * s_l''(z_l) (n, out), None where zero
    g: list[torch.Tensor]  # g_l = dL/dz_l (n, out)
    out_data: (
        tuple  # ("softmax", p (n, C), w / N); ("diagonal", h); w / N and h: (n, ...) or a number
    )


class DenseChainProducts:
    """Hessian (or GGN) products of a Problem whose model is a :class:`DenseChain`.

    Used by :class:`~landscope.curvature.HessianOperator` and
    :class:`~landscope.curvature.GGNOperator` with ``backend="structured"``: ``state(theta, x,
    y, num_samples)`` plays the part of their per-chunk graph, ``product(state, V)`` of its
    backward pass.  Work buffers are kept between products (``clear`` frees them).
    """

    def __init__(self, problem, chain: DenseChain, *, gauss_newton: bool):
        self.problem = problem
        self.chain = chain
        self.gauss_newton = bool(gauss_newton)
        self._buffers: dict = {}

    def clear(self) -> None:
        self._buffers = {}

    def state_bytes(self, n: int, itemsize: int) -> int:
        """Memory of one chunk's cached state for ``n`` samples (an estimate, in bytes)."""
        widths = sum(s.in_features + 1 + 3 * s.out_features for s in self.chain.stages)
        return n * widths * itemsize

    # --- forward and backward pass: the cached state of one chunk --------------------------
    def state(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, num_samples: int):
        chain = self.chain
        with torch.no_grad():
            a = x.clone() if chain.prefix else x  # in-place prefix modules act on the copy
            for m in chain.prefix:
                a = m(a)
            if chain.flatten:
                a = a.flatten(1)
            inputs, weights, d1s, d2s = [], [], [], []
            for st in chain.stages:
                W = theta[st.weight].view(st.out_features, st.in_features)
                b = None if st.bias is None else theta[st.bias]
                z = F.linear(a, W, b)
                inputs.append(a if b is None else torch.cat([a, a.new_ones(a.shape[0], 1)], 1))
                weights.append(W)
                if st.activations:
                    a, d1, d2 = _derivatives(st.activations, z)
                else:
                    a, d1, d2 = z, None, None
                d1s.append(d1)
                d2s.append(d2)
        n = a.shape[0]
        # The loss gradient in the output, and the loss Hessian in the output in closed form.
        with torch.inference_mode(False), torch.enable_grad():
            o = a.detach().clone().requires_grad_(True)
            value = self.problem.per_sample_loss(o, y).sum() / num_samples
            (g_o,) = torch.autograd.grad(value, o)
        out_data = _output_hessian_data(self.problem.loss_name, o.detach(), y, num_samples)
        gs: list[torch.Tensor] = [None] * len(chain.stages)  # type: ignore[list-item]
        curv: list[torch.Tensor | None] = [None] * len(chain.stages)
        with torch.no_grad():
            delta = g_o.detach().reshape(n, -1)
            for i in range(len(chain.stages) - 1, -1, -1):
                d1, d2 = d1s[i], d2s[i]
                gs[i] = delta if d1 is None else delta * d1
                if d2 is not None and not self.gauss_newton:
                    curv[i] = delta * d2
                if i > 0:
                    delta = gs[i] @ weights[i]
        return _ChunkState(n, inputs, weights, d1s, curv, gs, out_data)

    # --- one product --------------------------------------------------------------------------
    def _buf(self, key, shape, like: torch.Tensor) -> torch.Tensor:
        """A work buffer of ``shape`` (first dimension: at least that many rows), reused while
        the block size and the dtype stay the same; one per role and layer, so memory stays
        bounded whatever sequence of block sizes comes."""
        b = self._buffers.get(key)
        if (
            b is None
            or b.shape[1:] != shape[1:]
            or b.shape[0] < shape[0]
            or b.dtype != like.dtype
            or b.device != like.device
        ):
            b = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._buffers[key] = b
        return b[: shape[0]]

    @staticmethod
    def _output_hessian(s: _ChunkState, sl: slice, Ra: torch.Tensor, out: torch.Tensor):
        """``out = H_out Ra`` per sample, Ra and out of shape (m, k, C)."""
        kind, *data = s.out_data
        if kind == "softmax":
            # H_out = w (diag(p) - p p^T) / N for the softmax probabilities p.
            P, scale = data[0][sl].unsqueeze(1), data[1]  # P: (m, 1, C)
            torch.mul(Ra, P, out=out)
            dot = out.sum(dim=2, keepdim=True)  # p . Ra, (m, k, 1)
            out.addcmul_(P, dot, value=-1.0)
            out.mul_(scale[sl] if isinstance(scale, torch.Tensor) else scale)
        else:
            h = data[0]
            torch.mul(Ra, h[sl].unsqueeze(1) if isinstance(h, torch.Tensor) else h, out=out)
        return out

    def product(
        self, s: _ChunkState, V: torch.Tensor, active: Sequence[bool] | None = None
    ) -> torch.Tensor:
        """``H V`` (or ``G V``) of one chunk, ``V`` (p, k) on the full theta; returns (p, k).

        ``active[l]``: whether layer l's rows of ``V`` may be nonzero and its rows of the
        result are wanted (a parameter group); the passes skip what the other layers would
        only contribute zeros to, and their rows of the result are zero."""
        stages = self.chain.stages
        L = len(stages)
        p, k = V.shape
        if k == 0:
            return V.new_zeros(p, 0)
        act = [True] * L if active is None else [bool(a) for a in active]
        if not any(act):
            return V.new_zeros(p, k)
        first = act.index(True)  # below it every R-quantity is zero
        ref = V
        # The direction, per layer, in the two layouts the GEMMs want:
        #   fwd[l]  (in [+1], k * out): [dW_1^T ... dW_k^T] with the bias row db appended;
        #   bwd[l]  (out, k * in):      [dW_1 ... dW_k].
        fwd: list[torch.Tensor | None] = []
        bwd: list[torch.Tensor | None] = []
        for i, st in enumerate(stages):
            if not act[i]:
                fwd.append(None)
                bwd.append(None)
                continue
            dW = V[st.weight].view(st.out_features, st.in_features, k)
            f = dW.permute(1, 2, 0).reshape(st.in_features, k * st.out_features)
            if st.bias is not None:
                f = torch.cat([f, V[st.bias].T.reshape(1, k * st.out_features)], 0)
            fwd.append(f)
            bwd.append(
                None if self.gauss_newton else dW.permute(0, 2, 1).reshape(st.out_features, -1)
            )
        # Accumulators of the weight (and bias) blocks, reused between products:
        #   accW[l] (k * out, in [+1]) = sum_n Rg_l^T [a_{l-1}, 1];  accG[l] (out, k * in) = g_l^T Ra_{l-1}.
        accW = [
            self._buf(("accW", i), (k * st.out_features, s.inputs[i].shape[1]), ref).zero_()
            if act[i]
            else None
            for i, st in enumerate(stages)
        ]
        accG = [
            None
            if self.gauss_newton or i <= first or not act[i]
            else self._buf(("accG", i), (st.out_features, k * st.in_features), ref).zero_()
            for i, st in enumerate(stages)
        ]
        per_buffer = _CPU_BUFFER_ELEMENTS if V.device.type == "cpu" else _DEVICE_BUFFER_ELEMENTS
        target = max(16, per_buffer // (k * self.chain.max_width))
        parts = -(-s.n // target)
        step = -(-s.n // parts)  # equal sub-chunks (the last one at most parts - 1 shorter)

        def buf(role: str, i: int, width: int, m: int) -> torch.Tensor:
            return self._buf((role, i), (m, k, width), ref)

        for start in range(0, s.n, step):
            sl = slice(start, min(start + step, s.n))
            m = sl.stop - sl.start
            Rz: list[torch.Tensor | None] = [None] * L
            Ra: list[torch.Tensor | None] = [None] * L
            # forward: Rz_l = Ra_{l-1} W_l^T + [a_{l-1}, 1] [dW_l^T; db_l]
            for i in range(first, L):
                st = stages[i]
                rz = buf("rz", i, st.out_features, m)
                if act[i]:
                    torch.mm(s.inputs[i][sl], fwd[i], out=rz.view(m, -1))
                    if i > first:
                        rz.view(m * k, -1).addmm_(Ra[i - 1].view(m * k, -1), s.weights[i].T)
                else:
                    torch.mm(Ra[i - 1].view(m * k, -1), s.weights[i].T, out=rz.view(m * k, -1))
                Rz[i] = rz
                d1 = s.d1[i]
                if d1 is None:
                    Ra[i] = rz
                else:
                    ra = buf("ra", i, st.out_features, m)
                    torch.mul(rz, d1[sl].unsqueeze(1), out=ra)
                    Ra[i] = ra
            rd = buf("rd", L - 1, stages[-1].out_features, m)
            self._output_hessian(s, sl, Ra[-1], rd)
            # backward, down to the first active layer
            for i in range(L - 1, first - 1, -1):
                d1 = s.d1[i]
                if d1 is not None:
                    rd.mul_(d1[sl].unsqueeze(1))  # Rg_l (in place)
                if s.curv[i] is not None:
                    rd.addcmul_(s.curv[i][sl].unsqueeze(1), Rz[i])
                if act[i]:
                    accW[i].addmm_(rd.view(m, -1).T, s.inputs[i][sl])
                if i == first:
                    break
                nxt = buf("rd", i - 1, stages[i - 1].out_features, m)
                if accG[i] is None:  # GGN, or no direction in this layer: R delta = Rg W
                    torch.mm(rd.view(m * k, -1), s.weights[i], out=nxt.view(m * k, -1))
                else:
                    accG[i].addmm_(s.g[i][sl].T, Ra[i - 1].view(m, -1))
                    torch.mm(s.g[i][sl], bwd[i], out=nxt.view(m, -1))
                    nxt.view(m * k, -1).addmm_(rd.view(m * k, -1), s.weights[i])
                rd = nxt
        # every entry is written when all layers are active
        out = (torch.empty if all(act) else torch.zeros)(p, k, dtype=V.dtype, device=V.device)
        for i, st in enumerate(stages):
            if not act[i]:
                continue
            fo, fi = st.out_features, st.in_features
            acc = accW[i].view(k, fo, -1)
            w = acc[:, :, :fi].permute(1, 2, 0)
            if accG[i] is not None:
                w = w + accG[i].view(fo, k, fi).permute(0, 2, 1)
            out[st.weight].view(fo, fi, k).copy_(w)
            if st.bias is not None:
                out[st.bias].copy_(acc[:, :, fi].T)
        return out
