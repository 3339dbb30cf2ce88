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

Weight formats: `levin.runtime.weight_fields` ("int8", "packed", "codebook", "rans", "sparse",
"auto"). The arena plan streams pooling and every conv whose weights are read in place from
flash (`weight_fields.streamed`, `analyze.memory.stream_shift`).

Kernel parameters (multipliers, shifts, activation ranges, lookup tables) are derived here with
`levin.quant.intmath` exactly as the oracle (`runtime/reference.py`) derives them at run time,
with classic double rounding (its default). `export_c` first runs the oracle once on a zero
input, so a graph the oracle rejects is rejected here with the oracle's message.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2
import numpy as np

from levin.analyze.memory import ArenaPlan, plan_memory
from levin.coding.fields import ByteReader
from levin.coding.limits import check_activation_bytes
from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, Node, Tensor
from levin.quant import intmath as im
from levin.quant import softmax as sm
from levin.runtime import reference
from levin.runtime.weight_fields import (DENSE, FORMATS, code_weights, parse_weights, streamed,
                                         tensor_bodies)

C_DIR = Path(__file__).resolve().parent / "c"
TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME_SOURCES = ("levin_status.c", "levin_weights.c", "levin_rans.c", "levin_conv.c", "levin_pool.c",
                   "levin_elementwise.c", "levin_softmax.c")
RUNTIME_HEADERS = ("levin_runtime.h", "levin_weights.h", "levin_rans.h", "levin_kernels.h")
SCRATCH_ALIGN = 16  # the scratch holds uint16 positions; the arena start must be this aligned



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
        if w["pos_method"] != DENSE:
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


def _prepare(handler: Callable[[_Context, Node, int], dict], ctx: _Context, node: Node, k: int) -> dict:
    """`handler`'s template context; parameters the integer arithmetic cannot take are a
    GraphError naming the node (the oracle run in `_check_graph` usually reports them first)."""
    try:
        return handler(ctx, node, k)
    except im.IntMathError as exc:
        raise GraphError(f"node {node.name!r} ({node.op}): {exc}") from None


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


# What a name from the graph may keep in a C comment. A .lvn file is untrusted input: a name
# with "*/" would end the comment and the rest would be compiled (code injection), and a
# backslash, "?" (trigraphs) or a control character has no business there either.
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;/()\[\]<>=+@#%&|~^'-]")
_COMMENT_MAX = 80


def comment_text(name: str) -> str:
    """`name` made safe inside a C block comment: unsafe characters become '_', long names end
    in '...'. The generated code never carries user text verbatim (identifiers are n<k>)."""
    text = _COMMENT_UNSAFE.sub("_", str(name))
    return text if len(text) <= _COMMENT_MAX else text[:_COMMENT_MAX - 3] + "..."


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["carray"] = _carray
    env.filters["comment"] = comment_text
    env.filters["ctype"] = lambda a: _CTYPES[np.asarray(a).dtype]
    return env


def _load(graph_or_path: Graph | str | Path) -> tuple[Graph, dict[str, bytes]]:
    if isinstance(graph_or_path, Graph):
        return graph_or_path, {}
    path = Path(graph_or_path)
    if not path.is_file():
        raise LevinError(f"{path}: no such file; give a .lvn model or a Graph")
    return tensor_bodies(path)


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
    check_activation_bytes(graph)   # before the oracle allocates them: a file may ask for gigabytes
    zero = np.zeros(graph.tensors[graph.inputs[0]].shape, np.int8)
    reference.run(graph, zero)  # the oracle's own checks (parameters its kernels reject)


def _plan(graph: Graph, bodies: dict[str, bytes]) -> ArenaPlan:
    return plan_memory(graph, alignment=SCRATCH_ALIGN, streamed=streamed(graph, bodies))


def arena_plan(graph_or_lvn_path: Graph | str | Path, weight_format: str = "auto") -> ArenaPlan:
    """The activation plan `export_c` would use (which convs stream depends on the weight format)."""
    if weight_format not in FORMATS:
        raise LevinError(f"weight format {weight_format!r} is not one of {', '.join(FORMATS)}")
    graph, stored = _load(graph_or_lvn_path)
    return _plan(graph, code_weights(graph, weight_format, stored))


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
    bodies = code_weights(graph, weight_format, stored)
    plan = _plan(graph, bodies)
    ctx = _Context(graph, plan, bodies)
    nodes = []
    for k, node in enumerate(graph.nodes):
        kernel, handler = HANDLERS[node.op]
        d = _prepare(handler, ctx, node, k)
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
    env = _environment()   # render both before writing either: an error leaves no half export
    header = env.get_template("model.h.j2").render(m=model)
    source = env.get_template("model.c.j2").render(m=model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.h").write_text(header)
    (out / "model.c").write_text(source)
    for name in RUNTIME_SOURCES + RUNTIME_HEADERS:
        shutil.copyfile(C_DIR / name, out / name)
    return ExportResult(out, [out / "model.c"] + [out / s for s in RUNTIME_SOURCES],
                        [out / "model.h"] + [out / h for h in RUNTIME_HEADERS], weight_format, arena,
                        activation, ctx.scratch, t_in.size, t_out.size, weight_bytes, ctx.chains)
