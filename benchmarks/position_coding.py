"""Positions of the nonzero weights: what levin pays today against context models (issue 22, item 1).

For every sparse weight tensor (at least half zeros) of the graphs measured, the mask of nonzeros
(flat C order: output channel after output channel) is costed under:

- today: the positions blob levin writes (`levin.coding.sparse.encode_positions`: gaps / bitmask /
  packed, order-0 rANS with a table), bytes with its length varint, as a sparse chain pays it;
- order0: n H(p), the static order-0 bound, no table;
- adaptive: one adaptive binary model (counts, KT estimator), ideal code length -sum log2 p;
- order1 / order2: adaptive, context = the previous 1 / 2 bits in flat order;
- row: adaptive, one model per output channel (the counts restart each row);
- row_enum: per-channel rates sent ahead: each row's nonzero count (log2(per + 1) bits) and then
  the choice of its positions, log2 C(per, k): the best a coder with per-row rates can do;
- col: adaptive, one model per column (position within the row: kh, kw, i for OHWI conv);
- row_col: adaptive, context = (ones so far in this column, capped at 3) x (this row's running
  density bucket);
- above_left: adaptive, context = (bit above: same column, previous row; bit left; ones so far in
  this column capped at 2);
- gaps_adaptive: run lengths (zeros before each nonzero, and the tail) binarized Exp-Golomb style,
  each bin with its own adaptive model (CABAC-like); the nonzero count sent ahead;
- shift12_<ctx>: the best context above with what an integer coder can do: 12-bit probabilities
  updated by p += (target - p) >> 4 (two rates mixed), coded cost -sum log2(p / 4096).

Adaptive costs are ideal arithmetic-code lengths; a real binary coder adds a few bytes per stream.
Also per tensor: the chain levin chose and its body bytes, the values-only bytes of the sparse chain
(so a position saving can be set against the whole tensor), and the order-0 entropy of the values.

    .venv/bin/python benchmarks/position_coding.py [--lvn FILE ...] [--zoo-density 0.05]
        # writes benchmarks/results/position_coding.json, prints a table per graph
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from levin.coding import container, sparse, weights
from levin.coding.entropy_model import empirical_entropy_bits
from levin.coding.varint import encode_varint
from levin.config.code import WeightCodecConfig

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "position_coding.json"
ZOO = ("lenet5", "lenet300", "dscnn", "resnet8")


def _log2_binom(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def h_bits(k: int, n: int) -> float:
    if k in (0, n):
        return 0.0
    p = k / n
    return -n * (p * math.log2(p) + (1 - p) * math.log2(1 - p))


def adaptive_bits(bits: np.ndarray, ctx: np.ndarray, n_ctx: int, a: float = 0.5) -> float:
    """Ideal code length of `bits` under one KT-estimated adaptive binary model per context."""
    c0 = np.full(n_ctx, a)
    c1 = np.full(n_ctx, a)
    total = 0.0
    for b, c in zip(bits.tolist(), ctx.tolist()):
        if b:
            total -= math.log2(c1[c] / (c0[c] + c1[c]))
            c1[c] += 1
        else:
            total -= math.log2(c0[c] / (c0[c] + c1[c]))
            c0[c] += 1
    return total


def shift_bits(bits: np.ndarray, ctx: np.ndarray, n_ctx: int, prec: int = 12, fast: int = 4,
               slow: int = 7) -> float:
    """Code length under integer probabilities: per context two 16-bit estimates of P(1) updated
    by p += ((b << 16) - p) >> rate (rates `fast`, `slow`), their mean scaled to `prec` bits and
    clamped to 1..2^prec - 1: what a binary rANS / arithmetic coder with integer updates codes."""
    one = 1 << 16
    pf = [one // 2] * n_ctx
    ps = [one // 2] * n_ctx
    top = (1 << prec) - 1
    total = 0.0
    for b, c in zip(bits.tolist(), ctx.tolist()):
        p = min(max((pf[c] + ps[c]) >> (17 - prec), 1), top)
        total -= math.log2((p if b else (1 << prec) - p) / (1 << prec))
        t = one if b else 0
        pf[c] += (t - pf[c]) >> fast
        ps[c] += (t - ps[c]) >> slow
    return total


def counter_bits(bits: np.ndarray, ctx: np.ndarray, n_ctx: int, prec: int = 12, limit: int = 7) -> float:
    """Code length under integer probabilities that adapt like counts: per context a 16-bit P(1)
    and a count n; after each bit p += ((b << 16) - p) >> min(1 + floor(log2(n + 1)), limit)
    (about 1 / (n + 2), the KT step, until the rate reaches 2^-limit), coded at `prec` bits,
    clamped to 1..2^prec - 1. Division-free: what the C decoder can do bit-exactly."""
    one = 1 << 16
    p = [one // 2] * n_ctx
    cnt = [0] * n_ctx
    top = (1 << prec) - 1
    total = 0.0
    for b, c in zip(bits.tolist(), ctx.tolist()):
        q = min(max(p[c] >> (16 - prec), 1), top)
        total -= math.log2((q if b else (1 << prec) - q) / (1 << prec))
        r = min(1 + (cnt[c] + 1).bit_length() - 1, limit)
        if b:
            p[c] += (one - p[c]) >> r
        else:
            p[c] -= p[c] >> r
        cnt[c] += 1
    return total


def contexts(mask2d: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Per model name: (context id of each flat position, number of contexts)."""
    rows, per = mask2d.shape
    flat = mask2d.reshape(-1).astype(np.int64)
    n = flat.size
    prev1 = np.concatenate([[0], flat[:-1]])
    prev2 = np.concatenate([[0, 0], flat[:-2]])
    col = np.tile(np.arange(per), rows)
    row = np.repeat(np.arange(rows), per)
    m = mask2d.astype(np.int64)
    col_before = np.vstack([np.zeros((1, per), np.int64), np.cumsum(m, axis=0)[:-1]]).reshape(-1)
    row_before = np.hstack([np.zeros((rows, 1), np.int64), np.cumsum(m, axis=1)[:, :-1]]).reshape(-1)
    seen = np.tile(np.arange(per), rows)
    # running row density bucket: ones so far / positions so far, in 4 buckets (none yet included)
    dens = np.where(seen > 0, row_before / np.maximum(seen, 1), -1.0)
    dbucket = np.digitize(dens, [0.0, 0.02, 0.08, 0.25]).astype(np.int64)  # 0: no data, 1..4
    above = np.concatenate([np.zeros(per, np.int64), flat[:-per]])
    out = {
        "adaptive": (np.zeros(n, np.int64), 1),
        "order1": (prev1, 2),
        "order2": (prev1 * 2 + prev2, 4),
        "row": (row, rows),
        "col": (col, per),
        "row_col": (np.minimum(col_before, 3) * 5 + dbucket, 20),
        "above_left": ((above * 2 + prev1) * 3 + np.minimum(col_before, 2), 12),
    }
    return out


def gaps_adaptive_bits(mask: np.ndarray) -> float:
    """Run lengths under adaptive binarized Exp-Golomb-0: the prefix bins (one context each, up to
    16) and the suffix bits (a context per prefix length and bit position); the nonzero count sent
    as a varint ahead; the final run (trailing zeros) is implied by it."""
    pos = np.flatnonzero(mask)
    gaps = np.diff(pos, prepend=-1) - 1
    bits, ctx = [], []
    for g in gaps.tolist():
        w = g + 1
        nb = w.bit_length()
        for i in range(nb - 1):
            bits.append(1)
            ctx.append(min(i, 15))
        bits.append(0)
        ctx.append(min(nb - 1, 15))
        for j in range(nb - 2, -1, -1):
            bits.append((w >> j) & 1)
            ctx.append(16 + min(nb - 1, 20) * 21 + min(j, 20))
    head = 8 * len(encode_varint(int(pos.size)))
    return head + adaptive_bits(np.array(bits, np.int64), np.array(ctx, np.int64), 16 + 21 * 21)


def measure_tensor(data: np.ndarray) -> dict:
    flat = data.reshape(-1)
    rows = data.shape[0]
    mask = flat != 0
    mask2d = mask.reshape(rows, -1)
    n, nnz = mask.size, int(mask.sum())
    per = mask2d.shape[1]
    pos = sparse.encode_positions(mask)
    costs = {"today": len(pos.blob) + len(encode_varint(len(pos.blob)))}
    costs["order0"] = h_bits(nnz, n) / 8
    ctxs = contexts(mask2d)
    for name, (c, k) in ctxs.items():
        costs[name] = adaptive_bits(mask.astype(np.int64), c, k) / 8
    k_row = mask2d.sum(axis=1)
    costs["row_enum"] = (rows * math.log2(per + 1) + sum(_log2_binom(per, int(k)) for k in k_row)) / 8
    costs["gaps_adaptive"] = gaps_adaptive_bits(mask) / 8
    best_ctx = min(ctxs, key=lambda k: costs[k])
    c, k = ctxs[best_ctx]
    costs[f"shift12_{best_ctx}"] = shift_bits(mask.astype(np.int64), c, k) / 8
    costs["shift12_row_col"] = shift_bits(mask.astype(np.int64), *ctxs["row_col"]) / 8
    chosen = weights.encode_tensor(data)
    forced = weights.encode_tensor(data, WeightCodecConfig(sparse="always"))
    pos_part = len(pos.blob) + len(encode_varint(len(pos.blob)))
    values = flat[mask]
    return dict(shape=list(data.shape), elements=n, nonzero=nnz, density=nnz / n,
                dead_rows=int((k_row == 0).sum()), dead_cols=int((mask2d.sum(axis=0) == 0).sum()),
                today_method=pos.method, chain=chosen.chain, body_bytes=len(chosen.body),
                sparse_chain=forced.chain, sparse_values_bytes=len(forced.body) - 1 - pos_part,
                values_entropy_bytes=empirical_entropy_bits(np.unique(values, return_counts=True)[1]) / 8,
                positions_bytes={k: round(v, 1) for k, v in costs.items()})


def weight_tensors(graph) -> dict[str, np.ndarray]:
    out = {}
    for node in graph.nodes:
        if len(node.inputs) > 1:
            t = graph.tensors[node.inputs[1]]
            if t.is_constant and t.data.dtype.kind in "iu" and t.data.ndim >= 2:
                out[t.name] = t.data
    return out


def measure_graph(graph, label: str, file_bytes: int | None = None, report=None) -> dict:
    tensors = {}
    for name, data in weight_tensors(graph).items():
        if np.count_nonzero(data) * 2 > data.size:
            continue  # mostly dense: no positions worth coding
        tensors[name] = measure_tensor(data)
    keys = next(iter(tensors.values()))["positions_bytes"].keys() if tensors else []
    totals = {k: round(sum(t["positions_bytes"].get(k, 0.0) for t in tensors.values()), 1) for k in keys}
    best = {k: round(sum(min(v for kk, v in t["positions_bytes"].items() if kk != "today")
                         for t in tensors.values()), 1) for k in ["best_per_tensor"]}
    out = dict(label=label, tensors=tensors, totals=totals, **best)
    if file_bytes is not None:
        out["file_bytes"] = file_bytes
    if report is not None:
        out["where"] = dict(header=report.header_bytes, graph=sum(report.graph_bytes.values()),
                            tensors={t.name: dict(bytes=t.nbytes, chain=t.chain) for t in report.tensors})
    return out


def show(res: dict) -> None:
    print(f"\n== {res['label']}" + (f" ({res['file_bytes']:,} B file)" if "file_bytes" in res else ""))
    names = list(res["totals"])
    short = [n.replace("shift12_", "s12_") for n in names]
    print(f"{'tensor':<10}{'shape':>16}{'nnz':>7}{'chain today':>30}{'body':>6} " + "".join(f"{s:>11}" for s in short))
    for t, r in res["tensors"].items():
        pb = r["positions_bytes"]
        print(f"{t[:10]:<10}{str(tuple(r['shape'])):>16}{r['nonzero']:>7}{r['chain'][:29]:>30}{r['body_bytes']:>6} "
              + "".join(f"{pb.get(n, float('nan')):>11.1f}" for n in names))
    print(f"{'total':<69} " + "".join(f"{res['totals'][n]:>11.1f}" for n in names))


def zoo_graph(name: str, density: float):
    from levin.bench._graphs import int8_graph
    return int8_graph(name, density=density)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lvn", nargs="*", default=[], help=".lvn files to measure (trained models)")
    ap.add_argument("--zoo", nargs="*", default=list(ZOO), help="zoo models, seeded init, magnitude-pruned")
    ap.add_argument("--zoo-density", type=float, default=0.05)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    results = []
    for path in args.lvn:
        data = Path(path).read_bytes()
        rep = container.inspect(data)
        results.append(measure_graph(rep.graph, f"file {path}", len(data), rep))
        show(results[-1])
    for name in args.zoo:
        results.append(measure_graph(zoo_graph(name, args.zoo_density), f"zoo {name} (random init, magnitude "
                                     f"{args.zoo_density:.0%} per tensor)"))
        show(results[-1])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
