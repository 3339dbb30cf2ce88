"""How far can the MLPerf Tiny int8 weights be coded losslessly? Bounds from three model families,
as a fraction of each .tflite file (issue 8's target: <= 0.6x).

- order-0 per tensor: the empirical entropy of each constant tensor's values, tables free
  (`levin.tflite_shrink.order0_floor`; levin's rANS codes get within ~1% of it);
- per output channel, parametric: each row of each int8 weight tensor coded with the better of a
  discretized Laplace or Gaussian fitted to it (8 bits of parameters per row), the order-0 code
  where that is shorter: channels whose spreads differ would gain here;
- general-purpose compressors on the raw constant bytes: xz -9e, bz2 -9, zlib -9 (they see byte
  contexts and repeats that order-0 codes do not).

    .venv/bin/python benchmarks/lossless_floor.py      # writes benchmarks/results/lossless_floor.json
"""

from __future__ import annotations

import bz2
import json
import lzma
import sys
import zlib
from pathlib import Path

import numpy as np
from scipy.stats import laplace, norm

from levin.coding.entropy_model import empirical_entropy_bits
from levin.ir import tflite
from levin.output import table
from levin.tflite_shrink import order0_floor

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "lossless_floor.json"
MODELS = {"kws": "keyword_spotting/kws_ref_model.tflite",
          "resnet8": "image_classification/pretrainedResnet_quant.tflite",
          "vww": "visual_wake_words/vww_96_int8.tflite",
          "ad01": "anomaly_detection/ad01_int8.tflite"}
LEVELS = np.arange(-128, 128)


def entropy_bits(values: np.ndarray) -> float:
    return empirical_entropy_bits(np.unique(values, return_counts=True)[1])


def parametric_bits(row: np.ndarray) -> float:
    """Bits of `row` (int8) under the better of a discretized Laplace and Gaussian fitted to it."""
    x = row.astype(np.float64)
    best = np.inf
    for dist in (laplace(loc=np.median(x), scale=max(np.mean(np.abs(x - np.median(x))), 0.3)),
                 norm(loc=x.mean(), scale=max(x.std(), 0.3))):
        p = np.maximum(dist.cdf(LEVELS + 0.5) - dist.cdf(LEVELS - 0.5), 1e-12)
        best = min(best, float(-np.log2(p / p.sum())[row.astype(np.int64) + 128].sum()))
    return best + 8.0


def floors(path: Path) -> dict:
    graph = tflite.load(path)
    consts = [t.data for t in graph.tensors.values() if t.is_constant]
    raw = b"".join(c.tobytes() for c in consts)
    per_row = 0.0
    for c in consts:
        whole = entropy_bits(c)
        if c.dtype == np.int8 and c.ndim >= 2:
            whole = min(whole, sum(parametric_bits(r) for r in c.reshape(c.shape[0], -1)))
        per_row += whole
    size = path.stat().st_size
    out = {"tflite_bytes": size, "constant_bytes": len(raw), "order0": order0_floor(graph),
           "per_channel_parametric": int(np.ceil(per_row / 8)),
           "xz": len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)), "bz2": len(bz2.compress(raw, 9)),
           "zlib": len(zlib.compress(raw, 9))}
    out["ratios"] = {k: out[k] / size for k in ("order0", "per_channel_parametric", "xz", "bz2", "zlib")}
    return out


def main(data_dir: str = "../shared/data") -> int:
    base = Path(data_dir) / "models" / "mlperf_tiny"
    results = {}
    for name, rel in MODELS.items():
        if not (base / rel).exists():
            print(f"skip {name}: {base / rel} not found", file=sys.stderr)
            continue
        results[name] = floors(base / rel)
    print(table(["model", ".tflite B", "order-0 x", "per-channel parametric x", "xz x", "bz2 x", "zlib x"],
                [[m, f"{r['tflite_bytes']:,}", *(f"{v:.3f}" for v in r["ratios"].values())]
                 for m, r in results.items()]))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
