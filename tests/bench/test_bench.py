"""`levin bench`: benchmarks are found by listing levin.bench; `runtime` measures, checks and
writes its rows; bad names and options are one-line errors."""

import json

import pytest

from levin import bench
from levin.bench import runtime
from levin.cli.main import main
from tests.conftest import require_cortex_m  # noqa: E402


def test_benchmarks_are_discovered_by_listing_the_package():
    assert "runtime" in bench.names()
    assert all(not n.startswith("_") for n in bench.names())
    assert bench.get("runtime") is runtime


def test_unknown_benchmark_is_a_one_line_error(capsys):
    assert main(["bench", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nosuch'" in err and "runtime" in err


def test_unknown_model_or_format_is_a_one_line_error(capsys):
    assert main(["bench", "runtime", "--formats", "int8,zip"]) == 2
    assert "unknown model or format zip" in capsys.readouterr().err


def test_bad_model_files_are_one_line_errors(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["bench", "runtime", str(tmp_path / "notes.txt")]) == 2
    assert "expected a .lvn, .tflite or .onnx model file" in capsys.readouterr().err
    assert main(["bench", "runtime", str(tmp_path / "gone.lvn")]) == 2
    err = capsys.readouterr().err
    assert "gone.lvn" in err and err.count("\n") == 1


def test_tradeoff_line_comes_from_the_rows():
    rows = [dict(model="lenet5-w4-d8", format=f, density=0.08, instructions=i, flash=b)
            for f, i, b in [("int8", 100, 4000), ("sparse", 60, 900)]]
    (line,) = runtime.tradeoff(rows)
    assert "60 instructions vs dense int8 100 (0.60x, fewer)" in line
    assert runtime.tradeoff(rows[:1]) == []


def test_runtime_bench_end_to_end(tmp_path, capsys):
    require_cortex_m()
    pytest.importorskip("levin.codegen", reason="the C code generator is not available")
    out = tmp_path / "r.json"
    code = main(["bench", "runtime", "--models", "digits_cnn", "--formats", "int8,rans",
                 "--inputs", "1", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "digits_cnn" in text and "M4 instr" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["format"] for r in rows] == ["int8", "rans"]
    for r in rows:
        assert r["m4_exact"] and r["host_exact"]
        assert r["flash"] == r["text"] + r["rodata"] + r["data"] >= r["weight_bytes"]
        assert r["ram"] >= r["arena"] + r["stack"] and r["instructions"] > 0 and r["host_us"] > 0
    assert rows[1]["instructions"] > rows[0]["instructions"]  # decoding weights costs instructions


def test_bench_examples_parse():
    import shlex

    from levin.cli import bench as bench_cmd
    from levin.cli.main import build_parser

    lines = [ln.strip() for ln in bench_cmd.EXAMPLES.splitlines() if ln.strip().startswith("levin ")]
    assert len(lines) >= 4
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        options, _ = bench_cmd._split_json(list(args.options), args.json)
        module = bench.get(args.name)
        if hasattr(module, "parser") and "--help-bench" not in options:
            module.parser().parse_args(options)


def test_runtime_bench_per_layer(tmp_path, capsys):
    require_cortex_m()
    pytest.importorskip("levin.codegen", reason="the C code generator is not available")
    out = tmp_path / "r.json"
    assert main(["bench", "runtime", "--models", "digits_cnn", "--formats", "int8", "--inputs", "1",
                 "--no-host", "--per-layer", "--json", str(out)]) == 0
    assert "M4 instructions per layer" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())["rows"]
    layers = row["layers"]
    assert [layer["op"] for layer in layers][:1] == ["Conv2d"] and layers[-1]["op"] == "Linear"
    # The layers hold the whole inference but the output copy and return (and add the hooks).
    assert abs(row["instructions"] - sum(layer["instructions"] for layer in layers)) < 200


def test_runtime_bench_of_a_model_file_matches_profile(tmp_path, capsys):
    """`levin bench runtime model.lvn`: the build `levin export` makes, measured by the function
    behind `levin profile model.lvn` (so both report the same bytes and instructions)."""
    require_cortex_m()
    from levin.targets import device_numbers
    from levin.bench._graphs import int8_graph
    from levin.coding import container

    graph, _ = int8_graph("digits_cnn", n_inputs=1, weight_bits=4)
    lvn = tmp_path / "digits.lvn"
    container.write(graph, lvn)
    assert main(["bench", "runtime", str(lvn), "--inputs", "1", "--no-host", "--json", "-"]) == 0
    captured = capsys.readouterr()
    (row,) = json.loads(captured.out)["rows"]           # --json -: only JSON on stdout
    assert "digits" in captured.err and "M4 instr" in captured.err
    assert (row["model"], row["format"], row["file"], row["m4_exact"]) == ("digits", "auto", str(lvn), True)
    n = device_numbers.measure(lvn, tmp_path / "profile")
    assert (row["flash"], row["weight_bytes"], row["ram"], row["stack"], row["instructions"]) == \
        (n.flash, n.weight_bytes, n.ram, n.stack, n.instructions)
