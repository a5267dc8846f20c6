"""The layout of a model's parameters inside one flat vector ``theta``.

Every analysis in landscope sees a network as a function of ``theta`` in R^p, the
concatenation (in ``model.named_parameters()`` order) of all trainable tensors, each
flattened in row-major order.  :class:`ParameterLayout` records where each tensor lives
so that analyses can slice a layer, a weight matrix or all biases out of ``theta``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ParameterLayout", "ParameterSlot"]


@dataclass(frozen=True)
class ParameterSlot:
    """One tensor of the model inside ``theta``.

    Attributes:
        name: the parameter's name in ``model.named_parameters()`` (e.g. ``"net.0.weight"``).
        shape: its shape.
        offset: index of its first entry in ``theta``.
        numel: its number of entries.
        layer: the name of the module that owns it (``"net.0"``); ``""`` for the root module.
        kind: the attribute name (``"weight"``, ``"bias"``, ...).
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    numel: int
    layer: str
    kind: str

    @property
    def stop(self) -> int:
        """One past the last index of this tensor in ``theta``."""
        return self.offset + self.numel

    @property
    def slice(self) -> slice:
        """``theta[slot.slice]`` is this tensor, flattened."""
        return slice(self.offset, self.stop)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "offset": self.offset,
            "numel": self.numel,
            "layer": self.layer,
            "kind": self.kind,
        }


class ParameterLayout:
    """Names, shapes and offsets of the parameter tensors packed into ``theta``.

    Args:
        slots: the tensors in order; offsets must be contiguous from 0.

    Examples:
        >>> import torch
        >>> layout = ParameterLayout.from_module(torch.nn.Linear(3, 2))
        >>> layout.num_params, [s.name for s in layout]
        (8, ['weight', 'bias'])
        >>> layout.layer_slice("")
        slice(0, 8, None)
    """

    def __init__(self, slots: Iterable[ParameterSlot]):
        self.slots: tuple[ParameterSlot, ...] = tuple(slots)
        offset = 0
        for slot in self.slots:
            if slot.offset != offset or slot.numel != math.prod(slot.shape):
                raise ValueError(f"parameter slot {slot.name!r} is not contiguous in theta")
            offset += slot.numel
        self.num_params: int = offset
        self._by_name = {s.name: s for s in self.slots}

    @classmethod
    def from_module(cls, module: nn.Module, *, trainable_only: bool = True) -> ParameterLayout:
        """Layout of ``module.named_parameters()`` (only ``requires_grad`` ones by default)."""
        slots = []
        offset = 0
        for name, param in module.named_parameters():
            if trainable_only and not param.requires_grad:
                continue
            layer, _, kind = name.rpartition(".")
            numel = param.numel()
            slots.append(ParameterSlot(name, tuple(param.shape), offset, numel, layer, kind))
            offset += numel
        return cls(slots)

    @classmethod
    def from_dicts(cls, entries: Iterable[dict]) -> ParameterLayout:
        """Inverse of :meth:`to_dicts` (used to read a layout stored as JSON)."""
        return cls(
            ParameterSlot(
                e["name"],
                tuple(e["shape"]),
                int(e["offset"]),
                int(e["numel"]),
                e["layer"],
                e["kind"],
            )
            for e in entries
        )

    def to_dicts(self) -> list[dict]:
        return [s.to_dict() for s in self.slots]

    # --- queries -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ParameterSlot]:
        return iter(self.slots)

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, name: str) -> ParameterSlot:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}; parameters are {self.names}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterLayout) and self.slots == other.slots

    def __repr__(self) -> str:
        return f"ParameterLayout({len(self.slots)} tensors, {self.num_params} parameters)"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.slots]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [s.shape for s in self.slots]

    @property
    def numels(self) -> list[int]:
        return [s.numel for s in self.slots]

    @property
    def layers(self) -> list[str]:
        """Module names owning parameters, in order of first appearance."""
        return list(dict.fromkeys(s.layer for s in self.slots))

    def layer_slots(self, layer: str) -> list[ParameterSlot]:
        slots = [s for s in self.slots if s.layer == layer]
        if not slots:
            raise KeyError(f"no layer {layer!r}; layers are {self.layers}")
        return slots

    def layer_slice(self, layer: str) -> slice:
        """The contiguous range of ``theta`` holding all parameters of module ``layer``."""
        slots = self.layer_slots(layer)
        start, stop = slots[0].offset, slots[-1].stop
        if stop - start != sum(s.numel for s in slots):
            raise ValueError(f"parameters of layer {layer!r} are not contiguous in theta")
        return slice(start, stop)

    def layer_index(self) -> torch.Tensor:
        """Integer tensor of shape (p,): the index (into :attr:`layers`) of each entry's layer."""
        index = torch.empty(self.num_params, dtype=torch.long)
        positions = {name: i for i, name in enumerate(self.layers)}
        for s in self.slots:
            index[s.slice] = positions[s.layer]
        return index

    def mask(self, predicate: Callable[[ParameterSlot], bool]) -> torch.Tensor:
        """Boolean tensor of shape (p,), true on entries of slots where ``predicate(slot)``."""
        out = torch.zeros(self.num_params, dtype=torch.bool)
        for s in self.slots:
            if predicate(s):
                out[s.slice] = True
        return out

    # --- packing -----------------------------------------------------------------------------
    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``theta`` (shape (p,)) with each parameter's shape; no copies."""
        if theta.ndim != 1 or theta.shape[0] != self.num_params:
            raise ValueError(
                f"theta must have shape ({self.num_params},), got {tuple(theta.shape)}"
            )
        return {
            s.name: piece.view(s.shape)
            for s, piece in zip(self.slots, theta.split(self.numels), strict=True)
        }

    def flatten(self, tensors: dict[str, torch.Tensor] | Iterable[torch.Tensor]) -> torch.Tensor:
        """Concatenate tensors (a name -> tensor dict or a sequence in layout order) into theta."""
        if isinstance(tensors, dict):
            missing = [n for n in self.names if n not in tensors]
            if missing:
                raise KeyError(f"missing parameters {missing}")
            seq = [tensors[n] for n in self.names]
        else:
            seq = list(tensors)
        if len(seq) != len(self.slots):
            raise ValueError(f"expected {len(self.slots)} tensors, got {len(seq)}")
        for s, t in zip(self.slots, seq, strict=True):
            if tuple(t.shape) != s.shape:
                raise ValueError(
                    f"parameter {s.name!r}: expected shape {s.shape}, got {tuple(t.shape)}"
                )
        return torch.cat([t.reshape(-1) for t in seq])
