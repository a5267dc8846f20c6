"""Small convolutional networks: Haink's LeNet and the Keras CIFAR-10 example ConvNet.

Inputs are images (n, C, H, W); a model built for ``input_shape = (H, W)`` treats the input as
one channel.  Flatten sizes are computed from ``input_shape``, so the same builder serves
3x32x32 CIFAR-10, 1x28x28 MNIST and 1x8x8 digits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KerasCifarConvNet", "LeNet", "keras_cifar_convnet", "lenet"]


def _image_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"{model} needs an image input_shape (C, H, W) or (H, W), got {tuple(input_shape)}"
        )
    return shape  # type: ignore[return-value]


def _conv_size(size: int, kernel: int, padding: str) -> int:
    return size if padding == "same" else size - kernel + 1


def _check_size(size: int, model: str, input_shape, hint: str = "") -> int:
    if size < 1:
        raise ValueError(
            f"input_shape {tuple(input_shape)} is too small for {model}: the feature map "
            f"shrinks to nothing{hint}"
        )
    return size


class LeNet(nn.Module):
    """LeNet as in Haink sec. 5.2 (Fig. 5.2), after LeCun et al.

    conv(6, 5x5) -> ReLU -> maxpool 2x2 -> conv(16, 5x5) -> ReLU -> maxpool 2x2 -> flatten ->
    dense 120 -> ReLU -> dense 84 -> ReLU -> dense ``output_dim`` (logits).  Pooling is 'valid'
    (floor); convolutions are 'same' (zero padding 2) by default.  Layers ``conv1``, ``conv2``,
    ``fc1``, ``fc2``, ``fc3``.
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, *, padding: str = "same"):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        c, h, w = _image_shape(input_shape, "lenet")
        self.image_shape = (c, h, w)
        pad = 2 if padding == "same" else 0
        self.conv1 = nn.Conv2d(c, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5, padding=pad)
        sizes = []
        for s in (h, w):
            s = _check_size(_conv_size(s, 5, padding), "lenet", input_shape) // 2
            s = _check_size(_conv_size(s, 5, padding), "lenet", input_shape) // 2
            sizes.append(_check_size(s, "lenet", input_shape))
        self.fc1 = nn.Linear(16 * sizes[0] * sizes[1], 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lenet(input_shape: tuple[int, ...], output_dim: int, *, padding: str = "same") -> LeNet:
    """Haink's LeNet (sec. 5.2): both 5x5 convolutions 'same'-padded, 2x2 'valid' max pooling.

    Parameters (10 classes): 136,886 on CIFAR-10 3x32x32 (Haink Table 5.1: 137k), 107,786 on
    MNIST 1x28x28, 21,386 on digits 1x8x8.  ``padding="valid"`` gives the classic LeNet-5
    convolutions (62,006 on 3x32x32; too small an input for 8x8).  Haink initializes it with
    Glorot normal and zero biases.
    """
    return LeNet(input_shape, output_dim, padding=padding)


_KERAS_DROPOUT = (0.25, 0.25, 0.5)


def _dropout_rates(dropout) -> tuple[float, float, float]:
    if dropout is None or dropout is False:
        return (0.0, 0.0, 0.0)
    if dropout is True:
        return _KERAS_DROPOUT
    if isinstance(dropout, int | float):
        rates = (float(dropout),) * 3
    elif isinstance(dropout, Sequence) and len(dropout) == 3:
        rates = tuple(float(r) for r in dropout)
    else:
        raise ValueError(
            "dropout must be None/False (off), True (Keras' 0.25, 0.25, 0.5), one rate, or three "
            f"rates (after conv block 1, after conv block 2, after each hidden dense layer); got {dropout!r}"
        )
    if not all(0.0 <= r < 1.0 for r in rates):
        raise ValueError(f"dropout rates must lie in [0, 1), got {rates}")
    return rates  # type: ignore[return-value]


class KerasCifarConvNet(nn.Module):
    """The Keras CIFAR-10 example ConvNet (``cifar10_cnn.py``) used by Gur-Ari et al. (Fig. 1c).

    conv32 'same' -> ReLU -> conv32 'valid' -> ReLU -> maxpool 2 -> [dropout] -> conv64 'same' ->
    ReLU -> conv64 'valid' -> ReLU -> maxpool 2 -> [dropout] -> flatten -> dense ``dense_width``
    -> ReLU -> [dropout] -> (extra dense ``dense_width`` -> ReLU -> [dropout]) -> dense
    ``output_dim`` (logits).  With ``batch_norm`` a BatchNorm follows every convolution and hidden
    dense layer (before the ReLU) and those layers lose their bias (it would be a direction of
    exactly zero curvature, cancelled by the normalization).  Layers ``conv1``-``conv4``,
    ``bn_conv1``-``bn_conv4``, ``fc1``, (``bn_fc1``, ``fc2``, ``bn_fc2``,) ``out``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_dim: int,
        *,
        dropout=None,
        batch_norm: bool = False,
        extra_dense: bool = False,
        dense_width: int = 512,
        padding: str = "keras",
    ):
        super().__init__()
        if padding not in ("keras", "same"):
            raise ValueError(f"padding must be 'keras' or 'same', got {padding!r}")
        c, h, w = _image_shape(input_shape, "keras_cifar_convnet")
        self.image_shape = (c, h, w)
        self.batch_norm = bool(batch_norm)
        rates = _dropout_rates(dropout)
        bias = not self.batch_norm
        second = "valid" if padding == "keras" else "same"
        channels = [(c, 32, "same"), (32, 32, second), (32, 64, "same"), (64, 64, second)]
        for i, (cin, cout, pad) in enumerate(channels, start=1):
            setattr(
                self,
                f"conv{i}",
                nn.Conv2d(cin, cout, 3, padding=1 if pad == "same" else 0, bias=bias),
            )
            setattr(self, f"bn_conv{i}", nn.BatchNorm2d(cout) if self.batch_norm else nn.Identity())
        hint = " (pass padding='same' for small images such as 8x8)" if padding == "keras" else ""
        sizes = []
        for s in (h, w):
            for _ in range(2):
                s = _check_size(_conv_size(s, 3, "same"), "keras_cifar_convnet", input_shape)
                s = _check_size(_conv_size(s, 3, second), "keras_cifar_convnet", input_shape, hint)
                s = _check_size(s // 2, "keras_cifar_convnet", input_shape, hint)
            sizes.append(s)
        self.drop1 = nn.Dropout(rates[0])
        self.drop2 = nn.Dropout(rates[1])
        dense_width = int(dense_width)
        self.fc1 = nn.Linear(64 * sizes[0] * sizes[1], dense_width, bias=bias)
        self.bn_fc1 = nn.BatchNorm1d(dense_width) if self.batch_norm else nn.Identity()
        self.drop_fc1 = nn.Dropout(rates[2])
        self.extra_dense = bool(extra_dense)
        if self.extra_dense:
            self.fc2 = nn.Linear(dense_width, dense_width, bias=bias)
            self.bn_fc2 = nn.BatchNorm1d(dense_width) if self.batch_norm else nn.Identity()
            self.drop_fc2 = nn.Dropout(rates[2])
        self.out = nn.Linear(dense_width, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        for i in range(1, 5):
            x = F.relu(getattr(self, f"bn_conv{i}")(getattr(self, f"conv{i}")(x)))
            if i == 2:
                x = self.drop1(F.max_pool2d(x, 2))
            elif i == 4:
                x = self.drop2(F.max_pool2d(x, 2))
        x = x.flatten(1)
        x = self.drop_fc1(F.relu(self.bn_fc1(self.fc1(x))))
        if self.extra_dense:
            x = self.drop_fc2(F.relu(self.bn_fc2(self.fc2(x))))
        return self.out(x)


def keras_cifar_convnet(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    dropout=None,
    batch_norm: bool = False,
    extra_dense: bool = False,
    dense_width: int = 512,
    padding: str = "keras",
) -> KerasCifarConvNet:
    """Gur-Ari et al.'s CIFAR-10 ConvNet, "taken from Chollet et al. (2015)" (Fig. 1c, Table 1).

    Options: ``dropout`` None (default, off; the paper's default is unregularized), True for the
    Keras example's rates (0.25, 0.25, 0.5), a single rate or three rates; ``batch_norm`` and
    ``extra_dense`` give the Table 1 variant "dropout, batch-norm, and extra dense layer";
    ``padding="keras"`` alternates 'same' and 'valid' convolutions as the Keras example,
    ``padding="same"`` pads all four (needed for inputs smaller than about 14x14, e.g. 8x8).

    Parameters (10 classes): 1,250,858 on CIFAR-10 3x32x32 (the Keras example's count);
    201,706 on digits 1x8x8 with ``padding="same"``.
    """
    return KerasCifarConvNet(
        input_shape,
        output_dim,
        dropout=dropout,
        batch_norm=batch_norm,
        extra_dense=extra_dense,
        dense_width=dense_width,
        padding=padding,
    )
