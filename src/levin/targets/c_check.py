"""A .lvn's generated C against the integer reference, output for output: on the host and on the
Cortex-M4 under qemu (the benchmarks' "bit-exact on every test image" checks, issue 22).

The model is exported with the smallest weight coding (`prefer="flash"`: the program closest to
the file, decoding on the fly). The M4 firmware carries its inputs in flash, so the images run in
batches of `M4_BATCH` firmware builds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from levin import codegen, reference
from levin.ir.graph import Graph
from levin.targets import build

M4_BATCH = 1000


def c_check(lvn: Path, graph: Graph, x: np.ndarray, work: Path, m4: int) -> dict:
    """The C export's output codes against the reference's: host on all of `x`, M4 on the first
    `m4` (skipped, and said so in the result, without the toolchain or qemu)."""
    exp = codegen.export_c(lvn, work / "c", weight_format="auto", prefer="flash")
    q = reference.quantize_batch(graph, x).reshape(len(x), -1).astype(np.int8)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    want = np.concatenate([reference.run(graph, q[i:i + 500].reshape((-1,) + shape))[graph.outputs[0]]
                           .reshape(-1, exp.output_size) for i in range(0, len(q), 500)])
    out, _ = build.run_harness(build.build_harness(exp), q, exp.output_size)
    d = {"chains": exp.chains, "flash_weight_bytes": exp.weight_bytes, "arena_bytes": exp.arena_bytes,
         "host_images": len(x), "host_bit_exact": int((out == want).all(1).sum())}
    if m4:
        from levin.targets import cortexm
        try:
            cortexm.require_toolchain()
            cortexm.require_qemu()
        except cortexm.ToolMissing as exc:
            d["m4"] = f"not run: {exc}"
            return d
        results = []
        for i in range(0, m4, M4_BATCH):
            fw = cortexm.model_firmware(exp, q[i:min(m4, i + M4_BATCH)], work / "m4")
            results += cortexm.run(fw, timeout=600)
        ok = sum(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                 for r, w in zip(results, want[:m4]))
        d.update(m4_images=m4, m4_bit_exact=int(ok), m4_instructions=int(np.median([r.instructions for r in results])),
                 m4_stack_bytes=int(max(r.stack_bytes for r in results)), m4_flash_rodata=fw.code.rodata)
    return d
