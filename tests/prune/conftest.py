import pytest
import torch
from torch import nn

from levin import zoo
from levin.config import TrainConfig
from levin.train import data
from levin.train.data import Dataset
from levin.train.loop import train


@pytest.fixture(autouse=True)
def _one_thread(_fixed_threads):
    # One thread: on a shared 2-core machine two OpenMP threads spin against other jobs and
    # run these small models 10-20x slower. Bit-reproducibility only needs a fixed count.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_digits() -> Dataset:
    """scikit-learn's digits cut to 320 training images: a fine-tuning run takes a second."""
    d = data.load("digits")
    return Dataset(d.name, d.x_train[:320], d.y_train[:320], d.x_test, d.y_test, d.classes)


@pytest.fixture(scope="session")
def trained_digits_state():
    """A digits_cnn trained for a few seconds (about 98% test accuracy): its state dict."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    train(model, data.load("digits"), TrainConfig(epochs=5, batch_size=32, lr=0.1), progress=False)
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_digits(state) -> nn.Module:
    model = zoo.create("digits_cnn")
    model.load_state_dict(state)
    return model


def mlp(sizes=(12, 9, 5), seed=0) -> nn.Module:
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
