"""`levin bench runtime`: the C runtime per model and weight format, measured on Cortex-M4 (qemu).

Per (model, weight format) row:
  flash  = .text + .rodata (+ .data) of model.c, the runtime and any libgcc/libc routine they pull
           in, from the linker map of the Cortex-M4 image (-Os), harness and test inputs excluded;
  RAM    = arena (activations + weight-decoding scratch, LEVIN_MODEL_ARENA_SIZE) + the code's own
           .data/.bss + the measured stack high-water mark of one inference;
  instr  = instructions per inference on the M4 under qemu -icount (exact to 5; not cycles);
  host   = best-of-5 ns per inference of the same C on this machine (gcc -O2), a noisy machine;
  exact  = the M4 and host outputs equal the numpy integer reference on every input.
With --per-layer, each row also gets its instructions per node on the M4 (input 0, a second
build with model.c's per-layer hook, levin.targets.cortexm; each count includes the hook's 2-4
instructions), printed as a table per row.
Every model is run with 8-bit weights. LeNet-5 is also run with 4-bit weights ("lenet5-w4": packed
4-bit, a 16-entry codebook), and with 4-bit weights magnitude-pruned to ~8% density (no training,
"lenet5-w4-d8"), which puts the sparse kernel against dense int8 on the very same weights. Graphs
are seeded random initialisations quantized by PTQ: sizes and instruction counts do not depend on
accuracy.
Model files (`levin bench runtime model.lvn kws.tflite`): your own .lvn or int8 .tflite / .onnx,
run on seeded random int8 inputs in the build `levin export` makes (--formats auto) unless
--formats says otherwise. The M4 figures come from levin.targets.device_numbers.measure, the
function behind `levin profile model.lvn --device D`, so the two report the same bytes and counts.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from levin import reference
from levin.targets import device_numbers
from levin.bench import _layers
from levin.bench._graphs import int8_graph, weight_density
from levin.bench._host import time_inference
from levin.coding import container
from levin.errors import LevinError
from levin.ir.graph import Graph
from levin.output import table, write_json
from levin.targets import cortexm

MODELS = ("digits_cnn", "lenet5", "lenet300", "resnet8", "dscnn")
FORMATS = ("int8", "packed", "codebook", "rans", "sparse")
ALL_FORMATS = ("auto",) + FORMATS   # auto: per tensor, as `levin export` chooses (balanced)
SPARSE_DENSITY = 0.08
SPARSE_MODEL = "lenet5"
LOW_BITS = 4


def measure(graph, inputs: np.ndarray, fmt: str, work: Path, host: bool = True,
            per_layer: bool = False, prefer: str = "balanced") -> dict:
    """One row: export `graph` (an integer Graph or a .lvn path) in `fmt`, run it on the M4
    (qemu, `levin.targets.device_numbers.measure`: the numbers `levin profile` reports) and the
    host, check bit-exactness; with `per_layer`, add `layers` (instructions per node of input 0)."""
    n = device_numbers.measure(graph, work, inputs, weight_format=fmt, prefer=prefer, per_layer=per_layer)
    row = dict(format=fmt, chains=sorted(set(n.chains.values())), flash=n.flash, text=n.text,
               rodata=n.rodata, data=n.data, bss=n.bss, weight_bytes=n.weight_bytes, arena=n.arena,
               activation=n.activation, scratch=n.scratch, stack=n.stack, ram=n.ram,
               instructions=n.instructions, instructions_per_input=n.instructions_per_input,
               m4_exact=n.exact, export_s=n.export_s)
    graph = graph if isinstance(graph, Graph) else container.read(graph)
    if per_layer:
        counted = {layer.index: layer.instructions for layer in n.layers}
        row["layers"] = [dict(node=k, **d, instructions=counted.get(k, 0))
                         for k, d in _layers.describe(graph, n.export).items()]
    if host:
        shape = (1,) + tuple(graph.tensors[graph.inputs[0]].shape[1:])
        want = reference.run(graph, inputs[:1].reshape(shape))[graph.outputs[0]].reshape(-1).astype(np.int8)
        ns, out = time_inference(n.export, inputs[0], work / "host")
        row.update(host_us=round(ns / 1e3, 2), host_exact=np.array_equal(np.frombuffer(out, np.int8), want))
    return row


def load_file(path: str) -> Graph:
    """The integer graph of a model file: a .lvn, or an int8 .tflite / QDQ .onnx."""
    if str(path).endswith(".lvn"):
        return container.read(path)
    from levin.models import is_graph_file, load_graph

    if not is_graph_file(path):
        raise LevinError(f"{path}: expected a .lvn, .tflite or .onnx model file (or a zoo name in --models)")
    graph = load_graph(path)
    if graph.tensors[graph.inputs[0]].is_float:
        raise LevinError(f"{path} is a float model; the C runtime runs int8: `levin convert {path} "
                         f"--dataset NAME` (or --data) quantizes it")
    return graph


def run_bench(models=MODELS, formats=FORMATS, sparse_density: float | None = SPARSE_DENSITY,
              n_inputs: int = 2, host: bool = True, log=print, per_layer: bool = False,
              files: tuple[str, ...] = (), file_formats: tuple[str, ...] = ("auto",)) -> list[dict]:
    """Measure every (model, format); add the pruned SPARSE_MODEL rows at `sparse_density`; then
    every model file in `files` (.lvn, int8 .tflite) in `file_formats`, on seeded random inputs."""
    graphs = [(load_file(f), f) for f in files]   # every file read before the long work starts
    cortexm.require_toolchain()
    cortexm.require_qemu()
    jobs = [(m, 8, None) for m in models]
    if SPARSE_MODEL in models:
        jobs.append((SPARSE_MODEL, LOW_BITS, None))
        if sparse_density is not None:
            jobs.append((SPARSE_MODEL, LOW_BITS, sparse_density))
    rows = []

    def one(label: str, model, graph: Graph, inputs: np.ndarray, fmt: str, extra: dict, work: Path):
        row = dict(model=label, **extra, density=round(weight_density(graph), 4),
                   **measure(model, inputs, fmt, work, host, per_layer))
        rows.append(row)
        log(f"  {label:<12} {fmt:<9} flash {row['flash']:>8,} B  instr {row['instructions']:>12,}"
            f"  exact {row['m4_exact'] and row.get('host_exact', True)}")

    with tempfile.TemporaryDirectory(prefix="levin-bench-") as tmp:
        for name, bits, density in jobs:
            graph, inputs = int8_graph(name, density, n_inputs=n_inputs, weight_bits=bits)
            label = name + (f"-w{bits}" if bits != 8 else "")
            label += f"-d{100 * weight_density(graph):.0f}" if density is not None else ""
            for fmt in formats:
                one(label, graph, graph, inputs, fmt, dict(weight_bits=bits), Path(tmp) / label / fmt)
        for k, (graph, path) in enumerate(graphs):
            model = path if str(path).endswith(".lvn") else graph   # a .lvn keeps its own coding
            inputs = device_numbers.random_inputs(graph, n_inputs)
            for fmt in file_formats:
                one(Path(path).stem, model, graph, inputs, fmt, dict(file=str(path)),
                    Path(tmp) / f"file{k}" / fmt)
    return rows


def render(rows: list[dict]) -> str:
    headers = ["model", "format", "flash B", "weights B", "RAM B", "arena B", "scratch B", "stack B",
               "M4 instr", "host us", "exact"]
    body = [[r["model"], r["format"], f"{r['flash']:,}", f"{r['weight_bytes']:,}", f"{r['ram']:,}",
             f"{r['arena']:,}", f"{r['scratch']:,}", f"{r['stack']:,}", f"{r['instructions']:,}",
             f"{r['host_us']:,.1f}" if "host_us" in r else "-",
             "yes" if r["m4_exact"] and r.get("host_exact", True) else "NO"] for r in rows]
    return table(headers, body)


def render_layers(row: dict) -> str:
    """One row's per-layer instructions (input 0) as a table."""
    total = sum(layer["instructions"] for layer in row["layers"]) or 1
    return table(["node", "op", "variant", "MACs", "M4 instr", "instr/MAC", "share"],
                 [[f"{layer['node']} {layer['name']}"[:28], layer["op"], layer["variant"],
                   f"{layer['macs']:,}", f"{layer['instructions']:,}",
                   f"{layer['instructions'] / layer['macs']:.2f}" if layer["macs"] else "-",
                   f"{100 * layer['instructions'] / total:.1f}%"] for layer in row["layers"]])


def tradeoff(rows: list[dict]) -> list[str]:
    """The lines that state the sparse-vs-dense result at low density, from the measured rows."""
    pruned = {r["format"]: r for r in rows if r["model"].startswith(f"{SPARSE_MODEL}-w{LOW_BITS}-d")}
    if "sparse" not in pruned or "int8" not in pruned:
        return []
    s, d = pruned["sparse"], pruned["int8"]
    verdict = "fewer" if s["instructions"] < d["instructions"] else "MORE"
    return [f"{SPARSE_MODEL} at {s['density']:.1%} density: sparse executes {s['instructions']:,} "
            f"instructions vs dense int8 {d['instructions']:,} ({s['instructions'] / d['instructions']:.2f}x, "
            f"{verdict}); flash {s['flash']:,} B vs {d['flash']:,} B"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="levin bench runtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", metavar="MODEL_FILE",
                   help="your own models: .lvn, or int8 .tflite / .onnx (run in --formats, default "
                        "auto: the build `levin export` makes; no zoo models unless --models is given)")
    p.add_argument("--models", help=f"comma-separated zoo models (default {','.join(MODELS)})")
    p.add_argument("--formats", help=f"comma-separated weight formats of {', '.join(ALL_FORMATS)} "
                                     f"(default: {','.join(FORMATS)} for zoo models, auto for files)")
    p.add_argument("--inputs", type=int, default=2, help="inputs run per model on the M4 (default 2)")
    p.add_argument("--no-host", action="store_true", help="skip the host timing")
    p.add_argument("--per-layer", action="store_true", help="also count M4 instructions per node (input 0)")
    p.add_argument("--density", type=float, default=SPARSE_DENSITY,
                   help=f"density of the pruned {SPARSE_MODEL} rows (default {SPARSE_DENSITY}); 0 = none")
    return p


def main(argv: list[str], json_path: str | None = None) -> int:
    args = parser().parse_args(argv)
    text = sys.stderr if json_path == "-" else sys.stdout   # `--json -`: only JSON on stdout
    models = [m for m in (args.models if args.models is not None
                          else "" if args.files else ",".join(MODELS)).split(",") if m]
    formats = [f for f in (args.formats or ",".join(FORMATS)).split(",") if f]
    file_formats = [f for f in (args.formats or "auto").split(",") if f]
    bad = [m for m in models if m not in MODELS] + [f for f in formats + file_formats if f not in ALL_FORMATS]
    if bad:
        raise LevinError(f"unknown model or format {', '.join(dict.fromkeys(bad))}; models: "
                         f"{', '.join(MODELS)}; formats: {', '.join(ALL_FORMATS)}")
    if args.inputs < 1:
        raise LevinError("--inputs must be at least 1")
    rows = run_bench(models, formats, args.density or None, args.inputs, not args.no_host,
                     per_layer=args.per_layer, files=tuple(args.files), file_formats=tuple(file_formats),
                     log=lambda line: print(line, file=text))
    print(render(rows), file=text)
    for row in rows:
        if "layers" in row:
            print(f"\n{row['model']} {row['format']}: M4 instructions per layer (input 0)", file=text)
            print(render_layers(row), file=text)
    for line in tradeoff(rows):
        print(line, file=text)
    if json_path:
        write_json(dict(benchmark="runtime", target="Cortex-M4 (-mcpu=cortex-m4 -mthumb -Os), qemu "
                        "mps2-an386, -icount shift=3 (instructions exact to 5, not cycles)",
                        host=platform.processor() or platform.machine(), rows=rows), json_path)
    return 0 if all(r["m4_exact"] and r.get("host_exact", True) for r in rows) else 1
