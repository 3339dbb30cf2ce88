/* harness.h -- what a test case file gives the Cortex-M harness (harness.c).
 *
 * The harness runs cases 0 .. levin_case_count-1 in order. For each it paints the stack, reads
 * SysTick, calls levin_case_run, reads SysTick again, and prints
 *
 *     case <i> status <s> t0 <systick before> t1 <systick after> wraps <w> stack <bytes>
 *     out <hex of the bytes the case reported>
 *
 * and, when the case file defines per-layer readings, a third line
 *
 *     layers <SysTick after node 0> <after node 1> ...   (4294967295: that node has no reading)
 *
 * then "done" and exits. levin_count_begin/levin_count_end are empty, never-inlined functions
 * called right around levin_case_run: an execution trace counts the instructions between them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_HARNESS_H
#define LEVIN_HARNESS_H

#include <stdint.h>

extern const uint32_t levin_case_count;

/* Run case i. Set *out and *out_len to the bytes to print. Return 0, or a nonzero status. */
int32_t levin_case_run(uint32_t i, const uint8_t **out, uint32_t *out_len);

/* Optional: SysTick's value after each node of a model (layer_hook.h stores them). A case file
 * that wants them defines both; without them the harness prints no "layers" line. */
extern const uint32_t levin_layer_count;
extern volatile uint32_t levin_layer_ticks[];

#endif /* LEVIN_HARNESS_H */
