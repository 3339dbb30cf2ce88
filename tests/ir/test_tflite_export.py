"""Export of integer graphs to .tflite: TFLite Micro runs the file with levin's outputs, bit for
bit, for imported MLPerf Tiny models and for a zoo model quantized by levin."""

import numpy as np
import pytest
import torch

pytest.importorskip("tflite")

from levin import zoo  # noqa: E402
from levin.config import QuantConfig  # noqa: E402
from levin.errors import GraphError  # noqa: E402
from levin.ir import tflite as T  # noqa: E402
from levin.ir import tflite_export as E  # noqa: E402
from levin.ir.capture import capture  # noqa: E402
from levin.ir.graph import Graph, QuantParams  # noqa: E402
from levin.quant import ptq  # noqa: E402
from levin import reference  # noqa: E402
from tests.ir.test_tflite import MODELS, model_path  # noqa: E402


def _tflm(data, x):
    pytest.importorskip("tflite_micro")
    from levin.ir import tflite_run

    return tflite_run.run_tflm(data, x)


def _check(graph, data, x):
    want = reference.run(graph, x)[graph.outputs[0]]
    np.testing.assert_array_equal(_tflm(data, x).reshape(want.shape), want)


@pytest.mark.parametrize("key", list(MODELS))
def test_imported_model_exports_bit_exact(key):
    src = model_path(key).read_bytes()
    g = T.from_bytes(src, key)
    data = E.to_bytes(g)
    shape = g.tensors[g.inputs[0]].shape[1:]
    _check(g, data, np.random.default_rng(2).integers(-128, 128, (4,) + shape).astype(np.int8))
    back = T.from_bytes(data, key)
    assert [n.op for n in back.nodes] == [n.op for n in g.nodes]      # ReLUs fused and split again
    for name, t in g.tensors.items():
        if t.is_constant:
            np.testing.assert_array_equal(back.tensors[name].data, t.data)


def test_export_has_no_more_ops_than_the_original():
    import tflite as fb

    src = model_path("resnet8").read_bytes()
    data = E.to_bytes(T.from_bytes(src))
    count = lambda b: fb.Model.GetRootAsModel(b, 0).Subgraphs(0).OperatorsLength()  # noqa: E731
    assert count(data) == count(src)


@pytest.mark.parametrize("name", ["resnet8", "dscnn", "lenet5"])
def test_levin_quantized_zoo_model_exports_bit_exact(name):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    x = np.random.default_rng(0).uniform(0, 1, (6,) + zoo.spec(name).input_shape).astype(np.float32)
    g = capture(model, torch.from_numpy(x[:1]))
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x[:4], QuantConfig()))
    _check(ig, E.to_bytes(ig), reference.quantize_input(ig, x.transpose(0, 2, 3, 1)))


def _graph_with(op, **attrs):
    g = Graph("t")
    g.add_input("x", (1, 6, 6, 2), np.int8, QuantParams(np.float32(0.05), 4))
    if op == "Conv2d":
        w = g.add_constant("w", np.arange(-9, 9, dtype=np.int8).reshape(1, 3, 3, 2),
                           QuantParams(np.float32(0.01), 0))
        out = g.add_node(op, ["x", w], "y", quant=QuantParams(np.float32(0.1), -2), **attrs)
    else:
        out = g.add_node(op, ["x"], "y", quant=QuantParams(np.float32(1 / 256), -128), **attrs)
    g.mark_output(out)
    return g


def test_uneven_conv_padding_becomes_a_pad_op():
    g = _graph_with("Conv2d", padding=(2, 0, 1, 0))
    data = E.to_bytes(g)
    assert [n.op for n in T.from_bytes(data).nodes] == ["Pad", "Conv2d"]
    _check(g, data, np.random.default_rng(0).integers(-128, 128, (3, 6, 6, 2)).astype(np.int8))


def test_sigmoid_is_refused_by_name():
    with pytest.raises(GraphError, match=r"node 'y' \(Sigmoid\): no bit-exact TFLite op"):
        E.to_bytes(_graph_with("Sigmoid"))
