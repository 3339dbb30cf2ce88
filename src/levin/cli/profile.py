"""`levin profile`: per-layer parameters, MACs, bytes and activations, peak SRAM and flash;
with --device, whether it fits and estimated latency and energy."""

from __future__ import annotations

import argparse

from levin import zoo
from levin.analyze import devices
from levin.analyze.profile import ProfileResult, profile
from levin.cli.common import EXIT_DOES_NOT_FIT, add_weights_argument, human
from levin.errors import LevinError
from levin.output import table, write_json

EXAMPLES = """examples:
  levin profile --model lenet5
  levin profile --model resnet8 --device cortex-m4 --json resnet8-profile.json
Sizes are bytes as stored (float32 until quantized). Latency and energy are estimates from a
cost model, labelled as such; SRAM is the planned activation arena (no scratch or stack).
"""


def register(sub) -> None:
    p = sub.add_parser("profile", help="per-layer params, MACs, bytes; peak SRAM, flash, fit",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help=f"zoo name ({', '.join(zoo.names())}), path/to/file.py:factory, "
                        f"a checkpoint directory, or a float .onnx model")
    add_weights_argument(p)
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="one input sample, channels first (default: the model's own)")
    p.add_argument("--device", help=f"add the fit verdict and estimates for one of: "
                                    f"{', '.join(devices.DEVICES)} (exit status 3 if it does not fit)")
    p.add_argument("--json", metavar="FILE", help="also write everything as JSON ('-' for stdout)")
    p.set_defaults(run=run)


def parse_shape(text: str) -> tuple[int, ...]:
    from levin.models import check_input_shape

    try:
        shape = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise LevinError(f"--input-shape {text!r}: expected positive integers like 1,28,28") from None
    return check_input_shape(shape, "--input-shape")


def run(args: argparse.Namespace) -> int:
    from levin.models import load_graph
    device = devices.get(args.device) if args.device else None
    shape = parse_shape(args.input_shape) if args.input_shape else None
    graph = load_graph(args.model, shape, args.weights)
    result = profile(graph)
    est = devices.estimate(result, device) if device else None
    print(render(result, est), file=human(args))
    if args.json:
        data = dict(model=args.model, **result.to_dict())
        if est is not None:
            data["device"] = est.to_dict()
        write_json(data, args.json)
    return EXIT_DOES_NOT_FIT if est is not None and not est.fit.fits else 0


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
        f"  verdict: {'fits' if fit.fits else 'does not fit'}",
        f"  ESTIMATES (cost model, not measured): latency {est.latency_s * 1e3:,.3f} ms, energy "
        f"{est.energy_pj / 1e6:,.3f} uJ, of which data movement {share:.0f}%",
        f"  model: {dtype} at {d.macs_per_cycle[dtype]:g} MAC/cycle, {d.clock_hz / 1e6:g} MHz; "
        f"energy from Horowitz's 45 nm figures; 'data %' = share of a layer's energy spent "
        f"moving data (assumptions in --json)",
    ]
