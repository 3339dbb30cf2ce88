"""`--data SOURCE` on train, quantize and compress (issue 19): every source kind end to end on tiny
synthetic data, the validation split recorded, and bad data as one line on stderr with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from levin.cli.main import main
from tests.data import make

RECIPE = ("steps: [{prune: {sparsity: 0.5, schedule: one_shot}, finetune: {epochs: 1, batch_size: 16}}]\n"
          "quantize: {calibration_size: 20}\n")


@pytest.fixture
def files(tmp_path):
    make.models_file(tmp_path / "mine.py")
    make.csv_file(tmp_path / "har.csv", n=60)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    return tmp_path


def _json(path):
    return json.loads(path.read_text())


def test_csv_through_train_quantize_and_compress(files, capsys):
    t = files
    data = ["--data", str(t / "har.csv"), "--label-column", "activity"]
    assert main(["train", "--model", f"{t}/mine.py:features", *data, "--epochs", "2", "--batch-size", "16",
                 "--quiet", "--out", str(t / "run"), "--json", str(t / "train.json")]) == 0
    echo = capsys.readouterr().out.splitlines()[0]
    assert echo.startswith(f"data: {t}/har.csv: 60 samples of 3, 3 classes; 3 input column(s)")
    assert "43 train / 5 validation (seed 0) / 12 test (carved 0.2, seed 0)" in echo
    split = _json(t / "train.json")["split"]
    assert (split["train"], split["validation"], split["test"], split["validation_seed"]) == (43, 5, 12, 0)

    weights = ["--model", f"{t}/mine.py:features", "--weights", str(t / "run")]
    assert main(["quantize", *weights, *data, "--calibration-size", "20", "--quiet",
                 "--json", str(t / "q.json")]) == 0
    q = _json(t / "q.json")
    assert q["split"]["test"] == 12 and q["test_size"] == 12 and 0 <= q["integer_accuracy"] <= 1

    assert main(["compress", *weights, *data, "--recipe", str(t / "recipe.yaml"), "--out", str(t / "c"),
                 "--no-c", "--no-report", "--quiet", "--json", str(t / "c.json")]) == 0
    printed = capsys.readouterr().out
    assert "validation top-1 accuracy" in printed and "integer graph (levin reference)" in printed
    c = _json(t / "c.json")
    assert c["split"]["validation"] == 5 and c["steps"][0]["scored_on"] == "validation"
    assert c["baseline_validation_accuracy"] is not None and (t / "c" / "model.lvn").exists()


def test_image_folder_resized_to_the_model(files, capsys):
    root = make.image_folder(files / "pics", size=(10, 12))
    assert main(["train", "--model", f"{files}/mine.py:rgb", "--data", str(root), "--epochs", "1",
                 "--batch-size", "4", "--quiet", "--out", str(files / "run")]) == 0
    echo = capsys.readouterr().out.splitlines()[0]
    assert "10 samples of 3x8x8, 2 classes; RGB 8x8 (the model's input), 10 image(s) resized" in echo


def test_npz_layout_is_stated_and_echoed(files, capsys):
    path = make.npz(files / "d.npz", n=30, shape=(8, 8, 3))
    assert main(["quantize", "--model", f"{files}/mine.py:rgb", "--data", str(path), "--layout", "nhwc",
                 "--calibration-size", "10", "--quiet"]) == 0
    assert "layout NHWC (as stated)" in capsys.readouterr().out


def test_wav_folder_as_mfcc_for_the_model(files, capsys):
    pytest.importorskip("librosa")
    root = make.wav_folder(files / "clips")
    assert main(["quantize", "--model", f"{files}/mine.py:audio", "--data", str(root),
                 "--audio-features", "mfcc", "--calibration-size", "4", "--quiet"]) == 0
    assert "mfcc 10 x 12 frames" in capsys.readouterr().out


def test_data_from_a_factory(files, capsys):
    assert main(["quantize", "--model", f"{files}/mine.py:features", "--data", f"{files}/mine.py:split",
                 "--calibration-size", "10", "--quiet"]) == 0
    assert "split 36 train / 4 validation (seed 0) / 10 test (given)" in capsys.readouterr().out


def test_builtin_dataset_mixed_precision_is_chosen_on_validation(tmp_path, capsys):
    assert main(["quantize", "--model", "digits_cnn", "--max-drop", "1", "--calibration-size", "50",
                 "--quiet", "--json", str(tmp_path / "q.json")]) == 0
    q = _json(tmp_path / "q.json")
    assert q["mixed"]["scored_on"] == "validation split"
    assert q["mixed"]["validation_size"] == q["split"]["validation"] == 144
    assert q["split"]["test"] == q["test_size"] == 359                     # digits' own test split


@pytest.mark.parametrize("command", ["train", "quantize", "compress"])
@pytest.mark.parametrize("data, message", [
    ("{tmp}/mine.py:broken", "your dataset factory broken() raised IndexError: list index out of range "
                             "(at {tmp}/mine.py:"),
    ("{tmp}/labels.csv", "labels go up to 5 (6 classes) but model {tmp}/mine.py:features has 3 outputs"),
    ("{tmp}/pics", "1 unreadable image file(s): dog/broken.png"),
    ("{tmp}/nan.npz", "hold NaN or infinity (first: sample 3)"),
    ("{tmp}/missing.npz", "no such file or folder {tmp}/missing.npz"),
    ("{tmp}/wide.npz", "model {tmp}/mine.py:features does not take 5 inputs of dataset {tmp}/wide.npz; "
                       "its first layer (Linear) takes 3 features"),
])
def test_bad_data_is_one_line_exit_2_nothing_written(files, capsys, command, data, message):
    t = files
    (t / "labels.csv").write_text("a,b,c,label\n" + "".join(f"{i},{i},{i},{i % 6}\n" for i in range(12)))
    make.image_folder(t / "pics")
    (t / "pics" / "dog" / "broken.png").write_bytes(b"not a png")
    x = np.zeros((10, 3), np.float32)
    x[3, 1] = np.nan
    np.savez(t / "nan.npz", x=x, y=np.zeros(10, int))
    np.savez(t / "wide.npz", x=np.zeros((10, 5), np.float32), y=np.zeros(10, int))
    before = sorted(p.name for p in t.iterdir())
    args = {"train": ["--out", str(t / "out")], "quantize": ["--out", str(t / "out")],
            "compress": ["--recipe", str(t / "recipe.yaml"), "--out", str(t / "out")]}[command]
    code = main([command, "--model", f"{t}/mine.py:features", "--data", data.format(tmp=t), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"levin {command}: error: ") and message.format(tmp=t) in err
    assert sorted(p.name for p in t.iterdir()) == before


@pytest.mark.parametrize("args, message", [
    (["--data", "x.npz", "--dataset", "digits"], "give --data (your own) or --dataset (a built-in one), not both"),
    ([], "--data SOURCE (or --dataset NAME) is required for a model outside the zoo"),
])
def test_data_arguments(files, capsys, args, message):
    assert main(["quantize", "--model", f"{files}/mine.py:features", *args]) == 2
    assert message in capsys.readouterr().err


def test_docs_examples_run_and_print_what_the_docs_show(tmp_path, capsys, monkeypatch):
    """docs/data.md: mine.py and prune.yaml are its code blocks; each console block's command runs
    here on the synthetic files the text describes, and prints the `data:` line shown."""
    import importlib.util
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", doc, re.S)
    (tmp_path / "mine.py").write_text(next(body for kind, body in blocks if kind == "python"))
    (tmp_path / "prune.yaml").write_text(next(body for kind, body in blocks if kind == "yaml"))
    make.csv_file(tmp_path / "har.csv", n=60)
    make.npz(tmp_path / "frames.npz", n=30, shape=(8, 8, 3))
    make.image_folder(tmp_path / "photos", size=(10, 12))
    make.wav_folder(tmp_path / "clips")
    monkeypatch.chdir(tmp_path)
    consoles = [body.splitlines() for kind, body in blocks if kind == "console"]
    assert len(consoles) == 6
    for lines in consoles:
        if "--audio-features" in lines[0] and importlib.util.find_spec("librosa") is None:
            continue                                  # the optional audio extra is not installed
        argv = shlex.split(lines[0].removeprefix("$ levin "))
        assert main(argv + ["--quiet"]) == 0, lines[0]
        printed = capsys.readouterr().out.splitlines()
        shown = [ln for ln in lines[1:] if ln.startswith("data:")]
        assert shown and re.sub(r"librosa [\d.]+", "librosa V", printed[0]) == \
            re.sub(r"librosa [\d.]+", "librosa V", shown[0])
