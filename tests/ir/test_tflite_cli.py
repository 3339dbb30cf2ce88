"""`levin convert`: the examples of its help text, run on the MLPerf Tiny KWS model."""

import shutil

import numpy as np
import pytest

pytest.importorskip("tflite")

from levin.cli import convert  # noqa: E402
from levin.cli.main import main  # noqa: E402
from levin.coding import container  # noqa: E402
from levin.ir import tflite as T  # noqa: E402
from levin import reference  # noqa: E402
from tests.ir.test_tflite import model_path  # noqa: E402


def test_help_examples_run(tmp_path, monkeypatch, capsys):
    shutil.copy(model_path("kws"), tmp_path / "model.tflite")
    monkeypatch.chdir(tmp_path)
    lines = [ln.split("#")[0].split()[1:] for ln in convert.EXAMPLES.splitlines() if ln.strip().startswith("levin ")]
    assert len(lines) == 4
    for argv in lines:
        assert main(argv) == 0, argv
    assert "model.tflite (53,936 B) -> model.lvn" in capsys.readouterr().out
    orig = T.load("model.tflite")
    x = np.random.default_rng(0).integers(-128, 128, (4, 49, 10, 1)).astype(np.int8)
    want = reference.run(orig, x)[orig.outputs[0]]
    for lossless in (container.read("model.lvn"), T.load("model.tflite")):
        np.testing.assert_array_equal(reference.run(lossless, x)[lossless.outputs[0]], want)
    small = container.read("small.lvn")
    w = small.tensors["conv0.weight"].data
    assert len(np.unique(w)) <= 16 and (w == 0).mean() >= 0.3


def test_bad_suffix_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "m.pb").write_bytes(b"x")
    assert main(["convert", str(tmp_path / "m.pb")]) == 2
    assert "unknown suffix '.pb'; use .tflite, .onnx, .lvn" in capsys.readouterr().err


def test_truncated_or_random_tflite_is_one_line_and_exit_2(tmp_path, capsys):
    # Issue 16: 13 of 13 such files gave a struct.error traceback and exit 1.
    from levin.ir.tflite_fuzz import sample_files

    data = sample_files()[0]
    rng = np.random.default_rng(0)
    cases = [data[:n] for n in (8, 12, 64, 200, len(data) // 2, len(data) - 1)]
    cases += [data[:8] + rng.integers(0, 256, len(data) - 8, dtype=np.uint8).tobytes() for _ in range(7)]
    for k, blob in enumerate(cases):
        src = tmp_path / f"bad{k}.tflite"
        src.write_bytes(blob)
        assert main(["convert", str(src)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"levin convert: error: {src}: not a valid .tflite") and err.count("\n") == 1, err
        assert not src.with_suffix(".lvn").exists()
