"""The two tabular datasets of Fjellström & Nyström (sec. 3): Iris (classification) and
Auto MPG (regression), both read from files installed with their Python packages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Literal

import numpy as np

from landscope.data._split import split_indices, standardize, tensor_data
from landscope.data._types import SplitDataset

__all__ = ["AUTO_MPG_FEATURES", "load_auto_mpg", "load_iris"]

AUTO_MPG_FEATURES = (
    "Cylinders",
    "Displacement",
    "Horsepower",
    "Weight_in_lbs",
    "Acceleration",
    "Year",
    "Origin",
)
# The UCI file's own codes for the car's origin (1 USA, 2 Europe, 3 Japan).
_ORIGIN_CODES = {"USA": 1.0, "Europe": 2.0, "Japan": 3.0}


def load_iris(*, seed: int = 0, test_fraction: float = 0.2) -> SplitDataset:
    """Fisher's Iris flowers (scikit-learn's copy): 150 samples, 4 features, 3 classes.

    Shapes: ``x`` (N, 4) float32, standardized with the training split's mean and standard
    deviation (features: sepal length, sepal width, petal length, petal width, in cm before
    scaling); ``y`` (N,) int64 in {0 setosa, 1 versicolor, 2 virginica}.  The split is
    stratified and seeded; the default ``test_fraction=0.2`` gives 120 train / 30 test, the
    setting of Fjellström & Nyström (sec. 3.4.2, footnote 2: "only 120 was used for training";
    400 epochs at batch 20 are their 2,400 steps of Table 2).  ``test_fraction=0.0`` trains on all
    150 samples and leaves the test split empty (length 0; analyses skip it).

    >>> ds = load_iris()
    >>> ds.input_shape, ds.num_classes, len(ds.train), len(ds.test)
    ((4,), 3, 120, 30)
    """
    from sklearn.datasets import load_iris as sk_load_iris

    bunch = sk_load_iris()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    train, test = split_indices(len(y), test_fraction, seed, labels=y)
    x_train, (x_test,), mean, std = standardize(x[train], x[test])
    return SplitDataset(
        name="iris",
        train=tensor_data(x_train, y[train], "classification"),
        test=tensor_data(x_test, y[test], "classification"),
        task="classification",
        num_classes=3,
        description="Iris flowers (Fisher 1936, scikit-learn copy): 4 standardized features, 3 species",
        meta={
            "source": "sklearn.datasets.load_iris",
            "seed": seed,
            "test_fraction": test_fraction,
            "feature_names": list(bunch.feature_names),
            "class_names": [str(c) for c in bunch.target_names],
            "feature_mean": mean.tolist(),
            "feature_std": std.tolist(),
        },
    )


def _cars_json_path() -> Path:
    """The ``cars.json`` file shipped inside the ``vega_datasets`` package (never downloaded)."""
    spec = importlib.util.find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("auto_mpg needs the 'vega_datasets' package: pip install vega_datasets")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "_data" / "cars.json"
        if path.is_file():
            return path
    # Fall back to the package's own record of where its local copy lives.
    from vega_datasets import local_data

    return Path(local_data.cars.filepath)


def _cars_table() -> tuple[list[dict], int]:
    """Rows of ``cars.json`` with every field present, and the number of rows before dropping."""
    rows = json.loads(_cars_json_path().read_text())
    fields = ("Miles_per_Gallon", *AUTO_MPG_FEATURES)
    complete = [r for r in rows if all(r.get(f) is not None for f in fields)]
    return complete, len(rows)


def load_auto_mpg(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    origin: Literal["ordinal", "onehot"] = "ordinal",
    standardize_target: bool = True,
) -> SplitDataset:
    """Auto MPG regression (UCI; the ``cars.json`` copy installed with ``vega_datasets``).

    Fjellström & Nyström sec. 3.4: predict fuel consumption (miles per gallon) from the seven
    other attributes.  Rows with a missing value are dropped: 392 of the file's 406 remain (the
    paper quotes 398, the UCI count before dropping the 6 cars without horsepower; the vega copy
    adds 8 cars without MPG).  With the default ``test_fraction=0.2`` the seeded split is 314
    train / 78 test, which at batch 20 gives the paper's 16 steps per epoch (150 epochs = 2,400
    steps, Table 2).

    Shapes: ``x`` (N, 7) float32 with columns Cylinders, Displacement, Horsepower,
    Weight_in_lbs, Acceleration, Year (model year, e.g. 1970), Origin (UCI code 1 USA,
    2 Europe, 3 Japan, as one ordinal column); with ``origin="onehot"`` the last column is
    replaced by three indicator columns USA, Europe, Japan, so ``x`` is (N, 9).  Every input
    column, indicators included, is standardized with the training split's mean and standard
    deviation.  ``y`` (N,) float32 is miles per gallon, standardized with the training statistics
    when ``standardize_target`` (``meta["target_mean"]``, ``meta["target_std"]`` undo it).

    Parameter count of the paper's 21-13 network: with 7 inputs, 7-21-13-1 has
    7*21+21 + 21*13+13 + 13*1+1 = 468 parameters, not the 515 the paper states (515 is the Iris
    net 4-24-14-3; the paper seems to have reused that count); with 9 inputs (one-hot origin)
    it has 510.

    >>> ds = load_auto_mpg()
    >>> ds.input_shape, len(ds.train) + len(ds.test)
    ((7,), 392)
    """
    if origin not in ("ordinal", "onehot"):
        raise ValueError(f"origin must be 'ordinal' or 'onehot', got {origin!r}")
    rows, n_raw = _cars_table()
    numeric = AUTO_MPG_FEATURES[:-1]
    columns = [
        [float(r[f]) if f != "Year" else float(str(r[f])[:4]) for f in numeric] for r in rows
    ]
    x = np.asarray(columns, dtype=np.float64)
    names = list(numeric)
    if origin == "ordinal":
        x = np.column_stack([x, [_ORIGIN_CODES[r["Origin"]] for r in rows]])
        names.append("Origin")
    else:
        onehot = np.asarray([[float(r["Origin"] == o) for o in _ORIGIN_CODES] for r in rows])
        x = np.column_stack([x, onehot])
        names += [f"Origin_{o}" for o in _ORIGIN_CODES]
    y = np.asarray([float(r["Miles_per_Gallon"]) for r in rows])

    train, test = split_indices(len(y), test_fraction, seed)
    x_train, (x_test,), mean, std = standardize(x[train], x[test])
    y_train, y_test = y[train], y[test]
    y_mean, y_std = 0.0, 1.0
    if standardize_target:
        y_train, (y_test,), y_mean_a, y_std_a = standardize(y_train, y_test)
        y_mean, y_std = float(y_mean_a), float(y_std_a)
    return SplitDataset(
        name="auto_mpg",
        train=tensor_data(x_train, y_train, "regression"),
        test=tensor_data(x_test, y_test, "regression"),
        task="regression",
        num_classes=None,
        description=(
            f"Auto MPG (UCI via vega_datasets): {x.shape[1]} standardized inputs, "
            "miles per gallon target"
        ),
        meta={
            "source": "vega_datasets cars.json",
            "seed": seed,
            "test_fraction": test_fraction,
            "N": len(y),
            "N_raw": n_raw,
            "origin": origin,
            "feature_names": names,
            "feature_mean": mean.tolist(),
            "feature_std": std.tolist(),
            "target": "Miles_per_Gallon",
            "target_standardized": bool(standardize_target),
            "target_mean": y_mean,
            "target_std": y_std,
        },
    )
