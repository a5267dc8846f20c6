"""Containers for in-memory datasets.

landscope's datasets are small enough to hold as tensors (the papers use Iris, Auto MPG,
MNIST-sized sets).  A :class:`TensorData` is one split (inputs ``x``, targets ``y``); a
:class:`SplitDataset` bundles the train and test splits with the metadata the analyses
need (task, number of classes, a description of where the data came from).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch

__all__ = ["SplitDataset", "Task", "TensorData"]

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TensorData:
    """One split of a dataset: inputs ``x`` of shape (N, ...) and targets ``y`` of shape (N, ...).

    Classification targets are integer class indices of shape (N,) (dtype int64); regression
    targets are floating point of shape (N,) or (N, d_out).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise TypeError(
                f"x and y must be torch tensors, got {type(self.x).__name__} and {type(self.y).__name__}"
            )
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"x and y must have the same number of samples, got x {tuple(self.x.shape)} "
                f"and y {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, indices: torch.Tensor | list[int]) -> TensorData:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorData(self.x[idx], self.y[idx])

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> TensorData:
        """Move to ``device``; cast floating-point tensors (never integer labels) to ``dtype``."""
        x = self.x.to(device=device, dtype=dtype if dtype and self.x.is_floating_point() else None)
        y = self.y.to(device=device, dtype=dtype if dtype and self.y.is_floating_point() else None)
        return TensorData(x, y)


@dataclass(frozen=True)
class SplitDataset:
    """A dataset with a train and a test split.

    Attributes:
        name: registry name (``"digits"``, ``"iris"``, ...).
        train, test: the splits.
        task: ``"classification"`` or ``"regression"``.
        num_classes: number of classes (classification), else ``None``.
        input_shape: shape of one input sample.
        output_dim: width of the model output the task needs (classes, or target dimension).
        description: where the data came from and how it was processed.
        meta: anything else (feature names, label mapping, seed, ...), JSON-serializable.
    """

    name: str
    train: TensorData
    test: TensorData
    task: Task
    num_classes: int | None
    description: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def output_dim(self) -> int:
        if self.task == "classification":
            assert self.num_classes is not None
            return self.num_classes
        return 1 if self.train.y.ndim == 1 else int(self.train.y.shape[1])

    def with_splits(self, train: TensorData, test: TensorData, **changes) -> SplitDataset:
        return replace(self, train=train, test=test, **changes)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "output_dim": self.output_dim,
            "n_train": len(self.train),
            "n_test": len(self.test),
            "description": self.description,
        }
