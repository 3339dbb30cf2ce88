"""Build the golden .lvn files whose exact bytes tests/coding/test_golden.py freezes.

The graphs are built by hand (no torch, no randomness beyond a fixed numpy seed) and cover every
part of the format: float and integer tensors, per-tensor and per-channel quantization with
zero points and a bit width, every coder (raw, pack, varint, huffman, rans with 1 and 2
states; golomb in the auto file), sparse positions (gaps, bitmask, packed; context in the auto
file), codebooks, and attribute values of each type the op set uses. Format 3.0: both files
store the graph compact and deflated against the preset dictionary (kind 6); tests/coding/v2/
keeps the 2.0 files, tests/coding/v3/ the 3.0 files of kind 5.

A format change shows up as a failing golden test. If the change is intended, bump the format
version where it breaks readers (docs/format.md, container.VERSION), then regenerate and commit
the new bytes together with the change:

    .venv/bin/python -m tests.golden.make_golden --write
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from levin.config.code import CodeConfig, WeightCodecConfig
from levin.ir.graph import Graph, QuantParams

HERE = Path(__file__).resolve().parent


def _q(scale, zp=0, axis=None, **extra) -> QuantParams:
    return QuantParams(np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis, **extra)


def golden_graph() -> Graph:
    rng = np.random.default_rng(20240611)
    g = Graph("golden")
    x = g.add_input("x", (1, 5, 5, 3), np.int8, _q(0.04, -5))
    w = np.clip(np.round(rng.laplace(0, 5, (4, 3, 3, 3))), -127, 127).astype(np.int8)
    cs = np.linspace(0.01, 0.02, 4)
    g.add_constant("c1.w", w, _q(cs, [0, 0, 0, 0], 0))
    g.add_constant("c1.b", np.array([-1000, 5, 70000, -3], np.int32), _q(cs * 0.04, [0] * 4, 0))
    y = g.add_node("Conv2d", [x, "c1.w", "c1.b"], "c1", dtype=np.int8, quant=_q(0.1, 2), padding=(1, 1))
    y = g.add_node("ReLU6", [y], "r1")
    y = g.add_node("Pad", [y], "pad", pads=(0, 1, 0, 1), value=-0.5)
    y = g.add_node("AvgPool2d", [y], "pool", kernel=2, stride=2, count_include_pad=False)
    y = g.add_node("Reshape", [y], "flat", shape=(1, -1))
    low = rng.integers(-3, 4, (6, 36)).astype(np.int8)                      # 3-bit weights
    low[rng.random(low.shape) < 0.5] = 0
    g.add_constant("fc.w", low, _q(np.full(6, 0.2), [0, 0, 0, 0, 0, 0], 0, bits=3))
    y = g.add_node("Linear", [y, "fc.w"], "fc", dtype=np.int8, quant=_q(0.3, -1))
    shared = rng.choice(np.array([-100, -7, 0, 0, 0, 0, 9, 64], np.int8), size=(6, 6))
    g.add_constant("fc2.w", shared, _q(0.5))
    g.add_constant("fc2.b", np.zeros(6, np.int32), _q(0.02))
    y = g.add_node("Linear", [y, "fc2.w", "fc2.b"], "fc2", dtype=np.int8, quant=_q(0.25, 0))
    sp = np.zeros((6, 40), np.int8)
    sp[:, ::7] = rng.integers(-50, 50, (6, 6))
    g.add_constant("fc3.w", sp, _q(np.full(6, 0.01), [0] * 6, 0))
    fl = np.array([[0.5, -0.0, np.float32(1e-30)], [np.nan, 2.0, -3.25]], np.float32)
    g.add_constant("spare.f", fl)
    g.add_node("Softmax", [y], "sm", axis=-1, dtype=np.int8, quant=_q(1 / 256, -128))
    g.mark_output("sm")
    return g


def golden_config() -> CodeConfig:
    c = WeightCodecConfig
    return CodeConfig(default=c(), tensors={
        "c1.w": c(coders=("rans",), sparse="never", codebook="never", n_states=2, precision_bits=10),
        "c1.b": c(coders=("varint",)),
        "fc.w": c(coders=("pack",), sparse="never", codebook="never"),
        "fc2.w": c(coders=("huffman",), sparse="always", codebook="always", gap_bits=(2,)),
        "fc2.b": c(coders=("pack",), sparse="never"),
        "fc3.w": c(coders=("rans",), sparse="always", codebook="never", gap_bits=(3,), context_positions=False),
    })


def golden_files() -> dict[str, bytes]:
    """File name -> bytes, as the current code writes them."""
    from levin.coding import container

    g = golden_graph()
    return {"golden.lvn": container.encode(g, golden_config()), "golden-auto.lvn": container.encode(g)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="overwrite the golden files (a format decision)")
    args = p.parse_args()
    for name, data in golden_files().items():
        path = HERE / name
        same = path.exists() and path.read_bytes() == data
        print(f"{name}: {len(data)} bytes, {'unchanged' if same else 'DIFFERENT from the stored file'}")
        if args.write and not same:
            path.write_bytes(data)
            print(f"  wrote {path}")


if __name__ == "__main__":
    main()
