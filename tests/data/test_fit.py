import numpy as np
import pytest
from torch import nn

from levin.data import with_validation
from levin.data.fit import check_model_takes
from levin.errors import LevinError
from levin.train.data import Dataset


def _data(shape=(3, 8, 8), classes=2):
    rng = np.random.default_rng(0)
    x = rng.random((20, *shape), dtype=np.float32)
    y = np.arange(20) % classes
    return with_validation(Dataset("mine.npz", x[:15], y[:15], x[15:], y[15:], tuple(map(str, range(classes)))))


def test_a_model_that_takes_the_data_passes_and_keeps_its_mode():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    check_model_takes(net, "mine.py:net", None, _data())
    assert net.training


@pytest.mark.parametrize("net, shape, message", [
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 2)), None,
     "model m does not take 3x8x8 inputs of dataset mine.npz; its first layer \\(Conv2d\\) takes 1 channel"),
    (nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), None, "its first layer \\(Linear\\) takes 10 features"),
    (nn.Sequential(nn.Flatten(), nn.Linear(192, 2)), (1, 28, 28), "model m takes 1x28x28 inputs, dataset mine.npz has 3x8x8"),
])
def test_a_mismatch_is_one_line_with_both_shapes(net, shape, message):
    with pytest.raises(LevinError, match=message) as err:
        check_model_takes(net, "m", shape, _data())
    assert "\n" not in str(err.value)


def test_labels_outside_the_models_classes():
    net = nn.Sequential(nn.Flatten(), nn.Linear(192, 2))
    with pytest.raises(LevinError, match="labels go up to 4 \\(5 classes\\) but model m has 2 outputs"):
        check_model_takes(net, "m", None, _data(classes=5))
