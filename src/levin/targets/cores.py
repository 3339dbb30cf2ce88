"""The Cortex-M cores levin measures under qemu, one row each: gcc flags, the qemu machine that
runs the code, that machine's memory map (linker script) and SysTick clock, and the icount shift.

Read me first. Instruction counts come from SysTick under `-icount shift=S` (levin.targets.cortexm):
each instruction advances virtual time by exactly 2^S ns and SysTick counts the machine's core
clock, so one tick is 1e9 / (clock * 2^S) instructions. The shift is chosen per core so that this
is a whole number, which makes the count exact to a multiple of it (`Core.per_tick`):

    core           gcc            qemu machine   memory map                      clock   S  per tick
    cortex-m0plus  cortex-m0plus  mps2-an385     code 0x0, RAM 0x20000000        25 MHz  3  5
    cortex-m3      cortex-m3      mps2-an385     code 0x0, RAM 0x20000000        25 MHz  3  5
    cortex-m4      cortex-m4      mps2-an386     code 0x0, RAM 0x20000000        25 MHz  3  5
    cortex-m7      cortex-m7      mps2-an500     code 0x0, RAM 0x20000000        25 MHz  3  5
    cortex-m33     cortex-m33     mps2-an505     code 0x10000000, RAM 0x38000000 20 MHz  1  25

The Cortex-M0+: qemu has no MPS2 image for an M0/M0+ with this harness's memory map, so its code
(built with -mcpu=cortex-m0plus: ARMv6-M, Thumb-1 plus a few 32-bit instructions) runs on the M3
machine. ARMv6-M is a subset of the ARMv7-M that machine executes, so the instructions executed,
and their count, are those of the M0+ code; only faults the M0+ would raise and the M3 does not
(an unaligned word access) would go unnoticed.

The Cortex-M33 boots in the secure state (AN505: the secure vector table is at 0x10000000, the
secure alias of SSRAM1; RAM is the secure alias of SSRAM2/3 at 0x38000000, which the memory
protection controllers leave secure after reset). Its clock is 20 MHz, so a tick is 50 ns: only
shifts 0 and 1 divide it, and the count is exact to 25 instructions instead of 5.

The Cortex-M55 (mps3-an547) is left out: its 32 MHz clock makes a tick 31.25 ns, which no shift
divides, so the SysTick count could not be exact.

Every core is built soft-float (`-mfloat-abi=soft`): the int8 path uses no float, and one ABI
keeps newlib's multilib choice simple.
"""

from __future__ import annotations

from dataclasses import dataclass

from levin.errors import LevinError


@dataclass(frozen=True)
class Core:
    """One core as levin builds and runs it (see the module docstring for the numbers)."""

    name: str
    cpu_flags: tuple[str, ...]
    machine: str               # qemu -M
    linker_script: str         # a file in levin/runtime/c/cortexm
    sysclk_hz: int             # the clock SysTick counts in that qemu machine (CLKSOURCE = core)
    icount_shift: int          # -icount shift: one instruction = 2**shift ns of virtual time
    timing: str                # the timing table of the cycle estimate (levin.targets.timing)

    @property
    def per_tick(self) -> float:
        """Instructions per SysTick tick under `-icount shift=icount_shift` (a whole number for
        every core in CORES; tests/targets/test_cores.py checks it)."""
        return 1e9 / self.sysclk_hz / (1 << self.icount_shift)


def _flags(cpu: str) -> tuple[str, ...]:
    return (f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft")


CORES = {c.name: c for c in (
    Core("cortex-m0plus", _flags("cortex-m0plus"), "mps2-an385", "mps2_an386.ld", 25_000_000, 3, "m0plus"),
    Core("cortex-m3", _flags("cortex-m3"), "mps2-an385", "mps2_an386.ld", 25_000_000, 3, "m3"),
    Core("cortex-m4", _flags("cortex-m4"), "mps2-an386", "mps2_an386.ld", 25_000_000, 3, "m4"),
    Core("cortex-m7", _flags("cortex-m7"), "mps2-an500", "mps2_an386.ld", 25_000_000, 3, "m7"),
    Core("cortex-m33", _flags("cortex-m33"), "mps2-an505", "mps2_an505.ld", 20_000_000, 1, "m33"),
)}
DEFAULT = "cortex-m4"
ALIASES = {"m0+": "cortex-m0plus", "m0plus": "cortex-m0plus", "m3": "cortex-m3", "m4": "cortex-m4",
           "m7": "cortex-m7", "m33": "cortex-m33"}


def get(name: str | Core) -> Core:
    """The core `name` ("cortex-m4", or short: "m4", "m0+"); LevinError listing the known ones."""
    if isinstance(name, Core):
        return name
    core = CORES.get(ALIASES.get(name.lower(), name.lower()))
    if core is None:
        raise LevinError(f"unknown core {name!r}; known: {', '.join(CORES)}")
    return core
