"""landscope: where gradient descent goes in a neural network.

The public API, grouped by stage of the data flow
(problem -> training run -> analyses -> results -> figures).  Subpackages:
``landscope.data``, ``landscope.models``, ``landscope.config`` (problem);
``landscope.training``, ``landscope.runs`` (training runs);
``landscope.curvature``, ``landscope.subspace``, ``landscope.landscape`` (analyses);
``landscope.plotting`` (figures); ``landscope.cli`` (the command line).

Core imports are torch, numpy and scipy only: the training engine (pydantic), the trajectory
store (zarr), plotting (matplotlib) and the CLI (typer) load when first used.
"""

from landscope._version import __version__
from landscope.data import SplitDataset, TensorData
from landscope.problem import ParameterLayout, Problem

__all__ = [
    # problem
    "ParameterLayout",
    "Problem",
    # data
    "SplitDataset",
    "TensorData",
    # training runs (loaded lazily)
    "open_run",
    "train",
    "__version__",
]


def __getattr__(name: str):
    if name == "open_run":
        from landscope.runs import open_run

        return open_run
    if name == "train":
        from landscope.training import train

        return train
    raise AttributeError(f"module 'landscope' has no attribute {name!r}")
