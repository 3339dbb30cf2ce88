/* semihost.h -- ARM semihosting for the bare-metal harness: console output and exit.
 * Each call is a `bkpt 0xab` that qemu (-semihosting-config enable=on) services on the host.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_SEMIHOST_H
#define LEVIN_SEMIHOST_H

#include <stdint.h>

/* Write a NUL-terminated string to the host's stdout. */
void levin_sh_puts(const char *s);

/* Write `len` bytes as lowercase hex (two digits a byte), no separator. */
void levin_sh_hex(const uint8_t *data, uint32_t len);

/* Write an unsigned decimal number. */
void levin_sh_u32(uint32_t value);

/* Stop qemu: exit status 0 when `ok` is non-zero, 1 otherwise. Never returns. */
void levin_sh_exit(int ok) __attribute__((noreturn));

#endif /* LEVIN_SEMIHOST_H */
