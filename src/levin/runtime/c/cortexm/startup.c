/* startup.c -- vector table and reset handler for the Cortex-M4 harness (qemu mps2-an386).
 * Reset copies .data from flash, zeroes .bss, and calls main; any fault prints its name over
 * semihosting and stops qemu with a failing exit status, so a crash never looks like a pass.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern int main(void);
extern void levin_systick_handler(void);

void levin_reset_handler(void) __attribute__((noreturn));

static void fault(const char *name)
{
    levin_sh_puts("fault ");
    levin_sh_puts(name);
    levin_sh_puts("\n");
    levin_sh_exit(0);
}

static void nmi_handler(void) { fault("nmi"); }
static void hardfault_handler(void) { fault("hardfault"); }
static void memmanage_handler(void) { fault("memmanage"); }
static void busfault_handler(void) { fault("busfault"); }
static void usagefault_handler(void) { fault("usagefault"); }
static void unexpected_handler(void) { fault("unexpected interrupt"); }

/* 16 system exceptions; the board's external interrupts are never enabled. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top,
    levin_reset_handler,
    nmi_handler,
    hardfault_handler,
    memmanage_handler,
    busfault_handler,
    usagefault_handler,
    0, 0, 0, 0,
    unexpected_handler, /* SVCall */
    unexpected_handler, /* DebugMonitor */
    0,
    unexpected_handler, /* PendSV */
    levin_systick_handler,
};

void levin_reset_handler(void)
{
    /* Plain loops rather than memcpy/memset: the harness links no libc of its own, so whatever
     * libc or libgcc code ends up in the image is there because the model code needs it. */
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end; ++dst) {
        *dst = 0u;
    }
    levin_sh_exit(main() == 0);
}
