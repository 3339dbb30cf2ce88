"""Capture: every zoo model, the NHWC conventions, and the messages of what cannot be captured."""

import numpy as np
import pytest
import torch
from torch import nn

from levin import zoo
from levin.errors import CaptureError, LevinError
from levin.ir.capture import capture
from levin.ops import OPS


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_model_captures(name, zoo_captures):
    model, x, graph = zoo_captures[name]
    graph.validate()
    assert {n.op for n in graph.nodes} <= set(OPS)
    assert graph.outputs and graph.tensors[graph.outputs[0]].shape == (1, zoo.spec(name).num_classes)
    c, h, w = zoo.spec(name).input_shape
    assert graph.tensors[graph.inputs[0]].shape == (1, h, w, c)                 # NHWC
    # Conv/linear module paths survive as node names; BatchNorm and Dropout do not appear.
    convs = {k for k, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert convs == {n.name for n in graph.nodes if n.op in ("Conv2d", "Linear")}


def test_resnet8_and_dscnn_fold_batchnorm_and_same_padding(zoo_captures):
    _, _, graph = zoo_captures["resnet8"]
    assert "Pad" not in {n.op for n in graph.nodes}         # ZeroPad2d became conv padding
    assert graph.nodes[[n.name for n in graph.nodes].index("stack2.conv1.1")].attrs["padding"] == (0, 1, 0, 1)
    _, _, graph = zoo_captures["dscnn"]
    assert graph.nodes[0].attrs["padding"] == (4, 5, 1, 1)
    dw = graph.nodes[[n.name for n in graph.nodes].index("blocks.0.depthwise")]
    assert dw.attrs["groups"] == 64 and graph.tensors[dw.inputs[1]].shape == (64, 3, 3, 1)


def test_weights_are_ohwi_and_flatten_permutes_the_next_linear(zoo_captures):
    model, _, graph = zoo_captures["lenet5"]
    w = graph.tensors["conv2.weight"].data
    np.testing.assert_array_equal(w, model.conv2.weight.detach().numpy().transpose(0, 2, 3, 1))
    fc1 = graph.tensors["fc1.weight"].data                  # 50 channels x 4 x 4, HWC order now
    torch_w = model.fc1.weight.detach().numpy().reshape(500, 50, 4, 4)
    np.testing.assert_array_equal(fc1, torch_w.transpose(0, 2, 3, 1).reshape(500, 800))


def test_capture_leaves_the_module_as_it_was():
    model = zoo.create("resnet8").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    capture(model, torch.randn(1, 3, 32, 32))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class Block(nn.Module):
    def __init__(self, act: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.act = act

    def forward(self, x):
        return self.act(self.conv(x))


class Net(nn.Module):
    def __init__(self, act: nn.Module = nn.ReLU(), body=None):
        super().__init__()
        self.features = nn.Sequential(Block(nn.ReLU()), Block(act))
        self.body = body

    def forward(self, x):
        x = self.features(x)
        return self.body(x) if self.body else x


class Sin(nn.Module):
    def forward(self, x):
        return torch.sin(x)


class Flip(nn.Module):
    def forward(self, x):
        return x.flip(1)


class Branchy(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class AddConstant(nn.Module):
    def forward(self, x):
        return x + 1


X = torch.randn(1, 2, 6, 6)


def capture_error(model, x=X) -> str:
    with pytest.raises(CaptureError) as err:
        capture(model, x)
    message = str(err.value)
    assert isinstance(err.value, LevinError) and "\n" not in message
    return message


def test_unsupported_module_names_op_path_and_the_supported_list():
    msg = capture_error(Net(nn.Mish()))
    assert msg.startswith("unsupported op nn.Mish at module 'features.1.act'; levin captures modules")
    assert "nn.Conv2d" in msg and "nn.BatchNorm2d" in msg and "functions add, relu" in msg


def test_unsupported_function_and_method_name_the_enclosing_module():
    msg = capture_error(Net(body=nn.Sequential(nn.ReLU(), Sin())))
    assert msg.startswith("unsupported op function sin at module 'body.1' (fx node 'sin');")
    msg = capture_error(Net(body=Flip()))
    assert msg.startswith("unsupported op method .flip() at module 'body' (fx node 'flip');")
    assert "tensor methods add, relu" in msg


class MaxConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.floor = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.maximum(x, self.floor)


def test_constant_operand_is_captured_or_explained():
    g = capture(Net(body=AddConstant()), X)          # x + 1: a constant operand of Add
    add = [n for n in g.nodes if n.op == "Add"][0]
    assert g.tensors[add.inputs[1]].is_constant and g.tensors[add.inputs[1]].data.tolist() == [1.0]
    msg = capture_error(Net(body=MaxConstant()))
    assert msg.startswith("function maximum at module 'body' (fx node 'maximum'): a constant operand "
                          "of Maximum is not supported")


def test_data_dependent_control_flow_is_explained():
    assert capture_error(Branchy()).startswith("cannot trace Branchy with torch.fx (")


def test_batchnorm_that_cannot_be_folded():
    msg = capture_error(nn.Sequential(nn.BatchNorm2d(2), nn.Conv2d(2, 2, 1)))
    assert msg.startswith("nn.BatchNorm2d at module '0': levin folds BatchNorm into the Conv2d/Linear")


def test_unsupported_attributes_and_layouts():
    msg = capture_error(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate")))
    assert "padding_mode='replicate' is not supported" in msg and "module '0'" in msg
    msg = capture_error(nn.MaxPool2d(2, dilation=2))
    assert msg.startswith("nn.MaxPool2d at module '0': dilation and return_indices")
    msg = capture_error(nn.Sequential(nn.Conv2d(2, 3, 1), nn.Flatten()))
    assert msg.startswith("output '1' is a flattened feature map")
    msg = capture_error(nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 4, 6))))
    assert msg.startswith("nn.Unflatten at module '1': cannot reshape a flattened NHWC feature map")
    msg = capture_error(nn.Unflatten(1, (3, 4, 6)), torch.randn(1, 72))
    assert "reshaping (1, 72) into a (1, 3, 4, 6) feature map is not supported" in msg
    msg = capture_error(nn.AdaptiveAvgPool2d(4))
    assert "output size 4 does not divide the input (6, 6) evenly" in msg


def test_wrong_example_shape_is_explained():
    msg = capture_error(zoo.create("lenet5"), torch.randn(1, 3, 28, 28))
    assert msg.startswith("LeNet5 does not run on an input of shape 1x3x28x28 (RuntimeError: ")


def test_batchnorm_without_running_statistics():
    msg = capture_error(nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2, track_running_stats=False)))
    assert msg.startswith("nn.Conv2d at module '0': the BatchNorm after it has no running statistics")


def test_every_unsupported_op_is_reported_at_once():
    class TwoUnknown(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.act = nn.Mish()

        def forward(self, x):
            return torch.flip(self.act(self.conv(x)), [3])

    with pytest.raises(CaptureError) as err:
        capture(TwoUnknown(), torch.zeros(1, 1, 6, 6))
    message = str(err.value)
    assert message.startswith("2 unsupported ops: nn.Mish at module 'act'") and "function flip" in message
    assert "\n" not in message
