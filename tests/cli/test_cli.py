import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import levin
from levin.cli.main import main
from tests.conftest import SHARED_DATA, shared_data

LEVIN = [sys.executable, "-m", "levin.cli.main"]


def run_cli(*args, **kw):
    return subprocess.run(LEVIN + list(args), capture_output=True, text=True, timeout=300, **kw)


def test_version_and_help():
    assert run_cli("--version").stdout.strip() == f"levin {levin.__version__}"
    help_text = run_cli("--help").stdout
    assert "train" in help_text and "demo" in help_text
    assert "levin train --model lenet5" in run_cli("train", "--help").stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "vgg", "--out", "{tmp}"], "unknown model 'vgg'"),
    (["train", "--model", "lenet5", "--dataset", "imagenet", "--out", "{tmp}"],
     "--dataset: invalid choice: 'imagenet' (choose from 'cifar10', 'digits'"),
    (["train", "--model", "lenet5", "--dataset", "mnist", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}"],
     "data directory {tmp}/nowhere does not exist"),
    (["train", "--model", "lenet5", "--dataset", "digits", "--out", "{tmp}"],
     "model lenet5 takes 1x28x28 inputs, dataset digits has 1x8x8"),
    (["train", "--model", "digits_cnn", "--out", "{tmp}/file/sub"], "cannot write to {tmp}/file/sub"),
    (["train", "--model", "digits_cnn", "--lr", "-1", "--out", "{tmp}"], "lr must be > 0"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("LEVIN_DATA_DIR", raising=False)
    (tmp_path / "file").write_text("")          # a file where a directory is needed
    args = [a.format(tmp=tmp_path) for a in args]
    try:
        code = main(args)
    except SystemExit as exc:           # argparse's own checks (choices, types)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message.format(tmp=tmp_path) in err


def test_argparse_errors_exit_2():
    result = run_cli("train", "--model")
    assert result.returncode == 2 and "expected one argument" in result.stderr


def test_train_json_summary(tmp_path, capsys):
    assert main(["train", "--model", "digits_cnn", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path), "--json", str(tmp_path / "s.json")]) == 0
    import json
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["model"] == "digits_cnn" and summary["dataset"] == "digits"
    assert summary["test_accuracy"] + summary["test_error"] == pytest.approx(1)


def test_sigint_then_rerun_finishes_with_identical_weights(tmp_path):
    args = ["train", "--model", "digits_cnn", "--epochs", "3", "--checkpoint-every", "3", "--quiet"]
    assert run_cli(*args, "--out", str(tmp_path / "ref")).returncode == 0

    out = tmp_path / "run"
    proc = subprocess.Popen(LEVIN + args + ["--out", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("training finished before the interrupt arrived")
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert not (out / "model.safetensors").exists()
    again = run_cli(*args, "--out", str(out), "--json", "-")
    assert again.returncode == 0 and '"resumed_at"' in again.stdout
    ref, got = load_file(str(tmp_path / "ref" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)


def test_train_and_fine_tune_from_checkpoint(tmp_path, capsys):
    assert main(["train", "--model", "digits_cnn", "--epochs", "2", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", "--model", str(tmp_path / "a"), "--epochs", "1", "--lr", "0.01", "--quiet",
                 "--teacher", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    assert "digits_cnn on digits: test accuracy" in capsys.readouterr().out


def test_train_mnist_cli_reads_shared_data(tmp_path, capsys):
    shared_data("mnist")
    assert main(["train", "--model", "lenet300", "--data-dir", str(SHARED_DATA), "--epochs", "1",
                 "--quiet", "--out", str(tmp_path)]) == 0
    assert "lenet300 on mnist" in capsys.readouterr().out
