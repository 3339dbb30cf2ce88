import numpy as np
import pytest

from levin.data import DataOptions, describe, load_source, with_validation
from levin.errors import DatasetError
from tests.data import make


def test_npz_x_y_is_split_with_a_seed_and_echoed(tmp_path):
    path = make.npz(tmp_path / "d.npz", n=50, shape=(8, 8, 3), classes=3)
    data = with_validation(load_source(str(path)), 0.1, seed=4)
    assert data.input_shape == (3, 8, 8) and data.num_classes == 3
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (36, 4, 10)
    assert data.split["test_from"] == "carved" and data.split["validation_seed"] == 4
    again = with_validation(load_source(str(path)), 0.1, seed=4)
    np.testing.assert_array_equal(data.x_val, again.x_val)               # the same seed, the same split
    line = describe(data)
    assert "layout NHWC (inferred: last axis has 3 channels)" in line and "\n" not in line
    assert "36 train / 4 validation (seed 4) / 10 test (carved 0.2, seed 0)" in line


def test_npz_with_its_own_split_keeps_it(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x_train=rng.random((20, 2, 16)), y_train=np.arange(20) % 2,
             x_test=rng.random((6, 2, 16)), y_test=np.arange(6) % 2)
    data = load_source(str(tmp_path / "s.npz"))
    assert data.split["test_from"] == "given" and len(data.x_test) == 6 and data.input_shape == (2, 16)


def test_uint8_is_scaled_and_string_labels_are_refused_in_npz(tmp_path):
    np.savez(tmp_path / "u.npz", x=np.full((10, 1, 4, 4), 255, np.uint8), y=np.zeros(10, int))
    data = load_source(str(tmp_path / "u.npz"))
    assert data.x_train.max() == 1.0 and "uint8 scaled to [0, 1]" in describe(data)


def test_npy_finds_its_labels_beside_it(tmp_path):
    np.save(tmp_path / "x_train.npy", np.zeros((10, 4), np.float32))
    np.save(tmp_path / "y_train.npy", np.arange(10) % 2)
    data = load_source(str(tmp_path / "x_train.npy"))
    assert data.num_classes == 2 and "labels from y_train.npy" in describe(data)
    np.save(tmp_path / "alone.npy", np.zeros((10, 4)))
    with pytest.raises(DatasetError, match="no labels beside it; save them as .*alone_labels.npy"):
        load_source(str(tmp_path / "alone.npy"))


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 3))}, "no array 'y' \\(has x\\)"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(5)}, "4 inputs but 5 labels"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1, -1, 0])}, "label -1 at sample 2 is negative"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 0.5, 1, 0])}, "label 0.5 at sample 1 is not a class index"),
    ({"x": np.array([[0, 1], [np.nan, 2], [0, 0], [1, 1]]), "y": np.zeros(4)},
     "1 sample\\(s\\) hold NaN or infinity \\(first: sample 1\\)"),
])
def test_bad_arrays_are_named(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=message):
        load_source(str(tmp_path / "bad.npz"))


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder .*nothing.npz"):
        load_source(str(tmp_path / "nothing.npz"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="unknown kind of data \\(.txt\\)"):
        load_source(str(tmp_path / "notes.txt"))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_source(str(tmp_path / "broken.npz"))


def test_too_few_samples_to_split(tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((1, 3)), y=np.zeros(1))
    with pytest.raises(DatasetError, match="1 sample\\(s\\) cannot give a test split"):
        load_source(str(tmp_path / "one.npz"), DataOptions())


def test_unlabelled_arrays_only_where_the_caller_calibrates(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3, 16)).astype(np.float32)
    np.save(tmp_path / "windows.npy", x)
    np.savez(tmp_path / "windows.npz", x=x)
    for name in ("windows.npy", "windows.npz"):
        with pytest.raises(DatasetError, match="label|'y'"):
            load_source(str(tmp_path / name))
        data = load_source(str(tmp_path / name), DataOptions(unlabelled=True))
        got = np.concatenate([data.x_train, data.x_test])
        assert sorted(map(tuple, got.reshape(20, -1))) == sorted(map(tuple, x.reshape(20, -1)))
        assert "; no labels" in describe(data)
