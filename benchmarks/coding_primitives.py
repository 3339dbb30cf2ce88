"""Measure the coders on 400k-symbol streams (Deep Compression's LeNet-5 has 431k weights).

Run: .venv/bin/python benchmarks/coding_primitives.py
Prints, per stream: bits/symbol of rANS (1, 2, 4 states) and Huffman against the order-0
entropy, table bytes, encode and decode seconds; then per-output-channel chunking on LeNet-5's
shapes, and the sparse position coders on a pruned layer. Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from levin.coding import huffman, rans, sparse  # noqa: E402
from levin.coding.entropy_model import (  # noqa: E402
    EntropyModelConfig, build_model, choose_precision, count_symbols, empirical_entropy_bits)
from tests.coding.streams import laplace_int8, skewed_symbols  # noqa: E402

N = 400_000
LENET5 = [(20, 25), (50, 500), (500, 800), (10, 500)]  # (output channels, weights per channel)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def row(label: str, bps: float, h: float, table: int, t_enc: float, t_dec: float) -> None:
    print(f"  {label:34s} {bps:9.4f} {100 * (bps / h - 1):+7.2f}% {table:8d} {t_enc:7.2f} {t_dec:7.2f}")


def streams() -> dict[str, tuple[np.ndarray, int]]:
    rng = np.random.default_rng(0)
    peaked = np.where(rng.random(N) < 0.9, 128, laplace_int8(1, N, 20.0))
    return {
        "int8 Laplace(3), 256 symbols": (laplace_int8(0, N, 3.0), 256),
        "k-means 16, Zipf(1.5)": (skewed_symbols(2, 16, N, 1.5), 16),
        "int8 90% zeros (dense-coded pruning)": (peaked, 256),
    }


def bench_stream(name: str, symbols: np.ndarray, k: int) -> None:
    counts = count_symbols(symbols, k)
    h = empirical_entropy_bits(counts) / symbols.size
    print(f"\n{name}: n={symbols.size}, order-0 entropy {h:.4f} bits/symbol")
    print(f"  {'coder':34s} {'bits/sym':>9s} {'vs H':>8s} {'table B':>8s} {'enc s':>7s} {'dec s':>7s}")
    for precision in (12, choose_precision(counts)):
        model = build_model(counts, EntropyModelConfig(precision))
        for n_states in (1, 2, 4):
            config = rans.RansConfig(n_states)
            data, t_enc = timed(rans.encode, symbols, model, config)
            out, t_dec = timed(rans.decode, data, model, symbols.size, config)
            assert np.array_equal(out, symbols)
            bps = 8 * len(data) / symbols.size
            label = f"rANS p={precision} states={n_states}"
            row(label, bps, h, len(model.to_bytes()), t_enc, t_dec)
        if precision == choose_precision(counts) == 12:
            break
    _, t_search = timed(rans.decode, rans.encode(symbols, model), model, symbols.size, lookup="search")
    print(f"  {'rANS decode, binary-search lookup':34s} {'':9s} {'':8s} {'':8s} {'':7s} {t_search:7.2f}")
    code, t_build = timed(huffman.build_code, counts)
    data, t_enc = timed(huffman.encode, symbols, code)
    out, t_dec = timed(huffman.decode, data, code, symbols.size)
    assert np.array_equal(out, symbols)
    bps = 8 * len(data) / symbols.size
    label = "Huffman (max 15 bits)"
    row(label, bps, h, len(code.to_bytes()), t_enc, t_dec)


def bench_chunks() -> None:
    print("\nPer-output-channel chunks, LeNet-5 shapes (431k weights, 580 chunks), int8 Laplace(3):")
    layers = [laplace_int8(10 + i, c * w, 3.0).reshape(c, w) for i, (c, w) in enumerate(LENET5)]
    for n_states in (1, 2, 4):
        payload = offsets = table = 0
        t_total = 0.0
        for layer in layers:
            model = build_model(count_symbols(layer, 256))
            result, t = timed(rans.encode_chunks, list(layer), model, rans.RansConfig(n_states))
            payload += len(result.payload)
            offsets += len(result.offset_table())
            table += len(model.to_bytes())
            t_total += t
        whole, t_stream = 0, 0.0
        for layer in layers:  # one stream per layer, decoded a channel at a time
            model = build_model(count_symbols(layer, 256))
            data = rans.encode(layer, model, rans.RansConfig(n_states))
            whole += len(data)
            start = time.perf_counter()
            decoder = rans.RansDecoder(data, model, layer.size, rans.RansConfig(n_states))
            assert all(np.array_equal(decoder.take(row.size), row) for row in layer)
            decoder.finish()
            t_stream += time.perf_counter() - start
        print(f"  states={n_states}: independent chunks: payload {payload} B + offset tables {offsets} B, "
              f"encode {t_total:.2f} s; one stream per layer taken per channel: {whole} B, decode "
              f"{t_stream:.2f} s; model tables {table} B")


def bench_sparse() -> None:
    rng = np.random.default_rng(3)
    w = rng.laplace(0, 1, (500, 800))
    for keep in (0.08, 0.3):
        mask = np.abs(w) > np.quantile(np.abs(w), 1 - keep)
        result, t = timed(sparse.encode_positions, mask)
        sizes = ", ".join(f"{k} {v}" for k, v in result.sizes.items())
        print(f"\nSparse positions, 400k weights, {100 * keep:.0f}% kept: chose {result.method} "
              f"({8 * len(result.blob) / mask.sum():.2f} bits/nonzero, {t:.2f} s). Bytes: {sizes}")


if __name__ == "__main__":
    for name, (symbols, k) in streams().items():
        bench_stream(name, symbols, k)
    bench_chunks()
    bench_sparse()
