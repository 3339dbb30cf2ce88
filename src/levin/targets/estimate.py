"""Cycle *estimates* for firmware under qemu: the executed instruction mix, per case and per layer,
weighted by the core's timing table (levin.targets.timing). qemu models no timing; these are
estimates, and every figure this module returns is labelled so.

Read me first. qemu 7.2 in Debian has no TCG plugins, so the mix comes from qemu's own log:
`-d exec,nochain` writes one line per executed translation block (TB), with its start address.
A TB is straight-line code that ends at the first instruction writing the PC (or a few system
instructions), at a 1 KiB page boundary, or after 512 instructions. From the ELF's disassembly
(arm-none-eabi-objdump) each TB start expands to its instructions; the next logged start tells
whether its final branch was taken (it is not the fall-through address) or whether qemu ended the
TB early (the next start lies inside it and is not its branch's target). Lines qemu logs for a
TB it then did not run ("Stopped execution of TB chain before ...") are dropped, and SysTick
interrupts are skipped (the interrupted TB's successor is where the handler returns to).

The window is the harness's (levin_count_begin .. levin_count_end), as in
`cortexm.run(count="trace")`, so an estimate's `instructions` equals the exact trace count, and
the icount count of the same firmware within its window overhead (tests check both). Per layer:
firmware built with `model_firmware(..., per_layer=True)` carries an assembler label after every
node's hook (c/cortexm/layer_hook.h); the instructions before label k since the previous label
are node k's (what follows the last node, the output copy and return, is `rest`).

Cost: one qemu run with the log piped to Python, which keeps one counter per (block, next block)
pair and expands each pair once at the end. Measured: the MLPerf Tiny VWW model on the Cortex-M0+
(103 M instructions, 8 M taken branches) in 11 s, ResNet-8 on the M4 (35 M) in 4 s.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from levin.targets import cores, cortexm, timing
from levin.targets.timing import Insn

PAGE = 1024            # qemu's TARGET_PAGE_SIZE for M-profile cores: a TB never crosses one
MAX_TB_INSNS = 512     # TCG_MAX_INSNS
_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)(?:\t(.*))?$")
_LABEL = re.compile(r"^levin_layer_done_(\d+)$")


def _part() -> dict:
    return dict(instructions=0, cycles=0.0, mix=Counter())


@dataclass
class Estimate:
    """One case: executed `instructions` (exact), estimated `cycles` (an estimate: mix x timing
    table), the executed `mix` (instructions per timing.py class), and per node k with a layer
    label `layers[k]` = dict(instructions, cycles, mix); `rest` is what follows the last node."""

    core: str
    instructions: int = 0
    cycles: float = 0.0
    mix: Counter = field(default_factory=Counter)
    layers: dict[int, dict] = field(default_factory=dict)
    rest: dict = field(default_factory=_part)


def _add(part: dict, mix: Counter, cycles: float, n: int) -> None:
    part["instructions"] += n * sum(mix.values())
    part["cycles"] += n * cycles
    for cls, c in mix.items():
        part["mix"][cls] += n * c


def disassemble(elf: Path) -> dict[int, Insn]:
    """Address -> Insn for every instruction in the ELF's code (literal pools skipped)."""
    text = cortexm.binutils("objdump", "-d", str(elf))
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None or m.group(3).startswith("."):
            continue
        addr, raw = int(m.group(1), 16), m.group(2).split()
        size = sum(len(h) for h in raw) // 2
        out[addr] = timing.classify(addr, size, m.group(3), m.group(4) or "")
    return out


def symbols(elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (address without the Thumb bit, size) from the ELF's symbol table."""
    text = cortexm.binutils("nm", "-S", "--defined-only", str(elf))
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = (int(parts[0], 16) & ~1, int(parts[1], 16))
        elif len(parts) == 3:
            out[parts[2]] = (int(parts[0], 16) & ~1, 0)
    return out


class _Blocks:
    """Expands TB start addresses to instructions, and a (start, next start) pair to what ran."""

    def __init__(self, insns: dict[int, Insn], core_timing: str, labels: dict[int, int]):
        self.insns, self.timing, self.labels = insns, core_timing, labels
        self._block: dict[int, list[Insn]] = {}
        self._cost: dict[tuple[int, int], list[tuple[Counter, float]]] = {}

    def block(self, start: int) -> list[Insn]:
        got = self._block.get(start)
        if got is None:
            got, addr, page = [], start, start & ~(PAGE - 1)
            while addr in self.insns and len(got) < MAX_TB_INSNS:
                insn = self.insns[addr]
                got.append(insn)
                addr = insn.next_addr
                crosses = addr - page >= PAGE - 3 and addr in self.insns and self.insns[addr].size == 4
                if insn.ends_block or addr - page >= PAGE or crosses:
                    break
            if not got:
                raise cortexm.FirmwareError(f"qemu ran code at 0x{start:x}, which the ELF does not hold")
            self._block[start] = got
        return got

    def label_nodes(self, start: int) -> list[int]:
        """The nodes whose layer labels lie inside the block at `start`, in address order."""
        return [self.labels[i.next_addr] for i in self.block(start) if i.next_addr in self.labels]

    def cost(self, start: int, nxt: int) -> list[tuple[Counter, float]]:
        """(mix, cycles) of one run of the block at `start` followed by a block at `nxt`, split
        into parts at layer labels (one part when the block holds none)."""
        key = (start, nxt)
        got = self._cost.get(key)
        if got is None:
            block = self.block(start)
            last = block[-1]
            inside = [k for k, i in enumerate(block) if i.addr == nxt and k > 0]
            if inside and not (last.writes_pc and last.target == nxt):
                block, taken = block[:inside[0]], False        # qemu ended the block early
            elif last.writes_pc:
                taken = not last.conditional or nxt != last.next_addr
            else:
                taken = False
            got, mix, cyc, after_mem = [], Counter(), 0.0, False
            for k, insn in enumerate(block):
                is_last = k == len(block) - 1
                mix[insn.cls] += 1
                cyc += timing.cycles(self.timing, insn, taken and is_last, after_mem)
                after_mem = insn.cls in ("load", "store")
                if insn.next_addr in self.labels and not is_last:
                    got.append((mix, cyc))
                    mix, cyc = Counter(), 0.0
            got.append((mix, cyc))
            self._cost[key] = got
        return got


def _scan(stream, begin: int, end: int, skip: tuple[int, int], labelled) -> list[tuple[Counter, list[int]]]:
    """Per measured window: Counter of (segment, TB start, next TB start) and the layer nodes in
    the order their labels were passed (segment i ends at the i-th). `labelled(pc)` -> nodes of
    the labels in the block at pc."""
    windows, counts, nodes = [], None, []
    cur, cur_seg, seg, passed = None, 0, 0, 0
    kinds: dict[bytes, object] = {}
    lo, hi = skip
    for line in stream:
        if line.startswith(b"Stopped"):
            if cur is not None and passed:             # the last logged TB did not run: its
                del nodes[-passed:]                    # labels are passed when it is logged again
                seg -= passed
            cur, passed = None, 0
            continue
        if not line.startswith(b"Trace"):
            continue
        b = line.find(b"[")
        key = line[b + 10:b + 18]
        kind = kinds.get(key)
        if kind is None:
            pc = int(key, 16)
            if lo <= pc < hi or pc >= 0xF0000000:      # SysTick handler, exception return
                kind = "skip"
            elif pc == begin:
                kind = "begin"
            elif pc == end:
                kind = "end"
            else:
                kind = (pc, labelled(pc))
            kinds[key] = kind
        if kind == "skip":
            continue
        if kind == "begin":
            counts, nodes, cur, cur_seg, seg, passed = Counter(), [], begin, 0, 0, 0
            continue
        if counts is None:
            continue
        pc = end if kind == "end" else kind[0]
        if cur is not None:
            counts[(cur_seg, cur, pc)] += 1
        if kind == "end":
            windows.append((counts, nodes))
            counts, cur = None, None
            continue
        cur, cur_seg, passed = pc, seg, len(kind[1])
        nodes.extend(kind[1])
        seg += passed
    return windows


def estimate(fw: cortexm.Firmware, timeout: float = 1800.0) -> list[Estimate]:
    """Run `fw` once under qemu with the exec log and return one Estimate per case.

    Raises:
        ToolMissing: no qemu or binutils.
        FirmwareError: the run failed, or its log does not match the ELF (code the ELF does not
            hold, a different number of measured windows).
    """
    spec = cores.get(fw.core)
    insns, syms = disassemble(fw.elf), symbols(fw.elf)
    labels = {addr: int(m.group(1)) for name, (addr, _) in syms.items() if (m := _LABEL.match(name))}
    blocks = _Blocks(insns, spec.timing, labels)
    handler = syms["levin_systick_handler"]
    console = fw.elf.with_suffix(".console.txt")
    console.unlink(missing_ok=True)
    cmd = cortexm.qemu_cmd(fw.elf, console, spec.name) + ["-d", "exec,nochain", "-D", "/dev/stderr"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, bufsize=1 << 20)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        windows = _scan(proc.stderr, syms["levin_count_begin"][0], syms["levin_count_end"][0],
                        (handler[0], handler[0] + max(handler[1], 2)), blocks.label_nodes)
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode:
        raise cortexm.FirmwareError(f"qemu (exec log) exited with status {proc.returncode}"
                                    + (f" or ran past {timeout:g} s" if proc.returncode < 0 else ""))
    cases = cortexm.parse_output(console.read_text() if console.exists() else "")
    if len(windows) != len(cases):
        raise cortexm.FirmwareError(f"the exec log saw {len(windows)} measured windows for "
                                    f"{len(cases)} cases")
    return [_total(spec.name, counts, nodes, blocks) for counts, nodes in windows]


def _total(core: str, counts: Counter, nodes: list[int], blocks: _Blocks) -> Estimate:
    """The Estimate of one window: each (segment, block, next block) count times its cost; a
    block's parts go to consecutive segments, segment i to the i-th node passed, the rest after."""
    whole, layers, rest = _part(), {}, _part()
    for (seg, start, nxt), n in counts.items():
        for j, (mix, cyc) in enumerate(blocks.cost(start, nxt)):
            s = seg + j
            _add(rest if s >= len(nodes) else layers.setdefault(nodes[s], _part()), mix, cyc, n)
            _add(whole, mix, cyc, n)
    return Estimate(core, whole["instructions"], whole["cycles"], whole["mix"], dict(sorted(layers.items())),
                    rest)
