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
"lenet5-w4-d8"), which puts the sparse kernel against dense int8 on the very same weights. Graphs are seeded random initialisations quantized by PTQ:
sizes and instruction counts do not depend on accuracy.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from levin.bench import _layers
from levin.bench._graphs import int8_graph, weight_density
from levin.bench._host import time_inference
from levin.errors import LevinError
from levin.output import table, write_json
from levin.targets import cortexm

from levin import reference

MODELS = ("digits_cnn", "lenet5", "lenet300", "resnet8", "dscnn")
FORMATS = ("int8", "packed", "codebook", "rans", "sparse")
SPARSE_DENSITY = 0.08
SPARSE_MODEL = "lenet5"
LOW_BITS = 4


def _codegen():
    try:
        from levin import codegen
    except ImportError as exc:  # the generator ships with the runtime; say so if it is absent
        raise LevinError(f"levin.codegen is not available: {exc}") from None
    return codegen


def measure(graph, inputs: np.ndarray, fmt: str, work: Path, host: bool = True,
            per_layer: bool = False) -> dict:
    """One row: export `graph` in `fmt`, run it on the M4 (qemu) and the host, check bit-exactness;
    with `per_layer`, add `layers` (instructions per node of input 0)."""
    t = time.perf_counter()
    export = _codegen().export_c(graph, work / "c", weight_format=fmt)
    export_s = time.perf_counter() - t
    want = reference.run(graph, inputs.reshape((len(inputs),) + graph.tensors[graph.inputs[0]].shape[1:]))
    want = want[graph.outputs[0]].reshape(len(inputs), -1).astype(np.int8)
    fw = cortexm.model_firmware(export, inputs, work / "m4")
    results = cortexm.run(fw, timeout=600)
    m4_exact = all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                   for r, w in zip(results, want))
    instr = [r.instructions for r in results]
    stack = max(r.stack_bytes for r in results)
    row = dict(format=fmt, chains=sorted(set(export.chains.values())),
               flash=fw.code.text + fw.code.rodata + fw.code.data, text=fw.code.text,
               rodata=fw.code.rodata, data=fw.code.data, bss=fw.code.bss,
               weight_bytes=export.weight_bytes, arena=export.arena_bytes,
               activation=export.activation_bytes, scratch=export.scratch_bytes, stack=stack,
               ram=export.arena_bytes + fw.code.data + fw.code.bss + stack,
               instructions=int(np.median(instr)), instructions_per_input=instr,
               m4_exact=m4_exact, export_s=round(export_s, 3))
    if per_layer:
        fw_layers = cortexm.model_firmware(export, inputs[:1], work / "m4-layers", per_layer=True)
        (counted,) = cortexm.run(fw_layers, timeout=600)
        row["layers"] = [dict(node=k, **d, instructions=counted.layers[k])
                         for k, d in _layers.describe(graph, export).items()]
    if host:
        ns, out = time_inference(export, inputs[0], work / "host")
        row.update(host_us=round(ns / 1e3, 2), host_exact=np.array_equal(np.frombuffer(out, np.int8), want[0]))
    return row


def run_bench(models=MODELS, formats=FORMATS, sparse_density: float | None = SPARSE_DENSITY,
              n_inputs: int = 2, host: bool = True, log=print, per_layer: bool = False) -> list[dict]:
    """Measure every (model, format); add the pruned SPARSE_MODEL rows at `sparse_density`."""
    cortexm.require_toolchain()
    cortexm.require_qemu()
    jobs = [(m, 8, None) for m in models]
    if SPARSE_MODEL in models:
        jobs.append((SPARSE_MODEL, LOW_BITS, None))
        if sparse_density is not None:
            jobs.append((SPARSE_MODEL, LOW_BITS, sparse_density))
    rows = []
    with tempfile.TemporaryDirectory(prefix="levin-bench-") as tmp:
        for name, bits, density in jobs:
            graph, inputs = int8_graph(name, density, n_inputs=n_inputs, weight_bits=bits)
            label = name + (f"-w{bits}" if bits != 8 else "")
            label += f"-d{100 * weight_density(graph):.0f}" if density is not None else ""
            for fmt in formats:
                row = dict(model=label, weight_bits=bits, density=round(weight_density(graph), 4),
                           **measure(graph, inputs, fmt, Path(tmp) / label / fmt, host, per_layer))
                rows.append(row)
                log(f"  {label:<12} {fmt:<9} flash {row['flash']:>8,} B  instr {row['instructions']:>12,}"
                    f"  exact {row['m4_exact'] and row.get('host_exact', True)}")
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
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo models")
    p.add_argument("--formats", default=",".join(FORMATS), help="comma-separated weight formats")
    p.add_argument("--inputs", type=int, default=2, help="inputs run per model on the M4 (default 2)")
    p.add_argument("--no-host", action="store_true", help="skip the host timing")
    p.add_argument("--per-layer", action="store_true", help="also count M4 instructions per node (input 0)")
    p.add_argument("--density", type=float, default=SPARSE_DENSITY,
                   help=f"density of the pruned {SPARSE_MODEL} rows (default {SPARSE_DENSITY}); 0 = none")
    return p


def main(argv: list[str], json_path: str | None = None) -> int:
    args = parser().parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    formats = [f for f in args.formats.split(",") if f]
    bad = [m for m in models if m not in MODELS] + [f for f in formats if f not in FORMATS]
    if bad:
        raise LevinError(f"unknown model or format {', '.join(bad)}; models: {', '.join(MODELS)}; "
                         f"formats: {', '.join(FORMATS)}")
    if args.inputs < 1:
        raise LevinError("--inputs must be at least 1")
    rows = run_bench(models, formats, args.density or None, args.inputs, not args.no_host,
                     per_layer=args.per_layer)
    print(render(rows))
    for row in rows:
        if "layers" in row:
            print(f"\n{row['model']} {row['format']}: M4 instructions per layer (input 0)")
            print(render_layers(row))
    for line in tradeoff(rows):
        print(line)
    if json_path:
        write_json(dict(benchmark="runtime", target="Cortex-M4 (-mcpu=cortex-m4 -mthumb -Os), qemu "
                        "mps2-an386, -icount shift=3 (instructions exact to 5, not cycles)",
                        host=platform.processor() or platform.machine(), rows=rows), json_path)
    return 0 if all(r["m4_exact"] and r.get("host_exact", True) for r in rows) else 1
