"""Reference model definitions, by name.

>>> from levin import zoo
>>> model = zoo.create("lenet5")
>>> zoo.spec("lenet5").input_shape
(1, 28, 28)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from levin.config import TrainConfig
from levin.errors import LevinError

if TYPE_CHECKING:
    from torch import nn


def _lazy(module: str, cls: str) -> Callable[[], "nn.Module"]:
    """A factory that imports its model's module (and torch) only when a model is built, so the
    names, shapes and datasets here cost nothing to list (`levin --help`)."""
    def factory() -> "nn.Module":
        return getattr(importlib.import_module(f"levin.zoo.{module}"), cls)()
    factory.__qualname__ = cls
    return factory


@dataclass(frozen=True)
class ModelSpec:
    """What a zoo model is and what it expects.

    `input_shape` is one sample, channels first (C, H, W) or (features,) for MLPs that
    flatten their own input; `dataset` is the dataset it is trained on by default.
    """

    name: str
    factory: Callable[[], "nn.Module"]
    input_shape: tuple[int, ...]
    num_classes: int
    dataset: str
    description: str
    train: TrainConfig = TrainConfig()   # settings `levin train` starts from for this model


_SPECS = {
    s.name: s
    for s in (
        ModelSpec("digits_cnn", _lazy("digits", "DigitsCNN"), (1, 8, 8), 10, "digits",
                  "small CNN for scikit-learn's 8x8 digits (the embedded demo)",
                  TrainConfig(epochs=15, batch_size=32, lr=0.05)),
        ModelSpec("lenet300", _lazy("lenet", "LeNet300100"), (1, 28, 28), 10, "mnist",
                  "LeNet-300-100 MLP, 266,610 params (Deep Compression Table 1)",
                  TrainConfig(epochs=30)),
        ModelSpec("lenet5", _lazy("lenet", "LeNet5"), (1, 28, 28), 10, "mnist",
                  "LeNet-5, Caffe form, 431,080 params (Deep Compression Table 1)",
                  TrainConfig(epochs=20)),
        ModelSpec("resnet8", _lazy("resnet8", "ResNet8"), (3, 32, 32), 10, "cifar10",
                  "ResNet-8, MLPerf Tiny image classification layout"),
        ModelSpec("dscnn", _lazy("dscnn", "DSCNN"), (1, 49, 10), 12, "speech_commands",
                  "DS-CNN, MLPerf Tiny keyword spotting layout (49x10 MFCC input)"),
    )
}


def names() -> list[str]:
    """Names of all zoo models, sorted."""
    return sorted(_SPECS)


def spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a zoo model; `LevinError` naming the known models if unknown."""
    try:
        return _SPECS[name]
    except KeyError:
        raise LevinError(f"unknown model {name!r}; known models: {', '.join(names())}") from None


def create(name: str) -> "nn.Module":
    """A freshly initialised instance of a zoo model (seed torch first for repeatability)."""
    return spec(name).factory()
