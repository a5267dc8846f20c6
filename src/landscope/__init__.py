"""landscope: where gradient descent goes in a neural network.

The public API, grouped by stage of the data flow
(problem -> training run -> analyses -> results -> figures).
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
    "__version__",
]
