"""Instruction classes and per-core cycle costs: the timing tables behind the cycle *estimate*.

Read me first. qemu models no timing, so levin estimates cycles as the executed instruction mix
weighted by each core's published instruction timings (`levin.targets.estimate` gets the mix).
This is an estimate, not a measurement: it ignores wait states, bus contention, interrupts,
caches and (except in the rules below) dependencies between neighbouring instructions.

`classify(mnemonic, operands)` maps one objdump line to an `Insn`: its class, the registers of a
load/store multiple, whether it writes the PC (and so ends qemu's translation block), whether
it is conditional, and its direct branch target. A mnemonic outside the tables gets the class
"other" and costs 1 (it shows in an estimate's mix, so none goes unnoticed).
`cycles(core_timing, insn, taken, after_mem)` is that instruction's cost on a core.

The tables (P = the pipeline refill of a taken branch):
  m4, m3 (Cortex-M4 / M3 TRM, "Instruction timing"): ALU, moves, shifts, bitfield, extend,
    saturate, IT, NOP 1; MUL, MLA, MLS 1 (M3: MLA/MLS 2); long multiply SMULL/UMULL/SMLAL/UMLAL
    1 (M3: 4, within its 3-5 for SMULL/UMULL and 4-7 for SMLAL/UMLAL); DSP (SMLAD, SMLABB,
    SADD16, ...) 1; SDIV/UDIV 7 (the middle of 2..12, which depends on the operands); load
    single 2, or 1 right after another load or store single in the same block (the TRM's
    pipelined loads; the simple rule we take); store single 1; LDRD/STRD 3; LDM/STM/PUSH/POP
    1+N; taken branch 1+P with P = 2 (B, BL, BX, BLX, CBZ/CBNZ, POP/LDM/LDR with PC: their cost
    + P), not-taken branch 1; TBB/TBH 2+P; system (MRS, MSR, DMB, DSB, ISB, CPS, SVC, BKPT) 2.
  m33: the m4 table with P = 1 (three-stage pipeline).
  m0plus (Cortex-M0+ TRM, two-stage pipeline): ALU 1; MULS 1 (the fast multiplier); load and
    store 2; LDM/STM/PUSH/POP 1+N; taken branch 2 (BL 3), POP with PC 3+N; not-taken branch 1.
  m7 (dual issue; no cycle table is published, so a simple model): ALU, moves, shifts, IT, NOP
    0.5 (two issue per cycle); load/store single, LDRD/STRD, multiplies and DSP 1 (one load/store
    and one MAC pipe); LDM/STM/PUSH/POP 1 + N/2 (64-bit data path); SDIV/UDIV 7; branch taken 1
    (assumed predicted), not taken 0.5; TBB/TBH 2; system 2.
"""

from __future__ import annotations

from dataclasses import dataclass

CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
              "gt", "le", "al")

_CLASSES = {
    "alu": "add addw adc sub subw sbc rsb mov movw movt mvn neg and orr orn eor bic tst teq cmp cmn "
           "lsl lsr asr ror rrx clz rbit rev rev16 revsh bfi bfc ubfx sbfx sxtb sxth uxtb uxth "
           "ssat usat adr sel",
    "mul": "mul",
    "mla": "mla mls",
    "mull": "smull umull smlal umlal umaal smlald smlaldx smlsld smlsldx smlalbb smlalbt smlaltb smlaltt",
    "dsp": "smlad smladx smlsd smlsdx smuad smuadx smusd smusdx smlabb smlabt smlatb smlatt smulbb "
           "smulbt smultb smultt smlawb smlawt smulwb smulwt smmul smmulr smmla smmlar smmls smmlsr "
           "sadd8 sadd16 ssub8 ssub16 sasx ssax uadd8 uadd16 usub8 usub16 uasx usax qadd qsub qdadd "
           "qdsub qadd8 qadd16 qsub8 qsub16 qasx qsax shadd8 shadd16 shsub8 shsub16 uqadd8 uqadd16 "
           "uqsub8 uqsub16 uhadd8 uhadd16 usad8 usada8 sxtb16 uxtb16 sxtab sxtah sxtab16 uxtab "
           "uxtah uxtab16 pkhbt pkhtb ssat16 usat16",
    "div": "sdiv udiv",
    "load": "ldr ldrb ldrh ldrsb ldrsh ldrex ldrexb ldrexh ldrt ldrbt ldrht ldrsbt ldrsht lda ldab ldah "
            "ldaex ldaexb ldaexh",
    "store": "str strb strh strex strexb strexh strt strbt strht stl stlb stlh stlex stlexb stlexh",
    "dual": "ldrd strd",
    "multiple": "ldm ldmia ldmfd ldmdb ldmea stm stmia stmea stmdb stmfd push pop",
    "branch": "b bl blx bx cbz cbnz",
    "table": "tbb tbh",
    "nop": "nop it pld pli",
    "system": "mrs msr dmb dsb isb cpsid cpsie svc bkpt wfi wfe sev yield udf clrex",
}
BASE = {m: cls for cls, names in _CLASSES.items() for m in names.split()}
_FLAG_SETTING = ("alu", "mul", "mla", "mull")
# Instructions after which qemu ends a translation block although they do not branch.
_ENDS_BLOCK = {"bkpt", "svc", "wfi", "wfe", "isb", "cpsid", "cpsie", "msr", "udf"}


@dataclass(frozen=True)
class Insn:
    """One decoded Thumb instruction (from objdump)."""

    addr: int
    size: int
    mnemonic: str          # the base mnemonic: "ldr", "b", "smlad"
    cls: str               # a key of _CLASSES, or "other"
    n_regs: int = 0        # registers moved by LDM/STM/PUSH/POP
    writes_pc: bool = False
    conditional: bool = False
    target: int | None = None   # a direct branch's destination

    @property
    def ends_block(self) -> bool:
        return self.writes_pc or self.mnemonic in _ENDS_BLOCK

    @property
    def next_addr(self) -> int:
        return self.addr + self.size


def base_mnemonic(mnemonic: str) -> tuple[str, bool] | None:
    """(base, conditional) for an objdump mnemonic ("bne.n" -> ("b", True), "addseq" -> ("add",
    True), "itte" -> ("it", False)); None for one outside the tables."""
    m = mnemonic.split(".", 1)[0].lower()
    if m.startswith("it") and set(m[2:]) <= {"t", "e"}:
        return "it", False
    for stem, cond in ((m, False), (m[:-2], m[-2:] in CONDITIONS)):
        if stem != m and not cond:
            continue
        if stem in BASE:
            return stem, cond and m[-2:] != "al"
        # The S (set flags) suffix exists on data processing only: "bls" is B + LS, not BL + S.
        if stem.endswith("s") and BASE.get(stem[:-1]) in _FLAG_SETTING:
            return stem[:-1], cond and m[-2:] != "al"
    return None


def classify(addr: int, size: int, mnemonic: str, operands: str) -> Insn:
    """The Insn of one objdump line."""
    base, cond = base_mnemonic(mnemonic) or (mnemonic.split(".", 1)[0].lower(), False)
    cls = BASE.get(base, "other")
    ops = operands.split("@", 1)[0].strip().lower()
    regs = ops[ops.find("{") + 1:ops.find("}")].split(",") if "{" in ops else []
    first = ops.split(",", 1)[0].strip()
    writes_pc = (cls in ("branch", "table")
                 or (cls == "multiple" and any(r.strip() == "pc" for r in regs))
                 or (cls in ("load", "alu", "other") and first == "pc"))
    target = None
    if base in ("b", "bl", "cbz", "cbnz"):
        word = ops.split(",")[-1].strip().split(" ", 1)[0]
        target = int(word, 16) if word and all(c in "0123456789abcdef" for c in word) else None
    return Insn(addr, size, base, cls, len(regs), writes_pc, cond or base in ("cbz", "cbnz"), target)


def _m4_like(insn: Insn, taken: bool, after_mem: bool, p: int, m3: bool) -> float:
    cls = insn.cls
    if cls == "load":
        cost = 1 if after_mem else 2
    elif cls == "multiple":
        cost = 1 + insn.n_regs
    elif cls == "dual":
        cost = 3
    elif cls == "mla":
        cost = 2 if m3 else 1
    elif cls == "mull":
        cost = 4 if m3 else 1
    elif cls == "div":
        cost = 7
    elif cls == "table":
        return 2 + p
    elif cls == "system":
        cost = 2
    else:  # alu, mul, dsp, store, branch, nop
        cost = 1
    return cost + p if insn.writes_pc and taken else cost


def _m0plus(insn: Insn, taken: bool, after_mem: bool) -> float:
    cls = insn.cls
    if cls in ("load", "store"):
        return 2
    if cls == "multiple":
        return 1 + insn.n_regs + (2 if insn.writes_pc else 0)
    if cls == "branch":
        return (3 if insn.mnemonic == "bl" else 2) if taken else 1
    if cls == "system":
        return 2
    return 2 if insn.writes_pc and taken else 1  # MOV/ADD to PC


def _m7(insn: Insn, taken: bool, after_mem: bool) -> float:
    cls = insn.cls
    if cls in ("alu", "nop"):
        cost = 0.5
    elif cls == "multiple":
        cost = 1 + insn.n_regs / 2
    elif cls == "div":
        cost = 7
    elif cls in ("table", "system"):
        cost = 2
    elif cls == "branch":
        return 1 if taken else 0.5
    else:  # load, store, dual, mul, mla, mull, dsp
        cost = 1
    return max(cost, 1) if insn.writes_pc and taken else cost


TIMINGS = {
    "m4": lambda i, t, a: _m4_like(i, t, a, 2, False),
    "m3": lambda i, t, a: _m4_like(i, t, a, 2, True),
    "m33": lambda i, t, a: _m4_like(i, t, a, 1, False),
    "m0plus": _m0plus,
    "m7": _m7,
}


def cycles(timing: str, insn: Insn, taken: bool = False, after_mem: bool = False) -> float:
    """Estimated cycles of `insn` on the core with timing table `timing` (a key of TIMINGS);
    `taken`: it is a branch and was taken; `after_mem`: the instruction before it in the same
    block was a load or store single (a load then pipelines on the M3/M4/M33)."""
    return TIMINGS[timing](insn, taken, after_mem)
