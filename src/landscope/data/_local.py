"""Standard image datasets read from files the user already has (nothing is downloaded).

MNIST and Fashion-MNIST come as IDX files (LeCun's format, optionally gzipped); CIFAR-10 and
CIFAR-100 as the "python version" pickle batches of Krizhevsky's site.  The loaders look in the
folder given and in the sub-folder torchvision would have made (``MNIST/raw``,
``FashionMNIST/raw``, ``cifar-10-batches-py``, ``cifar-100-python``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Literal

import numpy as np

from landscope.data._split import tensor_data
from landscope.data._types import SplitDataset

__all__ = ["load_cifar10", "load_cifar100", "load_fashion_mnist", "load_mnist", "read_idx"]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path, *, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array of its stored dtype and dimensions.

    The magic number is two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions; then one
    big-endian uint32 per dimension and the data.  ``expect_magic`` (e.g. 0x00000803 for MNIST
    images, 0x00000801 for labels) is checked when given.
    """
    path = Path(path)
    with _open(path) as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{path}: not an IDX file (magic number 0x{magic:08x})")
    if expect_magic is not None and magic != expect_magic:
        raise ValueError(f"{path}: IDX magic number 0x{magic:08x}, expected 0x{expect_magic:08x}")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    size = int(np.prod(dims)) * dtype.itemsize
    if len(raw) != header + size:
        raise ValueError(
            f"{path}: IDX header says shape {dims} ({size} data bytes) but the file has "
            f"{len(raw) - header} data bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _folder(root: str | Path) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {str(root)!r} does not exist or is not a folder")
    return root


def _find(folders: list[Path], names: tuple[str, ...], what: str, expected: str) -> Path:
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(repr(str(f)) for f in folders)
    raise FileNotFoundError(
        f"{what}: missing file {' or '.join(repr(n) for n in names)} (looked in {looked}); "
        f"expected {expected}"
    )


def _load_idx_pair(
    name: str, root: str | Path, subfolder: str, flatten: bool, description: str
) -> SplitDataset:
    root = _folder(root)
    folders = [root, root / subfolder / "raw"]
    expected = "the four IDX files " + ", ".join(_IDX_FILES.values()) + " (each optionally .gz)"
    arrays = {}
    for key, base in _IDX_FILES.items():
        path = _find(folders, (base, base + ".gz"), name, expected)
        magic = 0x00000803 if key.endswith("images") else 0x00000801
        arrays[key] = read_idx(path, expect_magic=magic)
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(f"{name}: {split} has {len(images)} images but {len(labels)} labels")
        x = images.astype(np.float32) / 255.0
        x = x.reshape(len(x), -1) if flatten else x[:, None]
        splits.append(tensor_data(x, labels.astype(np.int64), "classification"))
    return SplitDataset(
        name=name,
        train=splits[0],
        test=splits[1],
        task="classification",
        num_classes=10,
        description=description,
        meta={"source": str(root), "flatten": bool(flatten), "pixel_scale": 255.0},
    )


def load_mnist(root: str | Path, *, flatten: bool = True) -> SplitDataset:
    """MNIST from the four standard IDX files in ``root`` (or ``root/MNIST/raw``).

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``); magic numbers are checked.
    The official split (60,000 train / 10,000 test) is kept.

    Shapes: ``x`` (N, 784) float32 in [0, 1] (pixels / 255), or (N, 1, 28, 28) with
    ``flatten=False``; ``y`` (N,) int64 digit 0..9.
    """
    return _load_idx_pair(
        "mnist", root, "MNIST", flatten, "MNIST handwritten digits 28x28 (local IDX files)"
    )


def load_fashion_mnist(root: str | Path, *, flatten: bool = True) -> SplitDataset:
    """Fashion-MNIST from the same four IDX file names as MNIST in ``root`` (or
    ``root/FashionMNIST/raw``).  Shapes as :func:`load_mnist`; ``y`` is the clothing class 0..9."""
    return _load_idx_pair(
        "fashion_mnist",
        root,
        "FashionMNIST",
        flatten,
        "Fashion-MNIST clothing 28x28 (local IDX files)",
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and NumPy arrays: a CIFAR batch needs nothing else, and
    refusing every other global keeps a tampered file from running code."""

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        canonical = module.replace("numpy._core", "numpy.core")
        if (canonical, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a CIFAR batch file"
            )
        if canonical.startswith("numpy.core") and hasattr(np, "_core"):
            module = canonical.replace("numpy.core", "numpy._core")  # NumPy 2 location
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        batch = _ArrayUnpickler(f, encoding="bytes").load()
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    # Files pickled by Python 2 have bytes keys; ones written by Python 3 may have str keys.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _cifar_arrays(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    for key in ("data", label_key):
        if key not in batch:
            raise ValueError(f"{path}: CIFAR batch has no {key!r} entry (keys: {sorted(batch)})")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(
            f"{path}: expected data of shape (n, 3072) and n labels, got data {data.shape} "
            f"and {len(labels)} labels"
        )
    return data, labels


def _cifar_split(parts: list[tuple[np.ndarray, np.ndarray]], flatten: bool):
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    x = data.astype(np.float32) / 255.0
    x = x if flatten else x.reshape(-1, 3, 32, 32)  # rows are the R, G, B planes, row-major
    return tensor_data(x, labels, "classification")


def _label_names(path: Path, key: str) -> list[str] | None:
    if not path.is_file():
        return None
    names = _unpickle(path).get(key)
    return (
        None if names is None else [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    )


def load_cifar10(root: str | Path, *, flatten: bool = False) -> SplitDataset:
    """CIFAR-10 from the python pickle batches in ``root/cifar-10-batches-py`` (or ``root``).

    Files: ``data_batch_1`` ... ``data_batch_5`` (train, 50,000) and ``test_batch`` (10,000);
    ``batches.meta`` (class names) is read if present.  Only NumPy arrays and plain containers
    are unpickled.

    Shapes: ``x`` (N, 3, 32, 32) float32 in [0, 1] (channel-first, pixels / 255), or (N, 3072)
    with ``flatten=True``; ``y`` (N,) int64 class 0..9.
    """
    root = _folder(root)
    folders = [root / "cifar-10-batches-py", root]
    expected = "the CIFAR-10 python batches data_batch_1 ... data_batch_5 and test_batch"
    train_files = [_find(folders, (f"data_batch_{i}",), "cifar10", expected) for i in range(1, 6)]
    test_file = _find(folders, ("test_batch",), "cifar10", expected)
    train = _cifar_split([_cifar_arrays(p, "labels") for p in train_files], flatten)
    test = _cifar_split([_cifar_arrays(test_file, "labels")], flatten)
    names = _label_names(test_file.parent / "batches.meta", "label_names")
    return SplitDataset(
        name="cifar10",
        train=train,
        test=test,
        task="classification",
        num_classes=10,
        description="CIFAR-10 32x32 colour images, 10 classes (local python batches)",
        meta={
            "source": str(test_file.parent),
            "flatten": bool(flatten),
            "pixel_scale": 255.0,
            "class_names": names,
        },
    )


def load_cifar100(
    root: str | Path, *, flatten: bool = False, labels: Literal["fine", "coarse"] = "fine"
) -> SplitDataset:
    """CIFAR-100 from the python pickles ``train`` and ``test`` in ``root/cifar-100-python`` (or
    ``root``); ``labels="fine"`` gives the 100 classes, ``"coarse"`` the 20 superclasses.

    Shapes: ``x`` (N, 3, 32, 32) float32 in [0, 1], or (N, 3072) with ``flatten=True``;
    ``y`` (N,) int64 (0..99 fine, 0..19 coarse).  50,000 train / 10,000 test.
    """
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    root = _folder(root)
    folders = [root / "cifar-100-python", root]
    expected = "the CIFAR-100 python pickles 'train' and 'test'"
    key = f"{labels}_labels"
    train_file = _find(folders, ("train",), "cifar100", expected)
    test_file = _find(folders, ("test",), "cifar100", expected)
    train = _cifar_split([_cifar_arrays(train_file, key)], flatten)
    test = _cifar_split([_cifar_arrays(test_file, key)], flatten)
    names = _label_names(train_file.parent / "meta", f"{labels}_label_names")
    return SplitDataset(
        name="cifar100",
        train=train,
        test=test,
        task="classification",
        num_classes=100 if labels == "fine" else 20,
        description=f"CIFAR-100 32x32 colour images, {labels} labels (local python pickles)",
        meta={
            "source": str(train_file.parent),
            "flatten": bool(flatten),
            "labels": labels,
            "pixel_scale": 255.0,
            "class_names": names,
        },
    )
