"""Named weight initializations with Keras semantics, drawn from a seeded ``torch.Generator``.

Fjellström & Nyström (sec. 3.4.4, Table 5) compare Keras' initializers on the Iris network; Haink
(sec. 5.1, eq. 5.1-5.2) uses Glorot uniform / Glorot normal with zero biases.  This module
reproduces the *distributions* of the Keras initializers on PyTorch's weight layouts (the random
streams of course differ from TensorFlow's).

Which Keras: the semantics of Keras 3 and of ``tf.keras`` in TensorFlow 2.x (Keras >= 2.3).  There
the ``*_normal`` variance-scaling initializers (``glorot_normal``, ``he_normal``,
``lecun_normal``) draw from a normal truncated at two standard deviations whose *untruncated*
stddev is ``sqrt(scale / n) / 0.87962566103423978``, so that the truncated distribution has
standard deviation ``sqrt(scale / n)``.  (Keras 2.0-2.2 used ``sqrt(scale / n)`` as the untruncated
stddev, giving a truncated std about 12% smaller.)

Fans are computed the Keras way from the PyTorch weight shape.  Keras stores a dense kernel as
(in, out) and a convolution kernel as (*kernel, in, out); PyTorch stores them as (out, in) and
(out, in, *kernel).  Hence for a PyTorch weight of shape (out, in, *kernel):
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``; a 1-D tensor of length n has
``fan_in = fan_out = n``; a 0-D tensor has both equal to 1.

All samplers draw in float64 on the CPU and the result is copied into the parameter, so the same
seed gives the same initial weights on CPU and CUDA and (up to rounding) in float32 and float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["INITIALIZERS", "Initializer", "initialize", "keras_fans"]

# Std of a standard normal truncated to [-2, 2] (Keras' correction constant): the untruncated
# stddev is divided by this so that the truncated distribution has the intended std.
TRUNCATED_NORMAL_STD = 0.87962566103423978

_LINEAR_TYPES = (nn.Linear,)
_CONV_TYPES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def keras_fans(shape: tuple[int, ...] | torch.Size) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a PyTorch weight the way Keras computes them for its kernel.

    Args:
        shape: the PyTorch shape: (out, in) for a dense weight, (out, in, *kernel) for a
            convolution; (n,) for a bias; () for a scalar.

    Examples:
        >>> keras_fans((3, 4)), keras_fans((32, 16, 3, 3)), keras_fans((5,)), keras_fans(())
        ((4, 3), (144, 288), (5, 5), (1, 1))
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


# --- samplers: (shape, fan_in, fan_out, generator, **params) -> float64 CPU tensor ---------------


def _empty(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.empty(shape, dtype=torch.float64)


def _truncated_normal(shape, mean: float, stddev: float, generator) -> torch.Tensor:
    # Keras/TF redraw values outside mean +- 2 stddev; torch's inverse-CDF sampler draws from the
    # same truncated distribution (exact in float64).
    out = _empty(shape)
    return nn.init.trunc_normal_(
        out, mean, stddev, mean - 2 * stddev, mean + 2 * stddev, generator=generator
    )


def _variance_scaling(
    shape,
    fan_in,
    fan_out,
    generator,
    *,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
) -> torch.Tensor:
    modes = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    if mode not in modes:
        raise ValueError(f"variance_scaling mode must be one of {sorted(modes)}, got {mode!r}")
    if not scale > 0:
        raise ValueError(f"variance_scaling scale must be positive, got {scale!r}")
    variance = scale / max(1.0, modes[mode])
    if distribution == "truncated_normal":
        return _truncated_normal(shape, 0.0, math.sqrt(variance) / TRUNCATED_NORMAL_STD, generator)
    if distribution == "untruncated_normal":
        return nn.init.normal_(_empty(shape), 0.0, math.sqrt(variance), generator=generator)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return nn.init.uniform_(_empty(shape), -limit, limit, generator=generator)
    raise ValueError(
        "variance_scaling distribution must be one of "
        f"['truncated_normal', 'uniform', 'untruncated_normal'], got {distribution!r}"
    )


def _preset(scale: float, mode: str, distribution: str) -> Callable[..., torch.Tensor]:
    def sample(shape, fan_in, fan_out, generator) -> torch.Tensor:
        return _variance_scaling(
            shape, fan_in, fan_out, generator, scale=scale, mode=mode, distribution=distribution
        )

    return sample


def _orthogonal(shape, fan_in, fan_out, generator, *, gain: float = 1.0) -> torch.Tensor:
    if len(shape) < 2:
        raise ValueError(
            f"the orthogonal initializer needs a tensor with >= 2 dims, got shape {shape}"
        )
    # torch.nn.init.orthogonal_ is Keras' algorithm on the (out, in*kernel) matrix: QR of a
    # Gaussian matrix, columns' signs fixed by diag(R), transposed when wide; Keras works on
    # (kernel*in, out), the same matrix up to transposition and a permutation of one axis.
    return nn.init.orthogonal_(_empty(shape), gain=gain, generator=generator)


def _identity(shape, fan_in, fan_out, generator, *, gain: float = 1.0) -> torch.Tensor:
    if len(shape) != 2:
        raise ValueError(
            "the identity initializer is defined for 2-D (dense) weights only, as in Keras; "
            f"got shape {shape}"
        )
    # Keras: gain * eye(in, out) for the (in, out) kernel, i.e. eye(out, in) in PyTorch's layout.
    return gain * torch.eye(shape[0], shape[1], dtype=torch.float64)


def _constant(shape, fan_in, fan_out, generator, *, value: float = 0.0) -> torch.Tensor:
    return torch.full(shape, float(value), dtype=torch.float64)


def _zeros(shape, fan_in, fan_out, generator) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.float64)


def _ones(shape, fan_in, fan_out, generator) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.float64)


def _random_uniform(
    shape, fan_in, fan_out, generator, *, minval: float = -0.05, maxval: float = 0.05
) -> torch.Tensor:
    if not minval < maxval:
        raise ValueError(f"random_uniform needs minval < maxval, got {minval!r}, {maxval!r}")
    return nn.init.uniform_(_empty(shape), minval, maxval, generator=generator)


def _random_normal(
    shape, fan_in, fan_out, generator, *, mean: float = 0.0, stddev: float = 0.05
) -> torch.Tensor:
    if not stddev > 0:
        raise ValueError(f"random_normal stddev must be positive, got {stddev!r}")
    return nn.init.normal_(_empty(shape), mean, stddev, generator=generator)


def _truncated_normal_init(
    shape, fan_in, fan_out, generator, *, mean: float = 0.0, stddev: float = 0.05
) -> torch.Tensor:
    if not stddev > 0:
        raise ValueError(f"truncated_normal stddev must be positive, got {stddev!r}")
    return _truncated_normal(shape, mean, stddev, generator)


def _pytorch_default(shape, fan_in, fan_out, generator) -> torch.Tensor:
    # nn.Linear / nn.ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)) on the weight, i.e.
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the
    # *weight's* fan_in (PyTorch's fan_in equals Keras' for dense and conv weights).
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return nn.init.uniform_(_empty(shape), -bound, bound, generator=generator)


@dataclass(frozen=True)
class Initializer:
    """A named initialization: a distribution for a tensor given its shape and fans.

    Attributes:
        name: registry name (Keras' snake-case name where Keras has one).
        description: the distribution, in formulas.
        defaults: the keyword parameters it takes, with their defaults (Keras' names).
        bias_fans_from_weight: if true, a bias is drawn with the fans of its layer's weight
            (PyTorch's default bias init); otherwise with the fans of its own shape (Keras).
    """

    name: str
    sample_fn: Callable[..., torch.Tensor] = field(repr=False)
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    bias_fans_from_weight: bool = False

    def check_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """The parameters merged with the defaults; unknown names raise ``ValueError``."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items()) or "none"
            raise ValueError(
                f"initializer {self.name!r} got unknown parameter(s) {unknown}; allowed: {allowed}"
            )
        return {**self.defaults, **params}

    def __call__(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        generator: torch.Generator,
        fans: tuple[int, int] | None = None,
        **params: Any,
    ) -> torch.Tensor:
        """A float64 CPU tensor of ``shape`` (PyTorch layout) drawn from this initializer.

        Args:
            shape: the tensor's shape.
            generator: a CPU ``torch.Generator`` (advanced by the draw).
            fans: ``(fan_in, fan_out)``; default :func:`keras_fans` of ``shape``.
            **params: the initializer's parameters (see :attr:`defaults`).
        """
        shape = tuple(int(s) for s in shape)
        fan_in, fan_out = keras_fans(shape) if fans is None else fans
        return self.sample_fn(shape, fan_in, fan_out, generator, **self.check_params(params))


def _registry(*initializers: Initializer) -> dict[str, Initializer]:
    return {i.name: i for i in initializers}


#: The named initializations (Fjellström Table 5 and the rest of Keras' built-in set, plus
#: PyTorch's own default), name -> :class:`Initializer`.
INITIALIZERS: dict[str, Initializer] = _registry(
    Initializer(
        "glorot_uniform",
        _preset(1.0, "fan_avg", "uniform"),
        "U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio; Haink eq. 5.1; Keras default)",
    ),
    Initializer(
        "glorot_normal",
        _preset(1.0, "fan_avg", "truncated_normal"),
        "normal truncated at 2 sigma, std after truncation sqrt(2 / (fan_in + fan_out)) (Haink eq. 5.2)",
    ),
    Initializer(
        "he_uniform",
        _preset(2.0, "fan_in", "uniform"),
        "U(-l, l), l = sqrt(6 / fan_in)",
    ),
    Initializer(
        "he_normal",
        _preset(2.0, "fan_in", "truncated_normal"),
        "normal truncated at 2 sigma, std after truncation sqrt(2 / fan_in)",
    ),
    Initializer(
        "lecun_uniform",
        _preset(1.0, "fan_in", "uniform"),
        "U(-l, l), l = sqrt(3 / fan_in)",
    ),
    Initializer(
        "lecun_normal",
        _preset(1.0, "fan_in", "truncated_normal"),
        "normal truncated at 2 sigma, std after truncation sqrt(1 / fan_in)",
    ),
    Initializer(
        "variance_scaling",
        _variance_scaling,
        "Keras VarianceScaling: variance scale / n, n = fan_in, fan_out or their mean (mode); "
        "distribution truncated_normal (2 sigma, std after truncation), untruncated_normal or uniform",
        {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
    ),
    Initializer(
        "orthogonal",
        _orthogonal,
        "gain * Q, Q with orthonormal rows (or columns, whichever fit) of the (out, in*kernel) matrix",
        {"gain": 1.0},
    ),
    Initializer(
        "identity",
        _identity,
        "gain * eye(out, in) (dense weights only; rectangular eye if not square)",
        {"gain": 1.0},
    ),
    Initializer("zeros", _zeros, "all entries 0"),
    Initializer("ones", _ones, "all entries 1"),
    Initializer("constant", _constant, "all entries equal value", {"value": 0.0}),
    Initializer(
        "random_uniform",
        _random_uniform,
        "U(minval, maxval)",
        {"minval": -0.05, "maxval": 0.05},
    ),
    Initializer(
        "random_normal",
        _random_normal,
        "N(mean, stddev^2)",
        {"mean": 0.0, "stddev": 0.05},
    ),
    Initializer(
        "truncated_normal",
        _truncated_normal_init,
        "N(mean, stddev^2) restricted to mean +- 2 stddev (stddev before truncation, as Keras)",
        {"mean": 0.0, "stddev": 0.05},
    ),
    Initializer(
        "pytorch_default",
        _pytorch_default,
        "PyTorch's own nn.Linear/nn.ConvNd default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight "
        "and bias (fan_in of the weight), drawn from the seeded generator",
        bias_fans_from_weight=True,
    ),
)


def _get(name: str, role: str) -> Initializer:
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(
            f"unknown {role} initializer {name!r}; allowed: {', '.join(sorted(INITIALIZERS))}"
        )
    return INITIALIZERS[name]


def initialize(
    model: nn.Module,
    weight: str = "glorot_uniform",
    bias: str = "zeros",
    *,
    seed: int,
    weight_params: dict[str, Any] | None = None,
    bias_params: dict[str, Any] | None = None,
    strict: bool = True,
) -> nn.Module:
    """Initialize every dense and convolution layer of ``model`` in place, deterministically.

    Weights of ``nn.Linear`` / ``nn.ConvNd`` / ``nn.ConvTransposeNd`` are drawn
    from ``INITIALIZERS[weight]`` and their biases from ``INITIALIZERS[bias]`` (Keras semantics,
    fans as :func:`keras_fans`), in ``model.named_modules()`` order from one
    ``torch.Generator`` seeded with ``seed``; the global random state is never used.
    Normalization layers (BatchNorm, InstanceNorm, GroupNorm, LayerNorm) get weight 1, bias 0 and
    reset running statistics (Keras' gamma = 1, beta = 0).  Fjellström Table 5 names the weight
    initializations compared; biases are zero unless stated (Haink sec. 5.1).

    Args:
        model: the module; modified in place (construction, not analysis) and returned.
        weight: weight initializer name (``sorted(INITIALIZERS)`` lists them).
        bias: bias initializer name.
        seed: the seed of the generator all draws come from.
        weight_params: keyword parameters of the weight initializer (e.g. ``{"value": 5.0}``
            for ``"constant"``, ``{"gain": 1.0}`` for ``"orthogonal"``).
        bias_params: keyword parameters of the bias initializer.
        strict: if true (default), a trainable parameter that is none of the above (e.g. an
            bare ``nn.Parameter``) raises ``ValueError``; if false it is
            left as it is.

    Returns:
        ``model``.

    Examples:
        >>> import torch
        >>> layer = initialize(torch.nn.Linear(4, 3), "constant", seed=0, weight_params={"value": 5.0})
        >>> layer.weight.unique().tolist(), layer.bias.unique().tolist()
        ([5.0], [0.0])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    weight_init, bias_init = _get(weight, "weight"), _get(bias, "bias")
    w_params = weight_init.check_params(weight_params)
    b_params = bias_init.check_params(bias_params)

    # Draw everything first, so that a failing call leaves the model untouched.
    layers: list[tuple[str, nn.Module]] = []
    norms: list[nn.Module] = []
    covered: set[int] = set()
    for name, module in model.named_modules():
        if isinstance(module, _LINEAR_TYPES + _CONV_TYPES + (nn.Embedding,)):
            if isinstance(module.weight, nn.parameter.UninitializedParameter):
                raise ValueError(f"layer {name!r} is a lazy module; run a forward pass first")
            layers.append((name, module))
        elif isinstance(module, _NORM_TYPES):
            norms.append(module)
        else:
            continue
        covered.update(id(t) for t in module.parameters(recurse=False))
    uncovered = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    if strict and uncovered:
        raise ValueError(
            f"initialize() does not know how to initialize parameter(s) {uncovered}: only "
            "Linear/Conv/ConvTranspose/Embedding and normalization layers are handled; initialize "
            "those yourself and pass strict=False to leave them unchanged"
        )

    generator = torch.Generator().manual_seed(seed)
    draws: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, module in layers:
        # An Embedding's table (num, dim) is drawn like a dense weight with fan_in = dim and
        # fan_out = num (keras_fans of its shape); it has no bias.
        w, b = module.weight, getattr(module, "bias", None)
        fans = keras_fans(w.shape)
        draws.append((w, _draw(weight_init, w, f"{name}.weight", generator, fans, w_params)))
        if b is not None:
            b_fans = fans if bias_init.bias_fans_from_weight else None
            draws.append((b, _draw(bias_init, b, f"{name}.bias", generator, b_fans, b_params)))

    with torch.no_grad():
        for tensor, values in draws:
            tensor.copy_(values)
        for module in norms:
            if module.weight is not None:
                module.weight.fill_(1.0)
            if module.bias is not None:
                module.bias.zero_()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return model


def _draw(
    init: Initializer,
    tensor: torch.Tensor,
    name: str,
    generator: torch.Generator,
    fans: tuple[int, int] | None,
    params: dict[str, Any],
) -> torch.Tensor:
    try:
        return init(tensor.shape, generator=generator, fans=fans, **params)
    except ValueError as exc:
        raise ValueError(f"cannot initialize {name!r} with {init.name!r}: {exc}") from None
