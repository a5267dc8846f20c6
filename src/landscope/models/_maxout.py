"""Maxout MLP (Goodfellow et al. 2013, "Maxout networks", eq. 1), used in Goodfellow et al.
2015 Figs. 1, 18, 19.

Each hidden unit is ``h_i(x) = max_j (x^T W_{.ij} + b_ij)``, the max over ``pieces`` linear
pieces. The layers are ``layers.0``, ``layers.1``, ... (``nn.Linear``); hidden layer ``l`` is
one ``nn.Linear(d_in, width * pieces)`` whose outputs are grouped as (width, pieces).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MaxoutMLP", "maxout_mlp"]


class MaxoutMLP(nn.Module):
    """Flatten, then maxout hidden layers of ``widths`` units with ``pieces`` pieces, then a
    linear readout to ``out_features`` logits.

    Shapes: input (n, *sample_shape) with ``prod(sample_shape) == in_features``; output
    (n, out_features). Parameters: sum over hidden layers of ``(d_in + bias) * width * pieces``
    plus ``(d_last + bias) * out_features``.

    >>> MaxoutMLP(4, [3], 2, pieces=2)(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        out_features: int,
        *,
        pieces: int = 2,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"pieces must be >= 1, got {pieces}")
        if any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive, got {list(widths)}")
        self.pieces = pieces
        self.widths = list(widths)
        dims = [in_features, *self.widths]
        layers = [nn.Linear(a, b * pieces, bias=bias) for a, b in itertools.pairwise(dims)]
        layers.append(nn.Linear(dims[-1], out_features, bias=bias))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer, width in zip(self.layers[:-1], self.widths, strict=True):
            h = layer(h).view(h.shape[0], width, self.pieces).amax(dim=-1)
        return self.layers[-1](h)


def maxout_mlp(
    input_shape: Sequence[int],
    output_dim: int,
    *,
    widths: Sequence[int] = (240, 240),
    pieces: int = 5,
    bias: bool = True,
) -> MaxoutMLP:
    """Maxout MLP builder for the registry (Goodfellow et al. 2013 MNIST-style defaults)."""
    return MaxoutMLP(math.prod(input_shape), list(widths), output_dim, pieces=pieces, bias=bias)
