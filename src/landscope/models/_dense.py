"""Fully connected models: softmax regression, MLPs, deep linear and factored scalar models.

Every model flattens its input, so it accepts a sample of any shape; its ``nn.Linear`` layers
are ``layers.0``, ``layers.1``, ... in input -> output order (the names
``ParameterLayout.layers`` shows).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "deep_linear", "factored_scalar", "mlp", "softmax_regression"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}


class MLP(nn.Module):
    """``x -> W_L s(... s(W_1 flatten(x) + b_1) ...) + b_L``: dense layers with one activation.

    Args:
        in_features: size of the flattened input.
        widths: hidden widths (may be empty: then this is one linear map).
        out_features: output width (classes or regression targets; logits, no softmax).
        activation: one of ``relu``, ``softplus``, ``sigmoid``, ``tanh``, ``linear``; applied
            after every hidden layer, not after the last.
        bias: whether the layers have biases.

    Shapes: input (n, *sample_shape) with ``prod(sample_shape) == in_features``; output
    (n, out_features).
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        bias: bool = True,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        widths = [int(w) for w in widths]
        if any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive integers, got {widths}")
        sizes = [int(in_features), *widths, int(out_features)]
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=bias) for a, b in itertools.pairwise(sizes)
        )
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.activation(x)
            x = layer(x)
        return x


def _in_features(input_shape: tuple[int, ...]) -> int:
    return math.prod(input_shape)


def mlp(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    widths: Sequence[int] = (100, 100),
    activation: str = "relu",
    bias: bool = True,
) -> MLP:
    """A fully connected network with hidden ``widths``; flattens its input.

    The papers' MLPs (parameter counts with biases, ReLU unless stated):

    ============================================  ==================  ===========
    network                                       widths              parameters
    ============================================  ==================  ===========
    Fjellström Iris 4-24-14-3 (sec. 3.4.1)        (24, 14)            515
    Fjellström Auto MPG 7-21-13-1 (7 inputs)      (21, 13)            468
    Gur-Ari FC on digits 64-100-100-10            (100, 100)          17,610
    Gur-Ari FC on MNIST 784-100-100-10            (100, 100)          89,610
    Haink MLP 50 on MNIST 784 (sec. 5.2)          (50, 50)            42,310
    Haink MLP 256 on CIFAR-10 3072 (sec. 5.2)     (256, 128, 64)      828,490
    ============================================  ==================  ===========

    >>> from landscope.models import count_parameters
    >>> count_parameters(mlp((4,), 3, widths=(24, 14)))
    515
    """
    return MLP(_in_features(input_shape), widths, output_dim, activation=activation, bias=bias)


def softmax_regression(input_shape: tuple[int, ...], output_dim: int, *, bias: bool = False) -> MLP:
    """Softmax (multinomial logistic) regression: one linear map theta (k, d) to the logits.

    Gur-Ari, Roberts & Dyer sec. 4 / App. E: parameters theta_{y,i}, no bias by default (their
    remark: adding biases breaks the degeneracy of the top subspace).  Parameters: d * k
    (+ k with ``bias=True``); 2 * d for their two-class Gaussian mixture; 7,840 on MNIST.
    """
    return MLP(_in_features(input_shape), (), output_dim, activation="linear", bias=bias)


def deep_linear(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    depth: int = 3,
    width: int | None = None,
    bias: bool = False,
) -> MLP:
    """A deep linear network: the product of ``depth`` matrices, no nonlinearity.

    Goodfellow, Vinyals & Saxe sec. 5 and Fig. 15: ``y = W_depth ... W_2 W_1 x``, the first
    ``depth - 1`` matrices square of the input dimension (``width=None``) or of ``width``.  The
    output is linear in x but not in the parameters.  Parameters without bias:
    ``(depth - 1) * d * w + w * k`` with ``d`` the flattened input, ``w`` the width; their MNIST
    model (``depth=10``, d = w = 784, k = 10) has 5,539,744.
    """
    if int(depth) < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    d = _in_features(input_shape)
    w = d if width is None else int(width)
    return MLP(d, [w] * (int(depth) - 1), output_dim, activation="linear", bias=bias)


def factored_scalar(input_shape: tuple[int, ...], output_dim: int) -> MLP:
    """The factored linear model ``y = w_1 w_2 x`` (Goodfellow, Vinyals & Saxe sec. 5, Fig. 14).

    Two 1x1 weights (``layers.0.weight`` = w_1, ``layers.1.weight`` = w_2), no biases: 2
    parameters.  Trained with MSE to output 1 at x = 1, its loss is ``(1 - w_1 w_2)^2``, with a
    saddle at the origin and the hyperbola ``w_2 = 1 / w_1`` of global minima.
    """
    if _in_features(input_shape) != 1 or int(output_dim) != 1:
        raise ValueError(
            "factored_scalar maps a scalar to a scalar: input_shape must hold one number and "
            f"output_dim must be 1, got input_shape={tuple(input_shape)}, output_dim={output_dim}"
        )
    return MLP(1, (1,), 1, activation="linear", bias=False)
