"""How to code the constant tensors of a graph into a .lvn container (`levin.coding.container`).

Every choice is a set of candidates; the encoder builds each candidate (or computes its exact byte
size where the size has a closed form) and keeps the smallest, so "auto" is measured, not guessed.
Restricting a set forces a choice: `WeightCodecConfig(coders=("pack",))` bit-packs (entropy coding
off), `sparse="never"` stores zeros densely.

>>> CodeConfig.from_dict({"default": {"coders": ["raw", "pack"]},
...                       "tensors": {"fc1.weight": {"coders": ["rans"], "n_states": 2}}}
...                      ).for_tensor("fc1.weight").n_states
2
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from levin.config._base import ConfigMixin
from levin.errors import LevinError

CODERS = ("raw", "pack", "varint", "huffman", "rans", "golomb", "adaptive")  # the last two: .lvn 3.0 on
MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class WeightCodecConfig(ConfigMixin):
    """How to code one constant tensor: prune mask -> codebook -> symbol stream -> coder.

    coders: the coders to try on the value stream, smallest wins. When none of them can code a
        tensor (pack on a wide range, say), it is stored "raw" (the dtype's bytes) with a warning.
        Float tensors are always raw.
    sparse: "auto" tries zeros as coded positions plus nonzero values, and dense; "always" /
        "never" force one (a tensor without zeros is stored dense either way).
    codebook: "auto" tries distinct values as a sorted codebook plus indices (weight sharing),
        for integer tensors with at most `max_codebook` distinct values; "always" / "never" force.
    bits: bit width for "pack" (1..8); None infers it from the value range. A tensor whose values
        need more bits is not packed (a warning says so).
    n_states: interleaved rANS states (1..16): more states decode faster on a CPU with several
        pipelines, and cost 4 bytes each.
    precision_bits: rANS table precision (8..15); None chooses per stream (payload + table).
    gap_bits: escape widths tried for sparse gap coding (`levin.coding.sparse`).
    context_positions: the .lvn writer may also code positions with the adaptive context model
        (`levin.coding.context_positions`, .lvn 3.0), which the C runtime does not read (the C
        export codes such tensors again); False keeps to the methods above.
    """

    coders: tuple[str, ...] = CODERS
    sparse: str = "auto"
    codebook: str = "auto"
    bits: int | None = None
    n_states: int = 1
    precision_bits: int | None = None
    gap_bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    max_codebook: int = 256
    context_positions: bool = True

    def __post_init__(self) -> None:
        self._normalise()
        coders = (self.coders,) if isinstance(self.coders, str) else tuple(self.coders)
        object.__setattr__(self, "coders", CODERS if coders == ("auto",) else coders)
        object.__setattr__(self, "gap_bits", tuple(self.gap_bits))
        self._check([
            (bool(self.coders) and all(c in CODERS for c in self.coders),
             f"coders must be 'auto' or a subset of {', '.join(CODERS)}, got {coders!r}"),
            (self.sparse in MODES, f"sparse must be one of {', '.join(MODES)}"),
            (self.codebook in MODES, f"codebook must be one of {', '.join(MODES)}"),
            (self.bits is None or 1 <= self.bits <= 8, "bits must be 1..8 or None"),
            (1 <= self.n_states <= 16, "n_states must be 1..16"),
            (self.precision_bits is None or 8 <= self.precision_bits <= 15, "precision_bits must be 8..15"),
            (bool(self.gap_bits) and all(1 <= b <= 8 for b in self.gap_bits), "gap_bits must be in 1..8"),
            (1 <= self.max_codebook <= 65536, "max_codebook must be 1..65536"),
        ])


@dataclass(frozen=True)
class CodeConfig:
    """Coding of a whole graph: `default` for every tensor, `tensors` by tensor name overrides it;
    `graph` "auto" stores the shortest graph section (plain or compact, as is, deflated, or the
    compact one deflated against the preset dictionary), "plain" the plain form as is."""

    default: WeightCodecConfig = field(default_factory=WeightCodecConfig)
    tensors: Mapping[str, WeightCodecConfig] = field(default_factory=dict)
    graph: str = "auto"

    def __post_init__(self) -> None:
        if self.graph not in ("auto", "plain"):
            raise LevinError(f"CodeConfig: graph must be 'auto' or 'plain', got {self.graph!r}")

    def for_tensor(self, name: str) -> WeightCodecConfig:
        return self.tensors.get(name, self.default)

    def with_default(self, **changes: Any) -> CodeConfig:
        return replace(self, default=replace(self.default, **changes))

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default.to_dict(), "tensors": {k: v.to_dict() for k, v in self.tensors.items()},
                "graph": self.graph}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeConfig:
        """Per-tensor entries inherit every field they do not set from `default`."""
        unknown = sorted(set(data) - {"default", "tensors", "graph"})
        if unknown:
            raise LevinError(f"CodeConfig: unknown field(s) {', '.join(unknown)}; known: default, tensors, graph")
        default = WeightCodecConfig.from_dict(dict(data.get("default") or {}))
        tensors = {k: WeightCodecConfig.from_dict({**default.to_dict(), **v})
                   for k, v in (data.get("tensors") or {}).items()}
        return cls(default, tensors, data.get("graph", "auto"))
