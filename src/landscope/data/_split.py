"""Shared helpers of the dataset loaders: seeded streams, train/test splits, standardization.

Every loader draws its randomness from :func:`rng`, a NumPy generator derived from the user's
``seed`` and a fixed *stream* name, so the split, the noise of a synthetic set and a later
subsample are independent of each other and none touches the global random state.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from landscope.data._types import TensorData

__all__ = [
    "check_test_fraction",
    "rng",
    "split_indices",
    "standardize",
    "subset_indices",
    "tensor_data",
]


def rng(seed: int, stream: str) -> np.random.Generator:
    """A NumPy generator for ``(seed, stream)``: same pair, same numbers; other streams independent."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode())]))


def check_test_fraction(test_fraction: float) -> float:
    """Validate ``test_fraction`` in [0, 1): the share of the data held out as the test split."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    return float(test_fraction)


def split_indices(
    n: int,
    test_fraction: float,
    seed: int,
    *,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train_idx, test_idx)`` of ``n`` samples, ``round(test_fraction * n)`` of them test.

    With ``labels`` the split is stratified (each class keeps its share, as scikit-learn's
    ``train_test_split(stratify=...)``, which does the work).  ``test_fraction == 0`` keeps all
    samples, in their original order, for training and returns an empty test split.
    """
    test_fraction = check_test_fraction(test_fraction)
    if test_fraction == 0.0:
        return np.arange(n), np.arange(0)
    n_test = round(test_fraction * n)
    if n_test == 0 or n_test == n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} samples leaves an empty train or test split; "
            "use test_fraction=0.0 for no test split"
        )
    # scikit-learn's splitter: well tested, stratifies exactly (up to rounding) per class.
    from sklearn.model_selection import train_test_split

    state = int(rng(seed, "split").integers(2**31 - 1))
    train, test = train_test_split(
        np.arange(n), test_size=n_test, random_state=state, stratify=labels
    )
    return np.asarray(train), np.asarray(test)


def standardize(
    train: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Standardize columns with the *training* mean and (population) standard deviation.

    Returns ``(train_z, others_z, mean, std)``; a constant column (std 0) is only centred.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, tuple((o - mean) / std for o in others), mean, std


def tensor_data(x: np.ndarray, y: np.ndarray, task: str) -> TensorData:
    """A :class:`TensorData` with float32 inputs and int64 labels or float32 targets."""
    y_dtype = torch.int64 if task == "classification" else torch.float32
    return TensorData(
        torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
        torch.as_tensor(np.ascontiguousarray(y), dtype=y_dtype),
    )


def subset_indices(num_samples: int, size: int | None, seed: int = 0) -> torch.Tensor | None:
    """A seeded random subset of ``size`` sample indices in ``[0, num_samples)``, sorted.

    The one subset rule of the library: every analysis that evaluates on a fixed subset of the
    samples (surfaces, interpolations, Hessians of the top subspace) draws it here, so the same
    ``(num_samples, size, seed)`` gives the same samples everywhere.  ``None`` (or ``size >=
    num_samples``) means all samples and returns ``None``.  The subset has its own
    ``torch.Generator``; the global random state is not touched.

    >>> subset_indices(10, 3, seed=0).tolist()
    [1, 4, 7]
    """
    if size is None:
        return None
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"subset size must be a positive integer or None, got {size!r}")
    if size >= num_samples:
        return None
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(num_samples, generator=g)[: int(size)].sort().values
