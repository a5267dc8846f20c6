"""MNIST-1D (Greydanus 2020), generated locally with the ``mnist1d`` package's own generator."""

from __future__ import annotations

import random

import numpy as np

from landscope.data._split import check_test_fraction, tensor_data
from landscope.data._types import SplitDataset

__all__ = ["load_mnist1d"]


def load_mnist1d(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    num_samples: int = 5000,
    shuffle_seq: bool = False,
) -> SplitDataset:
    """MNIST-1D: 10 one-dimensional digit templates, padded, scaled, translated, sheared and noised.

    Calls ``mnist1d.data.make_dataset`` with the package's default arguments
    (``get_dataset_args()``) except ``seed``, ``num_samples``, ``shuffle_seq`` and
    ``train_split = 1 - test_fraction``; nothing is downloaded or cached.  The canonical
    published set is ``seed=42`` (4,000 train / 1,000 test).  The generator seeds NumPy's and
    Python's *global* generators; their states are saved before and restored after, so the
    caller's random state is untouched (not thread safe while it runs).

    Shapes: ``x`` (N, 40) float32 (the generator centres and scales the whole set to mean 0,
    standard deviation 1); ``y`` (N,) int64 in 0..9.  ``num_samples`` (a positive multiple of 10,
    equal per class) is the total before the split; the split is the generator's own (its
    shuffled order, first ``round(num_samples * (1 - test_fraction))`` for training).

    >>> ds = load_mnist1d(num_samples=100)
    >>> ds.input_shape, ds.num_classes, len(ds.train), len(ds.test)
    ((40,), 10, 80, 20)
    """
    test_fraction = check_test_fraction(test_fraction)
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or num_samples < 10
        or num_samples % 10
    ):
        raise ValueError(
            f"num_samples must be a positive multiple of 10 (10 classes), got {num_samples!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    # mnist1d imports matplotlib at import time: load it only when this dataset is asked for.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    args.num_samples = num_samples
    args.shuffle_seq = bool(shuffle_seq)
    # make_dataset splits at int(len * train_split); nudge so the count is the rounded one.
    n_train = round(num_samples * (1.0 - test_fraction))
    args.train_split = (n_train + 0.5) / num_samples if n_train < num_samples else 1.0

    # mnist1d seeds the legacy global generators; put the caller's states back afterwards.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)

    x_train = np.asarray(data["x"]).reshape(-1, args.final_seq_length)
    x_test = np.asarray(data["x_test"]).reshape(-1, args.final_seq_length)
    return SplitDataset(
        name="mnist1d",
        train=tensor_data(x_train, np.asarray(data["y"], dtype=np.int64), "classification"),
        test=tensor_data(x_test, np.asarray(data["y_test"], dtype=np.int64), "classification"),
        task="classification",
        num_classes=10,
        description="MNIST-1D (Greydanus 2020), generated locally: 40-sample 1-D digit signals",
        meta={
            "source": "mnist1d.data.make_dataset",
            "seed": seed,
            "test_fraction": test_fraction,
            "num_samples": num_samples,
            "shuffle_seq": bool(shuffle_seq),
            "generator_args": {k: v for k, v in vars(args).items() if k != "url"},
        },
    )
