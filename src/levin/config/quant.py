"""How to quantize a model: post-training (calibration observers) and quantization-aware training."""

from __future__ import annotations

from dataclasses import dataclass, field

from levin.config._base import ConfigMixin

ACTIVATION_OBSERVERS = ("minmax", "percentile", "mse")
WEIGHT_OBSERVERS = ("minmax", "mse")


@dataclass(frozen=True)
class QuantConfig(ConfigMixin):
    """How to quantize a float Graph to levin's integer Graph (TFLite int8 semantics).

    Activations are int8, asymmetric, one scale per tensor, their range found on
    `calibration_size` training samples by `observer`: "minmax" (the whole observed range),
    "percentile" (clip to the `percentile`-th percentile of the values at each end) or "mse"
    (the clipping range that minimises the mean squared quantization error). Weights are
    symmetric (zero point 0), narrow range (-(2^(b-1)-1) .. 2^(b-1)-1), one scale per output
    channel if `per_channel`, with `weight_bits` bits everywhere except the layers named in
    `layer_bits` (node name -> bits). Biases are int32 with scale input_scale * weight_scale.

    QAT (`qat_epochs` > 0) fine-tunes the fake-quantized model with a straight-through
    estimator (Adam at `qat_lr`, cosine decay, no weight decay); `learn_scales` learns the
    scales too (LSQ, Esser et al. 2020).

    Mixed precision (`max_drop` set): a sensitivity scan picks per-layer widths in 2..8 bits that
    minimise the total weight bits while the fake-quant accuracy on `validation_size` training
    samples (not the test set) stays within `max_drop` percentage points of all-8-bit (`layer_bits` is
    then replaced by the result).

    `round_biases`: each layer's int32 bias is rounded to the coarsest power of two (up to 64
    output steps) that leaves the score on those same samples no worse than exact biases
    (`levin.quant.bias_precision`); the coder then stores the rounded biases' low zero bits in
    one byte. On LeNet-5 this took 230 B of 3,347 with no loss.
    """

    observer: str = "minmax"              # activations: "minmax" | "percentile" | "mse"
    percentile: float = 99.99             # for observer="percentile", in (50, 100]
    weight_observer: str = "minmax"       # weights: "minmax" (max |w|) | "mse" (best clipping)
    weight_bits: int = 8                  # 2..8
    layer_bits: dict[str, int] = field(default_factory=dict)   # node name -> bits
    per_channel: bool = True
    calibration_size: int = 1000          # training samples used to calibrate
    calibration_seed: int = 0
    bins: int = 2048                      # histogram bins of the percentile/mse observers
    qat_epochs: int = 0
    qat_lr: float = 1e-3                  # Adam, cosine to 0
    qat_batch_size: int = 128
    qat_shift: int = 0                    # QAT augmentation: random shifts of up to this many pixels
    learn_scales: bool = True
    max_drop: float | None = None         # mixed precision: accuracy-drop limit, percentage points
    validation_size: int = 5000           # training samples the mixed search measures on
    round_biases: bool = False            # biases to the coarsest step that costs no score

    def __post_init__(self):
        self._normalise()
        bad_bits = [f"{k}={v}" for k, v in self.layer_bits.items()
                    if not (isinstance(v, int) and 2 <= v <= 8)]
        self._check([
            (self.observer in ACTIVATION_OBSERVERS,
             f"observer must be one of {', '.join(ACTIVATION_OBSERVERS)}, got {self.observer!r}"),
            (self.weight_observer in WEIGHT_OBSERVERS,
             f"weight_observer must be one of {', '.join(WEIGHT_OBSERVERS)}, got {self.weight_observer!r}"),
            (50 < self.percentile <= 100, f"percentile must be in (50, 100], got {self.percentile}"),
            (isinstance(self.weight_bits, int) and 2 <= self.weight_bits <= 8,
             f"weight_bits must be an integer in 2..8, got {self.weight_bits!r}"),
            (not bad_bits, f"layer_bits must be integers in 2..8, got {', '.join(bad_bits)}"),
            (self.calibration_size >= 1, "calibration_size must be >= 1"),
            (self.bins >= 16, "bins must be >= 16"),
            (self.qat_epochs >= 0, "qat_epochs must be >= 0"),
            (self.qat_lr > 0, "qat_lr must be > 0"),
            (self.qat_batch_size >= 1, "qat_batch_size must be >= 1"),
            (self.qat_shift >= 0, "qat_shift must be >= 0"),
            (self.max_drop is None or 0 <= self.max_drop <= 100, "max_drop must be in [0, 100] (pp)"),
            (self.validation_size >= 1, "validation_size must be >= 1"),
        ])

    def bits_for(self, layer: str) -> int:
        """Weight bits of the layer (node) named `layer`."""
        return self.layer_bits.get(layer, self.weight_bits)
