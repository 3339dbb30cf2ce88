"""Levin cost measured on the device: a file's bits plus log2 of the instructions its C build runs.

Read me first. `levin.coding.cost` counts decode steps (symbols), which ranks codes of one model
but does not see that a rANS symbol costs more than a packed one. Here the running time is
measured: the .lvn is exported to C, built for a Cortex-M core and run under qemu, once with every
weight in the smallest coding the runtime has (`--optimize flash`: decoding on the fly, the
program closest to the file) and once in the fastest (`--optimize speed`). Instructions are
counted by qemu (`-icount`), exact; cycles would be an estimate and are not used. The cost is
bits + log2(instructions of one inference, decoding included), so a reader sees what each byte
saved costs in time: `flash_instructions / speed_instructions` is the price of the small code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from levin.targets import cores
from levin.targets.device_numbers import measure


@dataclass(frozen=True)
class MeasuredCost:
    file_bits: int               # 8 x the .lvn's bytes: the description
    core: str
    flash_instructions: int      # one inference, every weight in its smallest C coding
    flash_weight_bytes: int      # ... those weights' bytes in flash
    speed_instructions: int      # one inference, every weight in its fastest C coding
    speed_weight_bytes: int

    @property
    def cost(self) -> float:
        """file bits + log2(instructions with the smallest coding)."""
        return self.file_bits + math.log2(max(self.flash_instructions, 1))

    @property
    def decode_price(self) -> float:
        """How many times the fastest build's instructions the smallest one runs."""
        return self.flash_instructions / max(self.speed_instructions, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "levin_cost": self.cost, "decode_price": self.decode_price}


def measured_cost(lvn: str | Path, work: str | Path, core: str = cores.DEFAULT) -> MeasuredCost:
    """Build and run `lvn` on `core` under qemu with the smallest and the fastest weight codings
    (each checked bit-exact against the integer reference). Raises what `measure` raises."""
    lvn, work = Path(lvn), Path(work)
    small = measure(lvn, work / "flash", prefer="flash", core=core)
    fast = measure(lvn, work / "speed", prefer="speed", core=core)
    if not (small.exact and fast.exact):
        from levin.errors import VerificationError

        raise VerificationError(f"{lvn}: the C build on {core} differs from the integer reference")
    return MeasuredCost(8 * lvn.stat().st_size, core, small.instructions, small.weight_bytes,
                        fast.instructions, fast.weight_bytes)
