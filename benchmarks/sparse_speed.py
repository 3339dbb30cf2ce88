"""Sparse and coded weights against dense int8 on the Cortex-M4 (qemu -icount, arm-none-eabi-gcc
-Os): the figures of issue 20 items 2 and 3, and the constants of levin.codegen.weight_cost.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sparse_speed.py [--parts calibrate,sparse,coded]
     (about 15 min; writes benchmarks/results/sparse_speed.json)

Parts:
  calibrate  single-layer graphs (conv 3x3 32->32, 16->16 and 1->16 over 16x16, 16->16 over
             6x6, depthwise 3x3 over 16x16x64, fully connected 512->128; 4- and 8-bit weights) in every coding the C
             reader takes, sparse at 5, 10 and 20% density: the layer's instructions, and the
             constants of weight_cost's terms fitted to them by non-negative least squares, next
             to the estimate with the constants weight_cost.py holds (rounded from such a fit);
  sparse     digits_cnn and lenet5 with 4-bit weights pruned to 5, 8 and 10% nonzero: int8,
             "sparse" (fewest flash bytes), "sparse" and "auto" with prefer="speed"; the whole
             model and each conv / fully connected layer;
  mlperf     the four MLPerf Tiny int8 models, each weight tensor's codes pruned to 10% by
             magnitude (no retraining: speed only): int8, sparse and auto with prefer="speed",
             against CMSIS-NN's dense counts (levin.bench.kernels.CMSIS_NN);
  coded      the four MLPerf Tiny models (8-bit weights): int8, packed, codebook and rANS.
A run of some parts keeps the other parts' rows in the JSON.
Every row is checked bit-exact against levin.reference on the M4.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from levin import codegen, reference  # noqa: E402
from levin.bench import _layers  # noqa: E402
from levin.bench._graphs import int8_graph, weight_density  # noqa: E402
from levin.bench.vs_tflm import DEFAULT_DATA, MODELS, inputs_for  # noqa: E402
from levin.codegen import export as export_module  # noqa: E402
from levin.codegen import weight_cost, weight_fields  # noqa: E402
from levin.coding import sparse  # noqa: E402
from levin.coding.varint import encode_varint, read_varint  # noqa: E402
from levin.config import QuantConfig  # noqa: E402
from levin.ir import tflite  # noqa: E402
from levin.ir.graph import Graph  # noqa: E402
from levin.output import table, write_json  # noqa: E402
from levin.quant import ptq  # noqa: E402
from levin.targets import cortexm  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "sparse_speed.json"
DENSITIES = (0.05, 0.08, 0.10)


# ---- measuring ---------------------------------------------------------------------------------

def run_m4(graph, x: np.ndarray, work: Path, weight_format: str = "int8", prefer: str = "flash",
           bodies: dict[str, bytes] | None = None) -> dict:
    """Export (with `bodies` forced per weight tensor if given), run on the M4 with the per-layer
    hook, check against the reference: total, per-layer instructions, chains, flash of weights."""
    shape = (len(x),) + graph.tensors[graph.inputs[0]].shape[1:]
    want = reference.run(graph, x.reshape(shape))[graph.outputs[0]].reshape(len(x), -1).astype(np.int8)
    saved = export_module.code_weights
    if bodies is not None:
        export_module.code_weights = lambda g, fmt, stored, prefer="flash": dict(bodies)
    try:
        export = codegen.export_c(graph, work / "c", weight_format=weight_format, prefer=prefer)
    finally:
        export_module.code_weights = saved
    fw = cortexm.model_firmware(export, x.reshape(len(x), -1), work / "fw", per_layer=True)
    results = cortexm.run(fw, timeout=1800)
    exact = all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                for r, w in zip(results, want))
    layers = {d["name"]: dict(op=d["op"], variant=d["variant"], macs=d["macs"],
                              instructions=results[0].layers[k])
              for k, d in _layers.describe(graph, export).items()}
    return dict(instructions=results[0].instructions, exact=exact, layers=layers, chains=export.chains,
                weight_bytes=export.weight_bytes, scratch=export.scratch_bytes)


# ---- calibration -------------------------------------------------------------------------------

def layer_graph(kind: str, density: float | None, bits: int, seed: int = 0):
    """A one-layer int8 graph and one input: "conv<c>@<side>" (3x3, padding 1, c -> max(c, 16)
    channels over side x side), "depthwise" (3x3 over 16x16x64) or "linear" (512 -> 128)."""
    rng = np.random.default_rng(seed)
    g = Graph(kind)
    if kind.startswith("conv"):
        c, side = (int(v) for v in kind[4:].split("@"))
        x_shape, w_shape, op, attrs = (1, side, side, c), (max(c, 16), 3, 3, c), "Conv2d", dict(padding=1)
    elif kind == "depthwise":
        x_shape, w_shape, op, attrs = (1, 16, 16, 64), (64, 3, 3, 1), "Conv2d", dict(padding=1, groups=64)
    else:
        x_shape, w_shape, op, attrs = (1, 512), (128, 512), "Linear", {}
    w = rng.normal(0, 0.3, w_shape).astype(np.float32)
    if density is not None:
        w[rng.random(w_shape) >= density] = 0.0
    t = g.add_input("x", x_shape)
    g.mark_output(g.add_node(op, [t, g.add_constant("w", w)], "layer", **attrs))
    xs = rng.uniform(-1, 1, (8,) + x_shape[1:]).astype(np.float32)
    calib = xs.transpose(0, 3, 1, 2) if len(x_shape) == 4 else xs
    ig = ptq.build_integer_graph(g, ptq.prepare(g, calib, QuantConfig(weight_bits=bits)))
    return ig, reference.quantize_input(ig, xs[:1]).reshape(1, -1)


def with_positions(body: bytes, t, method: str) -> bytes:
    """A sparse body with its positions recoded by `method` ("packed", "bitmask", "gaps<b>")."""
    size, pos = read_varint(body, 1, "positions")
    blobs = sparse.encode_candidates(t.data.reshape(-1) != 0)
    if method == "gaps":
        method = min((k for k in blobs if k.startswith("gaps")), key=lambda k: len(blobs[k]))
    return body[:1] + encode_varint(len(blobs[method])) + blobs[method] + body[pos + size:]


def codings(t, dense: bool) -> dict[str, bytes]:
    """Every coding of weight tensor `t` the calibration measures, by label: dense ones, or
    sparse ones with each positions method."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dense:
            return {f: weight_fields._encode(t, f) for f in ("int8", "packed", "codebook", "rans")}
        smallest = weight_fields._encode(t, "sparse")
        fast = weight_fields._fast_sparse(t)
    return {"sparse packed+raw": fast[0], "sparse packed+pack": fast[1],
            "sparse gaps": with_positions(smallest, t, "gaps"),
            "sparse bitmask": with_positions(smallest, t, "bitmask")}


CALIBRATION = [(kind, d, bits) for kind in ("conv32@16", "conv16@16", "conv16@6", "conv1@16", "depthwise", "linear")
               for d, bits in [(None, 4), (None, 8), (0.05, 4), (0.10, 4), (0.20, 4)]]
NAMES = ([f"ROW[{k}]" for k in ("conv", "depthwise")] + [f"MAC[{k}]" for k in weight_cost.MAC]
         + [f"VALUE[{c}]" for c in weight_cost.VALUE] + [f"OUTPUT[{k}]" for k in weight_cost.OUTPUT]
         + [f"NONZERO[{k}]" for k in weight_cost.NONZERO]
         + ["CLIPPED", "POS_PACKED_ELEMENT", "POS_GAP_SYMBOL", "POS_BITMASK_ELEMENT"])


def features(w: dict, layer: weight_cost.Layer) -> np.ndarray:
    """The counts weight_cost.instructions multiplies by each constant (in NAMES order)."""
    f = dict.fromkeys(NAMES, 0.0)
    size, nnz, pixels, kind = w["size"], w["nnz"], layer.pixels, layer.kind
    f[f"VALUE[{weight_cost._value_key(w)}]"] = size if w["pos_method"] == weight_fields.DENSE else nnz
    if w["pos_method"] == weight_fields.DENSE:
        if kind != "linear":
            f[f"ROW[{kind}]"] = layer.channels * pixels * layer.rows
        f[f"MAC[{kind}]"] = size * pixels
        return np.array([f[n] for n in NAMES], float)
    busy = min(layer.channels, nnz)
    f[f"OUTPUT[{kind}]"] = busy * pixels
    f[f"NONZERO[{kind}]"] = nnz * (pixels + layer.clipped)
    f["CLIPPED"] = busy * layer.clipped
    if w["pos_method"] == sparse.PACKED:
        f["POS_PACKED_ELEMENT"] = size
    elif w["pos_method"] == sparse.GAPS:
        f["POS_GAP_SYMBOL"] = w["pos_symbols"]
    else:
        f["POS_BITMASK_ELEMENT"] = size
    return np.array([f[n] for n in NAMES], float)


def calibrate(work: Path, log=print) -> dict:
    rows, feats = [], []
    for kind, density, bits in CALIBRATION:
        graph, x = layer_graph(kind, density, bits)
        node = graph.nodes[0]
        t = graph.tensors[node.inputs[1]]
        layer = weight_cost.layer_of(graph, node)
        for label, body in codings(t, density is None).items():
            r = run_m4(graph, x, work / f"{kind}-{density}-{bits}-{label.replace(' ', '_')}",
                       bodies={t.name: body})
            w = weight_fields.parse_weights(body, t, "w")[0]
            measured = r["layers"]["layer"]["instructions"]
            rows.append(dict(layer=kind, density=density, bits=bits, coding=label, exact=r["exact"],
                             chain=r["chains"][t.name], instructions=measured,
                             estimate=round(weight_cost.instructions(w, layer))))
            feats.append(features(w, layer))
            log(f"  {kind:<9} {str(density):>5} {bits}b {label:<20} {measured:>10,}  est. {rows[-1]['estimate']:>10,}")
    a, b = np.array(feats), np.array([r["instructions"] for r in rows], float)
    # Widths other than 4 and 8 bits are too rare here to fit: held at weight_cost's guess.
    held = np.array([n in ("VALUE[pack_bits]", "VALUE[codebook_bits]") for n in NAMES])
    fit = np.where(held, [weight_cost.VALUE.get(n[6:-1], 0.0) for n in NAMES], 0.0)
    rest = b - a[:, held] @ fit[held]
    used = a.any(axis=0) & ~held
    fit[used] = nnls(a[:, used] / b[:, None], rest / b)[0]   # relative error, per row
    for r, f in zip(rows, feats):
        r["fit"] = round(float(f @ fit))
    return dict(rows=rows, fitted={n: round(float(v), 2) for n, v in zip(NAMES, fit) if used[NAMES.index(n)]})


# ---- the tables --------------------------------------------------------------------------------

def sparse_vs_dense(work: Path, log=print) -> list[dict]:
    rows = []
    for name in ("digits_cnn", "lenet5"):
        for density in DENSITIES:
            graph, x = int8_graph(name, density=density, n_inputs=1, weight_bits=4)
            for fmt, prefer in (("int8", "flash"), ("sparse", "flash"), ("sparse", "speed"), ("auto", "speed")):
                r = run_m4(graph, x, work / f"{name}-{density}-{fmt}-{prefer}", fmt, prefer)
                rows.append(dict(model=name, density=round(weight_density(graph), 4), format=fmt,
                                 prefer=prefer, **r))
                log(f"  {name:<10} {density:.2f} {fmt:<6} {prefer:<5} {r['instructions']:>12,}  exact {r['exact']}")
    return rows


def coded_vs_int8(work: Path, log=print) -> list[dict]:
    rows = []
    for key in MODELS:
        graph = tflite.from_bytes((DEFAULT_DATA / "models" / "mlperf_tiny" / MODELS[key]).read_bytes(), key)
        x = inputs_for(key, graph, 1, DEFAULT_DATA).reshape(1, -1)
        for fmt in ("int8", "packed", "codebook", "rans"):
            r = run_m4(graph, x, work / f"{key}-{fmt}", fmt)
            rows.append(dict(model=key, format=fmt, **r))
            log(f"  {key:<8} {fmt:<9} {r['instructions']:>12,}  exact {r['exact']}")
    return rows


def prune_codes(graph, density: float):
    """`graph` with each conv / fully connected weight tensor's int8 codes of the smallest
    magnitude zeroed, `density` of them kept (no retraining: this measures speed, not accuracy)."""
    graph = copy.deepcopy(graph)
    for node in graph.nodes:
        if node.op in ("Conv2d", "Linear"):
            t = graph.tensors[node.inputs[1]]
            flat = np.abs(t.data.astype(np.int32)).reshape(-1)
            keep = np.argsort(-flat, kind="stable")[:max(1, round(density * flat.size))]
            mask = np.zeros(flat.size, bool)
            mask[keep] = True
            t.data = np.where(mask.reshape(t.shape), t.data, 0).astype(t.data.dtype)
    return graph


def mlperf_sparse(work: Path, log=print) -> list[dict]:
    """The MLPerf Tiny int8 models pruned to 10% (as issue 20's sparse row: KWS at 10%): dense
    int8, and per layer the faster of sparse and dense (`auto`, prefer="speed"), against CMSIS-NN's
    dense kernels on the unpruned model (the issue's figures)."""
    from levin.bench.kernels import CMSIS_NN
    rows = []
    for key in MODELS:
        graph = tflite.from_bytes((DEFAULT_DATA / "models" / "mlperf_tiny" / MODELS[key]).read_bytes(), key)
        graph = prune_codes(graph, 0.10)
        x = inputs_for(key, graph, 1, DEFAULT_DATA).reshape(1, -1)
        for fmt, prefer in (("int8", "flash"), ("sparse", "speed"), ("auto", "speed")):
            r = run_m4(graph, x, work / f"{key}-{fmt}-{prefer}", fmt, prefer)
            rows.append(dict(model=key, density=round(weight_density(graph), 4), format=fmt, prefer=prefer,
                             cmsis_nn_dense=CMSIS_NN["-Os"][key], **r))
            log(f"  {key:<8} 10% {fmt:<6} {prefer:<5} {r['instructions']:>12,}  exact {r['exact']}")
    return rows


def render(out: dict) -> str:
    text = []
    if "calibrate" in out:
        c = out["calibrate"]
        text.append(table(["layer", "density", "bits", "coding", "chain", "M4 instr", "weight_cost", "fit"],
                          [[r["layer"], r["density"] or "dense", r["bits"], r["coding"], r["chain"],
                            f"{r['instructions']:,}", f"{r['estimate']:,}", f"{r['fit']:,}"] for r in c["rows"]]))
        text.append("fitted constants: " + ", ".join(f"{k} {v}" for k, v in c["fitted"].items()))
    if "sparse" in out:
        base = {(r["model"], r["density"]): r for r in out["sparse"] if r["format"] == "int8"}
        body = []
        for r in out["sparse"]:
            b = base[(r["model"], r["density"])]
            per = " ".join(f"{k} {v['instructions'] / b['layers'][k]['instructions']:.2f}"
                           for k, v in r["layers"].items() if v["op"] in ("Conv2d", "Linear"))
            body.append([r["model"], f"{100 * r['density']:.1f}%", r["format"] + (" speed" if r["prefer"] == "speed" else ""),
                         f"{r['instructions']:,}", f"{r['instructions'] / b['instructions']:.2f}",
                         f"{r['weight_bytes']:,}", per, "yes" if r["exact"] else "NO"])
        text.append(table(["model", "density", "format", "M4 instr", "x int8", "weight B",
                           "per layer x int8", "exact"], body))
    if "mlperf" in out:
        base = {r["model"]: r for r in out["mlperf"] if r["format"] == "int8"}
        text.append(table(["model", "density", "format", "M4 instr", "x int8", "x CMSIS-NN dense", "weight B", "exact"],
                          [[r["model"], f"{100 * r['density']:.1f}%", r["format"] + (" speed" if r["prefer"] == "speed" else ""),
                            f"{r['instructions']:,}", f"{r['instructions'] / base[r['model']]['instructions']:.2f}",
                            f"{r['instructions'] / r['cmsis_nn_dense']:.2f}", f"{r['weight_bytes']:,}",
                            "yes" if r["exact"] else "NO"] for r in out["mlperf"]]))
    if "coded" in out:
        base = {r["model"]: r for r in out["coded"] if r["format"] == "int8"}
        text.append(table(["model", "format", "M4 instr", "x int8", "weight B", "scratch B", "exact"],
                          [[r["model"], r["format"], f"{r['instructions']:,}",
                            f"{r['instructions'] / base[r['model']]['instructions']:.3f}", f"{r['weight_bytes']:,}",
                            f"{r['scratch']:,}", "yes" if r["exact"] else "NO"] for r in out["coded"]]))
    return "\n\n".join(text)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="calibrate,sparse,mlperf,coded")
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    cortexm.require_toolchain()
    cortexm.require_qemu()
    parts = {"calibrate": calibrate, "sparse": sparse_vs_dense, "mlperf": mlperf_sparse, "coded": coded_vs_int8}
    # Parts not rerun keep their rows from the last run.
    out: dict = json.loads(args.json.read_text()) if args.json.exists() else {}
    out.pop("seconds", None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="levin-sparse-speed-") as tmp:
        for part in args.parts.split(","):
            print(part)
            out[part] = parts[part](Path(tmp) / part)
    print(render(out))
    out["seconds"] = round(time.perf_counter() - started)
    write_json(out, str(args.json))
    exact = [r["exact"] for part in ("sparse", "mlperf", "coded") for r in out.get(part, [])]
    exact += [r["exact"] for r in out.get("calibrate", {}).get("rows", [])]
    return 0 if all(exact) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
