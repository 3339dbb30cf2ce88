"""The end of a compression run as a table (terminal) and a dict (summary.json, --json).

Per layer of the frozen integer graph: weights, sparsity, bit width, distinct nonzero values,
bytes in the .lvn (weights + bias, their graph records included) and the share of the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from levin import ops
from levin.output import table

def layer_rows(result) -> list[dict[str, Any]]:
    graph, report = result.graph, result.container
    nbytes = {t.name: t.nbytes for t in report.tensors}
    chains = {t.name: t.chain for t in report.tensors}
    rows = []
    for node in graph.nodes:
        if not ops.get(node.op).weighted:
            continue
        w = graph.tensors[node.inputs[1]]
        consts = [t for t in node.inputs[1:] if graph.tensors[t].is_constant]
        codes = w.data
        nonzero = codes[codes != 0]
        rows.append({"layer": node.name, "op": node.op, "weight": w.name, "weights": int(codes.size),
                     "sparsity": float(1 - nonzero.size / codes.size),
                     "bits": int(w.quant.bits) if w.quant is not None and w.quant.bits else 8,
                     "values": int(np.unique(nonzero).size), "chain": chains.get(w.name, ""),
                     "bytes": int(sum(nbytes.get(t, 0) for t in consts)),
                     "weight_bytes": int(nbytes.get(w.name, 0))})
    for row in rows:
        row["share"] = row["bytes"] / result.lvn_bytes
    return rows


def summary_dict(result, recipe) -> dict[str, Any]:
    q = result.quantize
    data = result.data
    return {"recipe": recipe.to_dict(), "task": result.task, "metric": result.metric,
            "higher_is_better": result.higher_is_better, "steps_metric": result.step_metric, "baseline_accuracy": result.baseline_accuracy,
            "baseline_validation_accuracy": result.baseline_validation_accuracy,
            "split": data.split if data is not None else {},
            "steps": [s.to_dict() for s in result.steps],
            "float_accuracy": q.float_accuracy, "fakequant_accuracy": q.fakequant_accuracy,
            "integer_accuracy": q.integer_accuracy, "agreement": q.agreement.to_dict(),
            "lvn_bytes": result.lvn_bytes, "lvn_path": str(result.lvn_path) if result.lvn_path else None,
            "float32_bytes": result.float32_bytes, "ratio": result.float32_bytes / result.lvn_bytes,
            "layers": layer_rows(result), "container": result.container.to_dict(),
            "wall_s": result.wall_s}


def render(result, title: str) -> str:
    rows = layer_rows(result)
    lines = [title, table(
        ["layer", "weights", "sparsity", "bits", "values", "codec", "bytes", "share"],
        [[r["layer"], f"{r['weights']:,}", f"{100 * r['sparsity']:.1f}%", r["bits"], r["values"],
          r["chain"], f"{r['bytes']:,}", f"{100 * r['share']:.1f}%"] for r in rows]
        + [["total (.lvn file)", f"{sum(r['weights'] for r in rows):,}", "", "", "", "",
            f"{result.lvn_bytes:,}", "100.0%"]])]
    val, text = result.baseline_validation_accuracy, result.text
    steps = [["baseline (float)", result.step_text(val), text(result.baseline_accuracy), "", ""]]
    steps += [[f"{s.index}. {s.kind}" + (" (resumed)" if s.resumed else ""),
               result.step_text(s.accuracy) if s.scored_on == "validation" else "",
               result.step_text(s.accuracy) if s.scored_on == "test" else "",
               f"{100 * s.density:.2f}%", f"{s.wall_s:.0f}s"] for s in result.steps]
    q = result.quantize
    steps += [["float after the steps", "", text(q.float_accuracy), "", ""],
              ["integer graph (levin reference)", "", text(q.integer_accuracy), "", ""]]
    lines += ["", table(["stage", f"validation {result.step_metric}", f"test {result.metric}",
                         "nonzero weights", "time"], steps)]
    if q.extra.get("mixed"):
        m = q.extra["mixed"]
        unit = "% more error" if m.get("metric") == "MSE" else "pp"
        lines.append(f"mixed precision: widths {sorted(set(m['bits'].values()))} chosen on "
                     f"{m.get('scored_on', 'training samples')} ({m['validation_size']:,} samples, "
                     f"drop {m['validation_drop']:.2f} {unit} of {m.get('metric', 'top-1 accuracy')})")
    fp32 = result.float32_bytes
    lines.append(f"\n{result.lvn_bytes:,} B .lvn vs {fp32:,} B of float32 parameters before: "
                 f"{fp32 / result.lvn_bytes:.1f}x smaller"
                 + (f"; written to {result.lvn_path}" if result.lvn_path else ""))
    return "\n".join(lines)

