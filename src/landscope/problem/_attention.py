"""Attention kernels for code that differentiates a model twice or vectorizes it over samples.

``torch.nn.functional.scaled_dot_product_attention`` (SDPA; used by ``nn.MultiheadAttention``,
``nn.TransformerEncoderLayer`` and the ``"sdpa"`` attention of Hugging Face models) dispatches to
a fused kernel -- flash attention on CPU and GPU, memory-efficient attention or cuDNN on GPU.  Their
backward passes have no derivative themselves, so a Hessian-vector product (double backward) fails
with ``derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward is not
implemented``; under ``torch.func.vmap`` (per-sample gradients) they have no batching rule and run
one sample at a time.  The *math* kernel is SDPA written in ordinary tensor operations: every
derivative of every order, and batched under vmap.  It computes the same function (up to
rounding in the last bits).

:func:`attention_for_derivatives` is the one place the library chooses: every curvature product,
per-sample gradient and online analysis runs inside it; training (first derivatives only) does
not and keeps the fast kernels.  Inside it, SDPA may use the math kernel only
(``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``), and Hugging Face models whose
``config._attn_implementation`` names a kernel without double backward (``"flash_attention_2"``,
``"flex_attention"``, a hub kernel, ...) are switched to ``"sdpa"`` (math) for the block.  Both
settings are restored on exit, also after an exception: the caller's model and global SDPA flags
are the same afterwards as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["TWICE_DIFFERENTIABLE_HF", "attention_for_derivatives", "describe_attention"]

#: Hugging Face ``attn_implementation`` values whose attention is differentiable twice under
#: the math SDPA kernel (``"eager"`` writes softmax(QK^T)V out; ``"sdpa"`` calls SDPA).
TWICE_DIFFERENTIABLE_HF = ("eager", "sdpa")


def _hf_configs(model: nn.Module) -> list:
    """The distinct Hugging Face configs (and their sub-configs) of the model's modules."""
    seen: dict[int, object] = {}

    def add(config) -> None:
        if config is None or id(config) in seen or not hasattr(config, "_attn_implementation"):
            return
        seen[id(config)] = config
        for key in getattr(config, "sub_configs", {}) or {}:
            add(getattr(config, key, None))

    for module in model.modules():
        add(getattr(module, "config", None))
    return list(seen.values())


def _hf_implementation(config) -> str | None:
    return getattr(config, "_attn_implementation_internal", None) or getattr(
        config, "_attn_implementation", None
    )


def describe_attention(model: nn.Module) -> str | None:
    """One sentence saying which attention the library uses where it differentiates ``model``
    twice (or vectorizes it over samples), and why; ``None`` if ``model`` holds no attention
    module landscope recognizes (``nn.MultiheadAttention``, a Hugging Face model, a module
    whose class sets ``uses_sdpa = True`` like the zoo's ``tiny_gpt`` blocks).  Other modules
    calling ``F.scaled_dot_product_attention`` get the math kernel all the same.

    Examples:
        >>> import torch
        >>> print(describe_attention(torch.nn.Linear(2, 2)))
        None
        >>> describe_attention(torch.nn.MultiheadAttention(4, 2))[:43]
        'attention: math kernel of scaled_dot_produc'
    """
    found = []
    mha = sum(isinstance(m, nn.MultiheadAttention) for m in model.modules())
    if mha:
        found.append(f"{mha} nn.MultiheadAttention")
    # Modules of ours (and anyone's) that call SDPA themselves say so with ``uses_sdpa = True``.
    declared: dict[str, int] = {}
    for m in model.modules():
        if getattr(type(m), "uses_sdpa", False):
            declared[type(m).__name__] = declared.get(type(m).__name__, 0) + 1
    found += [f"{n} {name} (scaled_dot_product_attention)" for name, n in declared.items()]
    switched = []
    for config in _hf_configs(model):
        impl = _hf_implementation(config)
        name = getattr(config, "model_type", type(config).__name__)
        found.append(f"Hugging Face {name} (attn_implementation {impl!r})")
        if impl is not None and impl not in TWICE_DIFFERENTIABLE_HF:
            switched.append(f"{impl!r} -> 'sdpa'")
    if not found:
        return None
    text = (
        "attention: math kernel of scaled_dot_product_attention (the flash, memory-efficient "
        "and cuDNN kernels have no double backward and no vmap batching rule; training keeps "
        f"them) for {', '.join(found)}"
    )
    if switched:
        text += (
            f"; Hugging Face attention switched for the call and restored: {', '.join(switched)}"
        )
    return text


@contextlib.contextmanager
def attention_for_derivatives(model: nn.Module) -> Iterator[None]:
    """Within the block, attention in ``model`` is differentiable twice and batched under vmap:
    SDPA uses its math kernel only, and Hugging Face configs naming another kernel use
    ``"sdpa"``.  The global SDPA flags and every config's setting are restored on exit.

    Examples:
        >>> import torch
        >>> from torch.nn.functional import scaled_dot_product_attention as sdpa
        >>> q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
        >>> with attention_for_derivatives(torch.nn.Identity()):
        ...     (g,) = torch.autograd.grad(sdpa(q, q, q).square().sum(), q, create_graph=True)
        ...     (h,) = torch.autograd.grad(g.sum(), q)   # double backward: fails on flash
        >>> h.shape
        torch.Size([1, 2, 3, 4])
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    configs = _hf_configs(model)
    saved = [(c, getattr(c, "_attn_implementation_internal", None)) for c in configs]
    try:
        for config in configs:
            impl = _hf_implementation(config)
            if impl is not None and impl not in TWICE_DIFFERENTIABLE_HF:
                config._attn_implementation_internal = "sdpa"
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        for config, value in saved:
            config._attn_implementation_internal = value
