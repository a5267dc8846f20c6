"""Models as they come: batches of inputs that are tensors, tuples or dicts, and outputs that are
tensors, tuples or Hugging Face ``ModelOutput`` s.

A batch of inputs is a *tree* of tensors whose leaves share the sample dimension 0: a tensor
``x`` (the model is called ``model(x)``), a tuple or list ``(a, b, ...)`` (``model(a, b, ...)``) or
a dict ``{"input_ids": ..., "attention_mask": ...}`` (``model(**batch)``).  Integer leaves (token
ids, masks) keep their dtype; floating leaves take the Problem's dtype.

The *output adapter* turns whatever the model returns into the tensor the loss reads:

- ``None`` (default): a tensor as it is; an object or dict with ``logits`` (a Hugging Face
  ``ModelOutput``, ``CausalLMOutput``, ...) -> ``.logits``; a tuple or list -> its first element.
- a string: that key or attribute (``"logits"``, ``"last_hidden_state"``).
- an int: that element of a tuple.
- a callable ``output -> tensor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map

__all__ = [
    "OutputAdapter",
    "batch_size",
    "call_model",
    "clone_batch",
    "index_batch",
    "move_batch",
    "resolve_output",
]

OutputAdapter = str | int | Callable[[Any], torch.Tensor] | None


def _leaves(x: Any) -> list[torch.Tensor]:
    leaves = [leaf for leaf in tree_leaves(x) if isinstance(leaf, torch.Tensor)]
    if not leaves:
        raise TypeError(
            f"model inputs must be a tensor, a tuple/list or a dict of tensors, got "
            f"{type(x).__name__}"
        )
    return leaves


def batch_size(x: Any) -> int:
    """The number of samples of a batch (dimension 0 of its tensors, which must agree)."""
    sizes = {int(leaf.shape[0]) if leaf.ndim else -1 for leaf in _leaves(x)}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(
            f"every tensor of a batch needs the same sample dimension 0, got sizes {sorted(sizes)}"
        )
    return sizes.pop()


def index_batch(x: Any, sel: torch.Tensor | slice) -> Any:
    """The samples ``sel`` (a slice or a long index tensor) of every tensor of the batch."""
    return tree_map(lambda t: t[sel] if isinstance(t, torch.Tensor) else t, x)


def move_batch(x: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Every tensor on ``device``; floating ones cast to ``dtype`` (integer ids and masks kept)."""
    return tree_map(
        lambda t: (
            t.to(device=device, dtype=dtype if t.is_floating_point() else None)
            if isinstance(t, torch.Tensor)
            else t
        ),
        x,
    )


def clone_batch(x: Any) -> Any:
    return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, x)


def batch_version(x: Any) -> int | None:
    """The sum of the tensors' version counters (bumped by in-place writes), or None."""
    total = 0
    for leaf in _leaves(x):
        try:
            total += int(leaf._version)
        except (RuntimeError, TypeError):
            return None
    return total


def call_model(model: Callable, x: Any, kwargs: Mapping[str, Any] | None = None) -> Any:
    """``model(x)``, ``model(*x)`` or ``model(**x)`` for a tensor, tuple/list or dict batch, with
    the Problem's extra keyword arguments (e.g. ``use_cache=False``)."""
    kwargs = dict(kwargs or {})
    if isinstance(x, Mapping):
        return model(**{**kwargs, **x})
    if isinstance(x, (tuple, list)):
        return model(*x, **kwargs)
    return model(x, **kwargs)


def resolve_output(output: OutputAdapter) -> Callable[[Any], torch.Tensor]:
    """The function ``model output -> tensor`` of an output adapter (see the module docstring).

    Examples:
        >>> import torch
        >>> pick = resolve_output(None)
        >>> pick({"logits": torch.zeros(2, 3), "loss": torch.tensor(1.0)}).shape
        torch.Size([2, 3])
        >>> resolve_output(1)((torch.zeros(1), torch.ones(2))).tolist()
        [1.0, 1.0]
    """
    if output is None:
        return _default_output
    if isinstance(output, bool):
        raise TypeError("output must be None, a key/attribute name, an index or a callable")
    if isinstance(output, str):
        return lambda out: _pick_key(out, output)
    if isinstance(output, int):
        return lambda out: _check_tensor(out[output], f"output[{output}]")
    if callable(output):
        return lambda out: _check_tensor(output(out), "output(...)")
    raise TypeError(
        f"output must be None, a key/attribute name, an index or a callable, got "
        f"{type(output).__name__}"
    )


def _check_tensor(value: Any, where: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{where} of the model is a {type(value).__name__}, not a tensor")
    return value


def _pick_key(out: Any, key: str) -> torch.Tensor:
    if isinstance(out, Mapping) and key in out:
        return _check_tensor(out[key], f"output {key!r}")
    if not isinstance(out, Mapping) and hasattr(out, key):
        return _check_tensor(getattr(out, key), f"output .{key}")
    keys = list(out.keys()) if isinstance(out, Mapping) else type(out).__name__
    raise KeyError(f"the model output has no {key!r} (it has {keys}); set output= to pick one")


def _default_output(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = out.get("logits") if isinstance(out, Mapping) else getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    keys = list(out.keys()) if isinstance(out, Mapping) else type(out).__name__
    raise TypeError(
        f"cannot tell which part of the model output ({keys}) the loss reads: pass output= "
        "(a key or attribute such as 'logits', an index, or a callable)"
    )
