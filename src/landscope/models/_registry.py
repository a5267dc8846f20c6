"""The model zoo registry: name -> builder, description, options with their defaults."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from landscope.models._conv import keras_cifar_convnet, lenet
from landscope.models._dense import deep_linear, factored_scalar, mlp, softmax_regression
from landscope.models._lstm import lstm
from landscope.models._maxout import maxout_mlp
from landscope.models._resnet import resnet18_cifar, resnet20
from landscope.models._transformer import tiny_gpt

__all__ = ["MODELS", "ModelSpec", "build_model", "count_parameters", "list_models"]


@dataclass(frozen=True)
class ModelSpec:
    """One entry of :data:`MODELS`.

    Attributes:
        name: registry name.
        builder: ``builder(input_shape, output_dim, **options) -> nn.Module``.
        description: one line: the architecture and the paper it comes from.
        example_input_shape, example_output_dim: the input on which :func:`list_models`
            reports the parameter count (the paper's own input where there is one).
        options: the builder's keyword options with their defaults (read from its signature).
    """

    name: str
    builder: Callable[..., nn.Module] = field(repr=False)
    description: str
    example_input_shape: tuple[int, ...]
    example_output_dim: int
    options: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        params = inspect.signature(self.builder).parameters.values()
        defaults = {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
        object.__setattr__(self, "options", defaults)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "softmax_regression",
            softmax_regression,
            "one linear map to the logits, no bias by default (Gur-Ari sec. 4 toy model)",
            (1, 28, 28),
            10,
        ),
        ModelSpec(
            "mlp",
            mlp,
            "dense layers with hidden `widths` (Fjellström Iris/Auto MPG, Gur-Ari FC, Haink MLP 50/256)",
            (1, 28, 28),
            10,
        ),
        ModelSpec(
            "deep_linear",
            deep_linear,
            "product of `depth` matrices, no nonlinearity (Goodfellow sec. 5, Fig. 15)",
            (1, 28, 28),
            10,
        ),
        ModelSpec(
            "factored_scalar",
            factored_scalar,
            "y = w1 w2 x, loss (1 - w1 w2)^2 at x = 1 (Goodfellow sec. 5, Fig. 14)",
            (1,),
            1,
        ),
        ModelSpec(
            "maxout_mlp",
            maxout_mlp,
            "maxout MLP, each unit the max of `pieces` linear pieces (Goodfellow 2015 Figs. 1, 18, 19)",
            (1, 28, 28),
            10,
        ),
        ModelSpec(
            "lstm",
            lstm,
            "embedding + LSTM cells (written out: double backward works on GPU) + dense, "
            "next-token logits (Goodfellow 2015 Figs. 8, 16)",
            (12,),
            10,
        ),
        ModelSpec(
            "tiny_gpt",
            tiny_gpt,
            "decoder-only transformer (GPT-2 pre-norm blocks, causal SDPA), next-token logits "
            "at every position (loss token_cross_entropy; markov_sequences targets='sequence')",
            (12,),
            10,
        ),
        ModelSpec(
            "lenet",
            lenet,
            "conv6-pool-conv16-pool-dense120-84 (Haink sec. 5.2 LeNet)",
            (3, 32, 32),
            10,
        ),
        ModelSpec(
            "keras_cifar_convnet",
            keras_cifar_convnet,
            "Keras CIFAR-10 example conv32x2-pool-conv64x2-pool-dense512 (Gur-Ari ConvNet)",
            (3, 32, 32),
            10,
        ),
        ModelSpec(
            "resnet20",
            resnet20,
            "CIFAR ResNet-20, 3x3 basic blocks, 16/32/64 channels, BatchNorm (He et al.; Haink)",
            (3, 32, 32),
            10,
        ),
        ModelSpec(
            "resnet18_cifar",
            resnet18_cifar,
            "ResNet-18 with 3x3 stem and no max pooling, 64-512 channels (Gur-Ari Fig. 1e)",
            (3, 32, 32),
            10,
        ),
    )
}


def build_model(
    name: str, *, input_shape: tuple[int, ...], output_dim: int, **options: Any
) -> nn.Module:
    """Build the zoo model ``name`` for samples of ``input_shape`` and ``output_dim`` outputs.

    The model is a plain ``nn.Module`` in float32 on the CPU, with PyTorch's default
    initialization from the global generator; call :func:`initialize` for a named, seeded
    initialization.  Its output is the logits (classification) or the prediction (regression).

    Args:
        name: a key of :data:`MODELS` (``list_models()`` shows them).
        input_shape: the shape of one sample (without the batch dimension).
        output_dim: the number of classes or regression targets.
        **options: the builder's options (``MODELS[name].options`` lists them with defaults).

    Examples:
        >>> model = build_model("mlp", input_shape=(4,), output_dim=3, widths=[24, 14])
        >>> count_parameters(model)
        515
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    spec = MODELS[name]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(f"{k}={v!r}" for k, v in spec.options.items()) or "none"
        raise ValueError(f"model {name!r} got unknown option(s) {unknown}; allowed: {allowed}")
    try:
        input_shape = tuple(int(s) for s in input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}") from None
    if not input_shape or min(input_shape) < 1:
        raise ValueError(
            f"input_shape must be a non-empty tuple of positive ints, got {input_shape}"
        )
    if isinstance(output_dim, bool) or int(output_dim) != output_dim or output_dim < 1:
        raise ValueError(f"output_dim must be a positive int, got {output_dim!r}")
    return spec.builder(input_shape, int(output_dim), **options)


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """The number of (trainable, by default) parameter entries of ``model``; shared tensors
    count once.  This is ``p``, the length of ``theta`` in :class:`landscope.Problem`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def list_models() -> list[dict[str, Any]]:
    """One row per zoo model: name, description, options (defaults), example input and its
    parameter count (models are built on the ``meta`` device: no memory, no random draws)."""
    rows = []
    for spec in MODELS.values():
        with torch.device("meta"):
            model = spec.builder(spec.example_input_shape, spec.example_output_dim)
        shape = "x".join(str(s) for s in spec.example_input_shape)
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "options": ", ".join(f"{k}={v!r}" for k, v in spec.options.items()),
                "example": f"{shape} -> {spec.example_output_dim}",
                "parameters": count_parameters(model),
            }
        )
    return rows
