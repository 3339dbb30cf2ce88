"""ONNX import (levin.ir.onnx): torch models exported with torch.onnx.export, imported, run by
levin's float interpreter and by onnxruntime on the same inputs; then quantized and run bit-exact
in C; and the errors a bad or unsupported model gives."""

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from levin.config.quant import QuantConfig  # noqa: E402
from levin.errors import CaptureError, LevinError, LevinFormatError  # noqa: E402
from levin.ir import interpreter  # noqa: E402
from levin.ir import onnx as onnx_import  # noqa: E402
from levin.quant import ptq  # noqa: E402

TOL = 1e-4


def export(model: nn.Module, shape, opset: int, **kw) -> bytes:
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), f, opset_version=opset, dynamo=False, **kw)
    return f.getvalue()


def nhwc(x):
    """NCHW -> NHWC, and a 1-D map (N, C, L) -> (N, 1, L, C), as levin holds them."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x.transpose(0, 2, 1)[:, None] if x.ndim == 3 else x


def float_diff(data: bytes, shape, seed: int = 0):
    """(graph, max |levin - onnxruntime|) on random inputs."""
    g = onnx_import.from_bytes(data, "m")
    x = np.random.default_rng(seed).uniform(-2, 2, (1,) + tuple(shape)).astype(np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    got = interpreter.run(g, nhwc(x))[g.outputs[0]]
    assert got.shape == nhwc(want).shape
    return g, float(np.abs(got - nhwc(want)).max())


def _bn(c):
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


def cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), _bn(8), nn.ReLU6(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 10))


def depthwise_separable():
    return nn.Sequential(nn.Conv2d(3, 3, 3, stride=2, padding=1, groups=3), _bn(3), nn.ReLU6(),
                         nn.Conv2d(3, 12, 1), _bn(12), nn.ReLU6(),
                         nn.Conv2d(12, 24, 3, padding=2, dilation=2, groups=6), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(24, 5))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), _bn(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.post = _bn(8)           # after the Add: exported as a BatchNormalization node
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.post(x + self.a(x)))
        return self.head(x.mean((2, 3)))


class SqueezeExcite(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(c, 4), nn.Linear(4, c)
        self.out = nn.Conv2d(c, 4, 1, stride=2)
        self.head = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        s = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        s = nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))
        x = x * s.view(1, -1, 1, 1)
        return self.head(self.out(x).flatten(1))


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(12, 6, 3)
        self.fc = nn.Linear(6 * 4 * 4, 7)

    def forward(self, x):
        x = self.conv(x)
        a = nn.functional.hardswish(x) - nn.functional.leaky_relu(x, 0.1)
        b = nn.functional.gelu(x) * torch.sigmoid(x) + torch.tanh(x) / 2.0
        y = torch.cat([torch.maximum(a, nn.functional.elu(x)), torch.clamp(b, -0.5, 0.75)], 1)
        y = nn.functional.pad(y, (1, 0, 0, 1))
        y = nn.functional.avg_pool2d(self.conv2(y), 3, stride=2, ceil_mode=True)
        return torch.softmax(self.fc(y.flatten(1)), 1)


def conv1d():
    return nn.Sequential(nn.Conv1d(3, 8, 5, padding=2, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, stride=2, padding=1), nn.AvgPool1d(3, ceil_mode=True),
                         nn.Conv1d(8, 6, 1), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, 4))


class Transposes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 4, 3, stride=2)
        self.fc = nn.Linear(4 * 3 * 2, 5)

    def forward(self, x):                          # x: (3, 6, 8)
        h = torch.relu(self.conv(x)).transpose(2, 3)      # a real Transpose: a conv reads it
        return self.fc(self.conv2(h).permute(0, 2, 3, 1).flatten(1))   # joins the flatten


def deconv():
    return nn.Sequential(nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, bias=False), _bn(4), nn.ReLU(),
                         nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))


class Resizes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):                          # x: (3, 5, 6)
        h = self.conv(x)
        a = nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        b = nn.functional.interpolate(h, size=(10, 12), mode="bilinear", align_corners=False)
        c = nn.functional.interpolate(h, size=(10, 12), mode="bilinear", align_corners=True)
        return torch.cat([a, b, c], 1)


MODELS = {"cnn": (cnn, (3, 8, 8)), "depthwise_separable": (depthwise_separable, (3, 8, 8)),
          "residual": (Residual, (3, 8, 8)), "squeeze_excite": (SqueezeExcite, (3, 6, 6)),
          "activations": (Activations, (3, 9, 9)), "conv1d": (conv1d, (3, 16)),
          "transposes": (Transposes, (3, 6, 8)), "deconv": (deconv, (2, 8, 8)),
          "resizes": (Resizes, (3, 5, 6))}


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("name", list(MODELS))
def test_imported_model_agrees_with_onnxruntime(name, opset):
    torch.manual_seed(0)
    factory, shape = MODELS[name]
    g, diff = float_diff(export(factory(), shape, opset), shape)
    print(f"{name} opset {opset}: max |diff| {diff:.2e}")
    assert diff <= TOL
    assert not any(n.op in ("Mul", "Add") and "bn" in n.name for n in g.nodes) or name == "residual"


def test_patterns_become_one_op():
    torch.manual_seed(0)
    g = onnx_import.from_bytes(export(Activations(), (3, 9, 9), 13), "m")
    ops = [n.op for n in g.nodes]
    assert "GELU" in ops and "Hardswish" in ops and "Hardsigmoid" not in ops
    g = onnx_import.from_bytes(export(Residual(), (3, 8, 8), 13), "m")
    assert [n.op for n in g.nodes].count("Conv2d") == 3      # the inner BN folded into its conv


def test_gelu_opset_20_is_one_node():
    torch.manual_seed(0)
    g, diff = float_diff(export(nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.GELU(approximate="tanh")),
                                (3, 2, 2), 20), (3, 2, 2))
    assert diff <= TOL and g.nodes[-1].op == "GELU" and g.nodes[-1].attrs["approximate"] == "tanh"


def _model(nodes, inputs, outputs, initializers=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def _init(name, a):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def test_matmul_add_batchnorm_and_same_padding_fold():
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 7, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])
    bn = [_init(f"bn{k}", v) for k, v in enumerate((rng.uniform(0.5, 1.5, 4), rng.normal(0, 1, 4),
                                                    rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4)))]
    bn1 = [_init(f"bm{k}", v) for k, v in enumerate((rng.uniform(0.5, 1.5, 5), rng.normal(0, 1, 5),
                                                     rng.normal(0, 1, 5), rng.uniform(0.5, 2, 5)))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c"] + [t.name for t in bn], ["b"], epsilon=1e-3),
             helper.make_node("GlobalMaxPool", ["b"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("MatMul", ["f", "m"], ["mm"]),
             helper.make_node("Add", ["mm", "mb"], ["a"]),
             helper.make_node("BatchNormalization", ["a"] + [t.name for t in bn1], ["y"])]
    inits = [_init("w", rng.normal(0, 0.5, (4, 2, 3, 3))), _init("m", rng.normal(0, 0.5, (4, 5))),
             _init("mb", rng.normal(0, 0.5, 5))] + bn + bn1
    data = _model(nodes, [x], [y], inits)
    g, diff = float_diff(data, (2, 7, 7))
    assert diff <= TOL and [n.op for n in g.nodes] == ["Conv2d", "MaxPool2d", "Reshape", "Linear"]


@pytest.mark.parametrize("how, rounding, half", [("tf_half_pixel_for_nn", "floor", True),
                                                 ("asymmetric", "floor", False),
                                                 ("asymmetric", "ceil", None)])
def test_nearest_resize_is_tflites_or_refused(how, rounding, half):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 7, 8])
    nodes = [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest",
                              coordinate_transformation_mode=how, nearest_mode=rounding)]
    sizes = helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 2, 7, 8])
    data = _model(nodes, [x], [y], [sizes])
    if half is None:              # ONNX picks other source pixels than TFLite at this size
        with pytest.raises(CaptureError, match="none of TFLite's nearest"):
            onnx_import.from_bytes(data, "m")
        return
    g, diff = float_diff(data, (2, 5, 3))
    assert diff == 0 and g.nodes[0].attrs["half_pixel_centers"] is half


def test_quantized_import_is_bit_exact_in_c(tmp_path):
    from levin import reference
    from levin.targets import build
    from tests.runtime.test_c_models import check_bit_exact

    if build.compiler() is None:
        pytest.skip("no C compiler")
    torch.manual_seed(0)
    g = onnx_import.from_bytes(export(cnn(), (3, 8, 8), 13), "onnx_cnn")
    x = np.random.default_rng(1).uniform(-1, 1, (16, 3, 8, 8)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x, QuantConfig()))
    inputs = reference.quantize_batch(ig, x)
    out = reference.run(ig, inputs)[ig.outputs[0]]
    assert out.shape == (16, 10) and out.dtype == np.int8
    check_bit_exact(ig, inputs, tmp_path / "int8", "int8")


# -- errors -----------------------------------------------------------------------------------------
def test_unsupported_op_is_named():
    class Floor(nn.Module):
        def forward(self, x):
            return torch.floor(x)
    with pytest.raises(CaptureError, match=r"node '.*Floor.*' \(Floor\): unsupported op; levin imports .*Conv"):
        onnx_import.from_bytes(export(Floor(), (3, 4, 4), 13), "m")


def test_corrupt_and_truncated_files_are_format_errors(tmp_path):
    data = export(cnn(), (3, 8, 8), 13)
    with pytest.raises(LevinFormatError, match="m: not a valid ONNX model"):
        onnx_import.from_bytes(data[: len(data) // 2], "m")
    with pytest.raises(LevinFormatError, match="not a valid ONNX model"):
        onnx_import.from_bytes(b"\xff" * 64, "m")
    bad = bytearray(data)
    bad[10:40] = b"\x07" * 30
    with pytest.raises(LevinError):
        onnx_import.from_bytes(bytes(bad), "m")
    with pytest.raises(LevinError, match="cannot read"):
        onnx_import.load(tmp_path / "missing.onnx")


def test_dynamic_input_dimension_is_rejected(tmp_path):
    path = tmp_path / "dyn.onnx"
    path.write_bytes(export(cnn(), (3, 8, 8), 13, input_names=["x"], dynamic_axes={"x": {0: "batch"}}))
    with pytest.raises(CaptureError, match=r"graph input 'x'.*dynamic dimension; export with fixed shapes"):
        onnx_import.load(path)


def test_non_float_input_and_old_opset_are_rejected():
    x = helper.make_tensor_value_info("x", TensorProto.INT32, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [1, 4])
    with pytest.raises(CaptureError, match="not float32; levin imports float models"):
        onnx_import.from_bytes(_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]), "m")
    with pytest.raises(CaptureError, match="opset 11; levin imports ONNX opset 13 or later"):
        onnx_import.from_bytes(_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], opset=11), "m")


def test_load_names_the_graph_after_the_file(tmp_path):
    path = tmp_path / "tiny_cnn.onnx"
    path.write_bytes(export(cnn(), (3, 8, 8), 17))
    g = onnx_import.load(path)
    assert g.name == "tiny_cnn" and g.tensors[g.inputs[0]].shape == (1, 8, 8, 3)


def test_profile_takes_an_onnx_file(tmp_path, capsys):
    from levin.cli.main import main

    path = tmp_path / "tiny_cnn.onnx"
    path.write_bytes(export(cnn(), (3, 8, 8), 17))
    assert main(["profile", "--model", str(path)]) == 0
    assert "peak SRAM (activation arena)" in capsys.readouterr().out
    assert main(["profile", "--model", str(path), "--input-shape", "3,8,8"]) == 2
    assert "carries its weights and input shape" in capsys.readouterr().err
