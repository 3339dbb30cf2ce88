"""C code generation: an integer Graph (or a .lvn file) -> model.c / model.h + the C runtime.

Read me first. The public API, stable (the Cortex-M benchmark calls it):

    export_c(graph_or_lvn_path, out_dir, weight_format="auto", prefer="balanced", name="model") -> ExportResult

writes into `out_dir` (`name` prefixes the model's files, functions and macros; "kws" below):
- `kws.h`: `levin_status kws_run(const int8_t *input, int8_t *output, uint8_t *arena,
  size_t arena_bytes)` (LEVIN_ERR_ARENA when the arena is too small or misaligned), `kws_verify`,
  the macros KWS_ARENA_BYTES (activations + weight-decoding scratch), KWS_ARENA_ALIGN,
  KWS_INPUT_SIZE / _SHAPE / _SCALE / _ZERO_POINT (and OUTPUT), the levin version and the sha256
  of the source, and inline quantize/dequantize helpers (the int8 path itself uses no float);
- `kws.c`: the weights and every kernel's prepared parameters as `static const` data, and the
  calls in graph order: each node is rendered from its op's template with what its op's
  `prepare` returns (`levin.ops`, `Op.c`); nothing but kws_run and kws_verify is external, so
  models exported under different names into one folder link into one image;
- the runtime sources (`levin.runtime`, levin_*.c / .h) and any kernel file an op names, and the
  package around them (`codegen.package`: README, Makefile, CMakeLists.txt, example/main.c,
  LICENSE, levin_config.h for every model in the folder).

`ExportResult` lists the model's `name`, `sources` (.c: the model's and the runtime's, not the
example) and `headers` (.h), the arena split (`activation_bytes`
from the memory planner, `scratch_bytes` on top of it for the decoded weight channels), the
weight bytes in flash and each weight tensor's chain (e.g. "sparse:gaps4+rans").

Weight formats: `levin.codegen.weight_fields` ("int8", "packed", "codebook", "rans", "sparse",
"auto"); `prefer` says what "auto" and "sparse" pick per tensor by: the fewest flash bytes
("flash"), the fewest estimated Cortex-M4 instructions ("speed", `weight_cost`), raw int8
("ram"), or (default, "balanced") the fewest flash bytes among codings within 2x of the fastest
estimate, within int8's arena plus the largest decoding scratch of one kernel (`_within_int8_ram`). `ExportResult.choices` says what each costs. The arena
plan streams pooling and every conv whose weights are read in place from flash
(`weight_fields.streamed`, `analyze.memory.stream_shift`).

Kernel parameters (multipliers, shifts, activation ranges, lookup tables) are derived by the op
modules with `levin.intmath` exactly as the oracle (`levin.reference`) derives them at run time,
with classic double rounding (its default). `export_c` first runs the oracle once on a zero
input, so a graph the oracle rejects is rejected here with the oracle's message.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

import levin
from levin import intmath as im
from levin import ops, reference, runtime
from levin.analyze.memory import SCRATCH_SUFFIX, ArenaPlan, plan_memory
from levin.codegen.fusion import fuse_activations
from levin.codegen.package import CONFIG_HEADER, check_name, write_package
from levin.codegen.weight_fields import (DENSE, FORMATS, code_weights, flash_bytes, in_flash,
                                         parse_weights, streamed, tensor_bodies)
from levin.coding.fields import ByteReader
from levin.coding.weights import GENERATED
from levin.coding.limits import check_activation_bytes
from levin.errors import GraphError, LevinError
from levin.fileio import write_atomic
from levin.ir.graph import Graph, Node, Tensor
from levin.ops.cparams import coded_dense

C_DIR = runtime.C_DIR
TEMPLATES = Path(__file__).resolve().parent / "templates"
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
    scratch_bytes: int        # the largest weight-decoding scratch of one kernel
    input_size: int           # bytes of one sample's inputs, all of them (in graph order)
    output_size: int          # likewise, its outputs
    weight_bytes: int         # weights, biases, codebooks and tables in flash (<name>.c data)
    choices: dict[str, dict] = field(default_factory=dict)  # weight tensor -> chain, flash, scratch
    name: str = "model"       # the C prefix: <name>.h, <name>_run, <NAME>_ARENA_BYTES
    package: list[Path] = field(default_factory=list)     # README, Makefile, example, ...
    prefer: str = "balanced"
    int8_arena_bytes: int = 0     # the same model with every weight raw int8, for comparison
    int8_weight_bytes: int = 0
    input_sizes: list[int] = field(default_factory=list)    # per graph input / output
    output_sizes: list[int] = field(default_factory=list)

    def call(self, inputs: str, outputs: str, arena: str, arena_bytes: str) -> str:
        """C for `<name>_run` on one sample: `inputs` and `outputs` are int8 pointers to the
        sample's inputs and outputs one after the other (graph order), as the harnesses hold them."""
        ins = _offsets(inputs, self.input_sizes or [self.input_size])
        outs = _offsets(outputs, self.output_sizes or [self.output_size])
        return f"{self.name}_run({', '.join(ins + outs)}, {arena}, {arena_bytes})"

    @property
    def chains(self) -> dict[str, str]:
        """weight tensor -> its coding chain (e.g. "sparse:gaps4+rans")."""
        return {name: c["chain"] for name, c in self.choices.items()}

    @property
    def files(self) -> list[Path]:
        return self.sources + self.headers + self.package

    @property
    def header(self) -> Path:
        return self.out_dir / f"{self.name}.h"

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "name": self.name, "sources": [str(p) for p in self.sources],
                "headers": [str(p) for p in self.headers], "weight_format": self.weight_format,
                "arena_bytes": self.arena_bytes, "activation_bytes": self.activation_bytes,
                "scratch_bytes": self.scratch_bytes, "input_size": self.input_size,
                "output_size": self.output_size, "weight_bytes": self.weight_bytes, "prefer": self.prefer,
                "int8_arena_bytes": self.int8_arena_bytes, "int8_weight_bytes": self.int8_weight_bytes,
                "chains": self.chains, "choices": self.choices}


def _offsets(base: str, sizes: list[int]) -> list[str]:
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    return [f"({base}) + {s}" if s else f"({base})" for s in starts]


# --- what the op modules' `prepare` functions see -----------------------------------------------


class _Context:
    """What an op's `prepare(ctx, node, k)` may use: the graph, the arena plan, the weight bodies
    (`weights` parses one for the C reader and records the scratch it needs), `ptr`,
    `planned_scratch` and `act_range` (an op that `fuses_activation` clamps its output to it)."""

    def __init__(self, graph: Graph, plan: ArenaPlan, bodies: dict[str, bytes],
                 activations: dict[str, tuple[int, int]]):
        self.graph, self.plan, self.bodies = graph, plan, bodies
        self.activations = activations
        self.needs: dict[str, int] = {}   # weight tensor -> the decoding scratch its kernel needs
        self.scratch = 0

    def planned_scratch(self, node: Node) -> str | None:
        """The C address of the arena the plan gave `node`'s kernel (`Op.planned_scratch`), or None."""
        place = self.plan.tensors.get(node.name + SCRATCH_SUFFIX)
        return None if place is None else f"(arena + {place.offset})"

    def planned_scratch_bytes(self, node: Node) -> int:
        """How many bytes of arena the plan gave `node`'s kernel (0: none)."""
        place = self.plan.tensors.get(node.name + SCRATCH_SUFFIX)
        return 0 if place is None else place.size

    def streamed(self, node: Node) -> bool:
        """`node`'s output takes over its input's buffer as it is read (`Op.streams`)."""
        return self.plan.tensors[node.output].reuses == node.inputs[0] and ops.get(node.op).streams != "never"

    def act_range(self, node: Node) -> tuple[int, int]:
        """The output clamp of `node`: a fused ReLU's range (`codegen.fusion`), else -128..127."""
        return self.activations.get(node.name, (-128, 127))

    def ptr(self, tensor: str) -> str:
        return f"(arena + {self.plan.offset(tensor)})"

    def weights(self, t: Tensor, cname: str, sparse_factor: int, dense_channels: int) -> tuple[dict, dict]:
        """`t`'s fields and C arrays; the decoding scratch grows to what its kernel decodes at a
        time: `dense_channels` output channels of coded dense weights, or `sparse_factor` bytes
        per weight of a channel of sparse ones (levin_kernels.h scratch sizes)."""
        body = self.bodies[t.name]
        w, arrays = parse_weights(body, t, cname)
        per = t.size // t.shape[0]
        if w["pos_method"] != DENSE:
            need = sparse_factor * per
            if per > 65535:
                raise GraphError(f"weight {t.name!r}: {per} weights per output channel; the sparse "
                                 f"kernels index at most 65535")
        else:
            need = dense_channels * per if coded_dense(w) else 0
        self.needs[t.name] = need
        self.scratch = max(self.scratch, need)
        return w, arrays


@dataclass
class _Layout:
    """The prepared nodes of one choice of weight bodies, and the arena they need."""

    plan: ArenaPlan
    ctx: _Context
    nodes: list[dict]
    bindings: list[ops.CBinding]

    @property
    def scratch_offset(self) -> int:
        return _aligned(self.plan.arena_bytes)

    @property
    def arena(self) -> int:
        return self.scratch_offset + self.ctx.scratch

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for n in self.nodes for a in n["arrays"].values())


def _aligned(n: int) -> int:
    """Where the scratch starts after `n` bytes of activations."""
    return -(-n // SCRATCH_ALIGN) * SCRATCH_ALIGN


def _layout(graph: Graph, bodies: dict[str, bytes], activations: dict[str, tuple[int, int]]) -> _Layout:
    plan = _plan(graph, bodies)
    ctx = _Context(graph, plan, bodies, activations)
    nodes, bindings = [], []
    for k, node in enumerate(graph.nodes):
        binding = ops.get(node.op).c
        d = _prepare(binding, ctx, node, k)
        d.setdefault("arrays", {})
        nodes.append({"k": k, "name": node.name, "op": node.op, "template": Path(binding.template).name, **d})
        bindings.append(binding)
    return _Layout(plan, ctx, nodes, bindings)


def _within_int8_ram(graph: Graph, bodies: dict[str, bytes], raw: dict[str, bytes],
                     activations: dict[str, tuple[int, int]]) -> dict[str, bytes]:
    """prefer="balanced": the flash choice `bodies`, with tensors moved back to raw int8 (`raw`)
    until the arena is at most int8's plus the largest decoding scratch of one kernel (what it
    decodes at a time: one or two output channels). Coded weights cost RAM twice: that scratch,
    and a conv that decodes cannot stream its output over its input (docs/runtime.md); the
    budget admits the first, not the second."""
    needs = _layout(graph, bodies, activations).ctx.needs
    coded = {n for n, body in bodies.items() if not in_flash(body, graph.tensors[n])}
    budget = _layout(graph, raw, activations).arena + max((needs[n] for n in coded), default=0)
    flash = {n: flash_bytes(raw[n], graph.tensors[n]) - flash_bytes(bodies[n], graph.tensors[n]) for n in coded}

    def arena(choice: dict[str, bytes], still_coded: set[str]) -> int:
        return _aligned(_plan(graph, choice).arena_bytes) + max((needs[n] for n in still_coded), default=0)

    # A coded tensor that alone (all others raw) exceeds the budget goes back first; then, while
    # their combination still does, the one that saves the most arena per flash byte.
    coded = {n for n in coded if arena(raw | {n: bodies[n]}, {n}) <= budget}
    current = raw | {n: bodies[n] for n in coded}
    now = arena(current, coded)
    while now > budget and coded:
        trials = {n: arena(current | {n: raw[n]}, coded - {n}) for n in coded}
        best = max(coded, key=lambda n: ((now - trials[n]) / max(flash[n], 1), -flash[n]))
        current[best], now = raw[best], trials[best]
        coded.discard(best)
    return current


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


def _environment(extra_dirs: tuple[Path, ...] = ()) -> jinja2.Environment:
    """Templates from levin/codegen/templates, then from the folders of ops' own templates."""
    loader = jinja2.FileSystemLoader([str(TEMPLATES), *map(str, extra_dirs)])
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
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


def source_digest(graph_or_path: Graph | str | Path) -> tuple[str, str]:
    """(what the model came from, its sha256): the .lvn file's bytes, or for a Graph in memory
    its nodes and tensors (names, ops, attributes, shapes, data, quantization) in graph order."""
    if not isinstance(graph_or_path, Graph):
        path = Path(graph_or_path)
        return path.name, hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for node in graph_or_path.nodes:
        h.update(repr((node.name, node.op, node.inputs, node.output, sorted(node.attrs.items()))).encode())
    for t in graph_or_path.tensors.values():
        q = t.quant
        h.update(repr((t.name, t.shape, str(t.dtype), None if q is None else
                       (np.asarray(q.scale).tolist(), np.asarray(q.zero_point).tolist()))).encode())
        if t.data is not None:
            h.update(np.ascontiguousarray(t.data).tobytes())
    return f"graph {comment_text(graph_or_path.name)} in memory", h.hexdigest()


def _check_graph(graph: Graph) -> None:
    graph.validate()
    shared = set(graph.inputs) & set(graph.outputs)
    if shared:
        raise GraphError(f"tensor {sorted(shared)[0]!r} is both a graph input and an output; the C API "
                         f"copies inputs in and outputs out (add an op between them)")
    for t in graph.activations():
        if t.dtype != np.int8:
            raise GraphError(f"tensor {t.name!r} is {t.dtype}; the C runtime runs int8 activations "
                             f"(quantize the graph first: levin.quant.ptq.quantize_graph)")
    unknown = [n for n in graph.nodes if ops.get(n.op).c is None]
    if unknown:
        with_c = [name for name, op in ops.OPS.items() if op.c is not None]
        raise GraphError(f"node {unknown[0].name!r}: op {unknown[0].op} has no C kernel; "
                         f"supported: {', '.join(with_c)}")
    check_activation_bytes(graph)   # before the oracle allocates them: a file may ask for gigabytes
    zero = {name: np.zeros(graph.tensors[name].shape, np.int8) for name in graph.inputs}
    reference.run(graph, zero)  # the oracle's own checks (parameters its kernels reject)


def _plan(graph: Graph, bodies: dict[str, bytes]) -> ArenaPlan:
    """Streams and kernel scratch (`Op.planned_scratch`) for the kernels that read weights in
    place (the streamed ones, pooling aside), wherever the arena does not grow."""
    stream = streamed(graph, bodies)
    nodes = {n.name: n for n in graph.nodes}
    wants = {name: ops.get(nodes[name].op).planned_scratch(graph, nodes[name]) for name in stream
             if ops.get(nodes[name].op).planned_scratch is not None}
    apart = {name: ops.get(nodes[name].op).unstreamed_scratch(graph, nodes[name]) for name in stream
             if ops.get(nodes[name].op).unstreamed_scratch is not None}
    return plan_memory(graph, alignment=SCRATCH_ALIGN, streamed=stream, scratch=wants, unstreamed=apart)


def arena_plan(graph_or_lvn_path: Graph | str | Path, weight_format: str = "auto",
               prefer: str = "balanced") -> ArenaPlan:
    """The activation plan `export_c` would use (which convs stream depends on the weight format)."""
    if weight_format not in FORMATS:
        raise LevinError(f"weight format {weight_format!r} is not one of {', '.join(FORMATS)}")
    graph, stored = _load(graph_or_lvn_path)
    graph, activations = fuse_activations(graph)
    bodies, _ = _choose_bodies(graph, weight_format, stored, prefer, activations)
    return _plan(graph, bodies)


def _choose_bodies(graph: Graph, weight_format: str, stored: dict[str, bytes], prefer: str,
                   activations: dict[str, tuple[int, int]]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(the weight bodies the export uses, the raw int8 bodies to compare with)."""
    bodies = code_weights(graph, weight_format, stored, prefer)
    raw = code_weights(graph, "int8", {})
    if prefer == "balanced" and weight_format == "auto":
        bodies = _within_int8_ram(graph, bodies, raw, activations)
    return bodies, raw


def export_c(graph_or_lvn_path: Graph | str | Path, out_dir: str | Path, weight_format: str = "auto",
             prefer: str = "balanced", name: str = "model") -> ExportResult:
    """Write <name>.c, <name>.h, the C runtime and the package around them into `out_dir`.

    Args:
        graph_or_lvn_path: an integer Graph (int8 activations), or the path of a .lvn file.
        out_dir: created if needed; existing model/runtime files in it are overwritten.
        weight_format: "auto", "int8", "packed", "codebook", "rans" or "sparse" (module docstring).
        prefer: what "auto" (and "sparse") choose per tensor by: "flash" the fewest flash bytes,
            "speed" the fewest estimated Cortex-M4 instructions (`weight_fields`, `weight_cost`),
            "ram" raw int8 (no scratch, every conv streams), "balanced" (default) the fewest
            flash bytes within 2x of the fastest estimate and int8's arena plus the largest
            decoding scratch of one kernel.
        name: the C prefix of the model's files, functions and macros (`package.check_name`);
            models exported under different names into one folder form one package.
    Raises:
        LevinError / GraphError: unknown format or preference, a bad name, unreadable file, a
            graph the runtime cannot run.
    """
    if weight_format not in FORMATS:
        raise LevinError(f"weight format {weight_format!r} is not one of {', '.join(FORMATS)}")
    check_name(name)
    graph, stored = _load(graph_or_lvn_path)
    source, sha256 = source_digest(graph_or_lvn_path)
    _check_graph(graph)
    graph, activations = fuse_activations(graph)
    bodies, raw = _choose_bodies(graph, weight_format, stored, prefer, activations)
    int8 = _layout(graph, raw, activations)
    layout = _layout(graph, bodies, activations)
    plan, ctx, nodes, bindings = layout.plan, layout.ctx, layout.nodes, layout.bindings
    activation, scratch_offset, arena = plan.arena_bytes, layout.scratch_offset, layout.arena
    inputs, outputs = _io(graph, plan, graph.inputs, "input"), _io(graph, plan, graph.outputs, "output")
    weight_bytes = layout.weight_bytes
    model = {"name": graph.name, "prefix": name, "P": name.upper(), "version": levin.__version__,
             "source": source, "sha256": sha256,
             "raw_only": all(in_flash(body, graph.tensors[t]) for t, body in bodies.items()),
             "generated": any(body[0] & GENERATED for body in bodies.values()),
             "kernel_paths": sorted(set().union(*(b.kernel_paths(n) for b, n in zip(bindings, nodes)
                                                  if b.kernel_paths))),
             "nodes": nodes, "arena": max(arena, 1), "activation": activation,
             "scratch": ctx.scratch, "scratch_offset": scratch_offset, "align": SCRATCH_ALIGN,
             "inputs": inputs, "outputs": outputs,
             "params": ", ".join([f"const int8_t *{io['arg']}" for io in inputs]
                                 + [f"int8_t *{io['arg']}" for io in outputs]),
             "args": ", ".join(io["arg"] for io in inputs + outputs),
             "weight_format": weight_format, "weight_bytes": weight_bytes}
    # Render both before writing either: an error leaves no half export.
    env = _environment(tuple(dict.fromkeys(Path(b.template).parent for b in bindings
                                           if isinstance(b.template, Path))))
    header = env.get_template("model.h.j2").render(m=model)
    code = env.get_template("model.c.j2").render(m=model)
    sources = _kernel_sources(bindings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{name}.h", header)
    write_atomic(out / f"{name}.c", code)
    for path in [*sources, *(C_DIR / h for h in runtime.HEADERS if h != CONFIG_HEADER)]:
        shutil.copyfile(path, out / path.name)
    package = write_package(out, env, levin.__version__)
    return ExportResult(out, [out / f"{name}.c"] + [out / p.name for p in sources],
                        [out / f"{name}.h"] + [out / h for h in runtime.HEADERS], weight_format, arena,
                        activation, ctx.scratch, sum(io["size"] for io in inputs),
                        sum(io["size"] for io in outputs), weight_bytes,
                        _choices(graph, bodies, raw, ctx.needs), name,
                        [p for p in package if p.name != CONFIG_HEADER], prefer, int8.arena, int8.weight_bytes,
                        [io["size"] for io in inputs], [io["size"] for io in outputs])


def _io(graph: Graph, plan: ArenaPlan, names: list[str], kind: str) -> list[dict]:
    """The graph's inputs or outputs as the C API names them: `input` / INPUT for one, else
    `input0`, `input1`, ... / INPUT0, INPUT1, ... (in the graph's order)."""
    out = []
    for k, name in enumerate(names):
        t = graph.tensors[name]
        arg = kind if len(names) == 1 else f"{kind}{k}"
        out.append({"name": name, "arg": arg, "macro": arg.upper(), "size": t.size, "shape": t.shape,
                    "offset": plan.offset(name), "scale": repr(float(t.quant.scale[0])),
                    "zp": int(t.quant.zero_point[0])})
    return out


def _choices(graph: Graph, bodies: dict[str, bytes], raw: dict[str, bytes], needs: dict[str, int]) -> dict:
    """What each weight tensor's coding costs: its chain, flash bytes (and raw int8's), scratch."""
    from levin.coding.weights import decode_tensor

    out = {}
    for name, body in bodies.items():
        t = graph.tensors[name]
        out[name] = {"chain": decode_tensor(ByteReader(body, 0, len(body), name), t.shape, t.dtype).chain,
                     "flash_bytes": flash_bytes(body, t), "int8_flash_bytes": flash_bytes(raw[name], t),
                     "scratch_bytes": needs.get(name, 0)}
    return out


def _prepare(binding: ops.CBinding, ctx: _Context, node: Node, k: int) -> dict:
    """The op's template context; parameters the integer arithmetic cannot take are a GraphError
    naming the node (the oracle run in `_check_graph` usually reports them first)."""
    try:
        return binding.prepare(ctx, node, k)
    except im.IntMathError as exc:
        raise GraphError(f"node {node.name!r} ({node.op}): {exc}") from None


def _kernel_sources(bindings: list[ops.CBinding]) -> list[Path]:
    """The runtime every export ships, then the kernel files of ops outside it, each once."""
    paths = [C_DIR / name for name in runtime.SOURCES]
    for binding in bindings:
        for src in binding.sources:
            path = src if isinstance(src, Path) else C_DIR / src
            if path not in paths:
                paths.append(path)
    return paths
