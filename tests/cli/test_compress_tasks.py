"""`levin compress --task`: an anomaly detector from a factory and a .npz, pruned and fine-tuned
against its reconstruction loss, its C checked and scored by AUC; task options checked first."""

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

RECIPE = """
finetune: {epochs: 2, batch_size: 32, optimizer: adam, lr: 0.01, weight_decay: 0}
steps:
  - prune: {sparsity: 0.5, schedule: agp}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ae.py").write_text(MODEL)
    (tmp_path / "prune.yaml").write_text(RECIPE)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x[250:] *= 4                                             # the anomalies: louder frames
    np.savez(tmp_path / "ad.npz", x_train=x[:200], x_test=x[200:],
             y_test=np.r_[np.zeros(50, np.int64), np.ones(50, np.int64)])
    return tmp_path


def test_anomaly_detector_compressed_and_checked_in_c(files, capsys):
    out = files / "run"
    assert main(["compress", "--model", f"{files / 'ae.py'}:build", "--data", str(files / "ad.npz"),
                 "--task", "anomaly", "--recipe", str(files / "prune.yaml"), "-o", str(out),
                 "--no-report", "--quiet", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["task"], summary["metric"], summary["steps_metric"]) == ("anomaly", "AUC", "MSE")
    assert summary["steps"][0]["scored_on"] == "validation"
    assert summary["runtime"]["bit_exact"] and summary["runtime"]["samples"] == 100
    assert summary["runtime"]["accuracy"] == pytest.approx(summary["integer_accuracy"])   # the C's AUC
    assert summary["integer_accuracy"] > 0.9                 # louder frames reconstruct worse
    assert (out / "model.lvn").exists()


@pytest.mark.parametrize("extra, message", [
    (["--task", "anomaly", "--top-k", "3"], "--top-k is for --task classification"),
    (["--task", "reconstruction", "--recipe", "levin-lenet5-mdl"], "an mdl step trains for top-1"),
])
def test_task_options_are_checked_before_any_work(files, capsys, extra, message):
    args = ["compress", "--model", f"{files / 'ae.py'}:build", "--data", str(files / "missing.npz"),
            "--recipe", str(files / "prune.yaml"), "-o", str(files / "run"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (files / "run").exists()
