"""Training for the task: MSE against the inputs for an autoencoder (unlabelled data), scored in
its own metric, from the API and the CLI, then quantized in the same metric."""

import json

import numpy as np
import torch
from torch import nn

from levin.cli.main import main
from levin.config import TrainConfig
from levin.data.synthetic import machine_sounds
from levin.train.data import Dataset
from levin.train.loop import train

MODEL = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 64))
    net.input_shape = (64,)
    return net
"""


def frames() -> Dataset:
    data = machine_sounds(train=300, test_normal=50, test_anomalous=50, mels=64, frames=1)
    mean, std = data.x_train.mean(), data.x_train.std()
    norm = lambda a: ((a - mean) / std).astype(np.float32)
    return Dataset(data.name, norm(data.x_train), data.y_train, norm(data.x_test), data.y_test, data.classes)


def test_an_autoencoder_trains_on_mse_and_scores_auc():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 64))
    config = TrainConfig(epochs=8, batch_size=32, optimizer="adam", lr=3e-3, task="anomaly")
    result = train(model, frames(), config, progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.meta["metric"] == "AUC" and result.test_accuracy > 0.7      # chance: 0.5


def test_cli_trains_and_quantizes_a_reconstruction_model(tmp_path, capsys):
    (tmp_path / "ae.py").write_text(MODEL)
    np.save(tmp_path / "frames.npy", frames().x_train)
    ref, data = f"{tmp_path / 'ae.py'}:build", str(tmp_path / "frames.npy")
    assert main(["train", "--model", ref, "--data", data, "--task", "reconstruction", "--epochs", "3",
                 "--optimizer", "adam", "--lr", "0.003", "-o", str(tmp_path / "run"), "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "reconstruction" and summary["metric"] == "MSE" and "test_error" not in summary
    assert main(["quantize", "--model", ref, "--weights", str(tmp_path / "run"), "--data", data,
                 "--task", "reconstruction", "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    trained_mse = out["scores"]["float"]["value"]            # the same test split, the same model
    assert abs(trained_mse - summary["test_accuracy"]) <= 1e-4 * trained_mse
    assert out["scores"]["integer"]["value"] < 2 * trained_mse
