/* layer_hook.h -- per-layer measurement: levin.targets.cortexm force-includes it (gcc -include)
 * into model.c, whose levin_model_run calls LEVIN_LAYER_DONE(k) after node k.
 *
 * The hook stores SysTick's current value in levin_layer_ticks[k] (the case file defines the
 * array, the harness prints it): one load and one store, plus the loads of the two addresses
 * where the compiler does not keep them in registers -- 2 to 4 instructions per node, which
 * every per-layer count then includes. A layer's instructions are the ticks between its reading
 * and the previous one (the first layer starts at the case's own first reading), so they need
 * no wrap counter as long as one layer stays under 2^24 ticks.
 *
 * It also puts the assembler label levin_layer_done_<k> right after the store: an execution
 * trace (levin.targets.estimate) finds where each layer ends from the symbol table.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_LAYER_HOOK_H
#define LEVIN_LAYER_HOOK_H

#include <stdint.h>

extern volatile uint32_t levin_layer_ticks[];

#define LEVIN_LAYER_DONE(k)                                                                   \
    do {                                                                                      \
        levin_layer_ticks[(k)] = *(volatile const uint32_t *)0xE000E018u;                     \
        __asm__ volatile("levin_layer_done_" #k ":");                                         \
    } while (0)

#endif /* LEVIN_LAYER_HOOK_H */
