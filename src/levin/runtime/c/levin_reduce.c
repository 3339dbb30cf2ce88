/* levin_reduce.c -- TFLite Micro int8 MEAN, SUM and REDUCE_MAX over any axes (rank <= 4). 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_kernels.h"

/* The sum (or max) of one output position's box of reduced input elements. */
static int32_t levin_reduce_box(const levin_reduce_params *p, const int8_t *in, const int32_t *at) {
    int32_t acc = p->mode == 2 ? -128 : 0;
    int32_t span[4], j[4], k;
    for (k = 0; k < 4; ++k) {
        span[k] = p->reduce[k] ? p->dims[k] : 1;
    }
    for (j[0] = 0; j[0] < span[0]; ++j[0]) {
        for (j[1] = 0; j[1] < span[1]; ++j[1]) {
            for (j[2] = 0; j[2] < span[2]; ++j[2]) {
                for (j[3] = 0; j[3] < span[3]; ++j[3]) {
                    const int32_t v = in[(((at[0] + j[0]) * p->dims[1] + at[1] + j[1]) * p->dims[2]
                                          + at[2] + j[2]) * p->dims[3] + at[3] + j[3]];
                    if (p->mode == 2) {
                        acc = v > acc ? v : acc;
                    } else {
                        acc += v;
                    }
                }
            }
        }
    }
    return acc;
}

void levin_reduce_s8(const levin_reduce_params *p, const int8_t *in, int8_t *out) {
    int32_t end[4], at[4], k;
    for (k = 0; k < 4; ++k) {
        end[k] = p->reduce[k] ? 1 : p->dims[k];
    }
    for (at[0] = 0; at[0] < end[0]; ++at[0]) {
        for (at[1] = 0; at[1] < end[1]; ++at[1]) {
            for (at[2] = 0; at[2] < end[2]; ++at[2]) {
                for (at[3] = 0; at[3] < end[3]; ++at[3]) {
                    const int32_t acc = levin_reduce_box(p, in, at);
                    int32_t y;
                    if (p->mode == 2) {
                        y = acc;
                    } else {
                        y = levin_clamp(levin_mbqm(acc - p->in_zp * p->count, p->multiplier, p->shift)
                                        + p->out_zp, -128, 127);
                    }
                    *out++ = (int8_t)y;
                }
            }
        }
    }
}
