"""Every path of the coded and sparse conv / fully connected kernels (levin_conv_coded.c,
levin_linear.c, the readers of levin_weights.c), compiled with gcc, bit for bit against the
numpy oracle, in every weight format and preference: convs decoded whole and two channels at a
time (pixel pairs, clipped windows, 1x1, strided), depthwise and grouped convs decoded per
channel, sparse convs (window pairs inside the input, clipped windows, dilation, empty channels,
offsets past uint16 on a tall dilated window), sparse fully connected layers read in place or
through the reader. Run with LEVIN_C_SANITIZE=1 for ASan and UBSan."""

from __future__ import annotations

import numpy as np
import pytest

from levin import codegen, reference
from levin.codegen import export as export_module
from levin.coding import sparse
from levin.coding.varint import encode_varint, read_varint
from levin.coding.weights import encode_tensor
from levin.config import QuantConfig
from levin.config.code import WeightCodecConfig
from levin.ir.graph import Graph
from levin.quant import ptq
from levin.targets import build

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="no C compiler (gcc / $CC) on PATH")

CASES = [("int8", "flash"), ("packed", "flash"), ("codebook", "flash"), ("rans", "flash"),
         ("sparse", "flash"), ("sparse", "speed"), ("auto", "speed")]


def coded_paths(seed: int = 5):
    """(integer graph, int8 NHWC inputs) whose layers take every coded kernel path: conv 3x3 over
    8 channels (1,152 weights: decoded whole; two of its channels all zero), strided conv with
    uneven padding to 40 channels (5,760: two channels at a time), 1x1 to 464, depthwise 3x3 over
    464 channels (4,176: per channel), grouped conv (4 groups), conv dilated (2, 2), fully
    connected to 11; 4-bit weights, 75% of them zero."""
    rng = np.random.default_rng(seed)
    g = Graph("coded_paths")
    t = g.add_input("x", (1, 9, 11, 8))
    layers = [((16, 3, 3, 8), dict(padding=1)), ((40, 3, 3, 16), dict(padding=(0, 1, 1, 1), stride=2)),
              ((464, 1, 1, 40), {}), ((464, 3, 3, 1), dict(padding=1, groups=464)),
              ((64, 3, 3, 116), dict(padding=1, groups=4)), ((16, 3, 3, 64), dict(padding=2, dilation=2))]
    for k, (shape, attrs) in enumerate(layers):
        w = rng.normal(0, 0.5, shape).astype(np.float32)
        w[rng.random(shape) < 0.75] = 0.0
        if k == 0:
            w[3] = w[9] = 0.0
        t = g.add_node("ReLU", [g.add_node("Conv2d", [t, g.add_constant(f"w{k}", w)], f"c{k}", **attrs)], f"r{k}")
    t = g.add_node("Reshape", [t], "flat", shape=(1, -1))
    w = rng.normal(0, 0.3, (11, g.tensors[t].shape[1])).astype(np.float32)
    w[rng.random(w.shape) < 0.9] = 0.0
    g.mark_output(g.add_node("Linear", [t, g.add_constant("fc.w", w)], "fc"))
    x = rng.uniform(-1, 1, (3, 9, 11, 8)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig(weight_bits=4)))
    return ig, reference.quantize_input(ig, x)


def tall_dilated(seed: int = 6):
    """A conv whose taps lie more than 65,535 bytes apart (dilation 40 over rows of 30 x 32
    bytes): the sparse kernel's offsets do not fit uint16 and it goes tap by tap."""
    rng = np.random.default_rng(seed)
    g = Graph("tall")
    t = g.add_input("x", (1, 82, 30, 32))
    w = rng.normal(0, 0.5, (4, 3, 3, 32)).astype(np.float32)
    w[rng.random(w.shape) < 0.8] = 0.0
    g.mark_output(g.add_node("Conv2d", [t, g.add_constant("w", w)], "c", padding=1, dilation=(40, 1)))
    x = rng.uniform(-1, 1, (2, 82, 30, 32)).astype(np.float32)
    ig = ptq.build_integer_graph(g, ptq.prepare(g, x.transpose(0, 3, 1, 2), QuantConfig(weight_bits=4)))
    return ig, reference.quantize_input(ig, x)


def host_bit_exact(graph, inputs: np.ndarray, out_dir, weight_format: str, prefer: str) -> codegen.ExportResult:
    result = codegen.export_c(graph, out_dir, weight_format, prefer=prefer)
    got, _ = build.run_harness(build.build_harness(result), inputs, result.output_size)
    diff = build.compare(got, reference.run(graph, inputs)[graph.outputs[0]].reshape(got.shape))
    assert diff is None, f"{graph.name} / {weight_format} / {prefer}: {diff}"
    return result


@pytest.fixture(scope="module")
def paths():
    return coded_paths()


@pytest.mark.parametrize("weight_format,prefer", CASES)
def test_every_coded_path_is_bit_exact_on_the_host(paths, weight_format, prefer, tmp_path):
    graph, inputs = paths
    result = host_bit_exact(graph, inputs, tmp_path, weight_format, prefer)
    # All weights raw int8: the model's levin_config.h leaves the decoders out of the build.
    raw_only = "#define LEVIN_WEIGHTS_RAW_ONLY" in (tmp_path / "levin_config.h").read_text()
    assert raw_only == (weight_format == "int8"), result.chains
    if weight_format == "sparse":
        assert all(c.startswith("sparse:") for c in result.chains.values()), result.chains
    if weight_format == "sparse" and prefer == "speed":   # the kernel's in-place fully connected path
        assert result.chains["fc.w"] == "sparse:packed+raw"


@pytest.mark.parametrize("weight_format", ["sparse", "rans"])
def test_offsets_past_uint16_go_tap_by_tap(weight_format, tmp_path):
    graph, inputs = tall_dilated()
    host_bit_exact(graph, inputs, tmp_path, weight_format, "flash")


# Codings the format choice rarely makes, forced on every weight tensor: (config, positions).
RECIPES = {
    "gaps+raw": (WeightCodecConfig(coders=("raw",), sparse="always", codebook="never"), "gaps"),
    "packed+codebook": (WeightCodecConfig(coders=("pack",), sparse="always", codebook="always"), "packed"),
    "bitmask+rans3": (WeightCodecConfig(coders=("rans",), sparse="always", codebook="never", n_states=3), "bitmask"),
    "gaps2+rans": (WeightCodecConfig(coders=("rans",), sparse="always", codebook="never", n_states=2), "gaps"),
    "rans2": (WeightCodecConfig(coders=("rans",), sparse="never", codebook="never", n_states=2), None),
    "codebook": (WeightCodecConfig(coders=("pack",), sparse="never", codebook="always"), None),
}


def forced_body(data: np.ndarray, config: WeightCodecConfig, positions: str | None) -> bytes:
    """The body of `data` coded with `config`, its positions recoded by `positions` ("packed",
    "bitmask", "gaps": every escape width's smallest)."""
    body = encode_tensor(data, config).body
    if positions is None:
        return body
    size, pos = read_varint(body, 1, "positions")
    blobs = sparse.encode_candidates(data.reshape(-1) != 0, sparse.SparseConfig(n_states=config.n_states))
    names = [k for k in blobs if k.startswith(positions)]
    blob = min((blobs[k] for k in names), key=len)
    return body[:1] + encode_varint(len(blob)) + blob + body[pos + size:]


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_reader_path_through_the_kernels(paths, recipe, tmp_path, monkeypatch):
    graph, inputs = paths
    config, positions = RECIPES[recipe]
    bodies = {n.inputs[1]: forced_body(graph.tensors[n.inputs[1]].data, config, positions)
              for n in graph.nodes if n.op in ("Conv2d", "Linear")}
    monkeypatch.setattr(export_module, "code_weights", lambda *args, **kwargs: dict(bodies))
    result = host_bit_exact(graph, inputs, tmp_path, "auto", "flash")
    assert len(set(result.chains.values())) >= 1 and all(
        (positions or "") in c for c in result.chains.values()), result.chains
