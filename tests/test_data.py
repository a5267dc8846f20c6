"""Tests of the dataset layer: every dataset loads offline with its documented shapes, the
loaders are deterministic, standardization uses the training split, local files are read back,
and the label transforms do what they say.

References are independent of the code under test: scikit-learn's raw arrays, pandas' reading of
``cars.json``, the ``mnist1d`` generator called directly, hand-written IDX / pickle files, and
plain NumPy recomputations.  Float32 data are compared with atol 1e-6 (values of order 1, float32
resolution 6e-8 per operation); sample statistics with tolerances of about six standard errors.
"""

from __future__ import annotations

import doctest
import gzip
import pickle
import random
import struct

import numpy as np
import pytest
import torch

import landscope.data as data
from landscope.data import (
    DATASETS,
    class_subset,
    even_odd,
    list_datasets,
    load_auto_mpg,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_digits,
    load_gaussian_mixture,
    load_iris,
    load_mnist,
    load_mnist1d,
    load_sine,
    mixture_means,
    permute_labels,
    read_idx,
    subsample,
)

OFFLINE = ["iris", "auto_mpg", "digits", "mnist1d", "gaussian_mixture", "sine"]
# Small options so each load is fast; shapes are then checked against these options.
SMALL = {"mnist1d": {"num_samples": 200}, "gaussian_mixture": {"d": 20, "n_per_class": 30}}


def _rows(x: torch.Tensor) -> set[tuple]:
    return {tuple(np.round(r, 4)) for r in x.reshape(len(x), -1).double().numpy()}


# --- every dataset, the registry ------------------------------------------------------------


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_dataset_has_documented_types(name):
    ds = load_dataset(name, **SMALL.get(name, {}))
    info = DATASETS[name]
    assert ds.name == name
    assert ds.task == info.task
    assert ds.num_classes == info.num_classes
    for split in (ds.train, ds.test):
        assert split.x.dtype == torch.float32
        assert torch.isfinite(split.x).all()
        assert split.x.shape[1:] == ds.train.x.shape[1:]
        if ds.task == "classification":
            assert split.y.dtype == torch.int64
            assert split.y.shape == (len(split),)
            assert 0 <= int(split.y.min()) and int(split.y.max()) < ds.num_classes
        else:
            assert split.y.dtype == torch.float32
            assert split.y.shape == (len(split),)
    assert len(ds.train) > 0 and len(ds.test) > 0


@pytest.mark.parametrize(
    "name", ["iris", "auto_mpg", "digits", "gaussian_mixture", "sine", "mnist1d"]
)
def test_registry_row_matches_default_load(name):
    row = next(r for r in list_datasets() if r["name"] == name)
    summary = load_dataset(name).summary()
    for key in ("task", "input_shape", "num_classes", "n_train", "n_test"):
        assert row[key] == summary[key], key


def test_list_datasets_rows_have_the_table_columns():
    rows = list_datasets()
    assert {r["name"] for r in rows} == set(DATASETS)
    columns = {"name", "task", "input_shape", "num_classes", "n_train", "n_test", "description"}
    assert all(set(r) == columns for r in rows)
    assert {"mnist", "cifar10", "cifar100"} <= set(DATASETS)


@pytest.mark.parametrize("name", ["iris", "digits", "sine", "gaussian_mixture", "auto_mpg"])
def test_same_seed_same_data_other_seed_other_split(name):
    opts = SMALL.get(name, {})
    a, b = load_dataset(name, seed=3, **opts), load_dataset(name, seed=3, **opts)
    c = load_dataset(name, seed=4, **opts)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.y, b.train.y)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.test.y, b.test.y)
    assert a.train.x.shape == c.train.x.shape
    assert not torch.equal(a.train.x, c.train.x)


def test_mnist1d_is_deterministic_and_seed_dependent():
    a, b = load_mnist1d(seed=1, num_samples=100), load_mnist1d(seed=1, num_samples=100)
    c = load_mnist1d(seed=2, num_samples=100)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_unknown_dataset_error_lists_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as err:
        load_dataset("nope")
    for name in DATASETS:
        assert name in str(err.value)


def test_unknown_option_error_lists_allowed_options():
    with pytest.raises(ValueError, match="has no option 'colour'") as err:
        load_dataset("auto_mpg", colour="red")
    assert "origin='ordinal'" in str(err.value) and "standardize_target" in str(err.value)
    assert "test_fraction" in str(err.value)


def test_required_option_and_fixed_split_errors(tmp_path):
    with pytest.raises(ValueError, match="needs option 'root'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="fixed train/test split"):
        load_dataset("cifar10", root=tmp_path, test_fraction=0.1)
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\)"):
        load_dataset("iris", test_fraction=1.0)
    with pytest.raises(ValueError, match="origin must be 'ordinal' or 'onehot'"):
        load_dataset("auto_mpg", origin="binary")


def test_test_fraction_zero_gives_empty_test_split():
    ds = load_dataset("iris", test_fraction=0.0)
    assert len(ds.train) == 150 and len(ds.test) == 0
    assert ds.test.x.shape == (0, 4) and ds.test.y.shape == (0,)
    assert ds.summary()["n_test"] == 0


def test_max_train_max_test_subsample_rows_of_the_full_split():
    full = load_dataset("digits", seed=5)
    small = load_dataset("digits", seed=5, max_train=100, max_test=20)
    assert (len(small.train), len(small.test)) == (100, 20)
    assert small.name == "digits" and small.meta["transforms"][-1]["max_train"] == 100
    assert _rows(small.train.x) <= _rows(full.train.x)
    assert _rows(small.test.x) <= _rows(full.test.x)
    again = load_dataset("digits", seed=5, max_train=100, max_test=20)
    assert torch.equal(small.train.x, again.train.x)
    assert subsample(full, max_train=10_000) is full  # a limit above the size changes nothing
    with pytest.raises(ValueError, match="max_train must be a positive integer"):
        subsample(full, max_train=0)


def test_docstring_examples_run():
    modules = [data._tabular, data._digits, data._mnist1d, data._synthetic, data._registry]
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    assert sum(doctest.testmod(m).attempted for m in modules) >= 6


# --- iris and auto_mpg ------------------------------------------------------------------------


def test_iris_is_standardized_with_training_statistics():
    from sklearn.datasets import load_iris as sk_iris

    raw = sk_iris().data
    ds = load_iris(seed=2)
    mean, std = np.asarray(ds.meta["feature_mean"]), np.asarray(ds.meta["feature_std"])
    train_raw = ds.train.x.double().numpy() * std + mean
    test_raw = ds.test.x.double().numpy() * std + mean
    # Undoing the scaling gives rows of the raw data, train and test disjoint and complete.
    raw_rows = {tuple(np.round(r, 4)) for r in raw}
    assert {tuple(np.round(r, 4)) for r in train_raw} | {
        tuple(np.round(r, 4)) for r in test_raw
    } <= raw_rows
    np.testing.assert_allclose(mean, train_raw.mean(axis=0), rtol=0, atol=1e-5)
    np.testing.assert_allclose(std, train_raw.std(axis=0), rtol=1e-5)
    assert np.abs(mean - raw.mean(axis=0)).max() > 1e-3  # train statistics, not the full set's
    assert torch.allclose(ds.train.x.mean(0), torch.zeros(4), atol=1e-6)
    assert torch.allclose(ds.train.x.std(0, unbiased=False), torch.ones(4), atol=1e-5)
    assert torch.equal(torch.bincount(ds.train.y), torch.tensor([40, 40, 40]))  # stratified


def test_auto_mpg_has_392_cars_and_seven_inputs():
    import pandas as pd
    from vega_datasets import local_data

    ds = load_auto_mpg(test_fraction=0.0)
    assert ds.meta["N"] == 392 and ds.meta["N_raw"] == 406
    assert ds.input_shape == (7,) and len(ds.train) == 392
    # Independent reading: pandas' parse of the same file, rows with any missing value dropped.
    frame = pd.read_json(local_data.cars.filepath).dropna()
    assert len(frame) == 392
    mpg = ds.train.y.double().numpy() * ds.meta["target_std"] + ds.meta["target_mean"]
    np.testing.assert_allclose(
        np.sort(mpg), np.sort(frame["Miles_per_Gallon"].to_numpy()), atol=1e-4
    )
    x = ds.train.x.double().numpy() * np.asarray(ds.meta["feature_std"]) + np.asarray(
        ds.meta["feature_mean"]
    )
    np.testing.assert_allclose(
        np.sort(x[:, 3]), np.sort(frame["Weight_in_lbs"].to_numpy()), rtol=1e-6
    )
    assert set(np.round(x[:, 6]).astype(int)) == {1, 2, 3}
    assert np.isclose(float(ds.train.y.mean()), 0.0, atol=1e-6)


def test_auto_mpg_onehot_origin_and_fjellstrom_parameter_counts():
    ds = load_auto_mpg(origin="onehot")
    assert ds.input_shape == (9,) and ds.output_dim == 1
    x = ds.train.x.double().numpy() * np.asarray(ds.meta["feature_std"]) + np.asarray(
        ds.meta["feature_mean"]
    )
    onehot = x[:, 6:]
    np.testing.assert_allclose(onehot.sum(axis=1), 1.0, atol=1e-5)
    assert set(np.round(onehot).ravel()) == {0.0, 1.0}

    def count(n_in: int) -> int:  # Fjellstrom's 21-13 regression net
        net = torch.nn.Sequential(
            torch.nn.Linear(n_in, 21), torch.nn.Linear(21, 13), torch.nn.Linear(13, 1)
        )
        return sum(p.numel() for p in net.parameters())

    assert count(load_auto_mpg().input_shape[0]) == 468
    assert count(ds.input_shape[0]) == 510


def test_auto_mpg_split_sizes_give_sixteen_batches_of_twenty():
    ds = load_auto_mpg()
    assert (len(ds.train), len(ds.test)) == (314, 78)
    assert -(-len(ds.train) // 20) == 16  # 150 epochs x 16 steps = Fjellstrom's 2,400 steps


# --- digits, mnist1d ----------------------------------------------------------------------------


def test_digits_scaling_and_image_shape():
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    flat = load_digits(full_train=True)
    assert len(flat.train) == 1797 and len(flat.test) == 0 and flat.test.x.shape == (0, 64)
    np.testing.assert_allclose(flat.train.x.numpy(), raw.data / 16.0, rtol=0, atol=1e-7)
    assert torch.equal(flat.train.y, torch.as_tensor(raw.target))
    images = load_digits(flatten=False, seed=1)
    assert images.input_shape == (1, 8, 8)
    assert float(images.train.x.min()) == 0.0 and float(images.train.x.max()) == 1.0
    same = load_digits(seed=1)
    assert torch.equal(images.train.x.reshape(-1, 64), same.train.x)
    with pytest.raises(ValueError, match=r"full_train=True means test_fraction=0\.0"):
        load_digits(full_train=True, test_fraction=0.3)


def test_mnist1d_matches_the_package_generator_and_keeps_global_state():
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    ds = load_mnist1d(seed=7, num_samples=200)
    np_after = np.random.get_state()  # noqa: NPY002
    # The generator seeds the global generators; the caller's states must come back unchanged.
    assert np_after[0] == np_state[0] and np.array_equal(np_after[1], np_state[1])
    assert np_after[2:] == np_state[2:]
    assert random.getstate() == py_state

    args = get_dataset_args()
    args.seed, args.num_samples = 7, 200
    reference = make_dataset(args)
    assert ds.input_shape == (40,) and (len(ds.train), len(ds.test)) == (160, 40)
    np.testing.assert_allclose(ds.train.x.numpy(), reference["x"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ds.test.x.numpy(), reference["x_test"], rtol=0, atol=1e-6)
    assert torch.equal(ds.train.y, torch.as_tensor(reference["y"]))
    counts = torch.bincount(torch.cat([ds.train.y, ds.test.y]), minlength=10)
    assert torch.equal(counts, torch.full((10,), 20))
    with pytest.raises(ValueError, match="multiple of 10"):
        load_mnist1d(num_samples=105)


# --- synthetic ------------------------------------------------------------------------------------


def test_gaussian_mixture_means_and_noise():
    ds = load_gaussian_mixture(k=3, d=5, sigma=0.1, n_per_class=400, test_fraction=0.0, seed=1)
    means = np.asarray(ds.meta["means"])
    assert means.shape == (3, 5) and ds.meta["means_shape"] == [3, 5]
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, atol=1e-12)
    assert torch.equal(torch.bincount(ds.train.y), torch.tensor([400, 400, 400]))
    x, y = ds.train.x.double().numpy(), ds.train.y.numpy()
    residual = x - means[y]
    # Noise N(0, 0.1^2): 6,000 coordinates, standard error of the std about 0.1 / sqrt(12000).
    assert abs(residual.std() - 0.1) < 0.006
    assert np.abs(residual.mean(axis=0)).max() < 6 * 0.1 / np.sqrt(1200)
    assert not np.allclose(means @ means.T, np.eye(3), atol=1e-3)  # random: not orthogonal


def test_gaussian_mixture_sigma_zero_orthonormal_and_given_means():
    ds = load_gaussian_mixture(k=4, d=6, sigma=0.0, n_per_class=5, means="orthonormal")
    means = np.asarray(ds.meta["means"])
    np.testing.assert_allclose(means @ means.T, np.eye(4), atol=1e-12)
    for split in (ds.train, ds.test):
        np.testing.assert_allclose(split.x.double().numpy(), means[split.y.numpy()], atol=1e-7)
    given = np.eye(3, 7)
    ds = load_gaussian_mixture(means=given, sigma=0.0, n_per_class=2, test_fraction=0.0)
    assert ds.num_classes == 3 and ds.input_shape == (7,)
    np.testing.assert_array_equal(np.asarray(ds.meta["means"]), given)
    assert np.allclose(
        mixture_means(2, 3, "orthonormal", seed=4) @ mixture_means(2, 3, "orthonormal", seed=4).T,
        np.eye(2),
    )
    with pytest.raises(ValueError, match="k <= d"):
        mixture_means(5, 3, "orthonormal")
    with pytest.raises(ValueError, match="'random', 'orthonormal' or an array"):
        load_gaussian_mixture(means="uniform")


def test_sine_targets():
    clean = load_sine(num_samples=50, noise=0.0, seed=2)
    for split in (clean.train, clean.test):
        assert split.x.shape == (len(split), 1)
        assert bool(((split.x >= -np.pi) & (split.x < np.pi)).all())
        assert torch.allclose(split.y, torch.sin(split.x[:, 0]), atol=1e-6)
    noisy = load_sine(num_samples=4000, noise=0.1, seed=2)
    residual = (noisy.train.y - torch.sin(noisy.train.x[:, 0])).double()
    # 3,200 samples: standard error of the std about 0.1 / sqrt(6400) = 0.00125.
    assert abs(float(residual.std()) - 0.1) < 0.0075
    with pytest.raises(ValueError, match="low < high"):
        load_sine(low=1.0, high=0.0)


# --- local files: IDX and CIFAR pickles --------------------------------------------------------------


def _write_idx(path, array: np.ndarray, code: int = 0x08, gz: bool = False) -> None:
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    header = struct.pack(">I", (code << 8) | array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.astype(dtype).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _write_mnist(folder, gz: bool, n_train: int = 3, n_test: int = 2, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": gen.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": gen.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": gen.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": gen.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        _write_idx(folder / (name + (".gz" if gz else "")), array, gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_round_trip(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.input_shape == (784,) and ds.num_classes == 10
    expected = arrays["train-images-idx3-ubyte"].reshape(3, -1) / 255.0
    np.testing.assert_allclose(ds.train.x.numpy(), expected, rtol=0, atol=1e-7)
    assert torch.equal(ds.test.y, torch.as_tensor(arrays["t10k-labels-idx1-ubyte"]))
    images = load_mnist(tmp_path, flatten=False)
    assert images.train.x.shape == (3, 1, 28, 28) and images.test.x.shape == (2, 1, 28, 28)
    assert torch.equal(images.train.x.reshape(3, -1), ds.train.x)


def test_mnist_torchvision_layout_and_fashion(tmp_path):
    arrays = _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=False, seed=1)
    ds = load_dataset("fashion_mnist", root=tmp_path)
    assert torch.equal(ds.train.y, torch.as_tensor(arrays["train-labels-idx1-ubyte"]))


def test_mnist_missing_file_and_bad_magic(tmp_path):
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((2, 1)))  # 2-D: magic 0x00000802
    with pytest.raises(ValueError, match="magic number 0x00000802, expected 0x00000801"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_read_idx_other_types_and_truncation(tmp_path):
    array = np.arange(-6, 6, dtype=np.int64).reshape(3, 2, 2)
    _write_idx(tmp_path / "a.idx", array, code=0x0C, gz=True)
    (tmp_path / "a.gz").write_bytes((tmp_path / "a.idx").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    _write_idx(tmp_path / "b", np.arange(10))
    (tmp_path / "c").write_bytes((tmp_path / "b").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "c")


def _write_cifar_batch(
    path, n: int, label_key: bytes, num_classes: int, seed: int, extra: dict | None = None
):
    gen = np.random.default_rng(seed)
    batch = {
        b"data": gen.integers(0, 256, (n, 3072)).astype(np.uint8),
        label_key: gen.integers(0, num_classes, n).tolist(),
    }
    batch.update(extra or {})
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return batch


def test_cifar10_batches_round_trip(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = [
        _write_cifar_batch(folder / f"data_batch_{i}", 2, b"labels", 10, i) for i in range(1, 6)
    ]
    test = _write_cifar_batch(folder / "test_batch", 3, b"labels", 10, 9)
    names = [f"class{i}".encode() for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.train.x.shape == (10, 3, 32, 32) and ds.test.x.shape == (3, 3, 32, 32)
    assert ds.meta["class_names"][3] == "class3"
    # Channel-first layout: x[i, c, r, col] is byte c*1024 + r*32 + col of row i.
    row, (c, r, col) = batches[1][b"data"][1], (2, 5, 7)
    assert float(ds.train.x[3, c, r, col]) == pytest.approx(
        row[c * 1024 + r * 32 + col] / 255.0, abs=1e-7
    )
    labels = [label for b in batches for label in b[b"labels"]]
    assert torch.equal(ds.train.y, torch.tensor(labels))
    assert torch.equal(ds.test.y, torch.tensor(test[b"labels"]))
    flat = load_cifar10(folder, flatten=True)  # the batch folder itself also works
    np.testing.assert_allclose(flat.test.x.numpy(), test[b"data"] / 255.0, rtol=0, atol=1e-7)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10(tmp_path)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    coarse = {b"coarse_labels": [0, 19, 7, 3]}
    train = _write_cifar_batch(folder / "train", 4, b"fine_labels", 100, 1, coarse)
    _write_cifar_batch(folder / "test", 4, b"fine_labels", 100, 2, coarse)
    fine = load_cifar100(tmp_path)
    assert fine.num_classes == 100 and torch.equal(
        fine.train.y, torch.tensor(train[b"fine_labels"])
    )
    ds = load_dataset("cifar100", root=tmp_path, labels="coarse")
    assert ds.num_classes == 20 and torch.equal(ds.train.y, torch.tensor([0, 19, 7, 3]))
    (folder / "test").unlink()
    with pytest.raises(FileNotFoundError, match="'test'"):
        load_cifar100(tmp_path)


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "train").write_bytes(pickle.dumps({b"data": Evil()}))
    (folder / "test").write_bytes(b"")
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load builtins\.print"):
        load_cifar100(tmp_path)


# --- label transforms ----------------------------------------------------------------------------------


def test_even_odd_labels():
    ds = load_digits(seed=0)
    eo = even_odd(ds)
    assert eo.num_classes == 2 and eo.name == "digits+even_odd"
    assert torch.equal(eo.train.y, torch.remainder(ds.train.y, 2))
    assert torch.equal(eo.test.y, torch.tensor([int(v) % 2 for v in ds.test.y]))
    assert torch.equal(eo.train.x, ds.train.x)
    assert eo.meta["transforms"][-1]["transform"] == "even_odd"
    with pytest.raises(ValueError, match="needs a classification dataset"):
        even_odd(load_sine(num_samples=10))


def test_class_subset_sizes_and_relabelling():
    ds = load_digits(seed=0)
    counts = torch.bincount(ds.train.y, minlength=10)
    sub = class_subset(ds, [5, 6, 7, 8, 9])
    assert sub.num_classes == 5 and len(sub.train) == int(counts[5:].sum())
    assert torch.equal(torch.bincount(sub.train.y, minlength=5), counts[5:])
    keep = ds.train.y >= 5
    assert torch.equal(sub.train.x, ds.train.x[keep]) and torch.equal(
        sub.train.y, ds.train.y[keep] - 5
    )
    swapped = class_subset(ds, [3, 1])  # order of `classes` defines the new labels
    assert torch.equal(
        swapped.train.y, (ds.train.y[(ds.train.y == 3) | (ds.train.y == 1)] == 1).long()
    )
    raw = class_subset(ds, [0, 4], relabel=False)
    assert raw.num_classes == 10 and set(raw.train.y.tolist()) == {0, 4}
    assert raw.meta["transforms"][-1]["label_map"] == {0: 0, 4: 4}
    with pytest.raises(ValueError, match=r"out of range .* 10 classes"):
        class_subset(ds, [3, 10])
    with pytest.raises(ValueError, match="distinct"):
        class_subset(ds, [1, 1])


def test_permute_labels_keeps_histogram_inputs_and_test():
    ds = load_digits(seed=0)
    perm = permute_labels(ds, seed=1)
    assert perm.name == "digits+random_labels"
    assert torch.equal(
        torch.bincount(perm.train.y, minlength=10), torch.bincount(ds.train.y, minlength=10)
    )
    assert torch.equal(perm.train.x, ds.train.x)
    assert torch.equal(perm.test.y, ds.test.y)
    assert float((perm.train.y == ds.train.y).float().mean()) < 0.3  # about 1/10 by chance
    assert torch.equal(permute_labels(ds, seed=1).train.y, perm.train.y)
    assert not torch.equal(permute_labels(ds, seed=2).train.y, perm.train.y)
    both = permute_labels(ds, seed=1, test=True)
    assert not torch.equal(both.test.y, ds.test.y)
    assert torch.equal(torch.sort(both.test.y).values, torch.sort(ds.test.y).values)
    assert both.meta["transforms"][-1] == {"transform": "permute_labels", "seed": 1, "test": True}


def test_transforms_compose_and_leave_input_untouched():
    ds = load_digits(seed=0)
    before = ds.train.y.clone()
    out = permute_labels(even_odd(class_subset(ds, list(range(6)))), seed=0)
    assert out.name == "digits+classes0,1,2,3,4,5+even_odd+random_labels"
    assert [t["transform"] for t in out.meta["transforms"]] == [
        "class_subset",
        "even_odd",
        "permute_labels",
    ]
    assert out.num_classes == 2
    assert torch.equal(ds.train.y, before) and "transforms" not in ds.meta
