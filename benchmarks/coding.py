"""Weight coding against the general-purpose compressors users would otherwise reach for.

Run: .venv/bin/python benchmarks/coding.py            (writes benchmarks/results/coding.json)

Models: the trained checkpoints in runs/ (LeNet-300-100, LeNet-5, ResNet-8; a model whose run
has no final model.safetensors falls back to its latest training checkpoint, and a model with
neither is skipped; the JSON and the table say which). Weights of every Conv2d and Linear layer
are magnitude-pruned per tensor to 8% nonzero (a numpy threshold, a stand-in for levin's own
pruning) and quantized symmetric per output channel to int8 (and to 4 bits, the second row).

All coders see the same symbols: the quantized weights of all layers, concatenated, one byte
per weight ("symbol bytes"). Columns: raw int8; bit-packed (per-layer width); canonical Huffman
(one code, table included); rANS (one model, precision chosen for payload + table, table
included); zlib -9, lzma -9, zstd -19, brotli -11 on the symbol bytes; the order-0 entropy bound
of the symbols (no table); and levin's chain per tensor (sparse positions + values, codebooks,
the best coder per tensor, as stored in a .lvn file, framing and CRCs included). Then the whole
.lvn file of the int8 model (graph, scales, int32 biases included). Speeds are MB of symbol
bytes per second, best of 3, one thread. The Huffman decoder is pure Python (slow by design: it
is the reference for Deep Compression's coder, not levin's); rANS runs the C coder.
"""

from __future__ import annotations

import json
import lzma
import platform
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from levin.coding import bitpack, container, huffman, native, rans, weights  # noqa: E402
from levin.coding.entropy_model import (EntropyModelConfig, build_model, choose_precision,  # noqa: E402
                                        count_symbols, empirical_entropy_bits)
from levin.coding.fields import ByteReader  # noqa: E402
from levin.coding.varint import encode_varint  # noqa: E402
from tests.coding.graphs import quantize_graph  # noqa: E402
from tests.coding.test_container import _mlp_1m  # noqa: E402

try:
    import brotli
    import zstandard
except ImportError:  # pragma: no cover
    sys.exit("benchmarks/coding.py needs zstandard and brotli: .venv/bin/pip install -e '.[bench]'")

MODELS = [("lenet300", "LeNet-300-100"), ("lenet5", "LeNet-5"), ("resnet8", "ResNet-8")]
DENSITY = 0.08
OUT = ROOT / "benchmarks" / "results" / "coding.json"


def best_of(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def load(run: str):
    """(float graph, note) from runs/<run>, or (None, reason)."""
    import torch

    from levin.ir.capture import capture
    from levin.models import load_graph, load_model
    from levin.train import checkpoint

    d = ROOT / "runs" / run
    if (d / "model.safetensors").is_file():
        acc = json.loads((d / "model.json").read_text()).get("test_accuracy")
        return load_graph(str(d)), f"trained, test accuracy {acc:.4f}"
    if (d / "checkpoint.safetensors").is_file():  # still training: the latest checkpoint
        loaded = load_model(run)
        meta = checkpoint.load(d / "checkpoint.safetensors", loaded.module)
        hist = meta.get("state", {}).get("history") or [{}]
        note = (f"training checkpoint after epoch {hist[-1].get('epoch')}, "
                f"{hist[-1].get('scored_on', 'test')} score {hist[-1].get('score', hist[-1].get('test_accuracy'))}")
        return capture(loaded.module, torch.zeros(1, *loaded.input_shape), name=run), note
    return None, f"skipped: runs/{run} has no model.safetensors or checkpoint.safetensors"


def weight_tensors(g) -> list:
    return [g.tensors[n.inputs[1]] for n in g.nodes if n.op in ("Conv2d", "Linear")]


def coders(tensors) -> dict[str, tuple]:
    """Each coder's (size, encode seconds, decode seconds) on the concatenated symbol bytes."""
    q = np.concatenate([t.data.reshape(-1) for t in tensors]).astype(np.int8)
    raw = q.tobytes()
    sym = q.astype(np.int64) + 128
    out = {"raw int8": (len(raw), 0.0, 0.0)}

    def packed():
        return [bitpack.pack_signed(t.data, max(1, int(np.abs(t.data).max()).bit_length() + 1)) for t in tensors]
    parts, t_enc = best_of(packed)
    widths = [max(1, int(np.abs(t.data).max()).bit_length() + 1) for t in tensors]
    _, t_dec = best_of(lambda: [bitpack.unpack_signed(p, b, t.size) for p, b, t in zip(parts, widths, tensors)])
    out["bit-packed"] = (sum(map(len, parts)), t_enc, t_dec)

    counts = count_symbols(sym, 256)
    code, t_enc = best_of(lambda: huffman.build_code(counts))
    payload, t = best_of(lambda: huffman.encode(sym, code))
    _, t_dec = best_of(lambda: huffman.decode(payload, code, sym.size), repeat=1)
    out["Huffman"] = (len(code.to_bytes()) + len(payload), t_enc + t, t_dec)

    def rans_encode():
        model = build_model(counts, EntropyModelConfig(choose_precision(counts)))
        return model, rans.encode(sym, model)
    (model, payload), t_enc = best_of(rans_encode)
    table = model.to_bytes()
    _, t_dec = best_of(lambda: rans.decode(payload, model, sym.size))
    out["rANS"] = (len(table) + len(payload), t_enc, t_dec)
    out["_rans_parts"] = (len(table), len(payload), model.precision_bits)

    general = {
        "zlib -9": (lambda: zlib.compress(raw, 9), zlib.decompress),
        "lzma -9": (lambda: lzma.compress(raw, preset=9), lzma.decompress),
        "zstd -19": (lambda: zstandard.ZstdCompressor(level=19).compress(raw),
                     lambda b: zstandard.ZstdDecompressor().decompress(b)),
        "brotli -11": (lambda: brotli.compress(raw, quality=11), brotli.decompress),
    }
    for name, (enc, dec) in general.items():
        blob, t_enc = best_of(enc)
        back, t_dec = best_of(lambda: dec(blob))
        assert back == raw
        out[name] = (len(blob), t_enc, t_dec)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coded, t_enc = best_of(lambda: [weights.encode_tensor(t.data) for t in tensors])

    def chain_decode():
        return [weights.decode_tensor(ByteReader(c.body, 0, len(c.body), t.name), t.shape, t.dtype)
                for c, t in zip(coded, tensors)]
    _, t_dec = best_of(chain_decode)
    # Count each tensor as the section it becomes: kind, length, tensor index, body, CRC32.
    size = sum(len(container._section(container.TENSOR, encode_varint(i) + c.body)) for i, c in enumerate(coded))
    out["levin chain"] = (size, t_enc, t_dec)
    out["_chains"] = {t.name: c.chain for c, t in zip(coded, tensors)}
    out["_entropy"] = empirical_entropy_bits(counts) / 8
    out["_weights"] = int(q.size)
    return out


def run() -> dict:
    results = {"environment": {
        "python": platform.python_version(), "numpy": np.__version__, "zstandard": zstandard.__version__,
        "brotli": getattr(brotli, "__version__", "?"), "zlib": zlib.ZLIB_VERSION, "machine": platform.machine(),
        "c_rans": native.library() is not None}, "density": DENSITY, "models": {}}
    for run_name, label in MODELS:
        fg, note = load(run_name)
        entry = {"label": label, "source": note}
        results["models"][run_name] = entry
        if fg is None:
            continue
        for bits in (8, 4):
            g = quantize_graph(fg, seed=0, sparsity=1 - DENSITY, bits=bits)
            entry[f"int{bits}"] = coders(weight_tensors(g))
        g8 = quantize_graph(fg, seed=0, sparsity=1 - DENSITY, bits=8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, t_enc = best_of(lambda: container.encode(g8))
        _, t_dec = best_of(lambda: container.decode(data))
        entry["lvn_file"] = {"bytes": len(data), "encode_s": t_enc, "decode_s": t_dec,
                             "constants": int(sum(t.size for t in g8.tensors.values() if t.is_constant))}
    g = _mlp_1m()
    data, t_enc = best_of(lambda: container.encode(g))
    _, t_dec = best_of(lambda: container.decode(data))
    results["mlp_1m"] = {"weights": int(sum(t.size for t in g.tensors.values() if t.is_constant)),
                         "bytes": len(data), "encode_s": t_enc, "decode_s": t_dec}
    return results


def report(results: dict) -> str:
    cols = ["raw int8", "bit-packed", "Huffman", "rANS", "zlib -9", "lzma -9", "zstd -19", "brotli -11",
            "levin chain"]
    lines = [f"Weights pruned to {DENSITY:.0%} nonzero, symmetric per-channel quantization; bytes (all layers' "
             f"weights)"]
    head = f"{'model':24s} {'H0 bound':>9s} " + " ".join(f"{c:>11s}" for c in cols)
    lines += [head, "-" * len(head)]
    speed = []
    for run_name, m in results["models"].items():
        if "int8" not in m:
            lines.append(f"{m['label']:24s} {m['source']}")
            continue
        for q in ("int8", "int4"):
            r = m[q]
            lines.append(f"{m['label'] + ' ' + q:24s} {r['_entropy']:9,.0f} " +
                         " ".join(f"{r[c][0]:11,d}" for c in cols))
            mb = r["_weights"] / 1e6
            speed.append(f"{m['label'] + ' ' + q:24s}" + " ".join(
                f"{_rate(mb, r[c][1]):>7s}/{_rate(mb, r[c][2]):<6s}" for c in cols[1:]))
            gp = {c: r[c][0] for c in cols[4:8]}
            for coder in ("rANS", "levin chain"):
                beaten_by = [f"{c} {v:,}" for c, v in gp.items() if v <= r[coder][0]]
                verdict = "yes" if not beaten_by else "NO, " + ", ".join(beaten_by) + " smaller"
                lines.append(f"{'':24s} {q} {coder} smaller than every general-purpose compressor: {verdict}")
        table, payload, prec = m["int8"]["_rans_parts"]
        lines.append(f"{'':24s} rANS int8: payload {payload:,} B = {payload / m['int8']['_entropy']:.4f} x H0, "
                     f"table {table} B ({prec}-bit); .lvn file of the whole int8 model "
                     f"{m['lvn_file']['bytes']:,} B ({m['source']})")
    lines += ["", "Encode/decode MB/s of symbol bytes (inf: no work):",
              f"{'model':24s}" + " ".join(f"{c:>14s}" for c in cols[1:])] + speed
    mlp = results["mlp_1m"]
    lines += ["", f"1M-weight model (.lvn, {mlp['weights']:,} weights, auto): encode {mlp['encode_s']:.3f} s, "
                  f"decode {mlp['decode_s']:.3f} s, {mlp['bytes']:,} B"]
    return "\n".join(lines)


def _rate(mb: float, seconds: float) -> str:
    if not seconds:
        return "inf"
    v = mb / seconds
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def main() -> None:
    results = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    clean = json.loads(json.dumps(results, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    OUT.write_text(json.dumps(clean, indent=2) + "\n")
    print(report(results))
    print(f"\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
