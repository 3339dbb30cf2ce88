import numpy as np
import pytest

from levin.data import DataOptions, describe, load_source
from levin.errors import DatasetError
from tests.data import make

librosa = pytest.importorskip("librosa")


def test_wav_folder_becomes_log_mel_frames_that_tell_the_classes_apart(tmp_path):
    root = make.wav_folder(tmp_path / "clips")
    data = load_source(str(root))
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert data.classes == ("high", "low") and x.shape[1:3] == (1, 40)
    assert np.isfinite(x).all() and "logmel 40 x" in describe(data) and "by librosa" in describe(data)
    # a 2.3 kHz tone puts its energy in higher mel bands than a 300 Hz one
    peak = x[:, 0].mean(axis=2).argmax(axis=1)
    assert peak[y == 0].min() > peak[y == 1].max()


def test_model_shape_sets_bands_and_frames_and_mfcc_works(tmp_path):
    root = make.wav_folder(tmp_path / "clips")
    data = load_source(str(root), DataOptions(audio_features="mfcc"), model_shape=(1, 10, 12))
    assert data.input_shape == (1, 10, 12) and "mfcc 10 x 12 frames" in describe(data)


def test_unreadable_wav_is_named(tmp_path):
    root = make.wav_folder(tmp_path / "clips")
    (root / "low" / "bad.wav").write_bytes(b"RIFF\x00\x00 nonsense")
    with pytest.raises(DatasetError, match="1 unreadable WAV file\\(s\\): low/bad.wav"):
        load_source(str(root))
    assert len(load_source(str(root), DataOptions(skip_bad=True)).x_test) == 2


def test_class_folders_linked_into_place_are_read_as_wav(tmp_path):
    shared = make.wav_folder(tmp_path / "shared")          # e.g. a dataset kept elsewhere
    (tmp_path / "clips").mkdir()
    for name in ("low", "high"):
        (tmp_path / "clips" / name).symlink_to(shared / name, target_is_directory=True)
    (tmp_path / "clips" / ".cache").mkdir()                # hidden folders stay out
    (tmp_path / "clips" / ".cache" / "x.wav").write_bytes(b"not read")
    data = load_source(str(tmp_path / "clips"))
    assert data.classes == ("high", "low") and len(data.x_train) + len(data.x_test) == 8
