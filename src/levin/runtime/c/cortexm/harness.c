/* harness.c -- main() of the Cortex-M firmware: runs the cases of harness.h, measures each.
 *
 * Instruction count: SysTick counts the core clock down from 2^24-1; under qemu with
 * `-icount shift=S` one instruction is 2^S nanoseconds of virtual time, so ticks * 1e9 / (clock
 * * 2^S) is the instruction count (levin.targets.cores chooses S per core, levin.targets.cortexm
 * does the conversion). Wraps are counted by the SysTick interrupt. Per-layer readings
 * (layer_hook.h) are printed as raw SysTick values.
 * Stack: the unused stack below main's frame is painted with a pattern before each case; after
 * it, the deepest overwritten word gives the case's stack high-water mark.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "harness.h"
#include "semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu
#define PAINT 0xC0FFEE5Au
#define NO_READING 0xFFFFFFFFu /* SysTick is 24 bits: no reading looks like this */

extern uint32_t __stack_bottom;

static volatile uint32_t wraps;

void levin_systick_handler(void) { wraps++; }

__attribute__((noinline)) void levin_count_begin(void) { __asm__ volatile(""); }
__attribute__((noinline)) void levin_count_end(void) { __asm__ volatile(""); }

/* Weak references: a case file without per-layer readings leaves them undefined (address 0).
 * (Weak *definitions* would not do: gcc folds a weak const's initializer into its users.) */
extern const uint32_t levin_layer_count __attribute__((weak));
extern volatile uint32_t levin_layer_ticks[] __attribute__((weak));

static uint32_t layer_count(void)
{
    return &levin_layer_count != 0 ? levin_layer_count : 0u;
}

/* Both out of line and outside the measured window, so a case without layers measures the
 * same instructions as before they existed. */
static __attribute__((noinline)) void layers_clear(void)
{
    uint32_t k;
    for (k = 0u; k < layer_count(); ++k) {
        levin_layer_ticks[k] = NO_READING;
    }
}

static __attribute__((noinline)) void layers_print(void)
{
    uint32_t k;
    if (layer_count() == 0u) {
        return;
    }
    levin_sh_puts("layers");
    for (k = 0u; k < layer_count(); ++k) {
        levin_sh_puts(" ");
        levin_sh_u32(levin_layer_ticks[k]);
    }
    levin_sh_puts("\n");
}

static uint32_t *stack_pointer(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Inlined: a call would itself overwrite the paint below main's frame. */
static inline __attribute__((always_inline)) uint32_t *deepest(uint32_t *base)
{
    uint32_t *p = &__stack_bottom;
    while (p < base && *p == PAINT) {
        ++p;
    }
    return p;
}

int main(void)
{
    uint32_t i;
    /* main's frame is complete here and every call below starts at this stack pointer. The
     * painting loop is inline, in registers, so it paints right up to the live stack. */
    uint32_t *base = stack_pointer();
    levin_sh_puts("levin-harness cases ");
    levin_sh_u32(levin_case_count);
    levin_sh_puts("\n");
    for (i = 0u; i < levin_case_count; ++i) {
        const uint8_t *out = 0;
        uint32_t out_len = 0u, t0, t1, w, used;
        int32_t status;
        uint32_t *p;
        layers_clear();
        for (p = &__stack_bottom; p < base; ++p) {
            *(volatile uint32_t *)p = PAINT;
        }
        SYST_CSR = 0u;
        SYST_RVR = SYST_RELOAD;
        SYST_CVR = 0u;
        wraps = 0u;
        SYST_CSR = 7u; /* enable, interrupt on wrap, core clock */
        while (SYST_CVR == 0u) {
            /* the count is 0 until the first tick loads the reload value */
        }
        t0 = SYST_CVR;
        levin_count_begin();
        status = levin_case_run(i, &out, &out_len);
        levin_count_end();
        t1 = SYST_CVR;
        SYST_CSR = 0u;
        w = wraps;
        used = (uint32_t)((uintptr_t)base - (uintptr_t)deepest(base));
        levin_sh_puts("case ");
        levin_sh_u32(i);
        levin_sh_puts(" status ");
        levin_sh_u32((uint32_t)status);
        levin_sh_puts(" t0 ");
        levin_sh_u32(t0);
        levin_sh_puts(" t1 ");
        levin_sh_u32(t1);
        levin_sh_puts(" wraps ");
        levin_sh_u32(w);
        levin_sh_puts(" stack ");
        levin_sh_u32(used);
        levin_sh_puts("\nout ");
        levin_sh_hex(out, out_len);
        levin_sh_puts("\n");
        layers_print();
    }
    levin_sh_puts("done\n");
    return 0;
}
