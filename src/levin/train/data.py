"""Datasets: MNIST, Fashion-MNIST (IDX, gzip or raw), CIFAR-10 (.npz) and scikit-learn's digits.

Every loader returns a `Dataset` of float32 images in [0, 1], channels first (N, C, H, W), and
int64 labels. Files are found under a data directory (`--data-dir`, else `LEVIN_DATA_DIR`), in a
subfolder named after the dataset or directly in it. Known files are checked by the MD5 of their
decompressed content, and any problem with a file raises `DatasetError` naming the file, what is
wrong with it, and the layout expected. `digits` ships with scikit-learn and needs no files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from levin.errors import DatasetError

ENV_VAR = "LEVIN_DATA_DIR"


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    # Held out from x_train (levin.data.splits.with_validation): every choice a command makes is
    # scored here, so the test split is scored once, at the end, and never steers anything.
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    split: dict = field(default_factory=dict)     # how the splits were made: sizes, seed, source

    def tuning(self) -> "Dataset":
        """This dataset with the validation split in the place of the test split: hand it to code
        that scores to choose (fine-tuning logs, mixed precision), so the test split stays unseen."""
        if self.x_val is None:
            raise DatasetError(f"{self.name} has no validation split (see levin.data.with_validation)")
        return replace(self, x_test=self.x_val, y_test=self.y_val, split={**self.split, "scored": "validation"})

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# MD5 of the decompressed IDX files: the canonical MNIST checksums (../shared/data/mnist/SOURCE.md).
_IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    # No verified checksums of the decompressed Fashion-MNIST files are on record here; those files
    # are checked for layout (magic, dimensions, length, label range) only.
    "fashion_mnist": {},
}
_IDX_LAYOUT = (
    "IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte, each raw or .gz"
)
# MD5 of the .npz files (../shared/data/cifar10/SOURCE.md); .npz is already compressed.
_NPZ_MD5 = {
    "cifar10_test.npz": "5fb845cbf880b885cfff7e1257d69fab",
    "cifar10_train_subset_10k.npz": "f37187afd88c0d7e8098b80e116d3572",
}
_NPZ_LAYOUT = "npz with keys x (N,32,32,3) uint8 HWC and y (N,) labels 0..9"

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def resolve_data_dir(data_dir: str | os.PathLike | None, dataset: str) -> Path:
    """The data directory: the argument, else $LEVIN_DATA_DIR; `DatasetError` if neither exists."""
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise DatasetError(f"{dataset} needs data files: pass --data-dir DIR or set {ENV_VAR} "
                           f"(digits needs none)")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist")
    return path


def _find(root: Path, folders: tuple[str, ...], names: tuple[str, ...], layout: str) -> Path:
    """The first existing root/<folder>/<name> (folder '' is root itself)."""
    tried = []
    for folder in folders:
        for name in names:
            candidate = root / folder / name if folder else root / name
            if candidate.is_file():
                return candidate
            tried.append(str(candidate))
    raise DatasetError(f"missing file {names[0]} under {root} (looked in {', '.join(tried[:4])}); "
                       f"expected {layout}")


def _read_idx(path: Path, md5: str | None, magic: int, layout: str) -> np.ndarray:
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot decompress ({exc}); expected {layout}") from None
    if md5 is not None and (got := hashlib.md5(raw).hexdigest()) != md5:
        raise DatasetError(f"{path}: checksum mismatch (MD5 of content {got}, expected {md5}); "
                           f"the file is corrupt or not the canonical one, replace it")
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        raise DatasetError(f"{path}: not an IDX file with magic 0x{magic:08x}; expected {layout}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header; expected {layout}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) - header != int(np.prod(dims)):
        raise DatasetError(f"{path}: {len(raw) - header} data bytes, header declares {dims} "
                           f"({int(np.prod(dims))}); the file is truncated or corrupt")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def load_idx_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST or Fashion-MNIST (`name` "mnist" or "fashion_mnist") from IDX files."""
    root = resolve_data_dir(data_dir, name)
    folders = {"mnist": ("mnist", "MNIST", ""),
               "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST", "")}[name]
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        arrays = []
        for kind, magic in (("images-idx3-ubyte", 0x0803), ("labels-idx1-ubyte", 0x0801)):
            stem = f"{prefix}-{kind}"
            path = _find(root, folders, (stem + ".gz", stem), _IDX_LAYOUT)
            arrays.append(_read_idx(path, _IDX_MD5[name].get(stem), magic, _IDX_LAYOUT))
        images, labels = arrays
        if len(images) != len(labels) or labels.max(initial=0) > 9:
            raise DatasetError(f"{name} {split}: {len(images)} images but {len(labels)} labels "
                               f"(max label {labels.max(initial=0)}); expected {_IDX_LAYOUT}")
        parts[split] = (images[:, None].astype(np.float32) / 255.0, labels.astype(np.int64))
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return Dataset(name, *parts["train"], *parts["test"], classes)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    expected = _NPZ_MD5.get(path.name)
    if expected is not None:
        got = hashlib.md5(path.read_bytes()).hexdigest()
        if got != expected:
            raise DatasetError(f"{path}: checksum mismatch (MD5 {got}, expected {expected}); "
                               f"the file is corrupt, replace it")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("x", "y") if k not in npz.files]
            if missing:
                raise DatasetError(f"{path}: missing key {missing[0]!r} (has {', '.join(npz.files)}); "
                                   f"expected {_NPZ_LAYOUT}")
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: unreadable ({exc}); expected {_NPZ_LAYOUT}") from None
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or y.shape != (len(x),) \
            or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DatasetError(f"{path}: x {x.dtype}{list(x.shape)}, y {y.dtype}{list(y.shape)}; "
                           f"expected {_NPZ_LAYOUT}")
    return x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, y.astype(np.int64)


def load_cifar10(data_dir: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 from cifar10_train*.npz and cifar10_test.npz (the full train set if present)."""
    root = resolve_data_dir(data_dir, "cifar10")
    folders = ("cifar10", "cifar-10", "")
    train = _find(root, folders, ("cifar10_train.npz", "cifar10_train_subset_10k.npz"), _NPZ_LAYOUT)
    test = _find(root, folders, ("cifar10_test.npz",), _NPZ_LAYOUT)
    return Dataset("cifar10", *_read_npz(train), *_read_npz(test), CIFAR10_CLASSES)


def load_digits(data_dir=None) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, bundled): a fixed 80/20 split, seed 0."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(round(0.8 * len(x)))
    train, test = order[:cut], order[cut:]
    return Dataset("digits", x[train], y[train], x[test], y[test], MNIST_CLASSES)


LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": lambda data_dir=None: load_idx_dataset("mnist", data_dir),
    "fashion_mnist": lambda data_dir=None: load_idx_dataset("fashion_mnist", data_dir),
    "cifar10": load_cifar10,
}


def names() -> list[str]:
    return sorted(LOADERS)


def load(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load dataset `name` (see `names()`) from `data_dir` or $LEVIN_DATA_DIR."""
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")
    return LOADERS[name](data_dir)
