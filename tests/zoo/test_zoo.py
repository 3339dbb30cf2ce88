import pytest
import torch

from levin import zoo
from levin.errors import LevinError

# Trainable parameters, and the total Keras reports for the MLPerf Tiny models (which also
# counts BatchNorm running mean/variance). LeNet counts are Deep Compression's Table 1 models.
EXPECTED = {
    "digits_cnn": (6_090, 6_090),
    "lenet300": (266_610, 266_610),
    "lenet5": (431_080, 431_080),
    "resnet8": (78_186, 78_666),
    "dscnn": (23_756, 24_908),
}


@pytest.mark.parametrize("name", zoo.names())
def test_parameter_counts(name):
    model = zoo.create(name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for k, b in model.named_buffers() if k.endswith(("running_mean", "running_var")))
    assert (trainable, trainable + stats) == EXPECTED[name]


def test_every_zoo_model_has_an_expected_count():
    assert sorted(EXPECTED) == zoo.names()


@pytest.mark.parametrize("name", zoo.names())
def test_forward_shape(name):
    spec = zoo.spec(name)
    out = zoo.create(name).eval()(torch.zeros(3, *spec.input_shape))
    assert out.shape == (3, spec.num_classes)


def test_tf_same_padding_halves_resnet_maps():
    model = zoo.create("resnet8").eval()
    maps = []
    for stack in (model.stack1, model.stack2, model.stack3):
        stack.register_forward_hook(lambda m, i, o: maps.append(tuple(o.shape[2:])))
    model(torch.zeros(1, 3, 32, 32))
    assert maps == [(32, 32), (16, 16), (8, 8)]


def test_unknown_model_lists_known():
    with pytest.raises(LevinError, match="unknown model 'vgg'; known models: digits_cnn"):
        zoo.spec("vgg")
