"""Layer sensitivity: accuracy with one layer pruned or quantized at a time, the rest untouched.

The scan answers "which layers can lose what" (Han et al. 2015, Fig. 6) and turns into
per-layer targets: `targets(scan)` gives each layer the highest sparsity whose accuracy drop
stays within `max_drop`, which PruneConfig(layer_sparsity=...) takes as it is. Evaluate on data
held out from training but not the test set, or the targets are fitted to the test set.

No retraining happens in a scan, so it is fast (one evaluation per point) and pessimistic.
The result is JSON; `levin.report.figures.sensitivity_curves` draws it as a PNG.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from levin.config import SensitivityConfig
from levin.errors import LevinError
from levin.prune.magnitude import magnitude_masks
from levin.prune.masks import select_layers
from levin.train.loop import evaluate


@dataclass
class SensitivityResult:
    baseline: float                                      # accuracy, nothing changed
    sparsity: dict[str, dict[float, float]] = field(default_factory=dict)   # layer -> s -> acc
    bits: dict[str, dict[int, float]] = field(default_factory=dict)         # layer -> b -> acc
    bits_method: str = "linear"
    weights: dict[str, int] = field(default_factory=dict)                   # layer -> size

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("sparsity", "bits"):     # JSON keys are strings
            data[key] = {layer: {str(k): v for k, v in curve.items()}
                         for layer, curve in data[key].items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SensitivityResult":
        return cls(data["baseline"],
                   {l: {float(k): v for k, v in c.items()} for l, c in data["sparsity"].items()},
                   {l: {int(k): v for k, v in c.items()} for l, c in data["bits"].items()},
                   data.get("bits_method", "linear"), data.get("weights", {}))


def quantize_linear(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-output-channel uniform quantization to `bits`, returned dequantized."""
    levels = 2 ** (bits - 1) - 1
    scale = w.reshape(w.shape[0], -1).abs().amax(1).clamp_min(1e-12) / levels
    scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(torch.round(w / scale), -levels, levels) * scale


def quantize_kmeans(w: torch.Tensor, bits: int) -> torch.Tensor:
    """The layer's weights replaced by a 2**bits k-means codebook (zeros kept)."""
    from levin.share.kmeans import kmeans_1d

    flat = w.reshape(-1).double().numpy()
    nonzero = flat != 0
    out = np.zeros_like(flat)
    centroids, labels = kmeans_1d(flat[nonzero], 2 ** bits)
    out[nonzero] = centroids[labels]
    return torch.from_numpy(out).to(w.dtype).reshape(w.shape)


def scan(model: nn.Module, x: np.ndarray, y: np.ndarray, config: SensitivityConfig = SensitivityConfig(),
         metric: Callable[[nn.Module, np.ndarray, np.ndarray], float] = evaluate) -> SensitivityResult:
    """Accuracy (`metric`, default top-1) of `model` on (x, y) with each selected layer pruned to
    each of `config.sparsities`, and quantized to each of `config.bits`. The model is restored."""
    layers = select_layers(model, config.include, config.exclude)
    if any(parametrize.is_parametrized(m, "weight") for m in layers.values()):
        raise LevinError("scan a plain model: call remove_masks / remove_sharing first")
    result = SensitivityResult(metric(model, x, y), bits_method=config.bits_method)
    quantize = quantize_linear if config.bits_method == "linear" else quantize_kmeans
    for name, module in layers.items():
        original = module.weight.detach().clone()
        result.weights[name] = original.numel()
        result.sparsity[name], result.bits[name] = {}, {}
        try:
            for s in config.sparsities:
                mask = magnitude_masks(model, s, "layer", include=[name])[name]
                with torch.no_grad():
                    module.weight.copy_(original * mask)
                result.sparsity[name][float(s)] = metric(model, x, y)
            for b in config.bits:
                with torch.no_grad():
                    module.weight.copy_(quantize(original, b))
                result.bits[name][int(b)] = metric(model, x, y)
        finally:
            with torch.no_grad():
                module.weight.copy_(original)
    return result


def targets(result: SensitivityResult, max_drop: float) -> dict[str, float]:
    """Per layer, the highest scanned sparsity such that it and every lower one lose at most
    `max_drop` accuracy against the baseline (0.0 if even the lowest loses more)."""
    out = {}
    for layer, curve in result.sparsity.items():
        best = 0.0
        for s in sorted(curve):
            if result.baseline - curve[s] > max_drop + 1e-9:     # 1e-9: float noise in a drop
                break
            best = s
        out[layer] = best
    return out


def save(result: SensitivityResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return path
