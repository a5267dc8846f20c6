"""Datasets, all offline and deterministic given a seed.

Every loader returns a :class:`SplitDataset` (float32 inputs; int64 class labels or float32
regression targets).  ``load_dataset(name, seed=..., **options)`` loads by registry name;
``list_datasets()`` describes them.  Nothing is downloaded: the bundled sets come with
scikit-learn, vega_datasets and mnist1d; MNIST and CIFAR are read from files the user has.
"""

from landscope.data._digits import load_digits
from landscope.data._local import (
    load_cifar10,
    load_cifar100,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from landscope.data._markov import load_markov_sequences
from landscope.data._mnist1d import load_mnist1d
from landscope.data._registry import DATASETS, DatasetInfo, list_datasets, load_dataset
from landscope.data._split import subset_indices
from landscope.data._synthetic import load_gaussian_mixture, load_sine, mixture_means
from landscope.data._tabular import AUTO_MPG_FEATURES, load_auto_mpg, load_iris
from landscope.data._transforms import class_subset, even_odd, permute_labels, subsample
from landscope.data._types import SplitDataset, Task, TensorData

__all__ = [
    # containers
    "SplitDataset",
    "Task",
    "TensorData",
    # registry
    "DATASETS",
    "DatasetInfo",
    "list_datasets",
    "load_dataset",
    # bundled and synthetic datasets
    "AUTO_MPG_FEATURES",
    "load_auto_mpg",
    "load_digits",
    "load_gaussian_mixture",
    "load_markov_sequences",
    "load_iris",
    "load_mnist1d",
    "load_sine",
    "mixture_means",
    # local files
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    # label transforms and subsampling
    "class_subset",
    "even_odd",
    "permute_labels",
    "subsample",
    # fixed sample subsets for analyses
    "subset_indices",
]
