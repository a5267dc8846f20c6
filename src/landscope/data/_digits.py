"""Handwritten digits 8x8 (scikit-learn's copy of the UCI set): the offline MNIST stand-in."""

from __future__ import annotations

import numpy as np

from landscope.data._split import check_test_fraction, split_indices, tensor_data
from landscope.data._types import SplitDataset

__all__ = ["load_digits"]


def load_digits(
    *,
    seed: int = 0,
    test_fraction: float | None = None,
    flatten: bool = True,
    full_train: bool = False,
) -> SplitDataset:
    """UCI optical digits, 1,797 images of 8x8 pixels, 10 classes (scikit-learn's copy).

    Shapes: ``x`` (N, 64) float32, or (N, 1, 8, 8) with ``flatten=False`` (channel-first, for
    convolutional nets); pixel intensities 0..16 are divided by 16 into [0, 1].  ``y`` (N,)
    int64 digit 0..9.  The split is stratified and seeded (``test_fraction`` defaults to 0.2:
    1,438 train / 359 test).
    ``full_train=True`` (the same as ``test_fraction=0.0``) trains on all 1,797 images with an
    empty test split, as the Goodfellow et al. / Gur-Ari et al. style benchmarks on the full set.

    >>> ds = load_digits(flatten=False)
    >>> ds.input_shape, ds.num_classes, len(ds.train) + len(ds.test)
    ((1, 8, 8), 10, 1797)
    """
    from sklearn.datasets import load_digits as sk_load_digits

    if full_train:
        if test_fraction not in (None, 0.0):
            raise ValueError(
                f"full_train=True means test_fraction=0.0, got test_fraction={test_fraction}"
            )
        test_fraction = 0.0
    test_fraction = check_test_fraction(0.2 if test_fraction is None else test_fraction)
    bunch = sk_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    train, test = split_indices(len(y), test_fraction, seed, labels=y)
    return SplitDataset(
        name="digits",
        train=tensor_data(x[train], y[train], "classification"),
        test=tensor_data(x[test], y[test], "classification"),
        task="classification",
        num_classes=10,
        description="UCI handwritten digits 8x8 (scikit-learn), pixels in [0, 1]: offline MNIST stand-in",
        meta={
            "source": "sklearn.datasets.load_digits",
            "seed": seed,
            "test_fraction": test_fraction,
            "flatten": bool(flatten),
            "pixel_scale": 16.0,
        },
    )
