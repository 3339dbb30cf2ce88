"""The code generator's account of the optional kernel paths a model runs (`CBinding.kernel_paths`,
levin_config.h LEVIN_NO_<PATH>) against the paths the C actually takes: every path a model's
build with all paths on enters (the LEVIN_PATH_TAKEN hook) is one the generator kept, so a
package that compiles the others out runs the same kernels; on the host, and on the Cortex-M4
for the paths only the DSP extension takes. And with every speed path compiled out, the general
kernels alone stay bit-exact."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from levin import codegen, intmath as im, reference, runtime
from levin.config import QuantConfig
from levin.ir.graph import Graph, QuantParams
from levin.ops import cparams
from levin.ops.cparams import KERNEL_PATHS, constant_channel_biases, requant_wide
from levin.quant import ptq
from levin.errors import LevinError
from levin.targets import build, cortexm
from tests.runtime.test_c_coded_paths import CASES, coded_paths

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")

SPEED_PATHS = ("DEPTHWISE", "IM2COL", "WIDENED", "WIDENED_PAIRS", "WIDE_WEIGHTS", "LINEAR_PACKED8", "LINEAR_BOOK8")
HOOK = ("-include", "stdio.h", '-DLEVIN_PATH_TAKEN(p)=fprintf(stderr, "path %s\\n", #p)')


def first_layers(seed: int = 7):
    """A keyword-spotting front: a 10x4 conv over one channel into 16 (short window rows: the
    gathered path), a 1x1 conv, a fully connected layer."""
    rng = np.random.default_rng(seed)

    def weights(std, shape):
        return rng.normal(0, std, shape).astype(np.float32)

    g = Graph("front")
    t = g.add_input("x", (1, 12, 6, 1))
    t = g.add_node("ReLU", [g.add_node("Conv2d", [t, g.add_constant("w0", weights(0.4, (16, 10, 4, 1)))],
                                       "c0", padding=(4, 5, 1, 2), stride=(2, 2))], "r0")
    t = g.add_node("Conv2d", [t, g.add_constant("w1", weights(0.3, (8, 1, 1, 16)))], "c1")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", weights(0.2, (5, g.tensors[t].shape[1])))],
                             "fc"))
    x = rng.uniform(-1, 1, (3, 12, 6, 1)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x)


def widened_pairs(channels: int = 8, seed: int = 9):
    """1x1 convs whose input the kernel widens. With 8 input channels the first has room for two
    pixels at a time (two blocks of four channels, strided, streamed over its input, 15 output
    pixels in rows of 3, so that the last runs alone and pairs span rows; 11 output channels,
    three past the last four), a later one over 7 input channels room for one pixel only (and
    on cores without the DSP extension one is kept apart from its input). With 4, the 1x1 conv
    over 12 channels (three blocks: an odd count) gets the pairs."""
    rng = np.random.default_rng(seed)
    g = Graph("pairs")
    t = g.add_input("x", (1, 9, 5, channels))
    for k, (shape, attrs) in enumerate([((11, 1, 1, channels), dict(stride=2)), ((12, 3, 3, 11), dict(padding=1)),
                                        ((7, 1, 1, 12), {}), ((9, 1, 1, 7), {})]):
        w = g.add_constant(f"w{k}", rng.normal(0, 0.4, shape).astype(np.float32))
        t = g.add_node("ReLU", [g.add_node("Conv2d", [t, w], f"c{k}", **attrs)], f"r{k}")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", rng.normal(0, 0.2, (5, g.tensors[t].shape[1]))
                                                          .astype(np.float32))], "fc"))
    x = rng.uniform(-1, 1, (3, 9, 5, channels)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig()))
    return ig, reference.quantize_input(ig, x)


def kept_paths(out_dir) -> set[str]:
    config = (out_dir / "levin_config.h").read_text()
    return {p for p in KERNEL_PATHS if f"#define LEVIN_NO_{p} " not in config}


def run(exe, inputs: np.ndarray, output_size: int, tmp_path) -> tuple[np.ndarray, set[str]]:
    """The harness's outputs and the paths its kernels entered (printed by the hook)."""
    fin, fout = tmp_path / "in.bin", tmp_path / "out.bin"
    fin.write_bytes(np.ascontiguousarray(inputs, np.int8).tobytes())
    proc = subprocess.run([str(exe), str(fin), str(fout), str(len(inputs)), "0"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    taken = {line.split()[1] for line in proc.stderr.splitlines() if line.startswith("path ")}
    return np.frombuffer(fout.read_bytes(), np.int8).reshape(len(inputs), output_size), taken


def graphs():
    return {"coded_paths": coded_paths(), "front": first_layers(), "pairs": widened_pairs()}


@pytest.fixture(scope="module")
def models():
    return graphs()


@pytest.mark.parametrize("model", ["coded_paths", "front", "pairs"])
@pytest.mark.parametrize("weight_format,prefer", CASES + [("auto", "balanced"), ("int8", "ram")])
def test_the_generator_keeps_every_path_the_kernels_take(models, model, weight_format, prefer, tmp_path):
    graph, inputs = models[model]
    result = codegen.export_c(graph, tmp_path / "c", weight_format, prefer=prefer)
    kept = kept_paths(tmp_path / "c")
    want = reference.run(graph, inputs)[graph.outputs[0]].reshape(len(inputs), -1)
    # The package as shipped (the unkept paths compiled out) is bit-exact ...
    got, _ = build.run_harness(build.build_harness(result), inputs, result.output_size)
    assert build.compare(got, want) is None
    # ... and with every path compiled in, the kernels enter none it left out. On a host
    # without the DSP extension the 8-bit packed fully connected formats run the general
    # coded kernel (levin_conv_window.h).
    shutil.copyfile(runtime.C_DIR / "levin_config.h", tmp_path / "c" / "levin_config.h")
    got, taken = run(build.build_harness(result, extra=HOOK), inputs, result.output_size, tmp_path)
    assert build.compare(got, want) is None
    if kept & {"LINEAR_PACKED8", "LINEAR_BOOK8"}:
        kept.add("CODED_LINEAR")
    assert taken <= kept, f"{model} / {weight_format} / {prefer}: took {taken - kept}, compiled out"
    assert taken, "the hook printed nothing: LEVIN_PATH_TAKEN is not reached"


@pytest.mark.parametrize("weight_format", ["int8", "rans"])
def test_the_general_kernels_alone_are_bit_exact(models, weight_format, tmp_path):
    graph, inputs = models["coded_paths"]
    result = codegen.export_c(graph, tmp_path, weight_format, prefer="speed")
    shutil.copyfile(runtime.C_DIR / "levin_config.h", tmp_path / "levin_config.h")
    off = tuple(f"-DLEVIN_NO_{p}" for p in SPEED_PATHS)
    got, taken = run(build.build_harness(result, extra=off + HOOK), inputs, result.output_size, tmp_path)
    assert build.compare(got, reference.run(graph, inputs)[graph.outputs[0]].reshape(got.shape)) is None
    assert not taken & set(SPEED_PATHS) and "TAPS" in taken


@pytest.mark.parametrize("model,weight_format,path", [
    ("coded_paths", "packed", "WIDE_WEIGHTS"), ("coded_paths", "codebook", "WIDE_WEIGHTS"),
    ("coded_paths", "int8", "WIDE_WEIGHTS"), ("front", "int8", "WIDENED"),
    ("front", "packed", "LINEAR_PACKED8"), ("front", "codebook", "LINEAR_BOOK8")])
def test_the_generator_keeps_the_dsp_paths_the_m4_takes(models, model, weight_format, path, tmp_path):
    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except LevinError as exc:
        pytest.skip(f"needs the Cortex-M toolchain and qemu: {exc}")
    graph, inputs = models[model]
    result = codegen.export_c(graph, tmp_path / "c", weight_format, prefer="speed")
    kept = kept_paths(tmp_path / "c")
    shutil.copyfile(runtime.C_DIR / "levin_config.h", tmp_path / "c" / "levin_config.h")
    hook = ("-include", "semihost.h", '-DLEVIN_PATH_TAKEN(p)=levin_sh_puts("path " #p "\\n")')
    fw = cortexm.model_firmware(result, inputs[:1].reshape(1, -1), tmp_path / "m4", code_cflags=hook)
    (case,) = cortexm.run(fw)
    want = reference.run(graph, inputs[:1])[graph.outputs[0]].reshape(-1)
    assert case.status == 0 and np.array_equal(np.frombuffer(case.output, np.int8), want)
    console = fw.elf.with_suffix(".console.txt").read_text()
    taken = {line.split()[1] for line in console.splitlines() if line.startswith("path ")}
    assert path in taken, taken
    assert taken <= kept, f"{model} / {weight_format}: took {taken - kept}, compiled out"
    if path == "LINEAR_PACKED8":    # the generator read every symbol: no check at run time
        assert "PACKED8_CHECK" not in kept


def test_packed8_check_is_kept_only_where_a_symbol_leaves_int8():
    from levin.ops import linear
    w = {"pos_method": cparams.POS_DENSE, "coder": cparams.CODER_PACK, "bits": 8, "codebook": None,
         "offset": -127, "data": "n0_weights_data"}
    d = {"weights": w, "requant_wide": False, "left_shift": False,
         "arrays": {"n0_weights_data": np.array([0, 254, 17], np.uint8)}}
    assert linear.kernel_paths(d) == {"LINEAR_PACKED8"}
    d["arrays"]["n0_weights_data"][1] = 255        # -127 + 255 = 128: past int8, corrupt
    assert linear.kernel_paths(d) == {"LINEAR_PACKED8", "PACKED8_CHECK"}
    w["offset"] = -128                              # the kernel checks nothing then anyway
    assert linear.kernel_paths(d) == {"LINEAR_PACKED8"}


def requant_graph(bias: int, s_out: float, seed: int = 3):
    """One 3x3 conv over 8 channels into 6 whose biases are about +-`bias` (weights' scales
    0.0005-0.002, input scale 0.02, zero point 3), output scale `s_out`: a bias near 2^30 makes
    accumulators the short output stage cannot take; a tiny `s_out`, left shifts."""
    rng = np.random.default_rng(seed)
    c, o, s_x = 8, 6, 0.02
    g = Graph("requant")
    xi = g.add_input("x", (1, 5, 4, c), np.int8, QuantParams(s_x, 3))
    w = rng.integers(-127, 128, (o, 3, 3, c), dtype=np.int8)
    s_w = rng.uniform(0.0005, 0.002, o).astype(np.float32)
    b = (bias + rng.integers(-2000, 2000, o)) * rng.choice([-1, 1], o)
    wi = g.add_constant("w", w, QuantParams(s_w, np.zeros(o, np.int32), 0))
    bi = g.add_constant("b", b.astype(np.int32), QuantParams((np.float64(np.float32(s_x)) * s_w).astype(np.float32),
                                                             np.zeros(o, np.int32), 0))
    g.mark_output(g.add_node("Conv2d", [xi, wi, bi], "y", dtype=np.int8, quant=QuantParams(s_out, -5), padding=1))
    return g, rng.integers(-128, 128, (4, 5, 4, c), dtype=np.int8)


def test_the_requant_bound_is_the_largest_accumulator():
    w = np.full((1, 9), 127, np.int8)      # zero point -128: inputs less it reach 255
    edge = 2 ** 30 - 255 * 127 * 9
    assert not requant_wide(w, np.array([edge - 1]), -128, np.array([-7]))
    assert requant_wide(w, np.array([-edge]), -128, np.array([-7]))
    assert requant_wide(w, np.array([edge // 2]), -128, np.array([1]))     # a left shift doubles it
    assert not requant_wide(w, None, 0, np.array([3]))


def test_dead_channels_biases_fold_below_the_bound():
    """A channel whose weights are all zero outputs the code of its bias at every pixel: a bias
    of +-2^30 (VWW's dead channels) is replaced by one within the short stage's bound with the
    same code; channels with weights, or whose code no bias inside the bound gives, keep theirs."""
    w = np.zeros((5, 9), np.int8)
    w[4, 3] = 1
    b = np.array([2 ** 30, -2 ** 30 - 128, 2 ** 30 + 3 * 2 ** 26, 7, 2 ** 30])
    m = np.array([1569364972, 1171292447, 1 << 30, 1 << 30, 1 << 30])
    s = np.array([-26, -26, -26, -3, -26])
    got = constant_channel_biases(w, b, m, s, -128, -128, 127)
    assert np.array_equal(im.requantize(got, m, s, -128), im.requantize(b, m, s, -128))
    assert abs(got[0]) < 2 ** 30 and abs(got[1]) < 2 ** 30 and got[3] == 7 and got[4] == b[4]
    assert got[2] == b[2]      # code 10 - 128, where 0 gives -128 and 2^30 - 1 gives 8 - 128
    assert not requant_wide(w[:2], got[:2], -128, s[:2]) and requant_wide(w[:2], b[:2], -128, s[:2])


def dead_channel_graph(seed: int = 5):
    """A 3x3 conv over 8 channels into 6, channels 1 and 4 with all-zero weights and biases
    2^30 and -2^30 (weight scales 4000x smaller than the others', so their code is not clamped)."""
    rng = np.random.default_rng(seed)
    c, o, s_x = 8, 6, 0.02
    g = Graph("dead")
    xi = g.add_input("x", (1, 5, 4, c), np.int8, QuantParams(s_x, -128))
    w = rng.integers(-127, 128, (o, 3, 3, c), dtype=np.int8)
    w[[1, 4]] = 0
    s_w = np.full(o, 2e-3, np.float32)
    s_w[[1, 4]] = 5e-7
    b = rng.integers(-2000, 2000, o)
    b[1], b[4] = 2 ** 30, -2 ** 30
    wi = g.add_constant("w", w, QuantParams(s_w, np.zeros(o, np.int32), 0))
    bi = g.add_constant("b", b.astype(np.int32), QuantParams((np.float64(np.float32(s_x)) * s_w).astype(np.float32),
                                                             np.zeros(o, np.int32), 0))
    g.mark_output(g.add_node("Conv2d", [xi, wi, bi], "y", dtype=np.int8, quant=QuantParams(1.0, -128), padding=1))
    return g, rng.integers(-128, 128, (4, 5, 4, c), dtype=np.int8)


def test_dead_channels_keep_the_short_output_stage(tmp_path):
    graph, inputs = dead_channel_graph()
    result = codegen.export_c(graph, tmp_path / "c", "int8")
    assert "REQUANT_WIDE" not in kept_paths(tmp_path / "c")
    want = reference.run(graph, inputs)[graph.outputs[0]].reshape(len(inputs), -1)
    assert len(np.unique(want.reshape(-1, 6)[:, 1])) == 1 and want[0, 1] > -128   # not clamped
    got, _ = build.run_harness(build.build_harness(result), inputs, result.output_size)
    assert build.compare(got, want) is None
    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except LevinError as exc:
        pytest.skip(f"needs the Cortex-M toolchain and qemu: {exc}")
    fw = cortexm.model_firmware(result, inputs.reshape(len(inputs), -1), tmp_path / "m4")
    assert all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
               for r, w in zip(cortexm.run(fw), want))


@pytest.mark.parametrize("bias,s_out,wide", [(2 ** 30 - 1000, 4000.0, True), (2 ** 29, 2000.0, False),
                                              (0, 1e-5, False)])
def test_the_output_stage_is_short_only_where_accumulators_allow(bias, s_out, wide, tmp_path):
    """Accumulators near 2^30 keep the full output stage (REQUANT_WIDE), which the short one
    would get wrong on the M4; within the bound (right shifts or left) the short one is exact."""
    graph, inputs = requant_graph(bias, s_out)
    result = codegen.export_c(graph, tmp_path / "c", "int8")
    kept = kept_paths(tmp_path / "c")
    assert ("REQUANT_WIDE" in kept) == wide
    assert ("LEFT_SHIFT" in kept) == (s_out < 1e-3)        # the tiny output scale: left shifts
    want = reference.run(graph, inputs)[graph.outputs[0]].reshape(len(inputs), -1)
    got, _ = build.run_harness(build.build_harness(result), inputs, result.output_size)
    assert build.compare(got, want) is None
    shutil.copyfile(runtime.C_DIR / "levin_config.h", tmp_path / "c" / "levin_config.h")
    got, taken = run(build.build_harness(result, extra=HOOK), inputs, result.output_size, tmp_path)
    assert build.compare(got, want) is None and ("REQUANT_WIDE" in taken) == wide
    assert ("LEFT_SHIFT" in taken) == ("LEFT_SHIFT" in kept)
    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except LevinError as exc:
        pytest.skip(f"needs the Cortex-M toolchain and qemu: {exc}")
    for short in (False, True):
        (tmp_path / "c" / "levin_config.h").write_text("#define LEVIN_NO_REQUANT_WIDE 1\n" if short else "")
        fw = cortexm.model_firmware(result, inputs.reshape(len(inputs), -1), tmp_path / f"m4{short}")
        exact = all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                    for r, w in zip(cortexm.run(fw), want))
        assert exact == (not (short and wide))
