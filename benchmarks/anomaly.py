"""The MLPerf Tiny anomaly detection model end to end, scored by reconstruction ROC AUC at every
step levin takes with it (issue 19 item 4):

- PTQ of the float model (ad01_fp32.tflite): float AUC, levin's int8 AUC (calibrated on normal
  frames only, as the model is trained), and the int8 .lvn's bytes;
- the int8 model (ad01_int8.tflite, the reference quantization): its AUC as imported (levin's
  integer reference, bit-exact with TFLite Micro), then shrunk without retraining (`levin convert
  --kmeans / --prune`, levin.tflite_shrink): AUC and .lvn bytes of each variant;
- shrunk with retraining (`levin compress --model ad01_fp32.tflite --task anomaly`): the float
  model fine-tuned on the normal training frames (RETRAIN's first step), then pruned and shared
  with fine-tuning against the reconstruction loss, each step scored on validation MSE, the test
  AUC of the int8 graph once per recipe.

The ToyADMOS data the model was trained on is not available here: the frames are synthetic
machine sounds (levin.data.synthetic: harmonic hums; anomalies add an off-series tone, a rattle
or drop a harmonic), in the model's input units (log-mel dB). The model was not trained on them,
so its AUC there is near chance and says little; what each step does to the model does show:
the rank correlation (Spearman) of each step's per-sample anomaly scores (reconstruction MSE)
with the float model's, on the same frames.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anomaly.py

Writes benchmarks/results/anomaly.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from levin import metrics, reference  # noqa: E402
from levin.coding import container  # noqa: E402
from levin.config.quant import QuantConfig  # noqa: E402
from levin.data.synthetic import machine_sounds  # noqa: E402
from levin.models import load_graph  # noqa: E402
from levin.output import table, write_json  # noqa: E402
from levin.quant.graphmodule import GraphModule  # noqa: E402
from levin.quant.pipeline import float_outputs, quantize  # noqa: E402
from levin.bench.vs_tflm import DEFAULT_DATA  # noqa: E402
from levin import tflite_shrink  # noqa: E402

MODELS = DEFAULT_DATA / "models" / "mlperf_tiny" / "anomaly_detection"
RESULTS = Path(__file__).parent / "results" / "anomaly.json"
SHRINK = ("kmeans64", "kmeans32", "kmeans16", "prune10", "prune20", "prune10+kmeans64")
ADAPT = "name: adapt\nfinetune: {epochs: 30, batch_size: 32, optimizer: adam, lr: 0.001, weight_decay: 0}\n" \
        "steps:\n  - finetune: {}\n"
RETRAIN = {"adapt": ADAPT,
           "adapt+prune80+share5": ADAPT + "  - prune: {sparsity: 0.8, schedule: agp}\n"
                                          "  - share: {linear_bits: 5}\n    finetune: {epochs: 5, lr: 0.0001}\n"}


def retrained(float_graph, data) -> dict:
    """Each RETRAIN recipe run by levin.compress on the float graph (task anomaly)."""
    import levin
    from levin.compressor import parse
    from levin.data.splits import with_validation

    out = {}
    for name, recipe in RETRAIN.items():
        r = levin.compress(float_graph, with_validation(data), recipe=parse(recipe), task="anomaly",
                           progress=False)
        out[name] = {"auc": r.integer_accuracy, "float_auc": r.quantize.float_accuracy, "lvn_bytes": r.lvn_bytes,
                     "validation_mse": [s.accuracy for s in r.steps], "density": r.steps[-1].density,
                     "recipe": recipe}
    return out


def integer_outputs(graph, data) -> np.ndarray:
    codes = reference.quantize_input(graph, data.x_test)
    return reference.dequantize_output(graph, tflite_shrink.predict(graph, codes))


def anomaly_scores(outputs: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.mean((outputs.reshape(len(x), -1) - x.reshape(len(x), -1)) ** 2, axis=1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def step(outputs: np.ndarray, data, float_scores: np.ndarray, size: int) -> dict:
    s = anomaly_scores(outputs, data.x_test)
    return {"auc": metrics.roc_auc(s, data.y_test.astype(bool)), "spearman_vs_float": spearman(s, float_scores),
            "lvn_bytes": size}


def main() -> int:
    started = time.perf_counter()
    data = machine_sounds(train=1000, test_normal=300, test_anomalous=300, seed=0)
    out = {"data": data.split | {"train": len(data.x_train), "test": len(data.x_test)}}

    float_graph = load_graph(str(MODELS / "ad01_fp32.tflite"))
    float_scores = anomaly_scores(float_outputs(GraphModule(float_graph), data.x_test), data.x_test)
    r = quantize(float_graph, data, QuantConfig(), task="anomaly")
    out["float"] = {"auc": r.float_accuracy}
    out["ptq"] = step(integer_outputs(r.graph, data), data, float_scores, len(container.encode(r.graph)))
    steps = {"ptq": "  levin PTQ int8"}
    imported = load_graph(str(MODELS / "ad01_int8.tflite"))
    out["int8"] = step(integer_outputs(imported, data), data, float_scores,
                       tflite_shrink.lossless(imported).lvn_bytes)
    steps["int8"] = "ad01_int8.tflite (as imported)"
    for name in SHRINK:
        g = tflite_shrink.VARIANTS[name](imported)
        out[name] = step(integer_outputs(g, data), data, float_scores, len(container.encode(g)))
        steps[name] = f"  convert {name}"
    out["compress"] = retrained(float_graph, data)
    rows = [["ad01_fp32.tflite, float", f"{out['float']['auc']:.4f}", "1.0000", ""]]
    rows += [[label, f"{out[k]['auc']:.4f}", f"{out[k]['spearman_vs_float']:.4f}", f"{out[k]['lvn_bytes']:,}"]
             for k, label in steps.items()]
    rows += [[f"compress {k} (float {v['float_auc']:.4f}), int8", f"{v['auc']:.4f}", "", f"{v['lvn_bytes']:,}"]
             for k, v in out["compress"].items()]
    out["wall_s"] = time.perf_counter() - started
    print(table(["model / step", "AUC (synthetic)", "Spearman vs float", ".lvn bytes"], rows))
    write_json(out, str(RESULTS))
    print(f"wrote {RESULTS} ({out['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
