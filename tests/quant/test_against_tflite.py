"""levin's integer arithmetic against TFLite, on the four MLPerf Tiny int8 models.

Whole models: each .tflite is imported (`levin.ir.tflite`) and run by levin's integer reference;
the outputs must equal TFLite Micro's and desktop TFLite's (ai-edge-litert, reference kernels)
bit for bit (real CIFAR-10 test images for ResNet-8, random int8 inputs for the others). The
benchmark `levin bench vs-tflm` does the same on 100+ inputs per model.

Single ops (MLPerf Tiny ResNet: ADD, AVERAGE_POOL_2D, FULLY_CONNECTED, SOFTMAX): each op's output
is recomputed by intmath from the interpreter's own input tensors.
Skipped unless `ai-edge-litert`, `tflite` and `tflite-micro` (levin's dev extra) are importable
and ../shared holds the models.

Every op's output is recomputed from the interpreter's own input tensors and must match bit for
bit, except SOFTMAX: desktop TFLite computes int8 softmax from a float lookup table, unlike TFLite
Micro's reference kernel that levin follows, so there one LSB is allowed.
"""

import numpy as np
import pytest

from levin import intmath as im
from levin.ops import softmax as sm
from tests.conftest import shared_data

litert = pytest.importorskip("ai_edge_litert.interpreter")
tflite = pytest.importorskip("tflite")
pytest.importorskip("tflite_micro")

from levin.ir import tflite as tflite_import  # noqa: E402
from levin.ir import tflite_run  # noqa: E402
from levin import reference  # noqa: E402

MODELS = {
    "kws": "keyword_spotting/kws_ref_model.tflite",
    "resnet8": "image_classification/pretrainedResnet_quant.tflite",
    "vww": "visual_wake_words/vww_96_int8.tflite",
    "ad01": "anomaly_detection/ad01_int8.tflite",
}
N_INPUTS = 8   # per model here; the benchmark runs 100+


def model_inputs(key, graph, n):
    """int8 inputs: CIFAR-10 test images quantized as the model's input for ResNet-8, else random."""
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    if key == "resnet8":
        d = np.load(shared_data("cifar10") / "cifar10_test.npz")
        idx = np.linspace(0, len(d["y"]) - 1, n).astype(int)       # every class
        return reference.quantize_input(graph, d["x"][idx].astype(np.float32))
    return np.random.default_rng(1).integers(-128, 128, (n,) + shape).astype(np.int8)


@pytest.fixture(scope="module", params=list(MODELS))
def imported(request):
    path = shared_data("models/mlperf_tiny") / MODELS[request.param]
    g = tflite_import.load(path)
    x = model_inputs(request.param, g, N_INPUTS)
    return request.param, path.read_bytes(), g, x


def test_model_bit_exact_with_tflite_micro(imported):
    key, data, g, x = imported
    want = tflite_run.run_tflm(data, x)
    got = reference.run(g, x)[g.outputs[0]]
    np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=key)


def test_model_bit_exact_with_desktop_tflite_reference_kernels(imported):
    # desktop TFLite's reference FULLY_CONNECTED rounds once (TFLITE_SINGLE_ROUNDING's formula)
    # where its CONV_2D, and TFLite Micro, round twice: levin rounds once in Linear only
    key, data, g, x = imported
    want = tflite_run.run_litert(data, x, "BUILTIN_REF")
    got = reference.run(g, x, single_round={"Linear"})[g.outputs[0]]
    np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=key)

MODEL = "image_classification/pretrainedResnet_quant.tflite"
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


def _options(op, cls):
    table = op.BuiltinOptions()
    opt = cls()
    opt.Init(table.Bytes, table.Pos)
    return opt


@pytest.fixture(scope="module")
def model():
    path = shared_data("models/mlperf_tiny") / MODEL
    it = litert.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.random.default_rng(0).integers(-128, 128, inp["shape"]).astype(np.int8))
    it.invoke()
    fb = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    return it, fb


def _ops(fb, name):
    g = fb.Subgraphs(0)
    code = getattr(tflite.BuiltinOperator, name)
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        oc = fb.OperatorCodes(op.OpcodeIndex())
        if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) == code:
            yield op


def _q(it, index):
    qp = {d["index"]: d for d in it.get_tensor_details()}[index]["quantization_parameters"]
    return qp["scales"], qp["zero_points"]


def test_add_is_bit_exact(model):
    it, fb = model
    for op in _ops(fb, "ADD"):
        (s1, z1), (s2, z2), (so, zo) = (_q(it, t) for t in (op.Inputs(0), op.Inputs(1), op.Outputs(0)))
        act = ACTIVATION[_options(op, tflite.AddOptions).FusedActivationFunction()]
        p = im.add_params(s1[0], z1[0], s2[0], z2[0], so[0], zo[0], act)
        got = im.add_quantized(it.get_tensor(op.Inputs(0)), it.get_tensor(op.Inputs(1)), p)
        np.testing.assert_array_equal(got, it.get_tensor(op.Outputs(0)))


def test_global_average_pool_is_bit_exact(model):
    it, fb = model
    for op in _ops(fb, "AVERAGE_POOL_2D"):
        x, y = it.get_tensor(op.Inputs(0)), it.get_tensor(op.Outputs(0))
        if y.shape[1:3] != (1, 1):
            pytest.skip("only a global average pool is recomputed here")
        so, zo = _q(it, op.Outputs(0))
        lo, hi = im.activation_range(ACTIVATION[_options(op, tflite.Pool2DOptions).FusedActivationFunction()],
                                     so[0], zo[0])
        total = x.astype(np.int64).sum(axis=(1, 2), keepdims=True)
        got = np.clip(im.average_pool_divide(total, x.shape[1] * x.shape[2]), lo, hi)
        np.testing.assert_array_equal(got, y)


def test_fully_connected_requantize_is_bit_exact(model):
    it, fb = model
    for op in _ops(fb, "FULLY_CONNECTED"):
        x, w = it.get_tensor(op.Inputs(0)), it.get_tensor(op.Inputs(1))
        bias = it.get_tensor(op.Inputs(2)) if op.Inputs(2) >= 0 else 0
        (si, zi), (sw, _), (so, zo) = (_q(it, t) for t in (op.Inputs(0), op.Inputs(1), op.Outputs(0)))
        acc = (x.reshape(-1, w.shape[1]).astype(np.int64) - zi[0]) @ w.T.astype(np.int64) + bias
        per_channel = len(sw) > 1
        m, s = im.quantize_multipliers(im.effective_scale(si[0], sw, so[0], float_product=not per_channel))
        act = ACTIVATION[_options(op, tflite.FullyConnectedOptions).FusedActivationFunction()]
        got = im.requantize(acc, m, s, zo[0], *im.activation_range(act, so[0], zo[0]), axis=-1)
        want = it.get_tensor(op.Outputs(0)).reshape(got.shape)
        single = im.requantize(acc, m, s, zo[0], *im.activation_range(act, so[0], zo[0]), single_round=True)
        assert np.array_equal(got, want), (
            f"classic rounding differs from TFLite; single rounding equal: {np.array_equal(single, want)}")


def test_softmax_within_one_lsb(model):
    it, fb = model
    for op in _ops(fb, "SOFTMAX"):
        si, _ = _q(it, op.Inputs(0))
        beta = _options(op, tflite.SoftmaxOptions).Beta()
        got = sm.softmax_quantized(it.get_tensor(op.Inputs(0)), sm.softmax_params(si[0], beta))
        assert np.abs(got.astype(int) - it.get_tensor(op.Outputs(0))).max() <= 1
