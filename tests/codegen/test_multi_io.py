"""Several inputs and outputs through the C API (issue 18 item 4): a two-input ADD with a second
head, bit-exact with the integer reference on the host harness, on the Cortex-M4, and through
the package's example."""

import subprocess

import numpy as np
import pytest

from levin import reference
from levin.codegen import export_c
from levin.errors import GraphError
from levin.ir.graph import Graph, QuantParams
from levin.targets import build, cortexm
from tests.conftest import require_cortex_m  # noqa: E402

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="needs a host C compiler")


def q(scale: float, zp: int) -> QuantParams:
    return QuantParams(np.array([scale], np.float32), np.array([zp]))


def two_in_two_out() -> Graph:
    """sum = a + b (broadcast-free), pooled = maxpool(a): inputs a, b; outputs sum, pooled."""
    g = Graph("two_heads")
    a = g.add_input("a", (1, 4, 4, 8), np.int8, q(0.05, -3))
    b = g.add_input("b", (1, 4, 4, 8), np.int8, q(0.03, 5))
    s = g.add_node("Add", [a, b], "sum", dtype=np.int8, quant=q(0.08, 1))
    p = g.add_node("MaxPool2d", [a], "pooled", dtype=np.int8, quant=q(0.05, -3), kernel=2, stride=2, padding=0)
    g.mark_output(s)
    g.mark_output(p)
    return g


@pytest.fixture(scope="module")
def case():
    g = two_in_two_out()
    rng = np.random.default_rng(0)
    xa = rng.integers(-128, 128, (5, 4, 4, 8), dtype=np.int8)
    xb = rng.integers(-128, 128, (5, 4, 4, 8), dtype=np.int8)
    want = reference.run(g, {"a": xa, "b": xb})
    flat_in = np.concatenate([xa.reshape(5, -1), xb.reshape(5, -1)], axis=1)
    flat_out = np.concatenate([want["sum"].reshape(5, -1), want["pooled"].reshape(5, -1)], axis=1)
    return g, flat_in, flat_out


def test_the_header_names_each_input_and_output(case, tmp_path):
    g, _, _ = case
    export_c(g, tmp_path, name="duo")
    header = (tmp_path / "duo.h").read_text()
    assert ("duo_run(const int8_t *input0, const int8_t *input1, int8_t *output0, int8_t *output1, "
            "uint8_t *arena, size_t arena_bytes)") in header
    for macro in ("DUO_INPUT_COUNT 2u", "DUO_OUTPUT_COUNT 2u", "DUO_INPUT1_SIZE 128u", "DUO_OUTPUT1_SIZE 32u",
                  "duo_quantize_input1(float", "duo_dequantize_output0(int8_t"):
        assert macro in header


def test_host_harness_is_bit_exact(case, tmp_path):
    g, x, want = case
    export = export_c(g, tmp_path / "c")
    assert export.input_sizes == [128, 128] and export.output_sizes == [128, 32]
    got, _ = build.run_harness(build.build_harness(export), x, export.output_size)
    np.testing.assert_array_equal(got, want)


def test_cortex_m4_is_bit_exact(case, tmp_path):
    require_cortex_m()
    g, x, want = case
    export = export_c(g, tmp_path / "c")
    results = cortexm.run(cortexm.model_firmware(export, x[:2], tmp_path / "m4"))
    assert [r.status for r in results] == [0, 0]
    for r, w in zip(results, want):
        assert np.frombuffer(r.output, np.int8).tolist() == w.tolist()


def test_the_package_example_runs_every_output(case, tmp_path):
    g, _, _ = case
    export_c(g, tmp_path, name="duo")
    make = subprocess.run(["make", "-C", str(tmp_path), "run", "CFLAGS=-O2 -Wall -Wextra -Werror -pedantic"],
                          capture_output=True, text=True)
    assert make.returncode == 0, make.stderr
    assert "duo output0 (levin" in make.stdout and "duo output1 (levin" in make.stdout


def test_an_input_that_is_also_an_output_is_refused(tmp_path):
    g = Graph("echo")
    a = g.add_input("a", (1, 2, 2, 1), np.int8, q(0.1, 0))
    g.mark_output(a)
    with pytest.raises(GraphError, match="both a graph input and an output"):
        export_c(g, tmp_path)
