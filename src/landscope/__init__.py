"""landscope: where gradient descent goes in a neural network.

The public API, grouped by stage of the data flow
(problem -> training run -> analyses -> results -> figures).
"""

from landscope._version import __version__
from landscope.data import SplitDataset, TensorData
from landscope.problem import ParameterLayout, Problem
from landscope.training import train

__all__ = [
    # problem
    "ParameterLayout",
    "Problem",
    # data
    "SplitDataset",
    "TensorData",
    # training runs
    "open_run",
    "train",
    "__version__",
]


def __getattr__(name: str):
    # The trajectory store imports zarr; load it only when asked for.
    if name == "open_run":
        from landscope.trajectory import open_run

        return open_run
    raise AttributeError(f"module 'landscope' has no attribute {name!r}")
