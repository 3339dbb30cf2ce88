"""How to share weights: per-layer k-means codebooks (Deep Compression, Han et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass, field

from levin.config._base import ConfigMixin

INITS = ("linear", "density", "random")


@dataclass(frozen=True)
class ShareConfig(ConfigMixin):
    """Each selected layer's nonzero weights are clustered into 2**bits centroids (1..8 bits);
    pruned zeros stay exactly zero and are not in the codebook.

    Bits come from `layer_bits` (by module name), else `conv_bits` / `linear_bits` by the layer's
    kind, else `bits`. Deep Compression used 8 bits for conv and 5 for fc layers. `init` places
    the first centroids: "linear" spaced evenly over [min, max] (Deep Compression's best: it
    keeps the few large weights that matter), "density" at quantiles, "random" at sampled
    weights (`seed`). Lloyd iterations stop early once no weight changes cluster.

    Fine-tune the centroids with `levin.train.loop.train` (the gradient of a centroid is the sum
    of its weights' gradients, so it is hundreds of times larger than one weight's: use a
    learning rate 10-100x below the one for training weights, or Adam), and weight_decay=0, or
    the centroids shrink toward zero.
    """

    bits: int = 5
    conv_bits: int | None = None
    linear_bits: int | None = None
    layer_bits: dict[str, int] = field(default_factory=dict)
    init: str = "linear"
    iterations: int = 50
    seed: int = 0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        self._normalise()
        every = [self.bits, self.conv_bits, self.linear_bits, *self.layer_bits.values()]
        self._check([
            (all(b is None or 1 <= b <= 8 for b in every), "bits must be in 1..8 (2..256 centroids)"),
            (self.init in INITS, f"init must be one of {', '.join(INITS)}"),
            (self.iterations >= 0, "iterations must be >= 0"),
        ])
