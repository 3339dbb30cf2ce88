"""The cycle estimate: objdump lines are classified right, qemu's translation blocks are rebuilt
from the exec log exactly (its instruction total equals the exact trace), and the timing tables
give the costs they state."""

import pytest

from levin.targets import cortexm, estimate, timing
from levin.targets.estimate import _Blocks
from tests.conftest import require_cortex_m  # noqa: E402


@pytest.mark.parametrize("mnemonic,want", [
    ("bls.n", ("b", True)), ("bl", ("bl", False)), ("blt", ("b", True)), ("teq", ("teq", False)),
    ("mls", ("mls", False)), ("smlals", ("smlal", False)), ("adcs", ("adc", False)),
    ("bics", ("bic", False)), ("movcs", ("mov", True)), ("addsne", ("add", True)),
    ("ldrbne", ("ldrb", True)), ("itte", ("it", False)), ("ldr.w", ("ldr", False)),
    ("smlad", ("smlad", False)), ("vmla.f32", None)])
def test_mnemonics(mnemonic, want):
    assert timing.base_mnemonic(mnemonic) == want


def test_classify_finds_branches_and_register_lists():
    pop = timing.classify(0x10, 2, "pop", "{r4, r5, pc}")
    assert pop.writes_pc and pop.n_regs == 3 and pop.cls == "multiple" and not pop.conditional
    assert not timing.classify(0x10, 2, "push", "{r4, lr}").writes_pc
    ret = timing.classify(0x10, 4, "ldr.w", "pc, [sp], #4")
    assert ret.writes_pc and ret.cls == "load"
    bne = timing.classify(0x20, 2, "bne.n", "1a6 <levin_count_end+0x2>")
    assert bne.writes_pc and bne.conditional and bne.target == 0x1A6
    cbz = timing.classify(0x20, 2, "cbz", "r3, 40 <f+0x10>")
    assert cbz.conditional and cbz.target == 0x40
    load = timing.classify(0x20, 2, "ldr", "r3, [pc, #24]\t@ (3c <f+0xc>)")
    assert load.cls == "load" and not load.writes_pc
    assert timing.classify(0x20, 4, "bkpt", "0x00ab").ends_block
    other = timing.classify(0x20, 4, "vadd.f32", "s0, s1, s2")
    assert other.cls == "other" and timing.cycles("m4", other) == 1


def test_timing_tables():
    ldr = timing.classify(0, 2, "ldr", "r0, [r1]")
    b = timing.classify(0, 2, "b.n", "40 <f>")
    smlal = timing.classify(0, 4, "smlal", "r0, r1, r2, r3")
    pop = timing.classify(0, 2, "pop", "{r4, r5, pc}")
    assert timing.cycles("m4", ldr) == 2 and timing.cycles("m4", ldr, after_mem=True) == 1
    assert timing.cycles("m4", b, taken=True) == 3 and timing.cycles("m33", b, taken=True) == 2
    assert timing.cycles("m4", smlal) == 1 and timing.cycles("m3", smlal) == 4
    assert timing.cycles("m4", pop, taken=True) == 1 + 3 + 2
    assert timing.cycles("m0plus", ldr, after_mem=True) == 2
    assert timing.cycles("m0plus", pop, taken=True) == 3 + 3
    assert timing.cycles("m7", timing.classify(0, 2, "adds", "r0, #1")) == 0.5


def _blocks(lines, labels=None):
    insns = {}
    for addr, size, mnemonic, ops in lines:
        insns[addr] = timing.classify(addr, size, mnemonic, ops)
    return _Blocks(insns, "m4", labels or {})


def test_blocks_end_at_branches_and_pages_and_split_at_labels():
    # A loop whose body crosses a 1 KiB page: qemu splits the block at 0x400.
    code = [(0x3FC, 2, "adds", "r0, #1"), (0x3FE, 2, "ldr", "r1, [r2]"), (0x400, 2, "ldr", "r3, [r2]"),
            (0x402, 2, "subs", "r4, #1"), (0x404, 2, "bne.n", "3fc <f>"), (0x406, 2, "bx", "lr")]
    blocks = _blocks(code, labels={0x400: 7})
    assert [i.addr for i in blocks.block(0x3FC)] == [0x3FC, 0x3FE]
    assert [i.addr for i in blocks.block(0x400)] == [0x400, 0x402, 0x404]
    taken, fall = blocks.cost(0x400, 0x3FC), blocks.cost(0x400, 0x406)
    assert taken[0][1] == 2 + 1 + 3 and fall[0][1] == 2 + 1 + 1
    # The label after 0x3FE ends the block: one part, and the layer changes at the next block.
    assert blocks.label_nodes(0x3FC) == [7] and len(blocks.cost(0x3FC, 0x400)) == 1
    # A block qemu ended early (the next start lies inside it and is not its branch target).
    mix, cyc = blocks.cost(0x400, 0x402)[0]
    assert sum(mix.values()) == 1 and cyc == 2


def test_labels_inside_a_block_split_it():
    code = [(0x10, 2, "ldr", "r0, [r1]"), (0x12, 2, "str", "r0, [r2]"), (0x14, 2, "movs", "r0, #0"),
            (0x16, 4, "bl", "100 <k>")]
    blocks = _blocks(code, labels={0x14: 3})
    parts = blocks.cost(0x10, 0x100)
    assert blocks.label_nodes(0x10) == [3]
    assert [sum(m.values()) for m, _ in parts] == [2, 2] and [c for _, c in parts] == [3, 1 + 3]


def test_the_log_scan_drops_blocks_qemu_did_not_run_and_skips_interrupts():
    def trace(pc):
        return b"Trace 0: 0x7f0000001000 [00800408/%08x/00000110/ff000200] f\n" % pc

    log = [b"levin-harness\n", trace(0x100), trace(0x200), trace(0x300),
           b"Stopped execution of TB chain before 0x7f0000001000 [00000300] f\n",
           trace(0x900), trace(0x904), trace(0x300), trace(0x400), trace(0x500), trace(0x200)]
    ((counts, nodes),) = estimate._scan(log, 0x100, 0x500, (0x900, 0x910),
                                        lambda pc: [5] if pc == 0x300 else [])
    assert nodes == [5]
    assert counts == {(0, 0x100, 0x200): 1, (0, 0x200, 0x300): 1, (0, 0x300, 0x400): 1, (1, 0x400, 0x500): 1}


# ---------------------------------------------------------------------------------------------
# Under qemu

@pytest.fixture
def tools():
    require_cortex_m()


@pytest.mark.parametrize("core,per_iteration", [("cortex-m4", 1 + 3), ("cortex-m33", 1 + 2)])
def test_a_known_loop_costs_what_the_table_says(tools, tmp_path, core, per_iteration):
    """`subs; bne` run n times: 2n instructions, (1 + taken branch) cycles an iteration."""
    case = tmp_path / "case.c"
    case.write_text(
        '#include "harness.h"\nconst uint32_t levin_case_count = 2u;\nstatic uint8_t result[4];\n'
        "int32_t levin_case_run(uint32_t i, const uint8_t **out, uint32_t *out_len)\n{\n"
        "    static const uint32_t n[2] = {1000u, 21000u};\n    uint32_t k = n[i];\n"
        '    __asm__ volatile("1: subs %0, %0, #1\\n bne 1b" : "+r"(k) : : "cc");\n'
        "    *out = result; *out_len = 4u; return 0;\n}\n")
    fw = cortexm.build([], case, tmp_path / "fw", core=core)
    a, b = estimate.estimate(fw)
    assert b.instructions - a.instructions == 2 * 20000
    assert b.cycles - a.cycles == per_iteration * 20000
    assert b.mix["branch"] - a.mix["branch"] == 20000 and not a.layers


def test_the_estimate_counts_exactly_what_the_trace_counts(tools, tmp_path):
    codegen = pytest.importorskip("levin.codegen", reason="the C code generator is not available")
    from levin.bench._graphs import int8_graph

    graph, inputs = int8_graph("digits_cnn", n_inputs=2)
    export = codegen.export_c(graph, tmp_path / "c", weight_format="int8")
    for core in ("cortex-m4", "cortex-m0plus"):
        fw = cortexm.model_firmware(export, inputs, tmp_path / core, core=core, opt="-O2", per_layer=True)
        got = estimate.estimate(fw)
        exact = cortexm.run(fw, count="trace", timeout=300)
        counted = cortexm.run(fw)
        for g, e, c in zip(got, exact, counted):
            assert g.instructions == e.instructions == sum(g.mix.values())
            assert 0 <= c.instructions - g.instructions <= 20
            assert 1.0 < g.cycles / g.instructions < 3.0  # loads cost 2, taken branches 2-3
