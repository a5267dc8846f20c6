"""CIFAR-style residual networks (He et al. 2016): ResNet-20 and ResNet-18.

Basic blocks conv3x3 -> BN -> ReLU -> conv3x3 -> BN, the shortcut added before the final ReLU
(Haink sec. 5.2: "a residual layer is added between the batch normalization and the
activation").  Convolutions have no bias (BatchNorm follows each).  When a block changes the
width or the resolution the shortcut is

* option ``"A"`` (He et al. sec. 4.2, their CIFAR ResNets): parameter-free, subsample by 2 and
  pad the new channels with zeros;
* option ``"B"``: a 1x1 convolution with stride 2 followed by BatchNorm (the projection shortcut
  of torchvision and of the common CIFAR ResNet-18).

Module names follow torchvision: ``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``fc``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from landscope.models._conv import _image_shape

__all__ = ["BasicBlock", "CifarResNet", "resnet18_cifar", "resnet20"]

_SHORTCUTS = ("A", "B")


class _PadShortcut(nn.Module):
    """Option A: ``x[:, :, ::stride, ::stride]`` with zero channels appended (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a shortcut (He et al. Fig. 2 left)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        batch_norm: bool = True,
    ):
        super().__init__()

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = norm(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = _PadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), norm(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A ResNet for small images: 3x3 stem (no max pooling), stages of basic blocks, global
    average pooling, a dense output layer (logits).

    Args:
        input_shape: (C, H, W) or (H, W).
        output_dim: number of classes.
        blocks: blocks per stage.
        widths: channels per stage; the stem has ``widths[0]`` channels; every stage after the
            first halves the resolution.
        shortcut: ``"A"`` or ``"B"`` (see the module docstring).
        batch_norm: BatchNorm after every convolution (default) or none.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_dim: int,
        *,
        blocks: Sequence[int],
        widths: Sequence[int],
        shortcut: str = "B",
        batch_norm: bool = True,
    ):
        super().__init__()
        if shortcut not in _SHORTCUTS:
            raise ValueError(f"shortcut must be one of {_SHORTCUTS}, got {shortcut!r}")
        c, h, w = _image_shape(input_shape, "resnet")
        self.image_shape = (c, h, w)
        self.conv1 = nn.Conv2d(c, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
        in_channels = widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths, strict=True), start=1):
            stride = 1 if i == 1 else 2
            stage = []
            for j in range(n):
                stage.append(
                    BasicBlock(
                        in_channels,
                        width,
                        stride if j == 0 else 1,
                        shortcut=shortcut,
                        batch_norm=batch_norm,
                    )
                )
                in_channels = width
            self.add_module(f"layer{i}", nn.Sequential(*stage))
        self.num_stages = len(blocks)
        self.fc = nn.Linear(in_channels, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def resnet20(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    shortcut: str = "B",
    batch_norm: bool = True,
) -> CifarResNet:
    """ResNet-20 (He et al. sec. 4.2; Haink sec. 5.2): 3 stages x 3 basic blocks, 16/32/64
    channels, 19 convolutions + 1 dense layer.

    Parameters on CIFAR-10 3x32x32, 10 classes (BatchNorm weights and biases included):
    272,474 with ``shortcut="B"`` (default; matches Haink Table 5.1, 272k) and 269,722 with
    ``shortcut="A"`` (He et al.'s parameter-free CIFAR shortcut, their 0.27M).  The count does
    not depend on H, W; on 1-channel images it is 288 smaller.  Haink initializes it with
    Glorot normal and zero biases.
    """
    return CifarResNet(
        input_shape,
        output_dim,
        blocks=(3, 3, 3),
        widths=(16, 32, 64),
        shortcut=shortcut,
        batch_norm=batch_norm,
    )


def resnet18_cifar(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    shortcut: str = "B",
    batch_norm: bool = True,
) -> CifarResNet:
    """CIFAR-style ResNet-18 (as in Gur-Ari et al. Fig. 1e): 3x3 stem with 64 channels and no
    max pooling, 4 stages x 2 basic blocks with 64/128/256/512 channels, projection shortcuts.

    Parameters on CIFAR-10 3x32x32, 10 classes: 11,173,962 (``shortcut="B"``).
    """
    return CifarResNet(
        input_shape,
        output_dim,
        blocks=(2, 2, 2, 2),
        widths=(64, 128, 256, 512),
        shortcut=shortcut,
        batch_norm=batch_norm,
    )
