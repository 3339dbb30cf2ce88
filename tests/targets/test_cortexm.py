"""The Cortex-M4 harness: the shipped rANS decoder gives the Python coder's symbols under qemu,
both instruction counters agree, and faults, hangs and stack use are reported, not hidden."""

import shutil
import subprocess

import numpy as np
import pytest

from levin.coding import rans
from levin.coding.entropy_model import EntropyModelConfig, fit_model
from levin.coding.rans import RansConfig
from levin.targets import cortexm
from tests.coding.streams import laplace_int8, python_encode, skewed_symbols

try:
    cortexm.require_toolchain()
    cortexm.require_qemu()
except cortexm.ToolMissing as exc:
    pytest.skip(f"Cortex-M tests need the cross toolchain and qemu: {exc}", allow_module_level=True)


def case_firmware(tmp_path, body: str, count: int = 1, **kw) -> cortexm.Firmware:
    """Firmware whose case i runs `body` (C statements; `out`, `out_len`, `i` in scope)."""
    case = tmp_path / "case.c"
    case.write_text(
        '#include "harness.h"\n'
        f"const uint32_t levin_case_count = {count}u;\n"
        "static uint8_t result[4];\n"
        "int32_t levin_case_run(uint32_t i, const uint8_t **out, uint32_t *out_len)\n"
        f"{{\n    (void)i;\n{body}\n    *out = result; *out_len = 4u; return 0;\n}}\n")
    return cortexm.build([], case, tmp_path / "fw", **kw)


@pytest.mark.parametrize("alphabet,n_states,chunk", [(256, 1, 64), (256, 4, 37), (1000, 16, 500)])
def test_rans_decoder_on_cortex_m4_matches_python(tmp_path, alphabet, n_states, chunk):
    if alphabet == 256:
        symbols = laplace_int8(3, 2500, 3.0)
    else:
        symbols = skewed_symbols(4, alphabet, 2000, 1.0)
    model = fit_model(symbols, alphabet, EntropyModelConfig(12))
    config = RansConfig(n_states)
    payload = python_encode(symbols, model, config)
    want = rans.decode(payload, model, symbols.size, config)
    np.testing.assert_array_equal(want, symbols)
    fw = cortexm.rans_firmware(payload, model, symbols.size, n_states, tmp_path, chunk=chunk)
    results = cortexm.run(fw)
    assert len(results) == 2  # slot table, binary search
    for r in results:
        assert r.status == 0, f"levin_rans status {r.status}"
        got = np.frombuffer(r.output, dtype="<u2")
        np.testing.assert_array_equal(got, want)
    # The slot table exists to save lookups: it must cost fewer instructions than the search.
    assert results[0].instructions < results[1].instructions
    assert fw.code.text > 0 and fw.code.rodata < 200  # tables live in the case file, not the decoder


def test_corrupt_payload_fails_on_the_device_too(tmp_path):
    symbols = laplace_int8(5, 800, 3.0)
    model = fit_model(symbols, 256)
    payload = bytearray(python_encode(symbols, model, RansConfig(1)))
    payload[3] |= 0x80  # the initial state (little-endian) becomes >= 2^31: out of range
    fw = cortexm.rans_firmware(bytes(payload), model, symbols.size, 1, tmp_path)
    assert {r.status for r in cortexm.run(fw)} == {3}  # LEVIN_RANS_ERR_STATE


def test_icount_agrees_with_the_exact_trace(tmp_path):
    symbols = laplace_int8(6, 400, 3.0)
    model = fit_model(symbols, 256)
    payload = python_encode(symbols, model, RansConfig(2))
    fw = cortexm.rans_firmware(payload, model, symbols.size, 2, tmp_path)
    fast, exact = cortexm.run(fw), cortexm.run(fw, count="trace", timeout=300)
    for f, e in zip(fast, exact):
        assert f.output == e.output
        # icount's window also holds the SysTick reads around the markers, and rounds to 5.
        assert 0 <= f.instructions - e.instructions <= 20, (f.instructions, e.instructions)
        assert e.instructions > 20 * symbols.size


def test_known_loop_counts_exactly(tmp_path):
    """A 2-instruction loop run n times: the counters see 2n plus a fixed overhead."""
    fw = case_firmware(tmp_path, """
    static const uint32_t n[2] = {1000u, 201000u};
    uint32_t k = n[i];
    __asm__ volatile("1: subs %0, %0, #1\\n bne 1b" : "+r"(k) : : "cc");""", count=2)
    a, b = cortexm.run(fw)
    assert b.instructions - a.instructions == 2 * 200000


def test_stack_high_water_mark(tmp_path):
    fw = case_firmware(tmp_path, """
    volatile uint8_t big[1000];
    uint32_t k;
    for (k = 0u; k < sizeof big; ++k) { big[k] = (uint8_t)k; }
    result[0] = big[999];""")
    (r,) = cortexm.run(fw)
    assert r.output[0] == 999 % 256
    assert 1000 <= r.stack_bytes <= 1100


def test_a_fault_is_an_error_not_a_pass(tmp_path):
    fw = case_firmware(tmp_path, "result[0] = *(volatile uint8_t *)0xF0000000u;")
    with pytest.raises(cortexm.FirmwareError, match="hardfault"):
        cortexm.run(fw)


def test_a_hang_times_out(tmp_path):
    fw = case_firmware(tmp_path, "for (;;) { __asm__ volatile(\"\"); }")
    with pytest.raises(cortexm.FirmwareError, match="did not finish within 2"):
        cortexm.run(fw, timeout=2)


def test_compile_errors_name_the_file(tmp_path):
    with pytest.raises(cortexm.FirmwareError, match="compiling case.c"):
        case_firmware(tmp_path, "this is not C;")


def test_sizes_split_code_from_harness(tmp_path):
    symbols = laplace_int8(7, 300, 3.0)
    model = fit_model(symbols, 256)
    fw = cortexm.rans_firmware(python_encode(symbols, model, RansConfig(1)), model, symbols.size, 1, tmp_path)
    # The decoder's text is the sum of its functions that survived --gc-sections (nm -S on the ELF).
    nm = subprocess.run([shutil.which("arm-none-eabi-nm"), "-S", str(fw.elf)], capture_output=True,
                        text=True).stdout
    funcs = {p[3]: int(p[1], 16) for p in (l.split() for l in nm.splitlines()) if len(p) == 4 and p[2] in "tT"}
    decoder = sum(size for name, size in funcs.items() if name in fw.stack_usage)
    assert decoder <= fw.code.text <= decoder + 16  # + alignment padding between functions
    assert "levin_rans_encode_u16" not in funcs  # unused code costs no flash
    # The payload and tables are test data in the case file: image rodata, not code rodata.
    assert fw.image.rodata >= len(symbols) // 2 and fw.code.rodata < 200
    assert fw.image.flash > fw.code.flash

