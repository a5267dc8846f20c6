"""Label transforms and subsampling: pure functions ``SplitDataset -> SplitDataset``.

Each returns a new dataset (the input is never changed) and appends a record
``{"transform": ..., ...}`` to ``meta["transforms"]``; the label transforms also append ``+what``
to its name.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from landscope.data._split import rng
from landscope.data._types import SplitDataset, TensorData

__all__ = ["class_subset", "even_odd", "permute_labels", "subsample"]


def _record(
    ds: SplitDataset,
    suffix: str | None,
    record: dict,
    train: TensorData,
    test: TensorData,
    **changes,
) -> SplitDataset:
    meta = {**ds.meta, "transforms": [*ds.meta.get("transforms", []), record]}
    name = ds.name if suffix is None else f"{ds.name}+{suffix}"
    return ds.with_splits(train, test, name=name, meta=meta, **changes)


def _classification(ds: SplitDataset, what: str) -> int:
    if ds.task != "classification" or ds.num_classes is None:
        raise ValueError(f"{what} needs a classification dataset, got {ds.name!r} ({ds.task})")
    return ds.num_classes


def _permutation(n: int, seed: int, stream: str) -> torch.Tensor:
    return torch.as_tensor(rng(seed, stream).permutation(n), dtype=torch.long)


def permute_labels(ds: SplitDataset, seed: int = 0, *, test: bool = False) -> SplitDataset:
    """Random labels (Zhang et al. 2016; Gur-Ari et al. 2018 Table 1 "Random labels").

    The training targets are shuffled by one seeded random permutation: sample i gets the
    label of sample pi(i).  The inputs, the label histogram (each class keeps its count) and the
    test split are unchanged, so test accuracy measures chance-level generalization; with
    ``test=True`` the test targets are shuffled too (by an independent permutation).  Works on
    regression targets as well (random targets).
    """
    perm = _permutation(len(ds.train), seed, "permute_labels/train")
    train = TensorData(ds.train.x, ds.train.y[perm])
    test_split = ds.test
    if test:
        test_split = TensorData(
            ds.test.x, ds.test.y[_permutation(len(ds.test), seed, "permute_labels/test")]
        )
    record = {"transform": "permute_labels", "seed": seed, "test": bool(test)}
    return _record(ds, "random_labels", record, train, test_split)


def even_odd(ds: SplitDataset) -> SplitDataset:
    """Two classes: label ``y % 2`` (0 even, 1 odd), e.g. even vs odd digits."""
    _classification(ds, "even_odd")
    train = TensorData(ds.train.x, ds.train.y % 2)
    test = TensorData(ds.test.x, ds.test.y % 2)
    record = {"transform": "even_odd", "num_classes_before": ds.num_classes}
    return _record(ds, "even_odd", record, train, test, num_classes=2)


def class_subset(ds: SplitDataset, classes: Sequence[int], relabel: bool = True) -> SplitDataset:
    """Keep only the samples whose label is in ``classes`` (both splits), e.g. digits 0-4 vs 5-9
    for the split tasks of Haink sec. 7.7.

    With ``relabel`` the kept labels become their position in ``classes`` (``classes=[5, 7]``:
    5 -> 0, 7 -> 1) and ``num_classes`` becomes ``len(classes)``; otherwise labels and
    ``num_classes`` stay as they were.  ``meta["transforms"][-1]["label_map"]`` records the map.
    """
    n = _classification(ds, "class_subset")
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("classes must name at least one class")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")
    bad = [c for c in classes if not 0 <= c < n]
    if bad:
        raise ValueError(
            f"classes {bad} are out of range for {ds.name!r} with {n} classes (0..{n - 1})"
        )
    keep = torch.tensor(classes, dtype=torch.long)
    lookup = torch.full((n,), -1, dtype=torch.long)
    lookup[keep] = torch.arange(len(classes)) if relabel else keep

    def select(split: TensorData) -> TensorData:
        mask = torch.isin(split.y, keep.to(split.y.device))
        y = split.y[mask]
        return TensorData(split.x[mask], lookup.to(y.device)[y])

    record = {
        "transform": "class_subset",
        "classes": classes,
        "relabel": bool(relabel),
        "label_map": {c: (i if relabel else c) for i, c in enumerate(classes)},
    }
    suffix = "classes" + ",".join(map(str, classes))
    return _record(
        ds,
        suffix,
        record,
        select(ds.train),
        select(ds.test),
        num_classes=len(classes) if relabel else n,
    )


def subsample(
    ds: SplitDataset, max_train: int | None = None, max_test: int | None = None, *, seed: int = 0
) -> SplitDataset:
    """At most ``max_train`` / ``max_test`` samples of each split, drawn uniformly without
    replacement by a seeded generator (kept in their original order); ``None`` keeps a split whole.
    The name is kept (this is a loading option, not a new task); ``meta["transforms"]`` records it."""
    changed = {}
    splits = {"train": ds.train, "test": ds.test}
    for split, limit in (("train", max_train), ("test", max_test)):
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_{split} must be a positive integer or None, got {limit!r}")
        data = splits[split]
        if limit < len(data):
            idx = rng(seed, f"subsample/{split}").choice(len(data), size=limit, replace=False)
            splits[split] = data.subset(torch.as_tensor(sorted(idx), dtype=torch.long))
            changed[f"max_{split}"] = limit
    if not changed:
        return ds
    return _record(
        ds,
        None,
        {"transform": "subsample", "seed": seed, **changed},
        splits["train"],
        splits["test"],
    )
