"""`levin bench kernels`: the MLPerf Tiny models against CMSIS-NN's counts, end to end on the
smallest one, and the pieces its tables are made of."""

import json

import numpy as np
import pytest

from levin.bench import kernels
from levin.bench._layers import variant
from levin.cli.main import main
from levin.ir.graph import Graph
from tests.conftest import require_cortex_m, shared_data


def test_builds_run_the_m4_at_every_level_and_other_cores_at_os():
    assert kernels.builds(["m4", "m0+"], ["-Os", "-O2"]) == [
        ("cortex-m4", "-Os"), ("cortex-m4", "-O2"), ("cortex-m0plus", "-Os")]


def test_variants_name_the_kernel_path():
    g = Graph("g")
    g.add_input("x", (1, 8, 8, 1))
    g.add_constant("w0", np.zeros((16, 10, 4, 1), np.float32))
    g.add_constant("w1", np.zeros((16, 3, 3, 1), np.float32))
    g.add_constant("w2", np.zeros((32, 1, 1, 16), np.float32))
    g.add_node("Conv2d", ["x", "w0"], "c0", padding=(4, 5, 1, 2))
    g.add_node("Conv2d", ["c0", "w1"], "dw", groups=16, stride=2, padding=1)
    g.add_node("Conv2d", ["dw", "w2"], "pw")
    assert [variant(g, n) for n in g.nodes] == ["conv 10x4, 1 input channel", "depthwise 3x3 /2", "conv 1x1"]


def test_unknown_model_or_level_is_a_one_line_error(capsys):
    assert main(["bench", "kernels", "--models", "ad01,mnist"]) == 2
    assert "unknown model or optimisation level mnist" in capsys.readouterr().err
    assert main(["bench", "kernels", "--opt", "O3"]) == 2


def test_kernels_bench_end_to_end_on_the_autoencoder(tmp_path, capsys):
    require_cortex_m()
    data = shared_data("models").parent
    out = tmp_path / "k.json"
    assert main(["bench", "kernels", "--models", "ad01", "--inputs", "1", "--opt", "Os",
                 "--data", str(data), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "x CMSIS-NN" in text and "fully connected" in text and "est. cycles" in text
    result = json.loads(out.read_text())
    assert "estimate" in result["estimate_note"] and result["clock_mhz"] == 120
    (row,) = result["rows"]
    assert row["exact"] and row["estimate_checked"] and row["core"] == "cortex-m4"
    assert row["macs"] == 264_192 and row["cmsis_nn_instructions"] == 773_325
    assert row["ratio_to_cmsis_nn"] == pytest.approx(row["instructions"] / 773_325)
    assert row["estimated_ms"] == pytest.approx(row["estimated_cycles"] / 120e3)
    assert row["flash"] > 264_192 > row["ram"] > row["arena"] > 0
    layers = row["layers"]
    assert [layer["op"] for layer in layers] == ["Linear"] * 10  # the ReLUs run inside them
    assert sum(layer["macs"] for layer in layers) == row["macs"]
    assert sum(layer["instructions"] for layer in layers) + row["estimate_rest_instructions"] == \
        row["estimate_instructions"]
    for layer in layers:
        # two SysTick readings per layer, each exact to 5 instructions under icount
        assert abs(layer["instructions"] - layer["instructions_icount"]) <= 10
        assert layer["estimated_cycles"] > layer["instructions"] > layer["macs"]
