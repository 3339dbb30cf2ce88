"""`levin profile`: what a model costs on a microcontroller, per layer and in total.

An integer model (.lvn, int8 .tflite, QDQ .onnx): its C build (the one `levin export` makes) is
compiled for the device's Cortex-M core and run under qemu: flash (weights and code), arena,
scratch, stack and instructions are measured; cycles, time and energy are estimates, labelled so.
A float model (zoo name, your own model code, a checkpoint, a float .onnx / .tflite): parameters,
MACs, bytes and the activation arena per layer, with a cost model's estimates."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from levin import zoo
from levin.analyze import devices
from levin.analyze.profile import ProfileResult, profile
from levin.cli.common import (EXIT_DOES_NOT_FIT, EXIT_VERIFICATION, add_weights_argument,
                              check_output_file, human, writable_dir)
from levin.errors import LevinError
from levin.output import table, write_json

EXAMPLES = """examples:
  levin profile --model lenet5
  levin profile --model resnet8 --device cortex-m4 --json resnet8-profile.json
A float model's sizes are bytes as stored (float32 until quantized); its SRAM is the planned
activation arena (no scratch or stack: those are measured for an int8 model, below).
"""
C_EXAMPLES = """integer models: the C build, measured (needs arm-none-eabi-gcc and qemu-system-arm):
  levin profile model.lvn
  levin profile model.lvn --device cortex-m4 --json -
  levin profile model.lvn --device board.yaml
RAM = arena (activations + weight-decoding scratch) + the code's .data/.bss + the stack
high-water mark of one inference; the fit verdict counts all of it, and the exit status is 3
when the model does not fit. Cycles are ESTIMATES (qemu's executed instruction mix x the core's
timing table); time = cycles / clock and energy = active power x time are estimates too.
"""
BOARD_HELP = f"""--device board.yaml: a board of your own (every field but name and description required):
{devices.BOARD_YAML}"""


def register(sub) -> None:
    p = sub.add_parser("profile", help="per-layer flash, RAM, instructions; fit on a device (int8 C "
                                       "build measured, float models estimated)",
                       description=__doc__, epilog=EXAMPLES + C_EXAMPLES + BOARD_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_file", nargs="?", metavar="MODEL",
                   help="a .lvn, .tflite or .onnx model file (or any --model reference)")
    p.add_argument("--model", help=f"zoo name ({', '.join(zoo.names())}), path/to/file.py:factory, "
                                   f"a checkpoint directory, or a model file")
    add_weights_argument(p)
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="one input sample, channels first (default: the model's own)")
    p.add_argument("--device", help=f"one of {', '.join(devices.DEVICES)}, or a board.yaml (below): "
                                    f"adds the fit verdict and the estimates (exit status 3 if it "
                                    f"does not fit)")
    p.add_argument("--format", default="auto", help="integer models: weight format of the C build "
                                                    "(default auto, as `levin export`)")
    p.add_argument("--optimize", default="balanced",
                   help="integer models: what auto picks per tensor by (default balanced, as `levin export`)")
    p.add_argument("--build-dir", metavar="DIR",
                   help="integer models: keep the C and the Cortex-M images here (default: a "
                        "temporary folder)")
    p.add_argument("--json", metavar="FILE", help="also write everything as JSON ('-' for stdout)")
    p.set_defaults(run=run)


def parse_shape(text: str) -> tuple[int, ...]:
    from levin.models import check_input_shape

    try:
        shape = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise LevinError(f"--input-shape {text!r}: expected positive integers like 1,28,28") from None
    return check_input_shape(shape, "--input-shape")


def _reference(args: argparse.Namespace) -> str:
    if args.model_file and args.model:
        raise LevinError("give the model once: `levin profile MODEL` or `--model MODEL`, not both")
    ref = args.model_file or args.model
    if not ref:
        raise LevinError("which model? `levin profile model.lvn` or `levin profile --model NAME`")
    return ref


def _integer_model(args: argparse.Namespace, ref: str):
    """The model for the C path (a .lvn path, or an integer Graph of a .tflite / .onnx), else None."""
    from levin.models import is_graph_file, load_graph

    if not (ref.endswith(".lvn") or is_graph_file(ref)):
        return None, None
    if args.weights or args.input_shape:
        raise LevinError(f"{ref}: a model file carries its weights and input shape; drop "
                         f"--weights / --input-shape")
    if ref.endswith(".lvn"):
        return ref, None
    graph = load_graph(ref)
    return (None, graph) if graph.tensors[graph.inputs[0]].is_float else (graph, graph)


def run(args: argparse.Namespace) -> int:
    from levin.models import load_graph
    ref = _reference(args)
    device = devices.get(args.device) if args.device else None
    model, graph = _integer_model(args, ref)
    if model is not None:
        return run_c(args, ref, model, device)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    graph = graph if graph is not None else load_graph(ref, shape, args.weights)
    result = profile(graph)
    est = devices.estimate(result, device) if device else None
    print(render(result, est), file=human(args))
    if args.json:
        data = dict(model=ref, **result.to_dict())
        if est is not None:
            data["device"] = est.to_dict()
        write_json(data, args.json)
    return EXIT_DOES_NOT_FIT if est is not None and not est.fit.fits else 0


# --- integer models: the C build -----------------------------------------------------------------

def run_c(args: argparse.Namespace, ref: str, model, device: devices.DeviceProfile | None) -> int:
    from levin.targets import device_numbers
    from levin.codegen import FORMATS
    from levin.codegen.weight_fields import PREFER
    from levin.targets import cores, cortexm

    if args.format not in FORMATS:
        raise LevinError(f"--format {args.format!r} is not one of {', '.join(FORMATS)}")
    if args.optimize not in PREFER:
        raise LevinError(f"--optimize {args.optimize!r} is not one of {', '.join(PREFER)}")
    if device is not None and device.core is None:
        with_core = [n for n, d in devices.DEVICES.items() if d.core]
        raise LevinError(f"device {device.name} has no Cortex-M core to build the C for; use one of "
                         f"{', '.join(with_core)} or a board.yaml (its cost model takes float models: "
                         f"--model NAME)")
    core = device.core if device is not None else cores.DEFAULT
    check_output_file(args.json, "--json")          # before the build, not after it
    try:
        if args.build_dir:
            numbers = device_numbers.measure(model, writable_dir(args.build_dir), weight_format=args.format,
                                             prefer=args.optimize, core=core, per_layer=True, cycles=True)
        else:
            with tempfile.TemporaryDirectory(prefix="levin-profile-") as tmp:
                numbers = device_numbers.measure(model, Path(tmp), weight_format=args.format,
                                                 prefer=args.optimize, core=core, per_layer=True, cycles=True)
    except cortexm.ToolMissing as exc:
        raise LevinError(f"{ref} is an integer model: levin profiles its C build, compiled for "
                         f"{core} and run under qemu; {exc}") from None
    print(render_c(ref, numbers, device), file=human(args))
    if args.json:
        write_json(dict(model=ref, **numbers.to_dict(device)), args.json)
    if not numbers.exact:
        return EXIT_VERIFICATION
    return EXIT_DOES_NOT_FIT if device is not None and not numbers.fit(device).fits else 0


def _num(v, fmt: str = ",.0f") -> str:
    return "-" if v is None else format(v, fmt)


def _ms_uj(n, device: devices.DeviceProfile, cycles: float | None) -> list[str]:
    """Estimated ms and uJ of `cycles` on `device` ('-' where an input is missing)."""
    s, j = n.seconds(device, cycles), n.joules(device, cycles)
    return [_num(None if s is None else 1e3 * s, ",.3f"), _num(None if j is None else 1e6 * j, ",.2f")]


def render_c(ref: str, n, device: devices.DeviceProfile | None = None) -> str:
    """The readable report of a measured C build (levin.targets.device_numbers.DeviceNumbers)."""
    headers = ["layer", "op", "MACs", "weights B", "act. B", "scratch B", "instr", "est. cycles"]
    if device is not None:
        headers += ["est. ms", "est. uJ"]
    rows = []
    for layer in n.layers:
        row = [layer.name, layer.op + (f"+{layer.fused}" if layer.fused else ""), f"{layer.macs:,}",
               f"{layer.weight_bytes:,}", f"{layer.activation_bytes:,}", f"{layer.scratch_bytes:,}",
               f"{layer.instructions:,}", _num(layer.cycles)]
        if device is not None:
            row += _ms_uj(n, device, layer.cycles)
        rows.append(row)
    total = ["total", "", f"{sum(layer.macs for layer in n.layers):,}", f"{n.weight_bytes:,}",
             f"{n.activation:,}", f"{n.scratch:,}", f"{n.instructions:,}", _num(n.cycles)]
    if device is not None:
        total += _ms_uj(n, device, n.cycles)
    fmt = n.weight_format + (f", --optimize {n.prefer}" if n.weight_format in ("auto", "sparse") else "")
    lines = [f"{ref}: C build (`levin export`, --format {fmt}) for {n.core}, run under qemu; "
             f"{len(n.layers)} layers",
             table(headers, rows + [total]), "",
             "measured:",
             f"  flash {n.flash:>12,} B = {n.weight_bytes:,} B weights + {n.code_bytes:,} B code "
             f"(runtime, kernels, layer descriptors)",
             f"  RAM   {n.ram:>12,} B = {n.arena:,} B arena ({n.activation:,} B activations + "
             f"{n.scratch:,} B weight-decoding scratch) + {n.stack:,} B stack (high-water mark)"
             + (f" + {n.data + n.bss:,} B code .data/.bss" if n.data + n.bss else ""),
             f"  instructions {n.instructions:,} per inference (qemu -icount; not cycles); per layer: "
             f"input 0, each with its 2-4 hook instructions",
             f"  outputs: {'bit-exact with' if n.exact else 'DIFFER from'} the integer reference"]
    if n.cycles is not None:
        lines.append(f"ESTIMATE (not measured): {n.cycles:,.0f} cycles per inference, the executed "
                     f"instruction mix x the {n.core} timing table (levin.targets.timing)")
    if device is None:
        lines.append(f"add --device ({', '.join(d for d, p in devices.DEVICES.items() if p.core)} "
                     f"or a board.yaml) for time, energy and the fit verdict")
        return "\n".join(lines)
    fit = n.fit(device)
    lines += ["", f"device {device.name}: {device.description}",
              _verdict("RAM", fit.sram_needed, fit.sram_available),
              _verdict("flash", fit.flash_needed, fit.flash_available),
              f"  verdict: {'fits' if fit.fits else 'does not fit'} (RAM counts arena, scratch and stack)"]
    if n.cycles is not None:
        power = (f"; energy {1e6 * n.joules(device):,.2f} uJ at {1e3 * device.active_power_w:g} mW "
                 f"active ({device.power_source})" if device.active_power_w else "")
        lines.append(f"  ESTIMATES: {1e3 * n.seconds(device):,.3f} ms at {device.clock_hz / 1e6:g} MHz"
                     + power)
    return "\n".join(lines)


# --- float models: the cost model ----------------------------------------------------------------

def _dims(shape) -> str:
    shape = tuple(shape)
    return "x".join(map(str, shape[1:] if len(shape) > 1 and shape[0] == 1 else shape))


def _kb(n: float) -> str:
    return f"{n:,.0f} B ({n / 1024:,.1f} KB)"


def render(result: ProfileResult, est: devices.Estimate | None = None) -> str:
    """The readable report: a per-layer table, totals, and the device verdict if any."""
    headers = ["layer", "op", "output", "params", "MACs", "weight B", "out B"]
    rows = [[l.name, l.op, _dims(l.output_shape), f"{l.params:,}", f"{l.macs:,}",
             f"{l.weight_bytes:,}", f"{l.output_bytes:,}"] for l in result.layers]
    if est is not None:
        headers += ["est. us", "est. nJ", "data %"]
        for row, e in zip(rows, est.layers):
            total = e.compute_pj + e.memory_pj
            row += [f"{e.latency_s * 1e6:,.1f}", f"{total / 1e3:,.1f}",
                    f"{100 * e.memory_pj / total:.0f}" if total else "-"]
    totals = ["total", "", "", f"{result.params:,}", f"{result.macs:,}", f"{result.weight_bytes:,}", ""]
    if est is not None:
        totals += [f"{est.latency_s * 1e6:,.1f}", f"{est.energy_pj / 1e3:,.1f}",
                   f"{100 * est.memory_pj / est.energy_pj:.0f}"]
    inputs = ", ".join(f"{n}: {_dims(s)}" for n, s in result.inputs.items())
    n_act = len(result.plan.tensors)
    lines = [f"{result.graph}: {len(result.layers)} layers; input {inputs}; "
             f"shapes per sample, HxWxC (NHWC)",
             table(headers, rows + [totals]), "",
             f"peak SRAM (activation arena): {_kb(result.arena_bytes)}, {n_act} tensors "
             f"planned, {result.plan.alignment}-byte aligned; kernel scratch and stack not included",
             f"flash: {_kb(result.weight_bytes)} weights + {_kb(result.code_bytes_estimate)} code "
             f"(estimate) = {_kb(result.flash_bytes)}"]
    if est is not None:
        dtype = next((l.dtype for l in result.layers if l.macs), "float32")
        lines += _device_lines(est, "float32" if dtype.startswith("float") else "int8")
    return "\n".join(lines)


def _verdict(what: str, needed: int, available: int) -> str:
    margin = available - needed
    pct = 100 * abs(margin) / available
    state = (f"fits, margin {margin:,} B ({pct:.1f}% free)" if margin >= 0
             else f"DOES NOT FIT, over by {-margin:,} B ({pct:.1f}% over)")
    return f"  {what:<6}{needed:>13,} of {available:>13,} B: {state}"


def _device_lines(est: devices.Estimate, dtype: str) -> list[str]:
    d, fit = est.device, est.fit
    share = 100 * est.memory_pj / est.energy_pj if est.energy_pj else 0.0
    return [
        "", f"device {d.name}: {d.description}",
        _verdict("SRAM", fit.sram_needed, fit.sram_available),
        _verdict(d.weight_memory, fit.flash_needed, fit.flash_available),
        f"  verdict: {'fits' if fit.fits else 'does not fit'} (activation arena and estimated flash "
        f"only; for the measured RAM with scratch and stack, profile the int8 .lvn)",
        f"  ESTIMATES (cost model, not measured): latency {est.latency_s * 1e3:,.3f} ms, energy "
        f"{est.energy_pj / 1e6:,.3f} uJ, of which data movement {share:.0f}%",
        f"  model: {dtype} at {d.macs_per_cycle[dtype]:g} MAC/cycle, {d.clock_hz / 1e6:g} MHz; "
        f"energy from Horowitz's 45 nm figures; 'data %' = share of a layer's energy spent "
        f"moving data (assumptions in --json)",
    ]
