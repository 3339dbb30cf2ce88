"""C code generation: an integer Graph (or a .lvn file) -> model.c / model.h + the C runtime.

Read me first. The public API, stable (the Cortex-M benchmark calls it):

    export_c(graph_or_lvn_path, out_dir, weight_format="auto") -> ExportResult

writes into `out_dir`:
- `model.h`: `levin_status levin_model_run(const int8_t *input, int8_t *output, uint8_t *arena)`
  and the macros LEVIN_MODEL_ARENA_SIZE (activations + weight-decoding scratch, bytes),
  LEVIN_MODEL_ARENA_ALIGN, LEVIN_MODEL_INPUT_SIZE / _OUTPUT_SIZE, and the input/output scale and
  zero point (float/int literals for the caller; the int8 path itself uses no float);
- `model.c`: the weights and every kernel's prepared parameters as `static const` data, and the
  calls in graph order, rendered from templates/ (one template per kernel);
- the runtime sources from runtime/c (levin_*.c / .h): compile `*.c` with any C99 compiler.

`ExportResult` lists `sources` (.c) and `headers` (.h), the arena split (`activation_bytes`
from the memory planner, `scratch_bytes` on top of it for one decoded weight channel), the
weight bytes in flash and each weight tensor's chain (e.g. "sparse:gaps4+rans").

Weight formats (`weight_format`; the C reader, levin_weights.c, reads them all):
- "int8": raw int8, read in place from flash (no scratch);
- "packed": bit-packed at the width of the values' range (2..7 bits for low-bit weights);
- "codebook": sorted distinct values (flash) + bit-packed indices;
- "rans": rANS-coded values, decoded one output channel at a time into scratch;
- "sparse": coded positions of the nonzeros + their values (smallest of raw/pack/rANS, with or
  without a codebook); the kernels iterate over the nonzeros only;
- "auto": per tensor the smallest coding the C reader takes. For a .lvn input, "auto" keeps each
  tensor's stored bytes when the C reader takes its chain (Huffman and varint it does not).
The payload bytes in flash are those of the .lvn tensor section (docs/format.md); rANS
frequency tables are stored decoded (freq/cum uint16 arrays), as the decoder reads them.

Kernel parameters (multipliers, shifts, activation ranges, lookup tables) are derived here with
`levin.quant.intmath` exactly as the oracle (`runtime/reference.py`) derives them at run time,
with classic double rounding (its default). `export_c` first runs the oracle once on a zero
input, so a graph the oracle rejects is rejected here with the oracle's message.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2
import numpy as np

from levin.analyze.memory import ArenaPlan, plan_memory
from levin.coding import container, sparse
from levin.coding.entropy_model import FrequencyModel
from levin.coding.fields import ByteReader
from levin.coding.symbols import read_stream_head
from levin.coding.varint import read_varint
from levin.coding.weights import CODEBOOK, SPARSE, encode_tensor, read_codebook
from levin.config.code import WeightCodecConfig
from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, Node, Tensor
from levin.quant import intmath as im
from levin.quant import softmax as sm
from levin.runtime import reference

C_DIR = Path(__file__).resolve().parent / "c"
TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME_SOURCES = ("levin_status.c", "levin_weights.c", "levin_rans.c", "levin_conv.c", "levin_pool.c",
                   "levin_elementwise.c", "levin_softmax.c")
RUNTIME_HEADERS = ("levin_runtime.h", "levin_weights.h", "levin_rans.h", "levin_kernels.h")
SCRATCH_ALIGN = 16  # the scratch holds uint16 positions; the arena start must be this aligned

_C_CODERS = ("raw", "pack", "rans")
FORMATS: dict[str, WeightCodecConfig] = {
    "int8": WeightCodecConfig(coders=("raw",), sparse="never", codebook="never"),
    "packed": WeightCodecConfig(coders=("pack",), sparse="never", codebook="never"),
    "codebook": WeightCodecConfig(coders=("pack",), sparse="never", codebook="always"),
    "rans": WeightCodecConfig(coders=("rans",), sparse="never", codebook="never"),
    "sparse": WeightCodecConfig(coders=_C_CODERS, sparse="always", codebook="auto"),
    "auto": WeightCodecConfig(coders=_C_CODERS, sparse="auto", codebook="auto"),
}
_CODER_IDS = {"raw": 0, "pack": 1, "rans": 4}
_DENSE = 255


@dataclass
class ExportResult:
    """What `export_c` wrote and what the model needs (bytes)."""

    out_dir: Path
    sources: list[Path]
    headers: list[Path]
    weight_format: str
    arena_bytes: int          # LEVIN_MODEL_ARENA_SIZE = activation_bytes (aligned) + scratch_bytes
    activation_bytes: int     # the memory planner's static arena
    scratch_bytes: int        # the largest weight-decoding scratch of one kernel (one channel)
    input_size: int
    output_size: int
    weight_bytes: int         # weights, biases, codebooks and tables in flash (model.c data)
    chains: dict[str, str] = field(default_factory=dict)  # weight tensor -> its coding chain

    @property
    def files(self) -> list[Path]:
        return self.sources + self.headers

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "sources": [str(p) for p in self.sources],
                "headers": [str(p) for p in self.headers], "weight_format": self.weight_format,
                "arena_bytes": self.arena_bytes, "activation_bytes": self.activation_bytes,
                "scratch_bytes": self.scratch_bytes, "input_size": self.input_size,
                "output_size": self.output_size, "weight_bytes": self.weight_bytes, "chains": self.chains}


# --- weights: a tensor section body -> the fields of a C levin_weights ---------------------------


def _model_fields(model: FrequencyModel, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    arrays[prefix + "_freq"] = model.freqs.astype(np.uint16)
    arrays[prefix + "_cum"] = model.cumulative().astype(np.uint16)
    return {"freq": prefix + "_freq", "cum": prefix + "_cum", "alphabet": model.alphabet_size,
            "precision": model.precision_bits}


def parse_weights(body: bytes, t: Tensor, cname: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a tensor section body into the fields of a C `levin_weights` and the const arrays
    it points to (`cname` prefixes their names). The payloads are slices of `body`."""
    n, channels = t.size, t.shape[0]
    arrays: dict[str, np.ndarray] = {}
    w: dict[str, Any] = {"size": n, "channels": channels, "pos_method": _DENSE, "pos_states": 1,
                         "gap_bits": 0, "nnz": n, "pos_symbols": 0, "pos_data": None, "pos_len": 0,
                         "pos_model": None, "codebook": None, "codebook_size": 0}
    r = ByteReader(body, 0, len(body), f"tensor {t.name!r}")
    flags = r.u8("chain flags")
    if flags & SPARSE:
        blob = r.blob("positions")
        method, states = blob[0] & 0x0F, (blob[0] >> 4) + 1
        w.update(pos_method=method, pos_states=states, nnz=int(sparse.decode_positions(blob, n).sum()))
        if method == 0:
            _, pos = read_varint(blob, 2, "nnz")
            m, pos = read_varint(blob, pos, "gap symbols")
            w.update(gap_bits=blob[1], pos_symbols=m)
        elif method == 1:
            pos, w["pos_symbols"] = 1, n
        else:
            pos = 1
        if method in (0, 1):
            model, pos = FrequencyModel.from_bytes(blob, pos)
            w["pos_model"] = _model_fields(model, cname + "_pos", arrays)
        if len(blob) > pos:
            arrays[cname + "_pos_data"] = np.frombuffer(blob[pos:], np.uint8)
            w.update(pos_data=cname + "_pos_data", pos_len=len(blob) - pos)
    if flags & CODEBOOK:
        book = read_codebook(r, t.dtype)
        arrays[cname + "_codebook"] = book.astype(np.int8)
        w.update(codebook=cname + "_codebook", codebook_size=book.size)
    coder, param, offset = read_stream_head(r, t.dtype, indices=bool(flags & CODEBOOK))
    if coder not in _CODER_IDS:
        raise LevinError(f"tensor {t.name!r}: the C runtime does not read coder {coder!r} "
                         f"(it reads {', '.join(_CODER_IDS)})")
    rest, model_fields = body[r.pos:], None
    if coder == "rans":
        model, pos = FrequencyModel.from_bytes(rest, 0)
        if model.alphabet_size > 256:
            raise LevinError(f"tensor {t.name!r}: rANS alphabet of {model.alphabet_size} symbols; "
                             f"the C reader decodes at most 256")
        model_fields, rest = _model_fields(model, cname + "_val", arrays), rest[pos:]
    w.update(coder=_CODER_IDS[coder], bits=param + 1 if coder == "pack" else 0,
             states=param + 1 if coder == "rans" else 1, offset=offset, model=model_fields,
             data=None, len=len(rest))
    if rest:
        arrays[cname + "_data"] = np.frombuffer(rest, np.uint8)
        w["data"] = cname + "_data"
    return w, arrays


def _tensor_bodies(path: Path) -> tuple[Graph, dict[str, bytes]]:
    """The graph of a .lvn file and the chain body of each constant tensor (after its index)."""
    data = container.read_bytes(path)
    graph = container.decode(data)
    names = list(graph.tensors)
    _, _, sections = container.read_sections(data)
    bodies = {}
    for s in sections:
        if s.kind == container.TENSOR:
            index, pos = read_varint(data, s.body, "tensor index")
            bodies[names[index]] = data[pos:s.end]
    return graph, bodies


def _code_weights(graph: Graph, weight_format: str, stored: dict[str, bytes]) -> dict[str, bytes]:
    """The coded body of every weight tensor, by name."""
    bodies = {}
    for node in graph.nodes:
        if node.op in ("Conv2d", "Linear"):
            t = graph.tensors[node.inputs[1]]
            # Symmetric (zero point 0), as TFLite's; the oracle run in export_c rejects others.
            if t.dtype != np.int8:
                raise GraphError(f"weight {t.name!r}: the C kernels take int8 weights, got {t.dtype}")
            bodies[t.name] = _code_weight(t, weight_format, stored.get(t.name))
    return bodies


def _streamed(graph: Graph, bodies: dict[str, bytes]) -> list[str]:
    """Nodes whose C kernels write their output pixel by pixel (analyze/memory.py,
    stream_shift): pooling, and conv with raw weights read in place (levin_weights_in_flash)."""
    def in_flash(name: str) -> bool:
        body = bodies[name]
        return (not body[0] & (SPARSE | CODEBOOK)
                and read_stream_head(ByteReader(body, 1, len(body), name), np.dtype(np.int8), False)[0] == "raw")
    return [n.name for n in graph.nodes
            if n.op in ("MaxPool2d", "AvgPool2d") or (n.op == "Conv2d" and in_flash(n.inputs[1]))]


def _code_weight(t: Tensor, weight_format: str, stored: bytes | None) -> bytes:
    if stored is not None and weight_format == "auto":
        flags = stored[0]
        try:  # keep the file's bytes when the C reader takes them
            r = ByteReader(stored, 0, len(stored), t.name)
            r.u8("flags")
            if flags & SPARSE:
                r.blob("positions")
            if flags & CODEBOOK:
                read_codebook(r, t.dtype)
            if read_stream_head(r, t.dtype, bool(flags & CODEBOOK))[0] in _CODER_IDS:
                return stored
        except LevinError:
            pass
    config = FORMATS[weight_format]
    with warnings.catch_warnings():  # "larger than raw" is expected for packed 8-bit values
        warnings.simplefilter("ignore")
        return encode_tensor(t.data, config, t.name).body


# --- per-node preparation: one handler per op, each returns the template context ----------------


def _sz(t: Tensor) -> tuple[float, int]:
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _shifts_ok(shift: np.ndarray, node: Node) -> None:
    if shift.size and (shift.min() < -31 or shift.max() > 30):
        raise GraphError(f"node {node.name!r} ({node.op}): a requantization shift falls outside "
                         f"-31..30 (scales too far apart for TFLite's int8 kernels)")


def _rescale(t_in: Tensor, t_out: Tensor, lo: int, hi: int, float_ratio: bool) -> dict[str, int]:
    """The parameters of reference._rescale (ReluX with float32 ratio, Requantize in double)."""
    (s_in, zp_in), (s_out, zp_out) = _sz(t_in), _sz(t_out)
    m = shift = 0
    same = (s_in, zp_in) == (s_out, zp_out)
    if not same:
        ratio = (np.float32(s_in) / np.float32(s_out) if float_ratio
                 else np.float64(np.float32(s_in)) / np.float64(np.float32(s_out)))
        m, shift = im.quantize_multiplier(float(ratio))
    return {"in_zp": zp_in, "out_zp": zp_out, "multiplier": m, "shift": shift, "act_min": lo,
            "act_max": hi, "rescale": int(not same)}


class _Context:
    """What the handlers share: the graph, the plan, weight bodies, and the arrays to emit."""

    def __init__(self, graph: Graph, plan: ArenaPlan, bodies: dict[str, bytes]):
        self.graph, self.plan, self.bodies = graph, plan, bodies
        self.chains: dict[str, str] = {}
        self.scratch = 0

    def ptr(self, tensor: str) -> str:
        return f"(arena + {self.plan.offset(tensor)})"

    def weights(self, t: Tensor, cname: str, sparse_factor: int) -> tuple[dict, dict]:
        body = self.bodies[t.name]
        w, arrays = parse_weights(body, t, cname)
        per = t.size // t.shape[0]
        if w["pos_method"] != _DENSE:
            need = sparse_factor * per
            if per > 65535:
                raise GraphError(f"weight {t.name!r}: {per} weights per output channel; the sparse "
                                 f"kernels index at most 65535")
        else:
            need = 0 if (w["coder"] == 0 and w["codebook"] is None) else per
        self.scratch = max(self.scratch, need)
        from levin.coding.weights import decode_tensor
        self.chains[t.name] = decode_tensor(ByteReader(body, 0, len(body), t.name), t.shape, t.dtype).chain
        return w, arrays


def _weighted(ctx: _Context, node: Node, k: int, sparse_factor: int) -> dict:
    g = ctx.graph
    x, w_t = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]]
    out = g.tensors[node.output]
    # As the oracle: in_scale * w_scale in double for conv and fully connected alike (TFLite Micro).
    reals = im.effective_scale(_sz(x)[0], w_t.quant.scale, _sz(out)[0])
    m, shift = im.quantize_multipliers(np.atleast_1d(reals))
    channels = w_t.shape[0]
    m, shift = np.broadcast_to(m, (channels,)), np.broadcast_to(shift, (channels,))
    _shifts_ok(shift, node)
    cname = f"n{k}"
    w, arrays = ctx.weights(w_t, cname, sparse_factor)
    arrays[cname + "_mult"] = m.astype(np.int32)
    arrays[cname + "_shift"] = shift.astype(np.int32)
    bias = None
    if len(node.inputs) > 2:
        arrays[cname + "_bias"] = g.tensors[node.inputs[2]].data.astype(np.int32)
        bias = cname + "_bias"
    return {"weights": w, "arrays": arrays, "bias": bias, "in": ctx.ptr(node.inputs[0]),
            "out": ctx.ptr(node.output), "in_zp": _sz(x)[1], "out_zp": _sz(out)[1]}


def _conv(ctx: _Context, node: Node, k: int) -> dict:
    g, a = ctx.graph, node.attrs
    n, h, w, c = g.tensors[node.inputs[0]].shape
    _, ho, wo, o = g.tensors[node.output].shape
    _, kh, kw, _ = g.tensors[node.inputs[1]].shape
    if max(kh, kw) > 255:
        raise GraphError(f"node {node.name!r}: kernels up to 255 wide are supported, got {kh}x{kw}")
    d = _weighted(ctx, node, k, 5)
    d["params"] = dict(in_h=h, in_w=w, in_c=c, out_h=ho, out_w=wo, out_c=o, kernel_h=kh, kernel_w=kw,
                       stride_h=a["stride"][0], stride_w=a["stride"][1], dilation_h=a["dilation"][0],
                       dilation_w=a["dilation"][1], pad_top=a["padding"][0], pad_left=a["padding"][2],
                       groups=a["groups"], in_zp=d["in_zp"], out_zp=d["out_zp"])
    return d


def _linear(ctx: _Context, node: Node, k: int) -> dict:
    w_t = ctx.graph.tensors[node.inputs[1]]
    d = _weighted(ctx, node, k, 3)
    d["params"] = dict(in_features=w_t.shape[1], out_features=w_t.shape[0], in_zp=d["in_zp"],
                       out_zp=d["out_zp"])
    return d


def _size(ctx: _Context, name: str) -> int:
    return ctx.graph.tensors[name].size


def _relu(ctx: _Context, node: Node, k: int) -> dict:
    t_in, t_out = ctx.graph.tensors[node.inputs[0]], ctx.graph.tensors[node.output]
    lo, hi = im.activation_range({"ReLU": "RELU", "ReLU6": "RELU6"}[node.op], *_sz(t_out))
    return {"params": _rescale(t_in, t_out, lo, hi, True), "in": ctx.ptr(node.inputs[0]),
            "out": ctx.ptr(node.output), "n": t_out.size}


def _lookup(ctx: _Context, node: Node, k: int) -> dict:
    ins = [ctx.graph.tensors[i] for i in node.inputs]
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, -1)
    table = reference.lookup(node, [codes], ins, ctx.graph.tensors[node.output]).reshape(-1)
    return {"arrays": {f"n{k}_table": table.astype(np.int8)}, "table": f"n{k}_table",
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output), "n": _size(ctx, node.output)}


def _pool(ctx: _Context, node: Node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    _, h, w, c = t_in.shape
    _, ho, wo, _ = ctx.graph.tensors[node.output].shape
    if node.op == "GlobalAvgPool":
        kernel, stride, pads, include = (h, w), (h, w), (0, 0, 0, 0), True
    else:
        a = node.attrs
        kernel, stride, pads = a["kernel"], a["stride"], a["padding"]
        include = a.get("count_include_pad", False)
    params = dict(in_h=h, in_w=w, channels=c, out_h=ho, out_w=wo, kernel_h=kernel[0], kernel_w=kernel[1],
                  stride_h=stride[0], stride_w=stride[1], pad_top=pads[0], pad_left=pads[2],
                  count_include_pad=int(bool(include)), pad_value=_sz(t_in)[1])
    return {"params": params, "fn": "levin_max_pool_s8" if node.op == "MaxPool2d" else "levin_avg_pool_s8",
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


def _add(ctx: _Context, node: Node, k: int) -> dict:
    t = [ctx.graph.tensors[i] for i in (*node.inputs, node.output)]
    p = im.add_params(*_sz(t[0]), *_sz(t[1]), *_sz(t[2]))
    return {"params": vars(p), "in1": ctx.ptr(node.inputs[0]), "in2": ctx.ptr(node.inputs[1]),
            "out": ctx.ptr(node.output), "n": t[2].size}


def _concat(ctx: _Context, node: Node, k: int) -> dict:
    out = ctx.graph.tensors[node.output]
    axis = node.attrs["axis"]
    ins = [ctx.graph.tensors[i] for i in node.inputs]
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    return {"ins": [ctx.ptr(i) for i in node.inputs], "out": ctx.ptr(node.output), "outer": outer,
            "inner": [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins],
            "rescale": [_rescale(t, out, -128, 127, False) for t in ins]}


def _copy(ctx: _Context, node: Node, k: int) -> dict:
    same = ctx.plan.offset(node.inputs[0]) == ctx.plan.offset(node.output)
    return {"in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output), "n": _size(ctx, node.output),
            "alias": same}


def _pad(ctx: _Context, node: Node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    _, h, w, c = t_in.shape
    s, zp = _sz(t_in)
    value = int(im.quantize(node.attrs["value"], s, zp))
    return {"in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output), "h": h, "w": w, "c": c,
            "pads": node.attrs["pads"], "value": value}


def _softmax(ctx: _Context, node: Node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    axis = node.attrs["axis"]
    p = sm.softmax_params(_sz(t_in)[0])
    shape = t_in.shape
    return {"params": vars(p), "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output),
            "outer": int(np.prod(shape[:axis], dtype=np.int64)), "n": shape[axis],
            "inner": int(np.prod(shape[axis + 1:], dtype=np.int64))}


HANDLERS: dict[str, tuple[str, Callable[[_Context, Node, int], dict]]] = {
    "Conv2d": ("conv2d", _conv), "Linear": ("linear", _linear), "ReLU": ("rescale", _relu),
    "ReLU6": ("rescale", _relu), "Sigmoid": ("lut", _lookup), "Tanh": ("lut", _lookup),
    "MaxPool2d": ("pool", _pool), "AvgPool2d": ("pool", _pool), "GlobalAvgPool": ("pool", _pool),
    "Add": ("add", _add), "Concat": ("concat", _concat), "Reshape": ("copy", _copy),
    "Pad": ("pad", _pad), "Softmax": ("softmax", _softmax),
}


# --- rendering ------------------------------------------------------------------------------------


_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.uint16): "uint16_t",
           np.dtype(np.int32): "int32_t"}


def _carray(a: np.ndarray, per_line: int = 16) -> str:
    vals = [str(int(v)) if v != -(1 << 31) else "(-2147483647 - 1)" for v in np.ravel(a)]
    return ",\n    ".join(", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["carray"] = _carray
    env.filters["ctype"] = lambda a: _CTYPES[np.asarray(a).dtype]
    return env


def _load(graph_or_path: Graph | str | Path) -> tuple[Graph, dict[str, bytes]]:
    if isinstance(graph_or_path, Graph):
        return graph_or_path, {}
    path = Path(graph_or_path)
    if not path.is_file():
        raise LevinError(f"{path}: no such file; give a .lvn model or a Graph")
    return _tensor_bodies(path)


def _check_graph(graph: Graph) -> None:
    graph.validate()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphError(f"graph {graph.name!r}: the C API takes one input and one output, the graph "
                         f"has {len(graph.inputs)} and {len(graph.outputs)}")
    for t in graph.activations():
        if t.dtype != np.int8:
            raise GraphError(f"tensor {t.name!r} is {t.dtype}; the C runtime runs int8 activations "
                             f"(quantize the graph first: levin.quant.ptq.quantize_graph)")
    unknown = [n for n in graph.nodes if n.op not in HANDLERS]
    if unknown:
        raise GraphError(f"node {unknown[0].name!r}: op {unknown[0].op} has no C kernel; "
                         f"supported: {', '.join(HANDLERS)}")
    zero = np.zeros(graph.tensors[graph.inputs[0]].shape, np.int8)
    reference.run(graph, zero)  # the oracle's own checks (parameters its kernels reject)


def export_c(graph_or_lvn_path: Graph | str | Path, out_dir: str | Path, weight_format: str = "auto") -> ExportResult:
    """Write model.c, model.h and the C runtime for an integer graph into `out_dir`.

    Args:
        graph_or_lvn_path: an integer Graph (int8 activations), or the path of a .lvn file.
        out_dir: created if needed; existing model/runtime files in it are overwritten.
        weight_format: "auto", "int8", "packed", "codebook", "rans" or "sparse" (module docstring).
    Raises:
        LevinError / GraphError: unknown format, unreadable file, a graph the runtime cannot run.
    """
    if weight_format not in FORMATS:
        raise LevinError(f"weight format {weight_format!r} is not one of {', '.join(FORMATS)}")
    graph, stored = _load(graph_or_lvn_path)
    _check_graph(graph)
    bodies = _code_weights(graph, weight_format, stored)
    plan = plan_memory(graph, alignment=SCRATCH_ALIGN, streamed=_streamed(graph, bodies))
    ctx = _Context(graph, plan, bodies)
    nodes = []
    for k, node in enumerate(graph.nodes):
        kernel, handler = HANDLERS[node.op]
        d = handler(ctx, node, k)
        d.setdefault("arrays", {})
        nodes.append({"k": k, "name": node.name, "op": node.op, "kernel": kernel, **d})
    activation = plan.arena_bytes
    scratch_offset = -(-activation // SCRATCH_ALIGN) * SCRATCH_ALIGN
    arena = scratch_offset + ctx.scratch
    t_in, t_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    weight_bytes = sum(a.nbytes for n in nodes for a in n["arrays"].values())
    model = {"name": graph.name, "nodes": nodes, "arena": max(arena, 1), "activation": activation,
             "scratch": ctx.scratch, "scratch_offset": scratch_offset, "align": SCRATCH_ALIGN,
             "input": {"size": t_in.size, "offset": plan.offset(t_in.name), "shape": t_in.shape,
                       "scale": repr(float(t_in.quant.scale[0])), "zp": int(t_in.quant.zero_point[0])},
             "output": {"size": t_out.size, "offset": plan.offset(t_out.name), "shape": t_out.shape,
                        "scale": repr(float(t_out.quant.scale[0])), "zp": int(t_out.quant.zero_point[0])},
             "weight_format": weight_format, "weight_bytes": weight_bytes}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    (out / "model.h").write_text(env.get_template("model.h.j2").render(m=model))
    (out / "model.c").write_text(env.get_template("model.c.j2").render(m=model))
    for name in RUNTIME_SOURCES + RUNTIME_HEADERS:
        shutil.copyfile(C_DIR / name, out / name)
    return ExportResult(out, [out / "model.c"] + [out / s for s in RUNTIME_SOURCES],
                        [out / "model.h"] + [out / h for h in RUNTIME_HEADERS], weight_format, arena,
                        activation, ctx.scratch, t_in.size, t_out.size, weight_bytes, ctx.chains)
