"""Bytes of each part of a .lvn file, format 2.0 against 3.0 (issue 22, item 1: shorter codes).

Format 3.0 adds the golomb and adaptive value coders (int32 biases; short index streams) and the
compact graph section (shapes, scales and default attributes the reader rebuilds are left out). For each graph this writes it
both ways and splits each file into: header, graph section (framing and CRC included), the
sections of the bias tensors (constants of rank 1), and those of the other constant tensors
(weights). Every figure is the length of bytes written; the 3.0 file is decoded and checked equal
to the graph, tensor by tensor and element by element. Also the CPU seconds (this process) to
encode and decode each file in Python: context positions are coded by a Python loop.

The 2.0 file is what the 2.0 writer wrote: the same tensor coders less golomb and adaptive, the graph plain or
deflated, whichever is shorter (graph_codec is unchanged). For a .lvn input written by 2.0 with
the default config, the script checks that this reproduces the input byte for byte.

    .venv/bin/python benchmarks/lvn_sections.py [--lvn FILE ...] [--zoo lenet5 ...] [--zoo-density 0.05]
        # default: the two trained LeNet-5 files of benchmarks/lvn_sections/ and four zoo models;
        # writes benchmarks/results/lvn_sections.json, prints a table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from levin.coding import container, graph_codec, weights
from levin.coding.fields import ByteWriter
from levin.coding.varint import read_varint
from levin.config.code import CodeConfig

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "lvn_sections.json"
ZOO = ("lenet5", "lenet300", "dscnn", "resnet8")
LVN = sorted((ROOT / "lvn_sections").glob("*.lvn"), reverse=True)   # trained LeNet-5s (README there)


def encode_2_0(graph, config: CodeConfig | None = None) -> bytes:
    """`graph` as format 2.0 wrote it (module docstring)."""
    config = config or CodeConfig()
    body = graph_codec.encode_graph(graph)
    packed = container._deflate(body)
    sections = [container._section(container.GRAPH_DEFLATE, packed) if len(packed) < len(body)
                else container._section(container.GRAPH, body)]
    for i, t in enumerate(graph.tensors.values()):
        if t.is_constant:
            cfg = config.for_tensor(t.name)
            cfg = replace(cfg, coders=tuple(c for c in cfg.coders if c not in ("golomb", "adaptive")))
            w = ByteWriter()
            w.varint(i)
            sections.append(container._section(container.TENSOR, bytes(w.out) + weights.encode_tensor(
                t.data, cfg, t.name).body))
    head = ByteWriter()
    head.raw(container.MAGIC + bytes([2, 0]))
    head.varint(len(sections))
    head.u32(zlib.crc32(head.out))
    return bytes(head.out) + b"".join(sections)


def parts(data: bytes) -> dict:
    """Header, graph section, bias sections, weight sections: bytes of each (they sum to the file)."""
    _, header, sections = container.read_sections(data)
    graph = container.decode(data)
    names = list(graph.tensors)
    out = dict(file=len(data), header=header, graph=sections[0].nbytes, graph_kind=sections[0].kind,
               biases=0, weights=0, tensors={})
    for s in sections[1:]:
        name = names[read_varint(data, s.body, "tensor index")[0]]
        kind = "biases" if graph.tensors[name].data.ndim == 1 else "weights"
        out[kind] += s.nbytes
        out["tensors"][name] = s.nbytes
    assert out["header"] + out["graph"] + out["biases"] + out["weights"] == len(data)
    return out


def same(a, b) -> bool:
    """Every tensor equal element for element (constants), every shape, scale and node equal."""
    if list(a.tensors) != list(b.tensors) or [(n.op, n.inputs, n.output, n.attrs) for n in a.nodes] != \
            [(n.op, n.inputs, n.output, n.attrs) for n in b.nodes]:
        return False
    for name, t in a.tensors.items():
        u = b.tensors[name]
        if t.shape != u.shape or t.dtype != u.dtype or (t.quant is None) != (u.quant is None):
            return False
        if t.is_constant and not np.array_equal(t.data, u.data):
            return False
        f32 = lambda q: np.asarray(q.scale, "<f4").tobytes()   # noqa: E731
        if t.quant is not None and f32(t.quant) != f32(u.quant):
            return False
    return True


def measure(graph, label: str, original: bytes | None = None) -> dict:
    def timed(fn, *args):
        start = time.process_time()
        out = fn(*args)
        return out, round(time.process_time() - start, 3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (old, enc_old), (new, enc_new) = timed(encode_2_0, graph), timed(container.encode, graph)
    (back_old, dec_old), (back_new, dec_new) = timed(container.decode, old), timed(container.decode, new)
    assert same(graph, back_new) and same(graph, back_old), label
    res = dict(label=label, before=parts(old), after=parts(new),
               seconds=dict(encode_2_0=enc_old, encode_3_0=enc_new, decode_2_0=dec_old, decode_3_0=dec_new))
    if original is not None:
        res["input_bytes"] = len(original)
        res["before_is_the_input"] = old == original
    return res


def show(results: list[dict]) -> None:
    cols = ("file", "graph", "biases", "weights")
    print(f"{'graph':<44}" + "".join(f"{c + ' 2.0':>12}{c + ' 3.0':>12}" for c in cols) + f"{'enc s 3.0':>10}")
    for r in results:
        print(f"{r['label'][:43]:<44}" + "".join(f"{r['before'][c]:>12,}{r['after'][c]:>12,}" for c in cols)
              + f"{r['seconds']['encode_3_0']:>10.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lvn", nargs="*", default=[str(p) for p in LVN], help=".lvn files (trained models)")
    ap.add_argument("--zoo", nargs="*", default=list(ZOO), help="zoo models, seeded init, int8 per channel")
    ap.add_argument("--zoo-density", type=float, default=0.05, help="also magnitude-pruned to this density")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    results = []
    for path in args.lvn:
        data = Path(path).read_bytes()
        results.append(measure(container.decode(data), f"file {Path(path).name}", data))
    if args.zoo:
        from levin.bench._graphs import int8_graph
        for name in args.zoo:
            for density in (None, args.zoo_density):
                label = f"zoo {name} " + ("dense" if density is None else f"{density:.0%} magnitude")
                results.append(measure(int8_graph(name, density=density)[0], label))
    show(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
