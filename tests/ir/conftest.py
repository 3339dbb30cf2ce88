import numpy as np
import pytest
import torch
from torch import nn

from levin import zoo
from levin.ir.capture import capture


def randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, so folding them is really tested."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


def to_ir(x: torch.Tensor) -> np.ndarray:
    """A torch input as the IR takes it: NCHW -> NHWC for feature maps."""
    a = x.detach().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def from_ir(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


@pytest.fixture(scope="session")
def zoo_captures():
    """name -> (eval-mode torch model with random BN statistics, example input, Graph)."""
    out = {}
    for name in zoo.names():
        torch.manual_seed(0)
        model = randomize_batchnorm(zoo.create(name)).eval()
        x = torch.randn(1, *zoo.spec(name).input_shape)
        out[name] = (model, x, capture(model, x, name))
    return out
