"""Import of float .tflite files (levin.ir.tflite_float): the MLPerf Tiny float models against
ai-edge-litert, a dynamic-range (hybrid) model by dequantized weights, PTQ of an imported model
on real data, and the errors a float model levin cannot take gives."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("tflite")

from levin.errors import CaptureError, LevinError  # noqa: E402
from levin.ir import interpreter, tflite_float, tflite_read  # noqa: E402
from levin.ir import tflite as T  # noqa: E402
from tests.conftest import shared_data  # noqa: E402

TOL = 1e-4
FLOAT = {  # float model, its int8 twin, input range
    "ad01": ("anomaly_detection/ad01_fp32.tflite", "anomaly_detection/ad01_int8.tflite", (-3, 3)),
    "resnet8": ("image_classification/pretrainedResnet.tflite",
                "image_classification/pretrainedResnet_quant.tflite", (0, 255)),
    "vww": ("visual_wake_words/vww_96_float.tflite", "visual_wake_words/vww_96_int8.tflite", (0, 1)),
}
HYBRID = "keyword_spotting/kws_ref_model_float32.tflite"


def path(rel):
    return shared_data("models/mlperf_tiny") / rel


def run_float(g, x):
    return np.concatenate([interpreter.run(g, s[None])[g.outputs[0]] for s in x])


def litert(data, x):
    from levin.ir import tflite_run

    pytest.importorskip("ai_edge_litert")
    return tflite_run.run_litert(data, x, "BUILTIN_REF")


@pytest.mark.parametrize("key", list(FLOAT))
def test_float_model_agrees_with_litert(key):
    rel, _, (lo, hi) = FLOAT[key]
    data = path(rel).read_bytes()
    g = tflite_float.from_bytes(data, key)
    shape = g.tensors[g.inputs[0]].shape
    assert all(t.dtype == np.float32 and t.quant is None for t in g.tensors.values() if not t.is_constant)
    x = np.random.default_rng(0).uniform(lo, hi, (3,) + shape[1:]).astype(np.float32)
    got, want = run_float(g, x), litert(data, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL


@pytest.mark.parametrize("key", list(FLOAT))
def test_float_and_int8_twins_import_to_the_same_nodes(key):
    rel, twin, _ = FLOAT[key]
    f, q = tflite_float.load(path(rel)), T.load(path(twin))
    assert [(n.op, n.name, n.inputs) for n in f.nodes] == [(n.op, n.name, n.inputs) for n in q.nodes]
    assert all(n.attrs == m.attrs for n, m in zip(f.nodes, q.nodes))


def test_load_any_picks_the_importer_by_input_type():
    assert tflite_float.load_any(path(FLOAT["ad01"][0])).tensors["input"].dtype == np.float32
    assert tflite_float.load_any(path(FLOAT["ad01"][1])).tensors["input"].dtype == np.int8


def test_hybrid_model_imports_with_dequantized_weights():
    data = path(HYBRID).read_bytes()
    record = tflite_read.read(data, "kws")
    assert len(tflite_float.dequantized_weights(record)) == 5
    g = tflite_float.from_bytes(data, "kws")
    t = next(t for t in record.tensors if t.name == "functional_1/conv2d/Conv2D")
    codes = np.frombuffer(record.buffers[t.buffer], np.int8).reshape(t.shape)
    np.testing.assert_array_equal(g.tensors["conv0.weight"].data, (codes * np.float64(t.scale[0])).astype(np.float32))
    # TFLite runs a hybrid model by quantizing activations at run time; levin runs them float
    x = np.random.default_rng(1).normal(0, 10, (4, 49, 10, 1)).astype(np.float32)
    got, want = run_float(g, x), litert(data, x)
    assert np.abs(got - want).max() < 0.1 and (got.argmax(1) == want.argmax(1)).all()


def test_float_tflite_quantizes_on_real_data():
    """ResNet-8 (float, 0..255 HWC input) calibrated on 100 CIFAR-10 training images: the integer
    reference keeps its accuracy on 200 test images."""
    from levin import reference
    from levin.config.quant import QuantConfig
    from levin.quant import ptq

    cifar = shared_data("cifar10")
    train, test = np.load(cifar / "cifar10_train_subset_10k.npz"), np.load(cifar / "cifar10_test.npz")
    g = tflite_float.load(path(FLOAT["resnet8"][0]))
    calib = train["x"][:100].astype(np.float32).transpose(0, 3, 1, 2)     # levin's layout: NCHW
    ig = ptq.quantize_graph(g, calib, QuantConfig())
    x, y = test["x"][:200].astype(np.float32), test["y"][:200]
    fl = run_float(g, x).argmax(1)
    out = reference.run(ig, reference.quantize_batch(ig, x.transpose(0, 3, 1, 2)))[ig.outputs[0]].argmax(1)
    assert (fl == y).mean() > 0.8
    assert (out == fl).mean() >= 0.95 and abs((out == y).mean() - (fl == y).mean()) <= 0.03


# -- errors -----------------------------------------------------------------------------------------
def _record(rel=FLOAT["ad01"][0]):
    return tflite_read.read(path(rel).read_bytes(), "m")


def test_unsupported_op_in_a_float_model_is_named():
    model = _record()
    model.operators[3] = dataclasses.replace(model.operators[3], code="CUMSUM")
    with pytest.raises(CaptureError, match=r"^m: operator 3 \(CUMSUM\): unsupported op; levin imports CONV_2D.*LOGISTIC"):
        tflite_float._FloatImporter(model, "m", "m").run()


def test_quantize_of_an_activation_is_refused_with_what_to_do():
    model = _record()
    model.operators[0] = dataclasses.replace(model.operators[0], code="QUANTIZE")
    with pytest.raises(CaptureError, match=r"operator 0 \(QUANTIZE\): .*int8 model with float inputs"):
        tflite_float._FloatImporter(model, "m", "m").run()


def test_int8_weights_without_a_scale_are_refused():
    model = _record(HYBRID)
    k = next(k for k, t in enumerate(model.tensors) if t.type == "INT8")
    model.tensors[k] = dataclasses.replace(model.tensors[k], scale=None, zero_point=None)
    with pytest.raises(CaptureError, match=r"is INT8 without a scale"):
        tflite_float._FloatImporter(model, "m", "m").run()


def test_int8_model_is_not_a_float_one():
    with pytest.raises(CaptureError, match=r"tensor .* is INT8; a float model's activations are FLOAT32"):
        tflite_float.load(path(FLOAT["ad01"][1]))
    with pytest.raises(LevinError, match="cannot read"):
        tflite_float.load_any("/nonexistent/model.tflite")


def test_load_graph_takes_a_float_tflite():
    from levin.models import load_graph

    g = load_graph(str(path(FLOAT["ad01"][0])))
    assert g.name == "ad01_fp32" and [n.op for n in g.nodes][:2] == ["Linear", "ReLU"]
    with pytest.raises(LevinError, match="a .tflite model carries its weights and input shape"):
        load_graph(str(path(FLOAT["ad01"][0])), input_shape=(640,))


def test_load_model_points_a_model_file_to_convert():
    from levin.models import load_model

    with pytest.raises(LevinError, match=r"ad01_fp32.tflite is a model file.*levin convert .*--data"):
        load_model(str(path(FLOAT["ad01"][0])))


def test_profile_takes_a_float_tflite(capsys):
    from levin.cli.main import main

    assert main(["profile", "--model", str(path(FLOAT["ad01"][0]))]) == 0
    assert "peak SRAM (activation arena)" in capsys.readouterr().out
