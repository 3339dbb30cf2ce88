"""`levin quantize --task`: a reconstruction model on unlabelled data, an anomaly detector scored
by AUC, and the refusals."""

import json

import numpy as np
import pytest

from levin.cli.main import main

MODEL = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 16))
    net.input_shape = (16,)
    return net
"""


@pytest.fixture
def model(tmp_path):
    (tmp_path / "ae.py").write_text(MODEL)
    return f"{tmp_path / 'ae.py'}:build"


def test_reconstruction_on_unlabelled_data(model, tmp_path, capsys):
    np.save(tmp_path / "frames.npy", np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32))
    assert main(["quantize", "--model", model, "--data", str(tmp_path / "frames.npy"),
                 "--task", "reconstruction", "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "MSE" and out["scores"]["integer"]["task"] == "reconstruction"
    assert out["scores"]["integer"]["value"] > 0


def test_anomaly_is_scored_by_auc(model, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x[250:] *= 4                                             # the anomalies: louder frames
    np.savez(tmp_path / "ad.npz", x_train=x[:200], y_train=np.zeros(200, np.int64),
             x_test=x[200:], y_test=np.r_[np.zeros(50, np.int64), np.ones(50, np.int64)])
    assert main(["quantize", "--model", model, "--data", str(tmp_path / "ad.npz"), "--task", "anomaly"]) == 0
    text = capsys.readouterr().out
    assert "AUC" in text and "worse than float by" in text


@pytest.mark.parametrize("extra, message", [
    (["--task", "anomaly", "--top-k", "3"], "--top-k is for --task classification"),
    (["--task", "reconstruction", "--qat-epochs", "1"], "--qat-epochs trains for top-1"),
])
def test_task_options_are_checked_first(model, tmp_path, capsys, extra, message):
    assert main(["quantize", "--model", model, "--data", str(tmp_path / "none.npy"), *extra]) == 2
    assert message in capsys.readouterr().err
