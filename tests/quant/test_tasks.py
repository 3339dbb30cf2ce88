"""quantize() scores in the task's metric: regression MSE, reconstruction MSE, anomaly AUC."""

import numpy as np
import pytest
import torch
from torch import nn

from levin.config.quant import QuantConfig
from levin.data.synthetic import machine_sounds
from levin.errors import LevinError
from levin.quant.pipeline import quantize
from levin.train.data import Dataset


def autoencoder(n: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(),
                         nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, n)).eval()


def fit(model: nn.Module, x: np.ndarray, target: np.ndarray, steps: int = 300) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(target)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(xt), yt).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def sounds():
    data = machine_sounds(train=200, test_normal=40, test_anomalous=40, mels=64, frames=1)
    mean, std = data.x_train.mean(), data.x_train.std()
    norm = lambda a: ((a - mean) / std).astype(np.float32)
    return Dataset(data.name, norm(data.x_train), data.y_train, norm(data.x_test), data.y_test, data.classes)


def test_anomaly_detection_scores_auc(sounds):
    model = fit(autoencoder(64), sounds.x_train, sounds.x_train)
    r = quantize(model, sounds, QuantConfig(), task="anomaly")
    assert r.metric == "AUC" and set(r.scores) == {"float", "fakequant", "integer"}
    assert r.scores["float"].value > 0.8                      # the autoencoder learned normal
    assert abs(r.integer_accuracy - r.float_accuracy) < 0.05  # int8 keeps the ranking
    assert r.to_dict()["scores"]["integer"]["metric"] == "AUC"


def test_reconstruction_and_regression_score_mse(sounds):
    model = fit(autoencoder(64), sounds.x_train, sounds.x_train)
    r = quantize(model, sounds, QuantConfig(), task="reconstruction")
    assert r.metric == "MSE" and not r.scores["integer"].higher_is_better
    assert 0 < r.float_accuracy < 1 and r.integer_accuracy < 2 * r.float_accuracy
    targets = sounds.x_test[:, :4].copy()
    reg = Dataset("reg", sounds.x_train, sounds.x_train[:, :4].copy(), sounds.x_test, targets, ())
    head = fit(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4)), reg.x_train, reg.y_train)
    r = quantize(head, reg, QuantConfig(), task="regression")
    assert r.metric == "MSE" and set(r.scores["integer"].extra) == {"mse", "mae"}


def test_qat_is_refused_outside_classification(sounds):
    with pytest.raises(LevinError, match="QAT trains for top-1"):
        quantize(autoencoder(64), sounds, QuantConfig(qat_epochs=1), task="anomaly")


def test_max_drop_speaks_the_task_metric(sounds):
    model = fit(autoencoder(64), sounds.x_train, sounds.x_train)
    r = quantize(model, sounds, QuantConfig(max_drop=5.0), task="reconstruction")   # 5% more MSE
    mixed = r.extra["mixed"]
    assert mixed["validation_drop"] <= 5.0 and mixed["scored_on"] == "training samples"
    assert min(mixed["bits"].values()) < 8                        # it did trade bits for error


def test_a_test_subset_spreads_over_the_split():
    from levin.quant.pipeline import spread

    assert spread(10, None).tolist() == list(range(10)) and spread(10, 20).tolist() == list(range(10))
    assert spread(10000, 1000)[:3].tolist() == [0, 10, 20] and len(spread(10000, 1000)) == 1000
