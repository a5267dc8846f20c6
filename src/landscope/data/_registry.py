"""The dataset registry: one name per dataset, with what the CLI table and configs need."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from landscope.data._digits import load_digits
from landscope.data._local import load_cifar10, load_cifar100, load_fashion_mnist, load_mnist
from landscope.data._markov import load_markov_sequences
from landscope.data._mnist1d import load_mnist1d
from landscope.data._synthetic import load_gaussian_mixture, load_sine
from landscope.data._tabular import load_auto_mpg, load_iris
from landscope.data._transforms import subsample
from landscope.data._types import SplitDataset, Task

__all__ = ["DATASETS", "DatasetInfo", "list_datasets", "load_dataset"]

# Arguments load_dataset itself takes; a loader's other keyword arguments are its options.
_COMMON = ("seed", "test_fraction", "max_train", "max_test")
_REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset without loading it.

    ``input_shape``, ``n_train`` and ``n_test`` are those of the default options;
    ``num_classes`` is ``None`` for regression; ``source`` says where the data come from.
    """

    name: str
    loader: Callable[..., SplitDataset]
    description: str
    task: Task
    input_shape: tuple[int, ...]
    num_classes: int | None
    n_train: int
    n_test: int
    source: str
    paper: str = ""

    @property
    def options(self) -> dict[str, Any]:
        """The dataset's own options and their defaults (``inspect.Parameter.empty``: required)."""
        params = inspect.signature(self.loader).parameters
        return {k: p.default for k, p in params.items() if k not in _COMMON}

    @property
    def fixed_split(self) -> bool:
        """True when the train/test split is the dataset's own (no ``test_fraction``)."""
        return "test_fraction" not in inspect.signature(self.loader).parameters

    def describe_options(self) -> str:
        parts = [
            f"{k} (required)" if v is _REQUIRED else f"{k}={v!r}" for k, v in self.options.items()
        ]
        return ", ".join(parts) if parts else "none"

    def row(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "description": self.description,
        }


_INFOS = (
    DatasetInfo(
        name="iris",
        loader=load_iris,
        description="Iris flowers: 4 standardized features, 3 species",
        task="classification",
        input_shape=(4,),
        num_classes=3,
        n_train=120,
        n_test=30,
        source="scikit-learn (bundled)",
        paper="Fjellström & Nyström sec. 3.4",
    ),
    DatasetInfo(
        name="auto_mpg",
        loader=load_auto_mpg,
        description="Auto MPG: 7 standardized car attributes -> miles per gallon",
        task="regression",
        input_shape=(7,),
        num_classes=None,
        n_train=314,
        n_test=78,
        source="vega_datasets cars.json (bundled)",
        paper="Fjellström & Nyström sec. 3.4",
    ),
    DatasetInfo(
        name="digits",
        loader=load_digits,
        description="UCI digits 8x8 in [0, 1]: offline MNIST stand-in",
        task="classification",
        input_shape=(64,),
        num_classes=10,
        n_train=1438,
        n_test=359,
        source="scikit-learn (bundled)",
        paper="Goodfellow et al.; Gur-Ari et al.",
    ),
    DatasetInfo(
        name="mnist1d",
        loader=load_mnist1d,
        description="MNIST-1D: 40-sample 1-D digit signals, generated locally",
        task="classification",
        input_shape=(40,),
        num_classes=10,
        n_train=4000,
        n_test=1000,
        source="mnist1d package generator",
        paper="Greydanus 2020",
    ),
    DatasetInfo(
        name="gaussian_mixture",
        loader=load_gaussian_mixture,
        description="Gaussian mixture toy model: k=2 random unit means in d=1000, sigma=0.02",
        task="classification",
        input_shape=(1000,),
        num_classes=2,
        n_train=160,
        n_test=40,
        source="synthetic",
        paper="Gur-Ari et al. sec. 3, App. E",
    ),
    DatasetInfo(
        name="sine",
        loader=load_sine,
        description="y = sin(x) + N(0, 0.1^2) on one period",
        task="regression",
        input_shape=(1,),
        num_classes=None,
        n_train=800,
        n_test=200,
        source="synthetic",
        paper="Gur-Ari et al. Table 1",
    ),
    DatasetInfo(
        name="markov_sequences",
        loader=load_markov_sequences,
        description="next token after 12 tokens of a random order-2 Markov chain, 10 tokens "
        "(int64 ids; offline stand-in for Penn Treebank)",
        task="classification",
        input_shape=(12,),
        num_classes=10,
        n_train=1600,
        n_test=400,
        source="synthetic",
        paper="Goodfellow et al. Fig. 8, 16 (LSTM)",
    ),
    DatasetInfo(
        name="mnist",
        loader=load_mnist,
        description="MNIST 28x28 digits from local IDX files (root=...)",
        task="classification",
        input_shape=(784,),
        num_classes=10,
        n_train=60000,
        n_test=10000,
        source="user files (IDX)",
        paper="Gur-Ari et al.; Goodfellow et al.",
    ),
    DatasetInfo(
        name="fashion_mnist",
        loader=load_fashion_mnist,
        description="Fashion-MNIST 28x28 from local IDX files (root=...)",
        task="classification",
        input_shape=(784,),
        num_classes=10,
        n_train=60000,
        n_test=10000,
        source="user files (IDX)",
        paper="",
    ),
    DatasetInfo(
        name="cifar10",
        loader=load_cifar10,
        description="CIFAR-10 32x32 colour, from local python batches (root=...)",
        task="classification",
        input_shape=(3, 32, 32),
        num_classes=10,
        n_train=50000,
        n_test=10000,
        source="user files (python pickles)",
        paper="Gur-Ari et al.",
    ),
    DatasetInfo(
        name="cifar100",
        loader=load_cifar100,
        description="CIFAR-100 32x32 colour, from local python pickles (root=...)",
        task="classification",
        input_shape=(3, 32, 32),
        num_classes=100,
        n_train=50000,
        n_test=10000,
        source="user files (python pickles)",
        paper="Gur-Ari et al. App. B",
    ),
)
DATASETS: dict[str, DatasetInfo] = {info.name: info for info in _INFOS}


def _lookup(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    test_fraction: float | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    **options: Any,
) -> SplitDataset:
    """Load a registered dataset by name (``list_datasets()`` lists them; all offline).

    ``seed`` fixes every random choice (split, synthetic samples, subsample).  ``test_fraction``
    in [0, 1) is the share held out as the test split (``None``: the dataset's default; 0.0: no
    test split, all data train); datasets with their own fixed split (``mnist``, ``cifar10``, ...)
    do not take it.  ``max_train`` / ``max_test`` keep a seeded random subset of at most that many
    samples of a split, for quick runs.  ``options`` are the dataset's own (see each loader's
    docstring, e.g. ``origin="onehot"`` for ``auto_mpg``, ``root=...`` for ``mnist``).

    >>> ds = load_dataset("iris", seed=1, test_fraction=0.0)
    >>> len(ds.train), len(ds.test)
    (150, 0)
    """
    info = _lookup(name)
    allowed = info.options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; its options: "
            f"{info.describe_options()} (and for every dataset: {', '.join(_COMMON)})"
        )
    missing = [k for k, v in allowed.items() if v is _REQUIRED and k not in options]
    if missing:
        raise ValueError(
            f"dataset {name!r} needs option {', '.join(map(repr, missing))}; its options: "
            f"{info.describe_options()}"
        )
    params = inspect.signature(info.loader).parameters
    kwargs = dict(options)
    if "seed" in params:
        kwargs["seed"] = seed
    if test_fraction is not None:
        if info.fixed_split:
            raise ValueError(
                f"dataset {name!r} has its own fixed train/test split; test_fraction is not an "
                "option (use max_train / max_test to subsample)"
            )
        kwargs["test_fraction"] = test_fraction
    ds = info.loader(**kwargs)
    return subsample(ds, max_train, max_test, seed=seed)


def list_datasets() -> list[dict]:
    """One row per registered dataset (name, task, input_shape, num_classes, n_train, n_test,
    description), sizes and shapes for the default options, for the ``landscope datasets`` table."""
    return [info.row() for info in DATASETS.values()]
