"""How to prune: unstructured magnitude (PruneConfig), N:M (NMConfig), channels (ChannelPruneConfig),
and the per-layer sensitivity scan that feeds per-layer targets (SensitivityConfig).

Layers are named by their module path (`model.named_modules()`, e.g. "stack2.conv1.1"); `include`
and `exclude` take shell-style patterns (fnmatch) over those names. By default every Conv2d and
Linear is pruned, the last Linear (the classifier) included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from levin.config._base import ConfigMixin

SCHEDULES = ("one_shot", "iterative", "agp")
IMPORTANCES = ("l1", "l2", "taylor")


def _fraction(value: float) -> bool:
    return 0.0 <= value < 1.0


@dataclass(frozen=True)
class PruneConfig(ConfigMixin):
    """Unstructured magnitude pruning: the smallest |w| become zero, and stay zero while fine-tuning.

    `scope` "global" ranks the weights of all selected layers together (one threshold, so layers
    end at different sparsities); "layer" prunes each layer to `sparsity`. `layer_sparsity` sets a
    layer's own target (e.g. from a sensitivity scan); such a layer leaves the global pool.

    Schedules (levin.prune.schedule): "one_shot" prunes to the target once, then fine-tunes;
    "iterative" (Han et al. 2015) prunes in `rounds` rounds, each removing the same fraction of
    what is left and followed by a full fine-tuning run; "agp" (Zhu & Gupta 2017) raises sparsity
    along a cubic from 0 at fraction `begin` to the target at fraction `end` of one fine-tuning
    run, updating the masks every `frequency` optimizer steps.
    """

    sparsity: float = 0.9
    scope: str = "global"                 # "global" or "layer"
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    schedule: str = "agp"                 # "one_shot", "iterative" or "agp"
    rounds: int = 3                       # iterative
    begin: float = 0.0                    # agp: fraction of the fine-tuning steps
    end: float = 0.6                      # agp
    frequency: int = 100                  # agp: optimizer steps between mask updates
    include: tuple[str, ...] = ()         # module-name patterns; empty = every Conv2d/Linear
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        self._normalise()
        self._check([
            (_fraction(self.sparsity), "sparsity must be in [0, 1)"),
            (self.scope in ("global", "layer"), "scope must be 'global' or 'layer'"),
            (all(_fraction(v) for v in self.layer_sparsity.values()),
             "every layer_sparsity value must be in [0, 1)"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.rounds >= 1, "rounds must be >= 1"),
            (0.0 <= self.begin < self.end <= 1.0, "need 0 <= begin < end <= 1"),
            (self.frequency >= 1, "frequency must be >= 1"),
        ])


@dataclass(frozen=True)
class NMConfig(ConfigMixin):
    """N:M semi-structured sparsity: in every group of `m` consecutive weights along the input
    dimension at most `n` are nonzero (2:4 is what NVIDIA Ampere sparse tensor cores run).

    Conv groups run along input channels at each kernel position (OHWI order, channels
    innermost), Linear groups along in_features. With `strict`, a layer whose input-channel count
    is not a multiple of `m` is left dense and reported (as NVIDIA's ASP does); without it the
    layer's whole reduction axis is cut into groups, the last one possibly shorter.
    """

    n: int = 2
    m: int = 4
    strict: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        self._normalise()
        self._check([(self.m >= 1, "m must be >= 1"), (0 <= self.n <= self.m, "need 0 <= n <= m")])


@dataclass(frozen=True)
class ChannelPruneConfig(ConfigMixin):
    """Structured pruning: remove whole output channels (filters, neurons) and everything coupled.

    `ratio` is the fraction of channels removed from each dependency group (levin.prune.depgraph);
    `layer_ratio` overrides it for the group that holds the named conv/linear. Importance is the
    "l1" or "l2" norm of a channel's filters, or the first-order "taylor" score sum |w * dL/dw|
    accumulated over `taylor_batches` batches. At least `min_channels` stay; with `round_to` > 1
    the channels kept are rounded to a multiple of it (SIMD-friendly widths).
    """

    ratio: float = 0.5
    importance: str = "l1"
    layer_ratio: dict[str, float] = field(default_factory=dict)
    taylor_batches: int = 4
    round_to: int = 1
    min_channels: int = 1
    exclude: tuple[str, ...] = ()         # groups holding a matching conv/linear are left whole

    def __post_init__(self):
        self._normalise()
        self._check([
            (_fraction(self.ratio), "ratio must be in [0, 1)"),
            (all(_fraction(v) for v in self.layer_ratio.values()),
             "every layer_ratio value must be in [0, 1)"),
            (self.importance in IMPORTANCES, f"importance must be one of {', '.join(IMPORTANCES)}"),
            (self.taylor_batches >= 1, "taylor_batches must be >= 1"),
            (self.round_to >= 1, "round_to must be >= 1"),
            (self.min_channels >= 1, "min_channels must be >= 1"),
        ])


@dataclass(frozen=True)
class SensitivityConfig(ConfigMixin):
    """Per-layer scan: accuracy with one layer pruned (each of `sparsities`) or its weights
    quantized (each of `bits`, "linear" symmetric per-channel or "kmeans" codebook), all other
    layers untouched. `max_drop` is the accuracy loss a layer may cost when turning the scan
    into per-layer targets (`levin.compressor.sensitivity.targets`)."""

    sparsities: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    bits: tuple[int, ...] = (8, 6, 4, 3, 2)
    bits_method: str = "linear"
    max_drop: float = 0.005
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        self._normalise()
        self._check([
            (all(_fraction(s) for s in self.sparsities), "every sparsity must be in [0, 1)"),
            (all(2 <= b <= 16 for b in self.bits), "every bit width must be in 2..16"),
            (self.bits_method in ("linear", "kmeans"), "bits_method must be 'linear' or 'kmeans'"),
            (0.0 <= self.max_drop <= 1.0, "max_drop must be in [0, 1]"),
        ])
