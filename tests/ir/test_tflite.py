"""Import of int8 .tflite files: the four MLPerf Tiny models, and clear errors for what levin
does not take (float models, unsupported ops, bytes that are no .tflite)."""

import struct

import numpy as np
import pytest

pytest.importorskip("tflite")

from levin.errors import CaptureError, LevinError, LevinFormatError  # noqa: E402
from levin.ir import tflite as T  # noqa: E402
from levin.ir import tflite_read  # noqa: E402
from levin.ir import tflite_export as E  # noqa: E402
from levin.ir.graph import Graph, QuantParams  # noqa: E402
from tests.conftest import shared_data  # noqa: E402

MODELS = {
    "kws": ("keyword_spotting/kws_ref_model.tflite", (1, 49, 10, 1), 12),
    "resnet8": ("image_classification/pretrainedResnet_quant.tflite", (1, 32, 32, 3), 10),
    "vww": ("visual_wake_words/vww_96_int8.tflite", (1, 96, 96, 3), 2),
    "ad01": ("anomaly_detection/ad01_int8.tflite", (1, 640), 640),
}


def model_path(key):
    return shared_data("models/mlperf_tiny") / MODELS[key][0]


@pytest.mark.parametrize("key", list(MODELS))
def test_imports_mlperf_tiny(key):
    g = T.load(model_path(key))
    _, shape, classes = MODELS[key]
    assert g.tensors[g.inputs[0]].shape == shape
    assert g.tensors[g.outputs[0]].shape == (1, classes)
    assert all(t.dtype == np.int8 for t in g.activations())
    for t in g.tensors.values():
        if t.is_constant and t.name.endswith(".weight"):
            assert t.quant.zero_point.tolist() == [0] * t.quant.scale.size


def test_depthwise_weights_become_grouped_ohwi():
    g = T.load(model_path("kws"))
    node = next(n for n in g.nodes if n.name == "dwconv0")
    assert node.attrs["groups"] == 64 and node.attrs["padding"] == (1, 1, 1, 1)
    w = g.tensors["dwconv0.weight"]
    assert w.shape == (64, 3, 3, 1) and w.quant.axis == 0 and w.quant.scale.size == 64


def test_same_padding_matches_tflite():
    # stride 2, kernel 10x4 on 49x10: TFLite puts the odd pixel after
    assert T._same_padding(49, 10, 2, 1) == (4, 5)
    assert T._same_padding(10, 4, 2, 1) == (1, 1)
    assert T._same_padding(5, 1, 1, 1) == (0, 0)


def test_fused_relu_becomes_a_node_with_the_same_parameters():
    g = T.load(model_path("resnet8"))
    relu = next(n for n in g.nodes if n.op == "ReLU")
    pre = g.tensors[relu.inputs[0]]
    assert g.producer(pre.name).op == "Conv2d"
    assert pre.quant.scale[0] == g.tensors[relu.output].quant.scale[0]


def test_float_model_is_refused_by_name():
    path = shared_data("models/mlperf_tiny") / "keyword_spotting/kws_ref_model_float32.tflite"
    with pytest.raises(CaptureError, match="FLOAT32.*float model"):
        T.load(path)


def test_not_a_tflite_file():
    with pytest.raises(LevinError, match="not a .tflite file"):
        T.from_bytes(b"LEVN not a flatbuffer")


@pytest.mark.parametrize("keep", [0.02, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_a_format_error_naming_the_file(tmp_path, keep):
    # Before: struct.error from the flatbuffer readers, with a traceback (issue 16).
    data = E.to_bytes(_tiny_graph())
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:max(8, int(len(data) * keep))])
    with pytest.raises(LevinFormatError, match=r"cut\.tflite: not a valid \.tflite"):
        T.load(path)


def _word(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack("<i", value) + data[at + 4:]


def test_corrupt_structure_is_checked_before_it_is_used():
    data = E.to_bytes(_tiny_graph())
    with pytest.raises(LevinFormatError, match="root table offset"):
        T.from_bytes(_word(data, 0, len(data) + 100), "m")
    model = tflite_read.read(data, "m")
    assert [t.shape for t in model.tensors] == [(1, 4, 4, 2), (1, 4, 4, 2)]
    # every aligned word set to a huge count or offset: only clean errors or a graph come out
    for at in range(8, len(data) - 4, 4):
        for value in (-1, 1 << 30):
            try:
                T.from_bytes(_word(data, at, value), "m")
            except LevinError:
                pass


def test_buffer_size_must_match_the_shape():
    g = Graph("fc")
    g.add_input("x", (1, 4), np.int8, QuantParams(np.float32(0.1), 0))
    g.add_constant("w", np.ones((3, 4), np.int8), QuantParams(np.float32(0.01), 0))
    g.mark_output(g.add_node("Linear", ["x", "w"], "y", quant=QuantParams(np.float32(0.2), 0)))
    data = E.to_bytes(g)
    model = tflite_read.read(data, "m")
    weights = next(t for t in model.tensors if t.shape == (3, 4))
    model.buffers[weights.buffer] = model.buffers[weights.buffer][:-1]
    with pytest.raises(LevinFormatError, match=r"INT8\[3, 4\] needs 12 bytes, its buffer holds 11"):
        T._Importer(model, "m", "m").run()


def test_zero_stride_is_refused_before_padding_arithmetic():
    # Before: ZeroDivisionError in _same_padding.
    g = Graph("c")
    g.add_input("x", (1, 4, 4, 1), np.int8, QuantParams(np.float32(0.1), 0))
    g.add_constant("w", np.ones((1, 3, 3, 1), np.int8), QuantParams(np.float32(0.01), 0))
    g.mark_output(g.add_node("Conv2d", ["x", "w"], "y", quant=QuantParams(np.float32(0.2), 0), padding=1))
    model = tflite_read.read(E.to_bytes(g), "m")
    conv = model.operators[0]
    conv.options.update(StrideH=0)
    with pytest.raises(CaptureError, match=r"operator 0 \(CONV_2D\): stride \(0, 1\)"):
        T._Importer(model, "m", "m").run()


def _tiny_graph():
    g = Graph("tiny")
    q = QuantParams(np.float32(0.1), -3)
    g.add_input("x", (1, 4, 4, 2), np.int8, q)
    g.mark_output(g.add_node("ReLU", ["x"], "r"))
    return g


def test_unsupported_op_is_named_with_its_position():
    import tflite as fb

    w = E._Writer(_tiny_graph())
    x, y = w.tensor("x"), w.tensor("r")
    w.op(fb.BuiltinOperator.TANH, [x], [y])
    data = w.finish([x], [y], "test")
    with pytest.raises(CaptureError, match=r"operator 0 \(TANH\): unsupported op; levin imports CONV_2D"):
        T.from_bytes(data, "tiny")


def test_tiny_graph_round_trips():
    g = T.from_bytes(E.to_bytes(_tiny_graph()), "back")
    assert [n.op for n in g.nodes] == ["ReLU"]
    assert g.tensors["input"].quant.zero_point[0] == -3
