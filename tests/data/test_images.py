import numpy as np
import pytest

from levin.data import DataOptions, describe, load_source
from levin.errors import DatasetError
from tests.data import make


def test_image_folder_is_resized_to_the_model_and_labelled_by_subfolder(tmp_path):
    root = make.image_folder(tmp_path / "pics", size=(10, 12))
    data = load_source(str(root), model_shape=(1, 8, 8))
    assert data.classes == ("cat", "dog") and data.input_shape == (1, 8, 8)
    assert len(data.x_train) + len(data.x_test) == 10
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1
    assert "grayscale 8x8 (the model's input), 10 image(s) resized" in describe(data)


def test_without_a_model_the_first_image_sets_size_and_colour(tmp_path):
    root = make.image_folder(tmp_path / "pics", size=(10, 12))
    data = load_source(str(root))
    assert data.input_shape == (3, 12, 10)
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    # class k was drawn bright in channel k: the pixels really are the files' pixels, in CHW
    assert x[y == 0][:, 0].mean() > 0.7 > x[y == 0][:, 1].mean()
    gray = load_source(str(make.image_folder(tmp_path / "gray", mode="L")))
    assert gray.input_shape == (1, 12, 10)


def test_train_and_test_subfolders_give_the_split(tmp_path):
    make.image_folder(tmp_path / "pics" / "train", per_class=4)
    make.image_folder(tmp_path / "pics" / "test", per_class=2)
    data = load_source(str(tmp_path / "pics"))
    assert (len(data.x_train), len(data.x_test)) == (8, 4) and data.split["test_from"] == "given"


def test_unreadable_images_are_named_or_skipped(tmp_path):
    root = make.image_folder(tmp_path / "pics")
    (root / "dog" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError, match="1 unreadable image file\\(s\\): dog/truncated.png .*--skip-bad"):
        load_source(str(root))
    data = load_source(str(root), DataOptions(skip_bad=True))
    assert len(data.x_train) + len(data.x_test) == 10
    assert "skipped 1 unreadable file(s): dog/truncated.png" in describe(data)


def test_a_folder_without_class_subfolders(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="no class subfolders"):
        load_source(str(tmp_path / "flat"))
