"""Profile every zoo model: params, MACs, float32 weight bytes, and the activation arena.

The arena planner is compared with two peers in the same run: no planning at all (every
activation gets its own buffer, the sum of their sizes) and planning without in-place reuse.

Run: .venv/bin/python benchmarks/profile_zoo.py   (writes benchmarks/results/profile_zoo.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from levin import zoo
from levin.analyze import devices
from levin.analyze.memory import plan_memory
from levin.analyze.profile import profile
from levin.ir.capture import capture
from levin.ir.interpreter import run as run_float
from levin.output import table

RESULTS = Path(__file__).resolve().parent / "results" / "profile_zoo.json"


def measure(name: str) -> dict:
    spec = zoo.spec(name)
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    example = torch.randn(1, *spec.input_shape)
    start = time.perf_counter()
    graph = capture(model, example, name=name)
    capture_s = time.perf_counter() - start
    result = profile(graph)
    no_inplace = plan_memory(graph, inplace=False).arena_bytes
    naive = sum(t.nbytes for t in (graph.tensors[n] for n in result.plan.tensors))
    # Float interpreter vs PyTorch on the same input (NHWC vs NCHW handled by the interpreter API).
    ours = run_float(graph, {graph.inputs[0]: example.permute(0, 2, 3, 1).numpy()})[graph.outputs[0]]
    max_diff = float(abs(ours - model(example).detach().numpy()).max())
    m4 = devices.estimate(result, devices.get("cortex-m4"))
    return {"model": name, "params": result.params, "macs": result.macs,
            "weight_bytes_fp32": result.weight_bytes, "arena_bytes": result.arena_bytes,
            "arena_no_inplace_bytes": no_inplace, "activations_unplanned_bytes": naive,
            "flash_bytes_estimate": result.flash_bytes, "capture_s": capture_s,
            "float_interpreter_max_abs_diff": max_diff,
            "cortex_m4_fp32_latency_ms_estimate": 1e3 * m4.latency_s}


def main() -> None:
    rows = [measure(name) for name in zoo.names()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(["model", "params", "MACs", "fp32 weight B", "arena B", "no in-place B",
                 "unplanned B", "interp. max |diff|"],
                [[r["model"], f"{r['params']:,}", f"{r['macs']:,}", f"{r['weight_bytes_fp32']:,}",
                  f"{r['arena_bytes']:,}", f"{r['arena_no_inplace_bytes']:,}",
                  f"{r['activations_unplanned_bytes']:,}",
                  f"{r['float_interpreter_max_abs_diff']:.1e}"] for r in rows]))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
