"""1-D CNNs (keyword spotting, accelerometer): a torch (N, C, L) map is the IR's (N, 1, L, C), so
Conv1d, the 1-D pools and BatchNorm1d folding run as the 2-D IR ops with height 1. Checked from
capture through the float interpreter, fake quant, the integer reference, C and TFLite Micro."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from levin import reference
from levin.config import QuantConfig, TrainConfig
from levin.errors import CaptureError
from levin.ir import interpreter
from levin.ir.capture import capture
from levin.quant import ptq
from levin.quant.graphmodule import GraphModule
from levin.quant.pipeline import agreement, fakequant_outputs, integer_outputs
from levin.train.data import Dataset


class KWS(nn.Module):
    """Conv1d + BatchNorm1d + ReLU, depthwise Conv1d ('same', dilated), pointwise, the 1-D pools,
    then flatten (of a map with C and L > 1: the column order matters) into a Linear."""

    def __init__(self, c_in=4, classes=5):
        super().__init__()
        self.conv = nn.Conv1d(c_in, 8, 5, stride=2, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.dw = nn.Conv1d(8, 8, 3, padding="same", dilation=2, groups=8, bias=False)
        self.dw_bn = nn.BatchNorm1d(8)
        self.pw = nn.Conv1d(8, 12, 1)
        self.pool = nn.MaxPool1d(2)
        self.avg = nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)   # TFLite has no other
        self.fc = nn.Linear(12 * 5, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.relu(self.dw_bn(self.dw(x)))
        x = self.avg(self.pool(F.relu(self.pw(x))))
        return self.fc(torch.flatten(x, 1))


class Head(nn.Module):
    """A small 1-D model ending in a global average: AdaptiveAvgPool1d(1) or a mean over L."""

    def __init__(self, head: str, c_in=3, classes=4):
        super().__init__()
        self.head = head
        self.conv = nn.Conv1d(c_in, 6, 3, padding="valid")
        self.conv2 = nn.Conv1d(6, 10, 3, padding=1, groups=2)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(10, classes)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.conv(x)), 2, ceil_mode=True)
        x = F.avg_pool1d(F.relu(self.conv2(x)), 2, stride=1)
        x = self.gap(x).flatten(1) if self.head == "adaptive" else x.mean(dim=-1)
        return self.fc(x)


def _randomize_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return model.eval()


def _model(name):
    torch.manual_seed(0)
    if name == "kws":
        return _randomize_bn(KWS()), (4, 20)
    return Head(name).eval(), (3, 17)


def _x(shape, n, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (n,) + shape).astype(np.float32)


@pytest.mark.parametrize("name", ["kws", "adaptive", "mean"])
def test_float_graph_is_the_torch_model(name):
    model, shape = _model(name)
    x = _x(shape, 8)
    g = capture(model, torch.from_numpy(x[:1]))
    assert g.tensors[g.inputs[0]].shape == (1, 1, shape[1], shape[0])        # (N, 1, L, C)
    assert {n.op for n in g.nodes} <= {"Conv2d", "ReLU", "MaxPool2d", "AvgPool2d", "GlobalAvgPool",
                                        "Reshape", "Linear"}
    assert all(n.attrs["kernel" if "Pool2d" in n.op else "stride"][0] == 1
               for n in g.nodes if n.op in ("Conv2d", "MaxPool2d", "AvgPool2d"))
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(GraphModule(g)(torch.from_numpy(x)).numpy(), want, rtol=1e-4, atol=1e-5)
    got = np.concatenate([interpreter.run(g, reference.nhwc(x[i:i + 1]))[g.outputs[0]] for i in range(len(x))])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_batchnorm1d_folds_into_the_conv1d_and_flatten_permutes_the_linear():
    model, shape = _model("kws")
    g = capture(model, torch.from_numpy(_x(shape, 1)))
    assert [n.op for n in g.nodes].count("Conv2d") == 3 and len(g.nodes) == 10
    conv = next(n for n in g.nodes if n.op == "Conv2d")
    assert conv.attrs["padding"] == (0, 0, 2, 2) and conv.attrs["stride"] == (1, 2)
    assert g.tensors[conv.inputs[1]].shape == (8, 1, 5, 4)                       # OHWI, H = 1
    fc = g.tensors[next(n for n in g.nodes if n.op == "Linear").inputs[1]].data
    w = model.fc.weight.detach().numpy()                                         # torch columns c * L + l
    np.testing.assert_array_equal(fc, w.reshape(5, 12, 5).transpose(0, 2, 1).reshape(5, 60))


def test_feature_map_output_comes_back_as_ncl():
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU()).eval()
    x = torch.from_numpy(_x((2, 9), 4))
    g = capture(model, x[:1])
    with torch.no_grad():
        torch.testing.assert_close(GraphModule(g)(x), model(x), rtol=1e-5, atol=1e-6)
    plan = ptq.prepare(g, x.numpy(), QuantConfig())
    ig = ptq.build_integer_graph(g, plan)
    fake = fakequant_outputs(g, plan, x.numpy(), single_round=True)
    np.testing.assert_array_equal(fake, integer_outputs(ig, x.numpy(), single_round=True))


def _integer(name, n=48):
    model, shape = _model(name)
    x = _x(shape, n)
    g = capture(model, torch.from_numpy(x[:1]))
    plan = ptq.prepare(g, x, QuantConfig())
    return g, plan, ptq.build_integer_graph(g, plan), x


@pytest.mark.parametrize("name", ["kws", "adaptive", "mean"])
def test_ptq_integer_reference_agrees_with_fake_quant(name):
    g, plan, ig, x = _integer(name)
    a = agreement(fakequant_outputs(g, plan, x), integer_outputs(ig, x))
    assert a.max_lsb <= 1 and a.argmax_match >= 0.95
    deq = reference.dequantize_output(ig, integer_outputs(ig, x))
    with torch.no_grad():
        want = _model(name)[0](torch.from_numpy(x)).numpy()
    assert np.abs(deq - want).max() < 0.1 * np.abs(want).max()


@pytest.mark.parametrize("name", ["kws", "mean"])
def test_c_export_bit_exact(name, tmp_path):
    from levin.targets import build

    if build.compiler() is None:
        pytest.skip("no C compiler")
    from tests.runtime.test_c_models import check_bit_exact

    _, _, ig, x = _integer(name)
    inputs = reference.quantize_batch(ig, x[:8])
    check_bit_exact(ig, inputs, tmp_path / "int8", "int8")
    check_bit_exact(ig, inputs, tmp_path / "rans", "rans")


def test_tflite_export_bit_exact_in_tflite_micro():
    pytest.importorskip("tflite")
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite_export as E
    from levin.ir import tflite_run

    _, _, ig, x = _integer("kws")
    q = reference.quantize_batch(ig, x[:6])
    want = reference.run(ig, q)[ig.outputs[0]]
    np.testing.assert_array_equal(tflite_run.run_tflm(E.to_bytes(ig), q).reshape(want.shape), want)


def _signals(n, seed):
    """Two classes of 2-channel signals: a slow or a fast sine, with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(32) / 32
    f = np.where(y == 0, 2.0, 6.0)[:, None, None]
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (n, 2, 1))) + rng.normal(0, 0.3, (n, 2, 32))
    return x.astype(np.float32), y.astype(np.int64)


RECIPE = """
finetune: {epochs: 1, batch_size: 32}
steps:
  - prune: {sparsity: 0.5, schedule: one_shot}
  - share: {bits: 4}
quantize: {calibration_size: 64}
"""


def test_compress_a_1d_model_end_to_end(tmp_path):
    from levin.compressor import compress, parse
    from levin.train.loop import train

    (xt, yt), (xv, yv) = _signals(256, 0), _signals(64, 1)
    data = Dataset("sines", xt, yt, xv, yv, ("slow", "fast"))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                          nn.Flatten(), nn.Linear(8, 2))
    fast = TrainConfig(epochs=3, batch_size=32, lr=0.05)
    model = train(model, data, fast, progress=False).model
    result = compress(model, data, parse(RECIPE), tmp_path, train_config=fast, progress=False)
    assert [s.kind for s in result.steps] == ["prune", "share"]
    assert result.steps[0].density == pytest.approx(0.5, abs=0.02)           # the Conv1d layers too
    assert result.graph.tensors[result.graph.inputs[0]].shape[1:] == (1, 32, 2)
    assert result.integer_accuracy > 0.8
    assert (tmp_path / "model.lvn").exists()


@pytest.mark.parametrize("model,shape,match", [
    (nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular"), (2, 8), "nn.Conv1d.*padding_mode='circular'"),
    (nn.MaxPool1d(2), (2, 4, 4), "MaxPool1d does not run on an input of shape 1x2x4x4"),
    (nn.Conv2d(1, 3, 1), (2, 4), "nn.Conv2d.*needs a rank-4 NCHW input, got shape \\(1, 2, 4\\)"),
    (nn.AvgPool1d(3, 2, padding=1, ceil_mode=True), (2, 8), "nn.AvgPool1d.*ceil_mode with padding"),
    (nn.AdaptiveAvgPool1d(3), (2, 8), "nn.AdaptiveAvgPool1d.*output size 3 does not divide the input 8"),
])
def test_bad_1d_cases_are_one_line_errors(model, shape, match):
    with pytest.raises(CaptureError, match=match) as info:
        capture(model, torch.zeros((1,) + shape))
    assert "\n" not in str(info.value)


def test_mean_over_channels_of_a_1d_map_is_a_mean():
    class M(nn.Module):
        def forward(self, x):
            return x.mean(dim=1)

    x = torch.randn(1, 2, 8)
    g = capture(M(), x)
    assert [n.op for n in g.nodes] == ["Mean", "Reshape"] and g.nodes[0].attrs["axes"] == (3,)
    got = interpreter.run(g, x.numpy().transpose(0, 2, 1)[:, None])[g.outputs[0]]
    np.testing.assert_allclose(got, x.mean(1).numpy(), rtol=1e-6)


def test_zero_pad_of_the_length_folds_into_the_conv1d():
    model = nn.Sequential(nn.ZeroPad1d((1, 2)), nn.Conv1d(2, 3, 3), nn.ReLU()).eval()
    x = torch.from_numpy(_x((2, 7), 3))
    g = capture(model, x[:1])
    assert [n.op for n in g.nodes] == ["Conv2d", "ReLU"] and g.nodes[0].attrs["padding"] == (0, 0, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(GraphModule(g)(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool", [nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), nn.MaxPool1d(3, ceil_mode=True),
                                  nn.AvgPool2d(3, 2, ceil_mode=True), nn.AvgPool1d(3, 2, 1, ceil_mode=True,
                                                                                   count_include_pad=False)])
def test_ceil_mode_pools_are_padded_at_the_end(pool):
    x = torch.from_numpy(_x((2, 8) if isinstance(pool, (nn.MaxPool1d, nn.AvgPool1d)) else (2, 8, 7), 3))
    g = capture(pool, x[:1])
    assert g.nodes[0].attrs["padding"][1::2] != g.nodes[0].attrs["padding"][::2]     # the overhang
    with torch.no_grad():
        torch.testing.assert_close(GraphModule(g)(x), pool(x), rtol=1e-5, atol=1e-6)
