"""Float .tflite import against ai-edge-litert, and levin's int8 of each float model against its
float self (issue 18): the MLPerf Tiny float models, 3 (float) / 16 (int8) seeded random inputs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/float_import.py

Writes benchmarks/results/float_import.json. Random inputs: agreement, not accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from levin.cli.convert import quantize_float  # noqa: E402
from levin.ir import interpreter, tflite_float, tflite_run  # noqa: E402
from levin.output import table, write_json  # noqa: E402
from levin.bench.vs_tflm import DEFAULT_DATA  # noqa: E402

MODELS = {  # float model, input range
    "ad01": ("anomaly_detection/ad01_fp32.tflite", (-3, 3)),
    "resnet8": ("image_classification/pretrainedResnet.tflite", (0, 255)),
    "vww": ("visual_wake_words/vww_96_float.tflite", (0, 1)),
}
RESULTS = Path(__file__).parent / "results" / "float_import.json"


def main() -> int:
    rows = []
    for key, (rel, (lo, hi)) in MODELS.items():
        data = (DEFAULT_DATA / "models" / "mlperf_tiny" / rel).read_bytes()
        g = tflite_float.from_bytes(data, key)
        shape = g.tensors[g.inputs[0]].shape
        rng = np.random.default_rng(0)
        x = rng.uniform(lo, hi, (3,) + shape[1:]).astype(np.float32)
        ours = np.concatenate([interpreter.run(g, s[None])[g.outputs[0]] for s in x])
        diff = float(np.abs(ours - tflite_run.run_litert(data, x, "BUILTIN_REF")).max())
        calib = rng.uniform(lo, hi, (16,) + shape[1:]).astype(np.float32)
        first = calib.transpose(0, 3, 1, 2) if calib.ndim == 4 else calib      # levin's layout
        _, agree = quantize_float(g, np.ascontiguousarray(first))
        rows.append(dict(model=key, file=rel, float_max_abs_diff_vs_litert=diff, int8_max_lsb=agree.max_lsb,
                         int8_codes_differing=agree.differing, int8_same_argmax=agree.argmax_match))
    print(table(["model", "float vs LiteRT max |diff|", "int8 vs float max LSB", "codes differ", "same argmax"],
                [[r["model"], f"{r['float_max_abs_diff_vs_litert']:.2g}", r["int8_max_lsb"],
                  f"{100 * r['int8_codes_differing']:.1f}%", f"{100 * r['int8_same_argmax']:.0f}%"] for r in rows]))
    write_json({"benchmark": "float_import", "rows": rows}, str(RESULTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
