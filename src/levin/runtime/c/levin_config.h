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
 * LEVIN_NO_<PATH>: no model runs that optional kernel path, so its code is dead and the linker
 * leaves it out (levin_conv_window.h; the code generator asks each op which paths its calls
 * run, levin.ops.cparams.KERNEL_PATHS). Speed paths fall back to the general kernel, bit for
 * bit the same outputs, only slower: DEPTHWISE (depthwise convs, raw and decoded), IM2COL
 * (windows gathered for short rows), WIDENED (a raw 1x1 conv's input widened to int16),
 * WIDENED_PAIRS (the same, two pixels at a time, where the plan had room for both),
 * WIDE_WEIGHTS (a coded 1x1 conv's weights widened), LINEAR_PACKED8 and LINEAR_BOOK8 (8-bit
 * packed fully connected weights, without and with a codebook, DSP cores). Format paths give
 * LEVIN_ERR_UNSUPPORTED: CODED_CONV and CODED_LINEAR (decoded weights; on a core without the
 * DSP extension the 8-bit packed fully connected formats keep CODED_LINEAR), SPARSE (sparse
 * weights), TAPS (the general conv kernel: grouped, or dilated along x, and not depthwise).
 * LEVIN_NO_REQUANT_WIDE: every conv and fully connected accumulator stays below 2^30 (the
 * generator's bound from the weights and biases), so the output stage takes a shorter sum
 * (levin_conv_window.h); only correct within that bound. LEVIN_NO_LEFT_SHIFT: every conv and
 * fully connected requantization shift is -1 or lower, so the output stage leaves out its left
 * shift (levin_conv_window.h); only correct then. LEVIN_NO_PACKED8_CHECK: every packed 8-bit
 * fully connected tensor's symbols stay within int8 (the generator read them all), so the kernel
 * does not check them at each inference (a corrupt byte then gives wrong codes, not
 * LEVIN_ERR_CORRUPT; levin_weights_verify's checksums still find it).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_CONFIG_H
#define LEVIN_CONFIG_H

#endif /* LEVIN_CONFIG_H */
