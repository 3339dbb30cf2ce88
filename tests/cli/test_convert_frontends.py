"""`levin convert` on float and QDQ models: the float-model examples of its help text, run on
a zoo model exported to ONNX, the MLPerf Tiny float anomaly-detection .tflite and a QDQ .onnx;
the int8 results checked against levin's float graph, TFLite Micro and the QDQ import; and the
one-line errors of bad input."""

import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("tflite")

from levin import reference, zoo  # noqa: E402
from levin.cli import convert  # noqa: E402
from levin.cli.main import main  # noqa: E402
from levin.coding import container  # noqa: E402
from levin.ir import interpreter, onnx as onnx_import, tflite as T  # noqa: E402
from levin.train import data as datasets  # noqa: E402
from tests.conftest import shared_data  # noqa: E402

AD01 = "anomaly_detection/ad01_fp32.tflite"


def export_zoo(name, path):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    torch.onnx.export(model, (torch.zeros(1, *zoo.spec(name).input_shape),), str(path),
                      opset_version=13, dynamo=False)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    from tests.ir.test_onnx_qdq import cnn, float_onnx, quantize

    export_zoo("digits_cnn", tmp_path / "digits_cnn.onnx")
    shutil.copy(shared_data("models/mlperf_tiny") / AD01, tmp_path / "ad01_fp32.tflite")
    np.save(tmp_path / "inputs.npy", np.random.default_rng(0).uniform(-2, 2, (64, 640)).astype(np.float32))
    quantize(float_onnx(cnn, (3, 8, 8), tmp_path / "cnn.onnx"), tmp_path / "cnn_qdq.onnx", (3, 8, 8))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _lines(text):
    return [ln.split("#")[0].split()[1:] for ln in text.splitlines() if ln.strip().startswith("levin ")]


def test_float_examples_run_and_give_int8_models(workdir, capsys):
    lines = _lines(convert.FLOAT_EXAMPLES)
    assert len(lines) == 3
    for argv in lines:
        assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "int8 calibrated on 1,000 samples of digits" in out and "64 samples of inputs.npy" in out
    assert "int8 vs float on 64 calibration samples: max |diff|" in out

    # digits_cnn: the int8 graph tracks the float one on digits test images
    digits = datasets.load("digits")
    f = onnx_import.load("digits_cnn.onnx")
    q = container.read("digits_cnn.lvn")
    x = digits.x_test[:50]
    fl = np.concatenate([interpreter.run(f, s[None].transpose(0, 2, 3, 1))[f.outputs[0]] for s in x])
    codes = reference.run(q, reference.quantize_batch(q, x))[q.outputs[0]]
    oq = q.tensors[q.outputs[0]].quant
    deq = (codes.astype(np.float64) - oq.zero_point[0]) * oq.scale[0]
    assert np.abs(deq - fl).max() <= 4 * oq.scale[0]

    # ad01: the int8 .tflite levin wrote runs in TFLite Micro bit-exact with levin's reference
    from levin.ir import tflite_run

    pytest.importorskip("tflite_micro")
    g = T.load("ad01.tflite")
    inputs = reference.quantize_batch(g, np.load("inputs.npy")[:4])
    want = reference.run(g, inputs)[g.outputs[0]]
    np.testing.assert_array_equal(tflite_run.run_tflm((workdir / "ad01.tflite").read_bytes(), inputs), want)

    # the QDQ model: the .lvn holds the graph its import gives, codes and scales unchanged
    a, b = onnx_import.load("cnn_qdq.onnx"), container.read("cnn.lvn")
    xi = np.random.default_rng(2).integers(-128, 128, (4, 8, 8, 3)).astype(np.int8)
    np.testing.assert_array_equal(reference.run(a, xi)[a.outputs[0]], reference.run(b, xi)[b.outputs[0]])


def _one_line_error(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


def test_bad_input_is_one_line_and_exit_2(workdir, capsys):
    _one_line_error(capsys, ["convert", "digits_cnn.onnx"],
                    "digits_cnn.onnx is a float model: pass --data SOURCE")
    _one_line_error(capsys, ["convert", "ad01_fp32.tflite", "--dataset", "digits"],
                    "--dataset digits: samples of shape (1, 8, 8); the model takes (640,)")
    np.savez(workdir / "bad.npz", y=np.zeros(3), z=np.zeros(3))
    _one_line_error(capsys, ["convert", "ad01_fp32.tflite", "--data", "bad.npz"],
                    "bad.npz: no array 'x' (has y, z)")
    np.save(workdir / "wide.npy", np.zeros((8, 641), np.float32))
    _one_line_error(capsys, ["convert", "ad01_fp32.tflite", "--data", "wide.npy"],
                    "--data wide.npy: samples of shape (641,); the model takes (640,)")
    _one_line_error(capsys, ["convert", "ad01_fp32.tflite", "--data", "inputs.npy", "--dataset", "digits"],
                    "give --data (your own) or --dataset (a built-in one), not both")
    data = (workdir / "digits_cnn.onnx").read_bytes()
    (workdir / "cut.onnx").write_bytes(data[: len(data) // 2])
    _one_line_error(capsys, ["convert", "cut.onnx", "--dataset", "digits"], "cut.onnx: not a valid ONNX model")
    _one_line_error(capsys, ["convert", "digits_cnn.onnx", "-o", "x.onnx"],
                    "output x.onnx: unknown suffix '.onnx'; use .lvn, .tflite")
    assert not (workdir / "digits_cnn.lvn").exists()


def test_unsupported_onnx_op_is_named(workdir, capsys):
    class Floor(torch.nn.Module):
        def forward(self, x):
            return torch.floor(x)

    torch.onnx.export(Floor(), (torch.zeros(1, 3, 4, 4),), "floor.onnx", opset_version=13, dynamo=False)
    _one_line_error(capsys, ["convert", "floor.onnx", "--dataset", "digits"], "(Floor): unsupported op; levin imports")


def test_dataset_with_an_int8_model_is_noted(workdir, capsys):
    assert main(["convert", "cnn_qdq.onnx", "--dataset", "digits"]) == 0
    assert "cnn_qdq.onnx is already int8; --data / --dataset is not used" in capsys.readouterr().err


def test_channels_last_inputs_are_transposed():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    np.testing.assert_array_equal(convert.calibration_layout(x, (1, 4, 5, 3), "x"), x.transpose(0, 3, 1, 2))
    first = x.transpose(0, 3, 1, 2)
    assert convert.calibration_layout(first, (1, 4, 5, 3), "x") is first


def test_quantize_takes_a_float_model_file(workdir, capsys):
    import json

    from levin.train.loop import evaluate

    assert main(["quantize", "--model", "digits_cnn.onnx", "--dataset", "digits", "--calibration-size",
                 "100", "--out", "q", "--json", "q.json", "--quiet"]) == 0
    got = json.loads((workdir / "q.json").read_text())
    torch.manual_seed(0)
    model = zoo.create("digits_cnn").eval()      # the module export_zoo wrote
    digits = datasets.load("digits")
    assert got["float_accuracy"] == pytest.approx(evaluate(model, digits.x_test, digits.y_test))
    assert abs(got["integer_accuracy"] - got["float_accuracy"]) < 0.05
    q = container.read(workdir / "q" / "model.lvn")
    assert q.tensors[q.inputs[0]].dtype == np.int8
    capsys.readouterr()
    shutil.copy(shared_data("models/mlperf_tiny") / "anomaly_detection/ad01_int8.tflite", "ad01_int8.tflite")
    _one_line_error(capsys, ["quantize", "--model", "ad01_int8.tflite", "--dataset", "digits"],
                    "ad01_int8.tflite is an int8 model already: `levin convert ad01_int8.tflite` codes it")


def test_vww_float_model_quantizes_without_int32_overflow(tmp_path):
    # Its 1x1 convs hold channels of ~1e-30 weights with real biases (ptq.bias_fits).
    from levin.ir import tflite_float

    graph = tflite_float.load_any(shared_data("models/mlperf_tiny") / "visual_wake_words/vww_96_float.tflite")
    x = np.random.default_rng(0).uniform(0, 1, (8, 3, 96, 96)).astype(np.float32)
    _, agree = convert.quantize_float(graph, x)
    assert agree.max_lsb <= 4 and agree.argmax_match == 1.0
