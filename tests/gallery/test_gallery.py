"""The gallery (tests/gallery/models.py): small versions of the model families people deploy,
each captured, PTQ int8, coded into a .lvn and read back, exported to C and run bit-exact against
the numpy integer reference on the host (normal suite) and on a Cortex-M4 under qemu."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from levin import codegen, reference
from levin.coding import container
from levin.targets import build, cortexm
from tests.gallery import models
from tests.conftest import require_cortex_m  # noqa: E402

NAMES = list(models.GALLERY)


@pytest.fixture(scope="module")
def quantized():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = models.quantized(name)
        return cache[name]
    return get


def want_codes(igraph, codes):
    shape = igraph.tensors[igraph.inputs[0]].shape[1:]
    out = reference.run(igraph, codes.reshape((len(codes),) + shape))[igraph.outputs[0]]
    return out.reshape(len(codes), -1).astype(np.int8)


# Ops each model must keep capturing to (BatchNorm is folded away, so never appears).
OPS = {"mobilenetv2_035": {"Conv2d", "ReLU6", "Add", "GlobalAvgPool", "Linear"},
       "mcunet_se": {"Hardswish", "Hardsigmoid", "Mul", "ReLU", "GlobalAvgPool", "Add"},
       "efficientnet_lite": {"SiLU", "Add", "GlobalAvgPool"},
       "har_cnn1d": {"Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool", "Linear"},
       "leaky_elu_cnn": {"LeakyReLU", "ELU", "MirrorPad", "Transpose", "MaxPool2d"},
       "conv_autoencoder": {"Conv2d", "ConvTranspose2d", "ReLU"},
       "tiny_unet": {"ResizeNearest", "ResizeBilinear", "Concat", "Conv2d"}}


@pytest.mark.parametrize("name", NAMES)
def test_captured_ops(name, quantized):
    _, graph, igraph, _, _ = quantized(name)
    ops = {n.op for n in graph.nodes}
    assert OPS[name] <= ops and not any("Norm" in op for op in ops)
    assert [n.op for n in igraph.nodes] == [n.op for n in graph.nodes]


@pytest.mark.parametrize("name", NAMES)
def test_integer_graph_tracks_float_model(name, quantized):
    model, _, igraph, codes, x = quantized(name)
    shape = igraph.tensors[igraph.inputs[0]].shape[1:]
    got = reference.dequantize_output(igraph, reference.run(igraph, codes.reshape((len(codes),) + shape))[igraph.outputs[0]])
    with torch.no_grad():
        want = model(x).numpy()
    if got.ndim == 4:                        # a dense (image) output: NHWC -> torch's NCHW
        got = got.transpose(0, 3, 1, 2)
    assert np.abs(got.reshape(want.shape) - want).max() <= 0.15 * np.abs(want).max()


@pytest.mark.parametrize("name", NAMES)
def test_lvn_round_trip(name, quantized):
    _, _, igraph, codes, _ = quantized(name)
    data = container.encode(igraph)
    back = container.decode(data)
    assert [(n.op, n.inputs, n.output) for n in back.nodes] == [(n.op, n.inputs, n.output) for n in igraph.nodes]
    for t in igraph.tensors.values():
        if t.is_constant:
            np.testing.assert_array_equal(back.tensors[t.name].data, t.data)
    np.testing.assert_array_equal(want_codes(back, codes), want_codes(igraph, codes))
    assert container.encode(back) == data


@pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")
@pytest.mark.parametrize("name", NAMES)
def test_c_bit_exact_on_host(name, quantized, tmp_path):
    _, _, igraph, codes, _ = quantized(name)
    graph = container.decode(container.encode(igraph))      # the C is generated from the .lvn
    export = codegen.export_c(graph, tmp_path, "int8")
    exe = build.build_harness(export)
    got, _ = build.run_harness(exe, codes, export.output_size)
    diff = build.compare(got, want_codes(igraph, codes).reshape(got.shape))
    assert diff is None, f"{name}: {diff}"


def _m4_tools():
    require_cortex_m()


@pytest.mark.parametrize("name", NAMES)
def test_bit_exact_on_cortex_m4(name, quantized, tmp_path):
    """Under qemu; MobileNetV2-0.35 at 96x96 (10.7 M MACs), the longest, takes ~5 s here."""
    _m4_tools()
    _, _, igraph, codes, _ = quantized(name)
    graph = container.decode(container.encode(igraph))
    export = codegen.export_c(graph, tmp_path / "c", "int8")
    fw = cortexm.model_firmware(export, codes, tmp_path / "m4")
    results = cortexm.run(fw, timeout=600)
    want = want_codes(igraph, codes)
    assert len(results) == len(codes)
    for k, (r, w) in enumerate(zip(results, want)):
        assert r.status == 0, f"{name}: model_run returned {r.status} on input {k}"
        got = np.frombuffer(r.output, np.int8)
        bad = np.flatnonzero(got != w)
        assert bad.size == 0, f"{name} input {k}: mismatches at {bad[:5]}: M4 {got[bad[:5]]}, reference {w[bad[:5]]}"



@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_imports_and_agrees_with_onnxruntime(name):
    """The float model through torch.onnx.export and levin's ONNX frontend: the same function
    as onnxruntime computes (1-D convs, transposes, transposed convs and resizes included)."""
    pytest.importorskip("onnxruntime")
    from tests.ir.test_onnx import TOL, export, float_diff

    _, diff = float_diff(export(models.build(name), models.GALLERY[name][1], 17), models.GALLERY[name][1])
    assert diff <= TOL
