"""The architecture gallery (tests/gallery/models.py) end to end: per model, capture -> PTQ int8
(calibrated on 32 seeded synthetic inputs) -> .lvn -> C, run on the host and on a Cortex-M4 under
qemu, both checked bit for bit against the numpy integer reference.

Columns: params and MACs (levin.analyze.profile of the int8 graph); .lvn bytes (int8 PTQ, the
default lossless coding, `levin.coding.container.encode`); RAM = arena (activations + scratch) +
the code's .data/.bss + measured stack high-water mark, flash = .text + .rodata + .data of model
and runtime, instructions per inference on the M4 (qemu -icount, median over the inputs), all as
`levin bench runtime` measures them (levin.bench.runtime.measure, int8 weights); host / M4 = the
outputs equal the reference on every input; "= TFLM": the graph's int8 .tflite export
(levin.ir.tflite_export) run by TFLite Micro gives the same codes ("n/a": an op with no TFLite
builtin, e.g. SiLU, Hardsigmoid, or no TFLite Micro installed); "ONNX": the float model exported
by `torch.onnx.export` (opset 17), imported by levin.ir.onnx and run by levin's float interpreter,
max |diff| against onnxruntime on the test inputs.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gallery.py [--models a,b] [--inputs N]
     (writes benchmarks/results/gallery.json)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from levin import codegen, reference  # noqa: E402
from levin.analyze.profile import profile  # noqa: E402
from levin.bench.runtime import measure  # noqa: E402
from levin.coding import container  # noqa: E402
from levin.errors import LevinError  # noqa: E402
from levin.output import table, write_json  # noqa: E402
from levin.targets import build  # noqa: E402
from tests.gallery import models  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gallery.json"


def tflm_equal(igraph, codes: np.ndarray, want: np.ndarray) -> str:
    from levin.ir import tflite_export, tflite_run

    try:
        data = tflite_export.to_bytes(igraph)
        x = codes.reshape((len(codes),) + igraph.tensors[igraph.inputs[0]].shape[1:])
        interpreter = tflite_run.tflm_interpreter(data, arena_size=8 << 20)   # dense outputs need room
        got = tflite_run.run_tflm(data, x, interpreter).reshape(len(codes), -1)
    except LevinError as exc:
        return "n/a: " + str(exc).splitlines()[0][:120]
    except RuntimeError as exc:        # TFLite Micro refused the model at prepare time
        return "n/a: TFLite Micro: " + str(exc).splitlines()[0][:100]
    return "yes" if np.array_equal(got, want) else "NO"


def onnx_diff(model, test) -> float | str:
    """max |levin's float interpreter - onnxruntime| on `test`, the model through ONNX."""
    import io
    import warnings

    import onnxruntime as ort
    import torch

    from levin.ir import interpreter
    from levin.ir import onnx as onnx_import

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (test[:1],), f, opset_version=17, dynamo=False)
    try:
        g = onnx_import.from_bytes(f.getvalue(), "gallery")
    except LevinError as exc:
        return "n/a: " + str(exc).splitlines()[0][:120]
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in test.numpy()[:, None]:
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        got = interpreter.run(g, to_ir(x))[g.outputs[0]]
        worst = max(worst, float(np.abs(got - to_ir(want)).max()))
    return worst


def to_ir(x: np.ndarray) -> np.ndarray:
    """A torch / ONNX NCHW (or NCL) array in the IR's NHWC (N, 1, L, C) layout."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x.transpose(0, 2, 1)[:, None] if x.ndim == 3 else x


def row(name: str, n_inputs: int, work: Path) -> dict:
    t = time.perf_counter()
    model, _, igraph, codes, test = models.quantized(name, n_test=n_inputs)
    lvn = container.encode(igraph)
    graph = container.decode(lvn)
    prof = profile(graph)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    want = reference.run(graph, codes.reshape((len(codes),) + shape))[graph.outputs[0]]
    want = want.reshape(len(codes), -1).astype(np.int8)
    export = codegen.export_c(graph, work / "host", "int8")
    got, _ = build.run_harness(build.build_harness(export), codes, export.output_size)
    host_exact = build.compare(got, want.reshape(got.shape)) is None
    m4 = measure(graph, codes, "int8", work / "m4", host=False)
    return dict(model=name, input=list(models.GALLERY[name][1]), ops=sorted({n.op for n in graph.nodes}),
                params=prof.params, macs=prof.macs, lvn_bytes=len(lvn), flash=m4["flash"], ram=m4["ram"],
                arena=m4["arena"], scratch=m4["scratch"], stack=m4["stack"], data_bss=m4["data"] + m4["bss"],
                instructions=m4["instructions"], host_exact=host_exact, m4_exact=m4["m4_exact"],
                tflm=tflm_equal(graph, codes, want), onnx_max_diff=onnx_diff(model, test), inputs=n_inputs, seconds=round(time.perf_counter() - t, 1))


def render(rows: list[dict]) -> str:
    yn = {True: "yes", False: "NO"}
    return table(["model", "params", "MACs", ".lvn B", "RAM B", "flash B", "M4 instr", "host", "M4", "= TFLM",
                  "ONNX vs onnxruntime"],
                 [[r["model"], f"{r['params']:,}", f"{r['macs']:,}", f"{r['lvn_bytes']:,}", f"{r['ram']:,}",
                   f"{r['flash']:,}", f"{r['instructions']:,}", yn[r["host_exact"]], yn[r["m4_exact"]],
                   r["tflm"].split(":")[0], _diff(r["onnx_max_diff"])] for r in rows])


def _diff(d: float | str) -> str:
    return f"{d:.2e}" if isinstance(d, float) else d.split(":")[0]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(models.GALLERY))
    p.add_argument("--inputs", type=int, default=3, help="seeded inputs run per model (default 3)")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="levin-gallery-") as tmp:
        for name in args.models.split(","):
            rows.append(row(name, args.inputs, Path(tmp) / name))
            r = rows[-1]
            print(f"  {name:<18} {r['seconds']:>6} s  exact host {r['host_exact']} M4 {r['m4_exact']}  TFLM {r['tflm']}",
                  flush=True)
    print(render(rows))
    write_json(dict(benchmark="gallery", target="Cortex-M4 (-mcpu=cortex-m4 -mthumb -Os), qemu mps2-an386, "
                    "-icount (instructions, not cycles)", weights="int8 PTQ, per-channel, lossless .lvn coding",
                    rows=rows), str(RESULTS))
    return 0 if all(r["host_exact"] and r["m4_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
