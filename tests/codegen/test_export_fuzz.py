"""The export path on hostile graphs: a .lvn that decodes gives C files or one LevinError naming
the node, never another exception and never half-written output. Bounded fuzzing (the long
run: python -m levin.codegen.fuzz --seconds 600) and the cases it found (issue 16)."""

import time

import numpy as np
import pytest

from levin import fuzzing
from levin.cli.main import main
from levin.coding import container
from levin.errors import GraphError
from levin.ir.graph import Graph, QuantParams
from levin import intmath as im
from levin import codegen, reference
from levin.codegen import export
from levin.codegen import fuzz as X
from tests.conftest import SHARED_DATA


def _q(scale, zp=0):
    return QuantParams(np.float32(scale), zp)


def _linear(w_scale=0.01, bias=0, out_scale=0.1):
    g = Graph("lin")
    g.add_input("x", (1, 4), np.int8, _q(0.05, -1))    # a zero input is +1 above the zero point
    g.add_constant("w", np.full((3, 4), 127, np.int8), _q(w_scale))
    g.add_constant("b", np.full(3, bias, np.int32), _q(w_scale * 0.05))
    g.mark_output(g.add_node("Linear", ["x", "w", "b"], "y", quant=_q(out_scale)))
    return g


def _unary(op, in_scale=0.05, out=(0.1, 0), **attrs):
    g = Graph("u")
    g.add_input("x", (1, 2, 2, 3), np.int8, _q(in_scale, 0))
    g.mark_output(g.add_node(op, ["x"], "y", dtype=np.int8, quant=_q(*out), **attrs))
    return g


def _add(out_scale):
    g = Graph("a")
    g.add_input("x", (1, 2, 2, 3), np.int8, _q(0.05, 0))
    g.mark_output(g.add_node("Add", ["x", "x"], "y", dtype=np.int8, quant=_q(out_scale)))
    return g


# What each graph did before: ValueError from levin.intmath, with a traceback.
FOUND = {
    "shift": (lambda: _linear(w_scale=1e10), r"requantization shift \d+ outside -31..30"),
    "accumulator": (lambda: _linear(bias=(1 << 31) - 100), "int32 accumulator plus the bias overflows"),
    "infinite ratio": (lambda: _unary("ReLU", in_scale=3e38, out=(1e-3, 0)), "overflows float32"),
    "nan pad": (lambda: _unary("Pad", out=(0.05, 0), pads=1, value=float("nan")), "NaN"),
    "softmax scale": (lambda: _unary("Softmax", in_scale=1e-12, out=(1 / 256, -128), axis=-1),
                      "must be greater than 1"),
    "add scales": (lambda: _add(1e-12), r"must lie in \(0, 1\)"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_oracle_names_the_node(case):
    make, message = FOUND[case]
    g = make()
    with pytest.raises(GraphError, match=rf"node 'y' \(\w+\): .*{message}"):
        reference.run(g, np.zeros(g.tensors[g.inputs[0]].shape, np.int8))


@pytest.mark.parametrize("case", sorted(FOUND))
def test_levin_export_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    make, message = FOUND[case]
    container.write(make(), tmp_path / "m.lvn")
    out = tmp_path / "c"
    assert main(["export", str(tmp_path / "m.lvn"), "--c", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("levin export: error: node 'y'") and err.count("\n") == 1, err
    assert not out.exists() or not any(out.iterdir())


def test_intmath_errors_are_graph_errors_and_value_errors():
    for call in (lambda: im.quantize_multiplier(float("inf")),
                 lambda: im.multiply_by_quantized_multiplier(1, 1 << 30, 31),
                 lambda: im.requantize(np.int64(1) << 40, 1, 0, 0)):
        with pytest.raises(im.IntMathError) as info:
            call()
        assert isinstance(info.value, GraphError) and isinstance(info.value, ValueError)


def test_export_renders_everything_before_writing(tmp_path, monkeypatch):
    # A template that fails while rendering model.c must not leave model.h behind.
    real = export._environment

    def broken(*args):
        env = real(*args)
        env.filters["carray"] = lambda a, per_line=16: (_ for _ in ()).throw(GraphError("render failed"))
        return env

    monkeypatch.setattr(export, "_environment", broken)
    with pytest.raises(GraphError, match="render failed"):
        codegen.export_c(_linear(), tmp_path / "c", "int8")
    assert not (tmp_path / "c").exists()


def test_mutated_lvn_files_export_or_raise_levin_errors():
    start = time.perf_counter()
    stats = X.run(seed=0, seconds=6.0, files=X.sample_files(), case_seconds=1.0)   # raises FuzzFinding
    assert time.perf_counter() - start < 10
    assert stats.cases > 30 and not stats.findings
    exported = sum(n for k, n in stats.outcomes.items() if k.endswith("exported"))
    assert exported > 0.1 * stats.cases
    # value mutations reach the integer arithmetic: errors that name a node
    assert sum(n for k, n in stats.errors.items() if k.startswith("node")) > 0.05 * stats.cases


def test_a_failed_export_that_leaves_files_is_a_finding(monkeypatch):
    def half(path, out_dir, fmt):
        out_dir.mkdir()
        (out_dir / "model.h").write_text("/* half */")
        raise GraphError("late failure")

    monkeypatch.setattr(codegen, "export_c", half)
    files = X.sample_files()[:1]
    with pytest.raises(fuzzing.FuzzFinding, match="HalfWritten: a failed export left"):
        X.run(seed=0, cases=20, files=files)


def test_the_fuzz_command_runs(capsys):
    assert X.main(["--seconds", "1", "--seed", "3"] + [str(p) for p in _sample_paths()]) == 0
    assert "0 uncaught exceptions, 0 hangs" in capsys.readouterr().out


def _sample_paths():
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp())
    paths = []
    for i, data in enumerate(X.sample_files()):
        paths.append(d / f"s{i}.lvn")
        paths[-1].write_bytes(data)
    return paths


@pytest.mark.slow
def test_long_fuzz_run():
    files = X.sample_files() + X.real_files(SHARED_DATA)
    stats = X.run(seed=1, seconds=120.0, files=files, keep_going=True)
    assert not stats.findings, "\n".join(map(str, stats.findings[:10]))
    assert stats.cases > 1000
