/* levin_config.h -- what this build of the runtime needs, written by the code generator next to
 * model.c (levin.codegen.export: this default, shipped with the sources, keeps every feature).
 *
 * LEVIN_WEIGHTS_RAW_ONLY: every weight tensor is raw int8 read in place from flash, so the conv
 * and fully connected kernels do not reference the decoders (packed, codebook, rANS, sparse)
 * and the linker leaves them out: about 2.5 KB of flash on a Cortex-M4. A descriptor of another
 * format then gives LEVIN_ERR_UNSUPPORTED.
 *
 * LEVIN_WEIGHTS_NO_GENERATED: no weight tensor is generated (docs/format.md 4.7), so the
 * generator's code and prior quantile table are compiled out (about 1 KB of flash on a
 * Cortex-M4); a generated descriptor then gives LEVIN_ERR_UNSUPPORTED. Implied by RAW_ONLY.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_CONFIG_H
#define LEVIN_CONFIG_H

#endif /* LEVIN_CONFIG_H */
