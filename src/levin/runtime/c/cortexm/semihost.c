/* semihost.c -- see semihost.h. Output is buffered into one SYS_WRITE0 call per line-sized chunk:
 * a semihosting call traps to the host, so one per character would dominate the run time.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "semihost.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static char buf[257];
static uint32_t used;

static void flush(void)
{
    if (used != 0u) {
        buf[used] = '\0';
        (void)semihost_call(SYS_WRITE0, buf);
        used = 0u;
    }
}

static void put(char c)
{
    if (used == sizeof buf - 1u) {
        flush();
    }
    buf[used++] = c;
    if (c == '\n') {
        flush();
    }
}

void levin_sh_puts(const char *s)
{
    while (*s != '\0') {
        put(*s++);
    }
}

void levin_sh_hex(const uint8_t *data, uint32_t len)
{
    static const char digits[] = "0123456789abcdef";
    uint32_t i;
    for (i = 0u; i < len; ++i) {
        put(digits[data[i] >> 4]);
        put(digits[data[i] & 15u]);
    }
}

void levin_sh_u32(uint32_t value)
{
    char tmp[10];
    uint32_t n = 0u;
    do {
        tmp[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    while (n != 0u) {
        put(tmp[--n]);
    }
}

void levin_sh_exit(int ok)
{
    flush();
    /* On AArch32 the SYS_EXIT argument is the reason code itself; qemu exits 0 only for
     * ApplicationExit. */
    (void)semihost_call(SYS_EXIT, (const void *)(ok ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR));
    for (;;) {
    }
}
