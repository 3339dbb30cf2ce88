"""Levin cost of a .lvn file: its bits plus log2 of the work to decode all its constants.

Levin complexity Kt(x) = |p| + log2 t(p) charges a program for its length and its running time.
Here p is the file and t a counted estimate of the decoder's work: one step per symbol any
stream yields (a sparse position gap, an index, a value, a codebook entry), as
`container.inspect` counts them; a tensor stored raw or dense costs one step per element. It is
a count of decode operations, not a cycle measurement: a rANS symbol costs more cycles than a
bit-packed one, which this count does not see. Use it to rank codes of the same model (a
tiny-but-slow code against a larger-but-fast one); the bits term dominates unless the decode
work grows by orders of magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from levin.coding.container import ContainerReport


@dataclass(frozen=True)
class LevinCost:
    bits: int                 # 8 x file bytes
    decode_steps: int         # symbols decoded to rebuild every constant tensor
    per_tensor: dict[str, int]

    @property
    def cost(self) -> float:
        """bits + log2(decode steps)."""
        return self.bits + math.log2(max(self.decode_steps, 1))

    def to_dict(self) -> dict:
        return {"bits": self.bits, "decode_steps": self.decode_steps,
                "log2_decode_steps": math.log2(max(self.decode_steps, 1)), "levin_cost": self.cost,
                "decode_steps_per_tensor": dict(self.per_tensor)}


def levin_cost(report: ContainerReport) -> LevinCost:
    """The Levin cost of a file from its `container.inspect` report (which measures the streams)."""
    steps = {}
    for t in report.tensors:
        counted = sum(s.count for s in t.streams)
        steps[t.name] = counted if t.streams else t.elements
    return LevinCost(8 * report.file_bytes, sum(steps.values()), steps)
