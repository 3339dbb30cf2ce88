"""Bounded fuzzing of the ONNX importer (the long run: python -m levin.ir.onnx_fuzz --seconds 600).

Whatever the bytes, `levin.ir.onnx.from_bytes` returns a Graph or raises a LevinError, within a
second, on mutants of small float models."""

import time
import warnings

import pytest

pytest.importorskip("onnx")

from levin.ir import onnx_fuzz as F  # noqa: E402


def test_sample_models_import():
    from levin.ir import onnx as onnx_import

    for data in F.sample_files():
        assert [n.op for n in onnx_import.from_bytes(data, "s").nodes] == [
            "Conv2d", "ReLU6", "Conv2d", "MaxPool2d", "Add", "GlobalAvgPool", "Reshape", "Linear",
            "Linear", "Softmax"]


def test_mutated_onnx_files_only_ever_raise_levin_errors():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # NaN/inf weights in mutants
        stats = F.run(seed=0, seconds=4.0, case_seconds=1.0)   # raises FuzzFinding
    assert time.perf_counter() - start < 8
    assert stats.cases > 500 and not stats.findings
    assert stats.outcomes.get("imported", 0) > 0.02 * stats.cases
    assert any(not k.startswith("not a valid") for k in stats.errors)   # past the parser too


def test_the_fuzz_command_runs(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert F.main(["--seconds", "0.5", "--seed", "3"]) == 0
    assert "0 uncaught exceptions, 0 hangs" in capsys.readouterr().out


@pytest.mark.slow
def test_long_fuzz_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = F.run(seed=1, seconds=120.0, keep_going=True)
    assert not stats.findings, "\n".join(map(str, stats.findings[:10]))
    assert stats.cases > 10_000
