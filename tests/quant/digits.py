"""A digits CNN trained once per test session (~97% test accuracy), shared by the quant, runtime
and CLI tests; one thread, which is fastest for its small batches and on a busy machine."""

from functools import lru_cache

import torch

from levin import zoo
from levin.config import TrainConfig
from levin.train import data as datasets
from levin.train.loop import train


@lru_cache(maxsize=None)
def digits_data():
    return datasets.load("digits")


@lru_cache(maxsize=None)
def trained_digits():
    """(model in eval mode, its training result meta) -- do not modify the model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = zoo.create("digits_cnn")
        result = train(model, digits_data(), TrainConfig(epochs=5, batch_size=32, lr=0.05),
                       model_name="digits_cnn", progress=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), result.meta
