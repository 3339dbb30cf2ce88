"""report.html: one static page (plots embedded as PNG data URIs) that opens in any browser.

Sections: the model in one table; every layer (weights, sparsity, bits, values, bytes, MACs,
share of the file); weight histograms before and after; size vs accuracy of everything the run
tried, with the Pareto front; the memory timeline; the device fit verdict; and, when the C
runtime was built and run, its measured flash, RAM and bit-exactness.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Sequence

from levin.analyze import devices
from levin.codegen import arena_plan
from levin.analyze.profile import code_size_estimate, profile
from levin.compressor.pipeline import coded_weight_bytes, layer_weights
from levin.compressor.summary import layer_rows
from levin.coding.cost import levin_cost
from levin.fileio import write_atomic
from levin.report import figures

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .8em;border-bottom:1px solid #eee}
th{text-align:left;background:#f5f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.note{color:#666;font-size:.9em}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{html.escape(str(c))}</td>' if i else f"<td>{html.escape(str(c))}</td>"
        for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def tried_points(result) -> list[dict]:
    """Everything the run measured, as size-vs-accuracy points. Sizes compare whole files: a
    step's weights quantized to int8 and coded (measured) plus what the .lvn holds besides its
    weight tensors (graph, biases, scales, header; measured on the final file). The fp32
    parameters are drawn for scale, off the Pareto front."""
    rest = result.lvn_bytes - sum(r["weight_bytes"] for r in layer_rows(result))
    pts = [{"label": "baseline fp32", "bytes": result.float32_bytes, "accuracy": result.baseline_accuracy,
            "kind": "float32 parameters", "front": False},
           {"label": "baseline", "bytes": coded_weight_bytes(result.baseline_weights) + rest,
            "accuracy": result.baseline_accuracy, "kind": "whole file, weights as int8 (test score)"}]
    pts += [{"label": f"{s.index}. {s.kind}", "bytes": s.coded_bytes + rest, "accuracy": s.accuracy,
             "kind": f"whole file, weights as int8 ({s.scored_on} score)"}
            for s in result.steps if s.coded_bytes and result.step_metric == result.metric]
    pts.append({"label": ".lvn", "bytes": result.lvn_bytes, "accuracy": result.integer_accuracy,
                "kind": "the .lvn file (integer test score)"})
    return pts


def build(result, recipe, path: str | Path, *, title: str, device: str = "cortex-m4",
          runtime=None, numbers=None, extra_points: Sequence[dict] = ()) -> Path:
    """Write the report for a `levin.compressor.CompressResult` to `path`; returns the path.

    `runtime` is a levin.compressor.deploy.RuntimeCheck when the C runtime was built and run;
    `numbers` a levin.targets.device_numbers.DeviceNumbers when it was measured on the device's
    core (its flash, RAM and stack then decide the fit)."""
    graph = result.graph
    plan = arena_plan(result.lvn_path or graph, runtime.weight_format if runtime else "auto",
                      runtime.prefer if runtime else "balanced")
    prof = profile(graph, plan)
    macs = {layer.name: layer.macs for layer in prof.layers}
    rows = layer_rows(result)
    dev = devices.get(device)
    scratch = runtime.scratch_bytes if runtime else 0
    flash = runtime.flash_bytes if runtime and runtime.flash_bytes else result.lvn_bytes + code_size_estimate(graph)
    ram = runtime.ram_bytes if runtime and runtime.ram_bytes else plan.arena_bytes + scratch
    fit = numbers.fit(dev) if numbers is not None else devices.Fit(ram, dev.sram_bytes, flash, dev.flash_bytes)
    measured = runtime is not None and runtime.flash_bytes is not None
    q = result.quantize
    cost = levin_cost(result.container)

    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">recipe <b>{html.escape(recipe.name)}</b>: '
             f"{html.escape(' → '.join(s.kind for s in recipe.steps) or 'no steps')} → "
             f"{recipe.quantize.weight_bits}-bit weights, int8 activations → .lvn</p>"]
    parts.append(_table(["", "before", "after"], [
        [f"test {result.metric}", f"{result.text(result.baseline_accuracy)} (float)",
         f"{result.text(q.integer_accuracy)} (integer reference)"],
        ["size", f"{result.float32_bytes:,} B (fp32 parameters)", f"{result.lvn_bytes:,} B (.lvn file)"],
        ["ratio", "", f"{result.float32_bytes / result.lvn_bytes:.1f}x"],
        ["MACs per inference", "", f"{prof.macs:,}"],
        ["decode work (symbols, all weights)", "", f"{cost.decode_steps:,}"],
        ["Levin cost = bits + log2(decode work)", "", f"{cost.cost:,.1f}"],
        *([[f"Levin cost measured = bits + log2({numbers.core} instructions)", "",
            f"{cost.bits + math.log2(max(numbers.instructions, 1)):,.1f} ({numbers.instructions:,} "
            f"instructions per inference, qemu)"]] if numbers is not None else []),
        ["activation arena", "", f"{plan.arena_bytes:,} B"],
    ]))
    flashed = runtime.flashed if runtime is not None else {}
    parts.append("<h2>Layers</h2>" + _table(
        ["layer", "weights", "sparsity", "int bits", "values", "codec (.lvn)", "bytes", "MACs",
         "share of file"] + (["in flash (C)"] if flashed else []),
        [[r["layer"], f"{r['weights']:,}", f"{100 * r['sparsity']:.1f}%", r["bits"], r["values"], r["chain"],
          f"{r['bytes']:,}", f"{macs.get(r['layer'], 0):,}", f"{100 * r['share']:.1f}%"]
         + ([flashed.get(r["weight"], "")] if flashed else []) for r in rows]))
    parts.append('<p class="note">bytes: the layer\'s weight and bias as stored in the .lvn, their graph '
                 "records included; the rest of the file is the graph, activation parameters and header."
                 + (f" In flash: how the C export stores each weight (--optimize {html.escape(runtime.prefer)}): "
                    f"weights {runtime.weight_bytes:,} B and arena {runtime.ram_bytes:,} B, against "
                    f"{runtime.int8_weight_bytes:,} B and {runtime.int8_ram_bytes:,} B with every weight raw int8."
                    if flashed else "") + "</p>")
    parts.append(_table(["stage", "score", "scored on", "nonzero weights", "weights coded", "time"],
                        [["baseline", result.text(result.baseline_accuracy), f"test ({result.metric})", "100%", "", ""]]
                        + [[f"{s.index}. {s.kind}", result.step_text(s.accuracy), f"{s.scored_on} ({result.step_metric})",
                            f"{100 * s.density:.2f}%", f"{s.coded_bytes:,} B", f"{s.wall_s:.0f} s"]
                           for s in result.steps]))
    after = layer_weights(result.model)
    parts.append("<h2>Weights before and after</h2>"
                 + _img(figures.weight_histograms(result.baseline_weights, after), "weight histograms"))
    parts.append(f"<h2>Size vs {html.escape(result.metric)}</h2>"
                 + _img(figures.pareto([*tried_points(result), *extra_points], f"size vs {result.metric}",
                                       metric=result.metric, higher_is_better=result.higher_is_better),
                        "Pareto plot"))
    parts.append('<p class="note">Whole files: each step\'s float weights quantized to int8 (one scale '
                 "per layer) and entropy-coded, plus the .lvn's other sections (graph, biases, scales, "
                 "header) as measured on the final file; the .lvn point is that file. The dashed line is "
                 "the Pareto front of the whole-file points; fp32 is shown for scale.</p>")
    parts.append("<h2>Memory</h2>" + _img(figures.memory_timeline(graph, plan, scratch), "memory timeline"))
    verdict = '<span class="ok">fits</span>' if fit.fits else '<span class="bad">does not fit</span>'
    parts.append(f"<h2>Device: {html.escape(dev.description)}</h2><p>{verdict}</p>" + _table(
        ["", "needed", "available", "margin"],
        [["RAM", f"{fit.sram_needed:,} B", f"{fit.sram_available:,} B", f"{fit.sram_margin:,} B"],
         ["flash", f"{fit.flash_needed:,} B", f"{fit.flash_available:,} B", f"{fit.flash_margin:,} B"]]))
    if numbers is not None:
        parts.append(device_section(numbers, dev))
    parts.append('<p class="note">' + (
        f"flash and RAM measured on the {html.escape(numbers.core)} build (linker map; RAM = arena + "
        f"the code's data + the stack's high-water mark)." if numbers is not None else
        "flash and RAM measured from the C build." if measured else
                 "flash = .lvn bytes + an ESTIMATE of the runtime code; RAM = the planned arena"
                 + (" + scratch" if scratch else "") + ".") + "</p>")
    if runtime is not None:
        ok = '<span class="ok">bit-exact</span>' if runtime.bit_exact else '<span class="bad">MISMATCH</span>'
        parts.append(f"<h2>C runtime</h2><p>{ok} against the integer reference on {runtime.samples:,} "
                     f"test inputs ({html.escape(result.metric)} of the C outputs: "
                     f"{result.text(runtime.accuracy)})" + (
                         f"; {runtime.host_us_per_inference:.1f} µs per inference on the host"
                         if runtime.host_us_per_inference is not None else "")
                     + f". Flash measured for {html.escape(runtime.flash_target)}.</p>")
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><body>{''.join(parts)}</body></html>\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, page)
    return path



def device_section(n, dev) -> str:
    """Per layer and in total, what the C build uses on the device's core (measured under qemu),
    and the time and energy estimated from it."""
    def est(value, fmt):
        return "" if value is None else fmt.format(value)

    rows = [[layer.name + (f" (+{layer.fused})" if layer.fused else ""), layer.op, f"{layer.macs:,}",
             f"{layer.weight_bytes:,}", f"{layer.scratch_bytes:,}", f"{layer.instructions:,}",
             est(layer.cycles, "{:,.0f}"), est(n.seconds(dev, layer.cycles), "{:.3f}") if layer.cycles else ""]
            for layer in n.layers]
    seconds, joules = n.seconds(dev), n.joules(dev)
    rows.append(["total", "", f"{sum(layer.macs for layer in n.layers):,}", f"{n.weight_bytes:,}",
                 f"{n.scratch:,}", f"{n.instructions:,}", est(n.cycles, "{:,.0f}"),
                 est(None if seconds is None else 1e3 * seconds, "{:.3f}")])
    return (f"<h2>On the {html.escape(n.core)}, per layer</h2>"
            + _table(["layer", "op", "MACs", "weights B", "scratch B", "instructions", "est. cycles",
                      f"est. ms @ {dev.clock_hz / 1e6:g} MHz"], rows)
            + f'<p class="note">Measured under qemu (instructions: <code>-icount</code>, each layer with its '
              f"2-4 counting instructions; bytes: the linked image): flash {n.flash:,} B = weights "
              f"{n.weight_bytes:,} B + code {n.code_bytes:,} B; RAM {n.ram:,} B = arena {n.arena:,} B "
              f"(incl. scratch {n.scratch:,} B) + the code's data {n.data + n.bss:,} B + stack {n.stack:,} B. "
              "ESTIMATES, not measured: cycles from the executed instruction mix and the core's timing "
              "table; ms at the device's clock"
            + (f"; energy {1e6 * joules:,.1f} µJ per inference at {1e3 * dev.active_power_w:g} mW"
               if joules is not None else "") + ". `levin profile model.lvn --device D` reports the same.</p>")


def sweep_page(title: str, note: str, png: bytes, tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
               path: str | Path) -> Path:
    """A one-page report of a parameter sweep (e.g. the MDL lambda sweep): its Pareto plot, then
    one table per (heading, headers, rows)."""
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{STYLE}</style>",
             f"<h1>{html.escape(title)}</h1><p class=note>{html.escape(note)}</p>",
             "<h2>Size vs error: the Pareto front</h2>", _img(png, "Pareto plot")]
    for heading, headers, rows in tables:
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(headers, rows)]
    out = Path(path)
    out.write_text("\n".join(parts) + "\n")
    return out
