"""The Cortex-M output stage (levin_conv_window.h: output_code in Thumb-2 assembly, output_codes4
with SSAT / SSUB8 / SEL) against levin.intmath.requantize, bit for bit, on edge and random
accumulators, multipliers, shifts (left and right), zero points and clamps, at -Os (one shared
copy of output_codes4) and -O2 (inlined), on the Cortex-M4 (DSP) and the M3 (no DSP: C)."""

import numpy as np
import pytest

from levin import intmath
from levin.runtime import C_DIR
from levin.targets import cortexm

try:
    cortexm.require_toolchain()
    cortexm.require_qemu()
except cortexm.ToolMissing as exc:
    pytest.skip(f"Cortex-M tests need the cross toolchain and qemu: {exc}", allow_module_level=True)

GROUPS = 192  # groups of four outputs sharing a zero point and a clamp

CASE = """
#include <stdint.h>
#include "harness.h"

#define N %(n)du
extern void requant_all(const int32_t *acc, const int32_t *mult, const int32_t *shift, const int32_t *zp,
                        const int32_t *lo, const int32_t *hi, int8_t *one, int8_t *four, uint32_t groups);
static const int32_t acc[N] = {%(acc)s};
static const int32_t mult[N] = {%(mult)s};
static const int32_t shift[N] = {%(shift)s};
static const int32_t zp[N / 4u] = {%(zp)s};
static const int32_t lo[N / 4u] = {%(lo)s};
static const int32_t hi[N / 4u] = {%(hi)s};
static int8_t out[2u * N];

const uint32_t levin_case_count = 1u;

int32_t levin_case_run(uint32_t i, const uint8_t **o, uint32_t *len) {
    (void)i;
    requant_all(acc, mult, shift, zp, lo, hi, out, out + N, N / 4u);
    *o = (const uint8_t *)out;
    *len = 2u * N;
    return 0;
}
"""

UNDER_TEST = """
#include "levin_conv_window.h"

void requant_all(const int32_t *acc, const int32_t *mult, const int32_t *shift, const int32_t *zp,
                 const int32_t *lo, const int32_t *hi, int8_t *one, int8_t *four, uint32_t groups);
void requant_all(const int32_t *acc, const int32_t *mult, const int32_t *shift, const int32_t *zp,
                 const int32_t *lo, const int32_t *hi, int8_t *one, int8_t *four, uint32_t groups) {
    uint32_t g, k;
    for (g = 0; g < groups; ++g, acc += 4, mult += 4, shift += 4, one += 4, four += 4) {
        for (k = 0; k < 4u; ++k) {
            one[k] = output_code(acc[k], mult[k], shift[k], zp[g], lo[g], hi[g]);
        }
#ifdef LEVIN_DOT_ASM
        {
            const levin_out4 q = levin_out4_make(zp[g], lo[g], hi[g]);
            output_codes4(acc, mult, shift, four, &q);
        }
#else
        for (k = 0; k < 4u; ++k) {
            four[k] = output_code(acc[k], mult[k], shift[k], zp[g], lo[g], hi[g]);
        }
#endif
    }
}
"""


def _vectors(seed=3):
    rng = np.random.default_rng(seed)
    n = 4 * GROUPS
    edges_acc = [-2**31, 2**31 - 1, 0, 1, -1, 2**30, -2**30, 2**30 - 1, -2**30 - 1, 12345, -12345]
    acc = rng.integers(-2**31, 2**31, n, dtype=np.int64)
    acc[: n // 3] = rng.integers(-2**20, 2**20, n // 3)                      # what convs produce
    acc[:: 7] = rng.choice(edges_acc, len(acc[:: 7]))
    mult = rng.integers(2**30, 2**31, n, dtype=np.int64)
    mult[:: 5] = rng.choice([0, 1, 2**30, 2**31 - 1, 1 << 20], len(mult[:: 5]))
    shift = rng.integers(-31, 31, n, dtype=np.int64)
    shift[: n // 2] = rng.integers(-12, 3, n // 2)                          # the usual range
    shift[:: 11] = rng.choice([-31, -1, 0, 1, 30], len(shift[:: 11]))
    shift[n // 2:n // 2 + 62] = np.arange(-31, 31)                          # every shift at least once
    zp = rng.integers(-128, 128, GROUPS)
    lo = np.where(rng.random(GROUPS) < 0.5, -128, zp)                       # none, or a ReLU
    relu6 = np.minimum(127, np.maximum(lo, zp + rng.integers(0, 100, GROUPS)))
    hi = np.where(rng.random(GROUPS) < 0.5, 127, relu6)
    want = []
    for g in range(GROUPS):
        four = slice(4 * g, 4 * g + 4)
        want.append(intmath.requantize(acc[four], mult[four], shift[four], int(zp[g]), int(lo[g]), int(hi[g])))
    want = np.concatenate(want)
    return acc, mult, shift, zp, lo, hi, want


def _c(values) -> str:
    return ", ".join(f"{int(v)}" if int(v) != -2**31 else "(-2147483647 - 1)" for v in values)


def _intmath_codes(acc, mult, shift, zp, lo, hi) -> np.ndarray:
    """levin.intmath's codes of the vectors, four channels a group."""
    return np.concatenate([intmath.requantize(acc[4 * g:4 * g + 4], mult[4 * g:4 * g + 4], shift[4 * g:4 * g + 4],
                                              int(zp[g]), int(lo[g]), int(hi[g])) for g in range(GROUPS)])


def _assert_stages_give(want, tmp_path, core, opt, acc, mult, shift, zp, lo, hi, cflags=()):
    """Build the case on `core` at `opt` with `cflags`, run it under qemu, and check that both
    output stages (one code at a time, then four) give `want`."""
    case = tmp_path / "case.c"
    case.write_text(CASE % dict(n=len(acc), acc=_c(acc), mult=_c(mult), shift=_c(shift), zp=_c(zp), lo=_c(lo),
                                hi=_c(hi)))
    src = tmp_path / "under_test.c"
    src.write_text(UNDER_TEST)
    fw = cortexm.build([src, C_DIR / "levin_dot.c"], case, tmp_path / "fw", include_dirs=[C_DIR], core=core,
                       opt=opt, code_cflags=tuple(cflags))
    (r,) = cortexm.run(fw)
    got = np.frombuffer(r.output, dtype=np.int8)
    assert r.status == 0
    np.testing.assert_array_equal(got[:len(acc)], want)
    np.testing.assert_array_equal(got[len(acc):], want)


@pytest.mark.parametrize("core, opt", [("cortex-m4", "-Os"), ("cortex-m4", "-O2"), ("cortex-m3", "-O2")])
def test_output_stage_equals_intmath(core, opt, tmp_path):
    acc, mult, shift, zp, lo, hi, want = _vectors()
    _assert_stages_give(want, tmp_path, core, opt, acc, mult, shift, zp, lo, hi)


@pytest.mark.parametrize("core, opt", [("cortex-m4", "-Os"), ("cortex-m4", "-O2"), ("cortex-m3", "-O2")])
def test_short_output_stage_equals_intmath_within_its_bound(core, opt, tmp_path):
    """LEVIN_NO_REQUANT_WIDE (every |acc| * 2^max(shift, 0) below 2^30, the generator's bound):
    the stage that doubles the accumulator and takes SMMULR's rounded high word gives
    levin.intmath's codes on the same vectors brought within that bound, edges included (the M3,
    without SMMULR, keeps the 64-bit sum)."""
    acc, mult, shift, zp, lo, hi, _ = _vectors(seed=5)
    lim = 2 ** (30 - np.maximum(shift, 0))                                   # |acc| < lim
    acc = np.where(np.abs(acc) < lim, acc, acc % lim)
    acc[::9] = (lim - 1)[::9] * np.where(np.arange(len(acc))[::9] % 2, 1, -1)  # the bound's edges
    _assert_stages_give(_intmath_codes(acc, mult, shift, zp, lo, hi), tmp_path, core, opt, acc, mult, shift, zp,
                        lo, hi, ("-DLEVIN_NO_REQUANT_WIDE",))


@pytest.mark.parametrize("core, opt, flags", [("cortex-m4", "-Os", ()), ("cortex-m4", "-O2", ()),
                                              ("cortex-m4", "-Os", ("-DLEVIN_NO_REQUANT_WIDE",)),
                                              ("cortex-m4", "-O2", ("-DLEVIN_NO_REQUANT_WIDE",)),
                                              ("cortex-m3", "-O2", ())])
def test_right_shift_output_stage_equals_intmath(core, opt, flags, tmp_path):
    """LEVIN_NO_LEFT_SHIFT (every shift -1 or lower): the stage that rounds its last bit in the
    final shift with 2 zp + 1 gives levin.intmath's codes, on its own (the 64-bit sum, any int32
    accumulator) and with LEVIN_NO_REQUANT_WIDE (accumulators within that bound), every right
    shift 1..31 and the bound's edges included."""
    acc, mult, shift, zp, lo, hi, _ = _vectors(seed=11)
    shift = np.where(shift >= 0, -1 - np.abs(shift) % 31, shift)
    shift[len(acc) // 2:len(acc) // 2 + 31] = np.arange(-31, 0)
    if flags:
        lim = 2 ** 30
        acc = np.where(np.abs(acc) < lim, acc, acc % lim)
        acc[::9] = (lim - 1) * np.where(np.arange(len(acc))[::9] % 2, 1, -1)
    _assert_stages_give(_intmath_codes(acc, mult, shift, zp, lo, hi), tmp_path, core, opt, acc, mult, shift, zp,
                        lo, hi, ("-DLEVIN_NO_LEFT_SHIFT",) + flags)
