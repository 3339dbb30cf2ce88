import gzip
import shutil

import numpy as np
import pytest

from levin.errors import DatasetError
from levin.train import data
from tests.conftest import SHARED_DATA, shared_data


def test_digits_needs_no_files():
    d = data.load("digits")
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert len(d.x_train) + len(d.x_test) == 1797 and len(d.x_test) == 359
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    again = data.load("digits")
    np.testing.assert_array_equal(d.y_test, again.y_test)      # the split is fixed


def test_mnist_from_shared_data():
    shared_data("mnist")
    d = data.load("mnist", SHARED_DATA)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_test)) == set(range(10))
    assert d.x_test.max() == 1.0 and d.x_test.min() == 0.0


def test_mnist_found_by_folder_or_env(monkeypatch):
    folder = shared_data("mnist")
    assert data.load("mnist", folder).x_test.shape[0] == 10000       # the folder itself
    monkeypatch.setenv(data.ENV_VAR, str(SHARED_DATA))
    assert data.load("mnist").x_test.shape[0] == 10000               # via LEVIN_DATA_DIR


def test_cifar10_from_shared_data():
    shared_data("cifar10")
    d = data.load("cifar10", SHARED_DATA)
    assert d.x_train.shape == (10000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert np.bincount(d.y_test).tolist() == [1000] * 10


def _copy_mnist(tmp_path):
    src = shared_data("mnist")
    dst = tmp_path / "mnist"
    shutil.copytree(src, dst)
    return dst


def test_missing_data_dir_names_the_fix(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(DatasetError, match="--data-dir"):
        data.load("mnist")


def test_missing_file_names_file_and_layout(tmp_path):
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*expected IDX files"):
        data.load("mnist", tmp_path)


def test_corrupt_gzip_is_reported(tmp_path):
    folder = _copy_mnist(tmp_path)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: cannot decompress"):
        data.load("mnist", tmp_path)


def test_changed_content_fails_checksum(tmp_path):
    folder = _copy_mnist(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        data.load("mnist", tmp_path)


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_raw_idx_without_checksum_and_truncation(tmp_path):
    """Fashion-MNIST-style files (raw, no known checksum) load; a short one is rejected."""
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 0x0803)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), 0x0801)
    d = data.load("fashion_mnist", tmp_path)
    assert d.x_train.shape == (20, 1, 28, 28) and d.classes[9] == "ankle boot"
    short = folder / "t10k-images-idx3-ubyte"
    short.write_bytes(short.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        data.load("fashion_mnist", tmp_path)


def test_npz_wrong_layout(tmp_path):
    np.savez(tmp_path / "cifar10_test.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2))
    np.savez(tmp_path / "cifar10_train.npz", images=np.zeros(1))
    with pytest.raises(DatasetError, match="cifar10_train.npz: missing key 'x' \\(has images\\)"):
        data.load("cifar10", tmp_path)
    np.savez(tmp_path / "cifar10_train.npz", x=np.zeros((2, 3, 32, 32), np.uint8), y=np.zeros(2))
    with pytest.raises(DatasetError, match=r"cifar10_train.npz: x uint8\[2, 3, 32, 32\]"):
        data.load("cifar10", tmp_path)


def test_npz_known_file_checked_by_md5(tmp_path):
    np.savez(tmp_path / "cifar10_train.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2))
    np.savez(tmp_path / "cifar10_test.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2))
    with pytest.raises(DatasetError, match="cifar10_test.npz: checksum mismatch"):
        data.load("cifar10", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="known datasets: cifar10, digits"):
        data.load("imagenet")
