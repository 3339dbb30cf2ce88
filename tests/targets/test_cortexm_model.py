"""Generated models on the Cortex-M4 under qemu: every weight format gives the numpy integer
reference's output codes bit for bit, through every path of the conv kernels (SIMD on the M4)."""

import numpy as np
import pytest

from levin.bench._graphs import int8_graph, weight_density
from levin.targets import cortexm

from levin import reference

try:
    cortexm.require_toolchain()
    cortexm.require_qemu()
except cortexm.ToolMissing as exc:
    pytest.skip(f"Cortex-M tests need the cross toolchain and qemu: {exc}", allow_module_level=True)
codegen = pytest.importorskip("levin.codegen", reason="the C code generator is not available")


def m4_outputs(graph, inputs, fmt, tmp_path):
    export = codegen.export_c(graph, tmp_path / "c", weight_format=fmt)
    fw = cortexm.model_firmware(export, inputs, tmp_path / "m4")
    return cortexm.run(fw), fw, export


def reference_codes(graph, inputs):
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    out = reference.run(graph, inputs.reshape((len(inputs),) + shape))[graph.outputs[0]]
    return out.reshape(len(inputs), -1)


@pytest.fixture(scope="module")
def digits():
    return int8_graph("digits_cnn", n_inputs=3, weight_bits=4)


@pytest.mark.parametrize("fmt", ["int8", "packed", "codebook", "rans", "sparse"])
def test_every_format_is_bit_exact_on_cortex_m4(digits, fmt, tmp_path):
    graph, inputs = digits
    want = reference_codes(graph, inputs)
    results, fw, export = m4_outputs(graph, inputs, fmt, tmp_path)
    assert len(results) == len(inputs)
    for k, (r, w) in enumerate(zip(results, want)):
        got = np.frombuffer(r.output, dtype=np.int8)
        assert r.status == 0, f"model_run returned {r.status} on input {k}"
        bad = np.flatnonzero(got != w)
        assert bad.size == 0, f"input {k}: first mismatches at {bad[:5]}: M4 {got[bad[:5]]}, reference {w[bad[:5]]}"
        assert r.instructions > 0 and 0 < r.stack_bytes < 4096
    # The weights are in the code's flash, the test inputs are not.
    assert fw.code.rodata >= export.weight_bytes - 64
    assert fw.image.rodata >= fw.code.rodata + inputs.size


def test_sparse_at_8_percent_matches_dense_in_less_flash(tmp_path):
    # The flash side ("sparse" picks the fewest bytes); the speed side, prefer="speed":
    # tests/targets/test_sparse_speed.py.
    graph, inputs = int8_graph("digits_cnn", density=0.08, n_inputs=1, weight_bits=4)
    assert weight_density(graph) <= 0.10
    dense, fw_dense, _ = m4_outputs(graph, inputs, "int8", tmp_path / "dense")
    sparse, fw_sparse, _ = m4_outputs(graph, inputs, "sparse", tmp_path / "sparse")
    assert dense[0].output == sparse[0].output
    assert fw_sparse.code.rodata < fw_dense.code.rodata


def _kernel_paths():
    """Every path of the conv kernels: rows (padded, strided, odd channel counts, 1x1), depthwise
    (dilated, clipped windows), grouped (per tap), and a fully connected with odd rows."""
    from levin.config import QuantConfig
    from levin.ir.graph import Graph
    from levin.quant import ptq
    rng = np.random.default_rng(7)
    g = Graph("paths")
    t = g.add_input("x", (1, 9, 11, 3))
    for k, (shape, attrs) in enumerate([((7, 3, 3, 3), dict(padding=1)), ((7, 3, 3, 1), dict(padding=2, groups=7, dilation=2)),
                                        ((6, 2, 3, 7), dict(padding=(0, 1, 1, 1), stride=2)),
                                        ((9, 3, 3, 2), dict(padding=1, groups=3)), ((5, 1, 1, 9), {})]):
        w = g.add_constant(f"w{k}", rng.normal(0, 0.4, shape).astype(np.float32))
        t = g.add_node("ReLU", [g.add_node("Conv2d", [t, w], f"c{k}", **attrs)], f"r{k}")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    size = g.tensors[t].shape[1]
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", rng.normal(0, 0.2, (11, size)).astype(np.float32))], "fc"))
    x = rng.uniform(-1, 1, (4, 9, 11, 3)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x).reshape(len(x), -1)


@pytest.mark.parametrize("fmt", ["int8", "rans"])
def test_every_conv_path_is_bit_exact_with_simd_on_cortex_m4(fmt, tmp_path):
    graph, inputs = _kernel_paths()
    want = reference_codes(graph, inputs)
    results, _, _ = m4_outputs(graph, inputs, fmt, tmp_path)
    for r, w in zip(results, want):
        assert r.status == 0 and np.array_equal(np.frombuffer(r.output, dtype=np.int8), w)
    from tests.runtime.test_c_models import check_bit_exact   # the portable C on the host
    check_bit_exact(graph, inputs.reshape(len(inputs), 9, 11, 3), tmp_path / "host", fmt)


def _first_conv():
    """A KWS-like first layer: a 5x3 window over one channel into 16 (rows of 3 bytes), strided
    and padded, that the kernel gathers into the planned scratch (im2col), then a 3x3 depthwise
    conv whose border windows are gathered likewise, and a 1x1 conv whose output the plan keeps
    apart from its input, so that it widens four channels' weights at a time."""
    from levin.config import QuantConfig
    from levin.ir.graph import Graph
    from levin.quant import ptq
    rng = np.random.default_rng(8)
    g = Graph("first")
    t = g.add_input("x", (1, 13, 7, 1))
    t = g.add_node("Conv2d", [t, g.add_constant("w", rng.normal(0, 0.4, (16, 5, 3, 1)).astype(np.float32))], "c",
                   padding=(2, 1, 1, 1), stride=2)
    t = g.add_node("ReLU", [t], "r")
    t = g.add_node("Conv2d", [t, g.add_constant("dw.w", rng.normal(0, 0.4, (16, 3, 3, 1)).astype(np.float32))], "dw",
                   padding=1, groups=16)   # border windows clipped (DSP) or gathered, then as interior ones
    t = g.add_node("Conv2d", [t, g.add_constant("mix.w", rng.normal(0, 0.3, (13, 1, 1, 16)).astype(np.float32))], "mix")
    # a 1x1 conv, weights widened four channels at a time: three groups of four and one left over
    # then a wider layer makes the peak: the gathers' bytes are free
    t = g.add_node("Conv2d", [t, g.add_constant("wide.w", rng.normal(0, 0.3, (64, 1, 1, 13)).astype(np.float32))], "wide")
    t = g.add_node("Conv2d", [t, g.add_constant("narrow.w", rng.normal(0, 0.1, (4, 1, 1, 64)).astype(np.float32))], "narrow")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", rng.normal(0, 0.2, (5, g.tensors[t].shape[1]))
                                                          .astype(np.float32))], "fc"))
    x = rng.uniform(-1, 1, (3, 13, 7, 1)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x).reshape(len(x), -1)


def test_a_first_conv_gathers_its_windows_in_free_arena(tmp_path):
    graph, inputs = _first_conv()
    export = codegen.export_c(graph, tmp_path / "c", weight_format="int8")
    model_c = (tmp_path / "c" / "model.c").read_text()
    for call in model_c.split("levin_conv2d_s8(")[1:3]:
        assert "(arena + " in call.split(";")[0].split(",")[-1]
    assert model_c.count(".scratch_use = 1") == 2 and ".scratch_use = 3" in model_c
    results = cortexm.run(cortexm.model_firmware(export, inputs, tmp_path / "fw"))
    for r, w in zip(results, reference_codes(graph, inputs)):
        assert r.status == 0 and np.array_equal(np.frombuffer(r.output, dtype=np.int8), w)
    from tests.runtime.test_c_models import check_bit_exact
    check_bit_exact(graph, inputs.reshape(len(inputs), 13, 7, 1), tmp_path / "host", "int8")


@pytest.mark.parametrize("core, flags", [("cortex-m4", ("-DLEVIN_DOT_NO_ASM",)), ("cortex-m4", ("-O0",)),
                                         ("cortex-m0plus", ())])
def test_the_c_inner_loops_equal_the_assembly(core, flags, tmp_path, monkeypatch):
    """The DSP loops in C (LEVIN_DOT_NO_ASM, or -O0 where the assembly is off) and the portable
    loops of a core without DSP give the same bytes as the reference, like the assembly."""
    monkeypatch.setattr(cortexm, "CFLAGS", cortexm.CFLAGS + flags)
    graph, inputs = _kernel_paths()
    export = codegen.export_c(graph, tmp_path / "c", weight_format="int8")
    results = cortexm.run(cortexm.model_firmware(export, inputs, tmp_path / "fw", core=core))
    for r, w in zip(results, reference_codes(graph, inputs)):
        assert r.status == 0 and np.array_equal(np.frombuffer(r.output, dtype=np.int8), w)


@pytest.mark.parametrize("channels", [8, 4])
@pytest.mark.parametrize("core, flags", [("cortex-m4", ()), ("cortex-m4", ("-O2",)),
                                         ("cortex-m4", ("-DLEVIN_DOT_NO_ASM",)), ("cortex-m0plus", ())])
def test_1x1_convs_widen_two_pixels_at_a_time_bit_exact(core, flags, channels, tmp_path, monkeypatch):
    """A 1x1 conv with room for two widened pixels runs them in pairs (scratch_use 4,
    levin_conv.c conv_widened_pairs): over an even and an odd number of four-channel blocks,
    strided and streamed over its input, with the last pixel alone and out_c % 4 channels left
    over; beside it the one-pixel path: the same bytes as the reference with the assembly, its
    C, the portable loops, and on the host."""
    from tests.runtime.test_kernel_paths import widened_pairs
    monkeypatch.setattr(cortexm, "CFLAGS", cortexm.CFLAGS + flags)
    graph, inputs = widened_pairs(channels)
    export = codegen.export_c(graph, tmp_path / "c", weight_format="int8")
    model_c = (tmp_path / "c" / "model.c").read_text()
    assert ".scratch_use = 4" in model_c and ".scratch_use = 2" in model_c
    flat = inputs.reshape(len(inputs), -1)
    results = cortexm.run(cortexm.model_firmware(export, flat, tmp_path / "fw", core=core))
    for r, w in zip(results, reference_codes(graph, flat)):
        assert r.status == 0 and np.array_equal(np.frombuffer(r.output, dtype=np.int8), w)
    if not flags and core == "cortex-m4":
        from tests.runtime.test_c_models import check_bit_exact   # the portable C on the host
        check_bit_exact(graph, inputs, tmp_path / "host", "int8")


def _depthwise_borders():
    """3x3 depthwise convs over 6 channels (four, then two on their own) whose windows the input
    clips by one or two rows and a column: strided with padding 1, then padded 2 above and below,
    1 left; a 1x1 conv and a fully connected layer after them."""
    from levin.config import QuantConfig
    from levin.ir.graph import Graph
    from levin.quant import ptq
    rng = np.random.default_rng(11)
    g = Graph("borders")
    t = g.add_input("x", (1, 9, 7, 6))
    for k, attrs in enumerate([dict(padding=1, stride=2), dict(padding=(2, 2, 1, 0))]):
        w = g.add_constant(f"dw{k}.w", rng.normal(0, 0.4, (6, 3, 3, 1)).astype(np.float32))
        t = g.add_node("ReLU", [g.add_node("Conv2d", [t, w], f"dw{k}", groups=6, **attrs)], f"r{k}")
    t = g.add_node("Conv2d", [t, g.add_constant("pw.w", rng.normal(0, 0.3, (5, 1, 1, 6)).astype(np.float32))], "pw")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", rng.normal(0, 0.2, (4, g.tensors[t].shape[1]))
                                                          .astype(np.float32))], "fc"))
    x = rng.uniform(-1, 1, (3, 9, 7, 6)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x)


@pytest.mark.parametrize("core, flags", [("cortex-m4", ()), ("cortex-m4", ("-O2",)),
                                         ("cortex-m4", ("-DLEVIN_DOT_NO_ASM",)), ("cortex-m0plus", ())])
def test_depthwise_border_windows_bit_exact(core, flags, tmp_path, monkeypatch):
    """3x3 depthwise windows clipped by the input (rows 1 to 3, columns 2 or 3, channels past the
    last four) run in place four channels at a time with the DSP assembly
    (levin_conv.c depthwise_3x3_clipped), gathered or one channel at a time elsewhere: the same
    bytes as the reference on each, and on the host."""
    monkeypatch.setattr(cortexm, "CFLAGS", cortexm.CFLAGS + flags)
    graph, inputs = _depthwise_borders()
    export = codegen.export_c(graph, tmp_path / "c", weight_format="int8")
    flat = inputs.reshape(len(inputs), -1)
    results = cortexm.run(cortexm.model_firmware(export, flat, tmp_path / "fw", core=core))
    for r, w in zip(results, reference_codes(graph, flat)):
        assert r.status == 0 and np.array_equal(np.frombuffer(r.output, dtype=np.int8), w)
    if not flags and core == "cortex-m4":
        from tests.runtime.test_c_models import check_bit_exact   # the portable C on the host
        check_bit_exact(graph, inputs, tmp_path / "host", "int8")
