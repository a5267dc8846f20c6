"""Datasets, all offline and deterministic given a seed."""

from landscope.data._types import SplitDataset, Task, TensorData

__all__ = ["SplitDataset", "Task", "TensorData"]
