"""`levin bench kernels`: levin's int8 kernels on the four MLPerf Tiny models on Cortex-M (qemu),
against CMSIS-NN's published instruction counts.

The models are the MLPerf Tiny reference .tflite files (imported with levin.ir.tflite, exported
with `levin.codegen.export_c(graph, dir, weight_format="int8")`); inputs as in `levin bench
vs-tflm` (CIFAR-10 test images for ResNet-8, seeded random int8 codes for the others). Each model
runs on the Cortex-M4 at every --opt level, and on each other --cores core at -Os.

Per model and build:
  MACs     multiply-accumulates per inference (levin.analyze.profile's convention);
  instr    instructions per inference under qemu -icount, the median over the inputs, from a
           build without the per-layer hook: measured as CMSIS-NN's counts were (same harness
           style, qemu mps2-an386, -mcpu=cortex-m4 -mthumb), so "x CMSIS-NN" (levin / CMSIS-NN,
           below 1 = fewer instructions) compares like with like;
  cycles   an ESTIMATE: the instruction mix executed on input 0, weighted by the core's published
           timing table (levin.targets.timing; qemu models no timing), and ms at --clock-mhz;
  flash    text + rodata + data of model.c, the runtime and any libgcc/libc code they pull in;
  RAM      arena + the code's .data/.bss + the measured stack high-water mark;
  exact    the outputs equal levin.reference.run's on every input.
Per layer (input 0, a second build with the per-layer hook, whose 2-4 instructions per node each
count includes): op, kernel variant, MACs, instructions (exact, from the execution log),
instructions per MAC and estimated cycles. The estimate's instruction total is checked against
the icount count of the same build.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from levin import codegen, reference
from levin.analyze.profile import count_macs
from levin.bench import _layers
from levin.bench.vs_tflm import DEFAULT_DATA, MODELS, inputs_for
from levin.errors import LevinError
from levin.ir import tflite
from levin.output import table, write_json
from levin.targets import cores, cortexm, estimate

CMSIS_NN_SOURCE = ("CMSIS-NN commit 99f736a6, same harness style: qemu mps2-an386 -icount, "
                   "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb")
CMSIS_NN = {
    "-Os": {"kws": 9_011_375, "resnet8": 40_980_960, "vww": 27_920_045, "ad01": 773_325},
    "-O2": {"kws": 7_575_725, "resnet8": 29_777_445, "vww": 23_780_922, "ad01": 580_600},
}
M4 = cores.DEFAULT
# The estimate counts from the first instruction of levin_count_begin, icount from the SysTick
# read before it: icount is ahead by the few instructions between, give or take one tick.
WINDOW_SLACK = 20


def builds(core_names: list[str], opts: list[str]) -> list[tuple[str, str]]:
    """(core, opt) pairs: the M4 at every level in `opts`, every other core at -Os."""
    out = []
    for name in core_names:
        core = cores.get(name).name
        out += [(core, o) for o in opts] if core == M4 else [(core, "-Os")]
    return list(dict.fromkeys(out))


def measure(graph, export, x: np.ndarray, want: np.ndarray, core: str, opt: str, work: Path) -> dict:
    """One (model, core, opt) row: icount totals on every input, per-layer estimate on input 0."""
    x2 = x.reshape(len(x), -1)
    fw = cortexm.model_firmware(export, x2, work / "plain", core=core, opt=opt)
    results = cortexm.run(fw, timeout=1200)
    exact = all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                for r, w in zip(results, want))
    instr = [r.instructions for r in results]
    stack = max(r.stack_bytes for r in results)
    fw_layers = cortexm.model_firmware(export, x2[:1], work / "layers", core=core, opt=opt,
                                       per_layer=True)
    (counted,) = cortexm.run(fw_layers, timeout=1200)
    t = time.perf_counter()
    (est,) = estimate.estimate(fw_layers)
    est_s = time.perf_counter() - t
    per_tick = cores.get(core).per_tick
    slack = counted.instructions - est.instructions
    layers = []
    for k, d in _layers.describe(graph, export).items():
        e = est.layers.get(k, dict(instructions=0, cycles=0.0))
        layers.append(dict(node=k, **d, instructions=e["instructions"],
                           instructions_icount=counted.layers[k], estimated_cycles=round(e["cycles"]),
                           instructions_per_mac=e["instructions"] / d["macs"] if d["macs"] else None))
    return dict(core=core, opt=opt, instructions=int(np.median(instr)), instructions_per_input=instr,
                flash=fw.code.flash, text=fw.code.text, rodata=fw.code.rodata, data=fw.code.data,
                bss=fw.code.bss, arena=export.arena_bytes, stack=stack,
                ram=export.arena_bytes + fw.code.data + fw.code.bss + stack, exact=exact,
                estimated_cycles=round(est.cycles), estimate_instructions=est.instructions,
                estimate_checked=-per_tick < slack < WINDOW_SLACK + per_tick,
                estimate_rest_instructions=est.rest["instructions"], mix=dict(est.mix),
                estimate_seconds=round(est_s, 2), layers=layers)


def run_bench(models: list[str], build_list: list[tuple[str, str]], n_inputs: int, clock_mhz: float,
              data_dir: Path = DEFAULT_DATA, log=print) -> list[dict]:
    """Measure every (model, core, opt); rows carry MACs, the CMSIS-NN ratio and ms at the clock."""
    cortexm.require_toolchain()
    cortexm.require_qemu()
    root = data_dir / "models" / "mlperf_tiny"
    rows = []
    with tempfile.TemporaryDirectory(prefix="levin-kernels-") as tmp:
        for key in models:
            path = root / MODELS[key]
            if not path.is_file():
                raise LevinError(f"{path} is missing (pass --data DIR holding models/mlperf_tiny)")
            graph = tflite.from_bytes(path.read_bytes(), key)
            x = inputs_for(key, graph, n_inputs, data_dir)
            want = reference.run(graph, x)[graph.outputs[0]].reshape(len(x), -1).astype(np.int8)
            export = codegen.export_c(graph, Path(tmp) / key / "c", weight_format="int8")
            macs = sum(count_macs(graph, n) for n in graph.nodes)
            for core, opt in build_list:
                t = time.perf_counter()
                row = dict(model=key, macs=macs, inputs=len(x),
                           **measure(graph, export, x, want, core, opt, Path(tmp) / key / core / opt))
                cmsis = CMSIS_NN.get(opt, {}).get(key) if core == M4 else None
                row.update(cmsis_nn_instructions=cmsis,
                           ratio_to_cmsis_nn=row["instructions"] / cmsis if cmsis else None,
                           instructions_per_mac=row["instructions"] / macs,
                           estimated_ms=row["estimated_cycles"] / (clock_mhz * 1e3),
                           seconds=round(time.perf_counter() - t, 1))
                rows.append(row)
                log(f"  {key:<8} {core:<13} {opt}  instr {row['instructions']:>12,}  est. cycles "
                    f"{row['estimated_cycles']:>12,}  exact {row['exact']}  ({row['seconds']} s)")
    return rows


def _f(v, fmt="{:,}") -> str:
    return "-" if v is None else fmt.format(v)


def render(rows: list[dict], clock_mhz: float) -> str:
    """The model table, one per-layer table per model (builds side by side), a variant summary."""
    out = [table(["model", "core", "opt", "MACs", "instr", "instr/MAC", "x CMSIS-NN", "est. cycles",
                  f"est. ms @{clock_mhz:g} MHz", "flash B", "RAM B", "exact"],
                 [[r["model"], r["core"], r["opt"], f"{r['macs']:,}", f"{r['instructions']:,}",
                   f"{r['instructions_per_mac']:.2f}", _f(r["ratio_to_cmsis_nn"], "{:.2f}"),
                   f"{r['estimated_cycles']:,}", f"{r['estimated_ms']:.2f}", f"{r['flash']:,}",
                   f"{r['ram']:,}", "yes" if r["exact"] else "NO"] for r in rows])]
    out.append("est. = estimated from the executed instruction mix and the core's timing table "
               "(qemu has no timing); x CMSIS-NN = levin / CMSIS-NN instructions, M4 only.")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        headers = ["node", "op", "variant", "MACs"]
        for r in mine:
            tag = f"{r['core'].replace('cortex-', '')} {r['opt']}"
            headers += [f"{tag} instr", "instr/MAC", "est. cycles"]
        body = []
        for i, layer in enumerate(mine[0]["layers"]):
            cells = [f"{layer['node']} {layer['name']}"[:28], layer["op"], layer["variant"],
                     f"{layer['macs']:,}"]
            for r in mine:
                lr = r["layers"][i]
                cells += [f"{lr['instructions']:,}", _f(lr["instructions_per_mac"], "{:.2f}"),
                          f"{lr['estimated_cycles']:,}"]
            body.append(cells)
        out += ["", f"{model}: per layer (input 0; each count includes the 2-4 instructions of the hook)",
                table(headers, body)]
    out += ["", "per kernel variant, all models", table(
        ["variant", "core", "opt", "layers", "MACs", "instr", "instr/MAC", "est. cycles/MAC"],
        [[v, c.replace("cortex-", ""), o, n, f"{m:,}", f"{i:,}", _f(i / m if m else None, "{:.2f}"),
          _f(cyc / m if m else None, "{:.2f}")] for (v, c, o), (n, m, i, cyc) in variants(rows).items()])]
    return "\n".join(out)


def variants(rows: list[dict]) -> dict[tuple[str, str, str], tuple[int, int, int, int]]:
    """(variant, core, opt) -> (layers, MACs, instructions, estimated cycles), summed over models;
    builds in the order they ran, variants by instructions, most first."""
    order = {b: k for k, b in enumerate(dict.fromkeys((r["core"], r["opt"]) for r in rows))}
    acc: dict = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        for layer in r["layers"]:
            a = acc[(layer["variant"], r["core"], r["opt"])]
            a[0] += 1
            a[1] += layer["macs"]
            a[2] += layer["instructions"]
            a[3] += layer["estimated_cycles"]
    return {k: tuple(v) for k, v in sorted(acc.items(), key=lambda kv: (order[kv[0][1:]], -kv[1][2]))}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="levin bench kernels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--inputs", type=int, default=2, help="inputs per model for the counts and the "
                   "bit-exact check (default 2)")
    p.add_argument("--opt", default="Os,O2", help="gcc optimisation levels of the M4 builds, without "
                   "the dash so argparse takes them as values (default Os,O2)")
    p.add_argument("--cores", default="cortex-m4", help=f"comma-separated, of {', '.join(cores.CORES)}; "
                   "cores other than the M4 run at -Os (default cortex-m4)")
    p.add_argument("--clock-mhz", type=float, default=120.0, help="clock for the estimated ms (default 120)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder holding models/mlperf_tiny and cifar10")
    return p


def main(argv: list[str], json_path: str | None = None) -> int:
    args = parser().parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    opts = ["-" + o.lstrip("-") for o in args.opt.split(",") if o]
    bad = [m for m in models if m not in MODELS] + [o for o in opts if o not in cortexm.OPT_LEVELS]
    if bad:
        raise LevinError(f"unknown model or optimisation level {', '.join(bad)}; models: "
                         f"{', '.join(MODELS)}; levels: {', '.join(cortexm.OPT_LEVELS)}")
    if args.inputs < 1 or args.clock_mhz <= 0:
        raise LevinError("--inputs and --clock-mhz must be positive")
    build_list = builds([c for c in args.cores.split(",") if c], opts)
    t = time.perf_counter()
    rows = run_bench(models, build_list, args.inputs, args.clock_mhz, args.data)
    seconds = time.perf_counter() - t
    print(render(rows, args.clock_mhz))
    print(f"\n{len(rows)} builds in {seconds:.0f} s")
    if json_path:
        write_json(dict(benchmark="kernels", command="levin bench kernels " + " ".join(argv),
                        clock_mhz=args.clock_mhz, seconds=round(seconds, 1),
                        estimate_note="estimated_cycles and estimated_ms are estimates: the executed "
                        "instruction mix weighted by the core's timing table (levin.targets.timing); "
                        "qemu models no timing",
                        cmsis_nn=dict(source=CMSIS_NN_SOURCE, instructions=CMSIS_NN),
                        variants=[dict(variant=v, core=c, opt=o, layers=n, macs=m, instructions=i,
                                       estimated_cycles=cyc)
                                  for (v, c, o), (n, m, i, cyc) in variants(rows).items()],
                        rows=rows), json_path)
    return 0 if all(r["exact"] and r["estimate_checked"] for r in rows) else 1
