"""docs/adding-an-op.md, followed step by step: a toy op ("Square", y = x * x) defined in this one
module, registered, and run through capture, the float interpreter, quantization, the integer
reference and the C export, bit-exact. If this test needs a change, so does the doc."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from levin import intmath as im, ops
from levin.config import QuantConfig
from levin.ir import interpreter, torch_ops
from levin.ir.capture import capture
from levin.ops import qparams
from levin.ops.registry import CBinding, Op
from levin.ops.shapes import unary
from levin.quant import ptq
from levin.targets import build

# --- step 1: the op's module (here inline) -------------------------------------------------------
from levin import codegen, reference

# --- step 1: the op's module (here inline) -------------------------------------------------------


def square_table(node, ins, out) -> np.ndarray:
    """int8 output code of each int8 input code: exact in the reference and in C alike."""
    (s_in, zp_in), (s_out, zp_out) = qparams.sz(ins[0]), qparams.sz(out)
    real = np.float64(np.float32(s_in)) * (np.arange(-128, 128) - zp_in)
    return np.clip(im.round_half_away(real * real / np.float64(np.float32(s_out))) + zp_out,
                   -128, 127).astype(np.int8)


def square_reference(node, args, ins, out, single_round=False):
    return square_table(node, ins, out)[args[0].astype(np.int64) + 128]


def square_prepare(ctx, node, k):
    ins = [ctx.graph.tensors[i] for i in node.inputs]
    return {"arrays": {f"n{k}_table": square_table(node, ins, ctx.graph.tensors[node.output])},
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output),
            "n": ctx.graph.tensors[node.output].size}


# step 2: its C kernel, one file, and its template (two macros: data and call)
SQUARE_C = """#include <stdint.h>
void toy_square_s8(const int8_t *table, const int8_t *in, int8_t *out, uint32_t n) {
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        out[i] = table[(int32_t)in[i] + 128];
    }
}
"""
SQUARE_TEMPLATE = """{% macro data(n) %}
void toy_square_s8(const int8_t *table, const int8_t *in, int8_t *out, uint32_t n);
{% endmacro %}
{% macro call(n) %}
    toy_square_s8(n{{ n.k }}_table, (const int8_t *){{ n.in }}, (int8_t *){{ n.out }}, {{ n.n }}u);
{% endmacro %}
"""


class Square(nn.Module):
    def forward(self, x):
        return x * x


@pytest.fixture
def square_op(tmp_path):
    (tmp_path / "toy_square.c").write_text(SQUARE_C)
    (tmp_path / "op_square.c.j2").write_text(SQUARE_TEMPLATE)
    op = Op("Square", (1, 1), {}, unary, evaluate=lambda x: x * x, evaluate_torch=lambda x: x * x,
            reference=square_reference,
            c=CBinding(tmp_path / "op_square.c.j2", square_prepare, (tmp_path / "toy_square.c",)),
            kind="elementwise", element_ops=lambda graph, node: graph.tensors[node.output].size,
            code_bytes=64)
    ops.register(op)                                                   # step 3: register it
    torch_ops.MODULES[Square] = (torch_ops.unary("Square"), {})        # step 4: one frontend entry
    yield op
    del torch_ops.MODULES[Square]
    ops.unregister("Square")


def test_a_toy_op_goes_through_every_layer_bit_exact(square_op, tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Square(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    x = torch.rand(32, 1, 6, 6) * 2 - 1

    graph = capture(model, x[:1])                                      # capture
    assert [n.op for n in graph.nodes] == ["Conv2d", "Square", "Reshape", "Linear"]
    with torch.no_grad():
        want = model(x).numpy()
    got = np.concatenate([interpreter.run(graph, reference.nhwc(x[i:i + 1].numpy()))[graph.outputs[0]]
                          for i in range(len(x))])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)      # float interpreter

    ig = ptq.build_integer_graph(graph, ptq.prepare(graph, x.numpy(), QuantConfig()))   # quantize
    codes = reference.quantize_batch(ig, x.numpy())
    out = reference.run(ig, codes)[ig.outputs[0]]                      # integer reference
    approx = reference.dequantize_output(ig, out)
    assert np.abs(approx - want).max() < 0.1 * np.abs(want).max()

    if build.compiler() is None:
        pytest.skip("no C compiler (gcc / $CC) on PATH")
    result = codegen.export_c(ig, tmp_path / "c", weight_format="int8")   # C export
    assert (tmp_path / "c" / "toy_square.c").is_file()
    exe = build.build_harness(result)
    c_out, _ = build.run_harness(exe, codes, result.output_size)
    np.testing.assert_array_equal(c_out.reshape(out.shape), out)     # bit-exact with the reference


def test_an_unregistered_op_is_a_clear_error():
    with pytest.raises(Exception, match="unknown op 'Square'"):
        ops.get("Square")
