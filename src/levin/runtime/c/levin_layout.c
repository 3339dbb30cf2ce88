/* levin_layout.c -- TFLite int8 TRANSPOSE and STRIDED_SLICE: a copy with strides. 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_kernels.h"

void levin_strided_copy_s8(const levin_strided_copy_params *p, const int8_t *in, int8_t *out) {
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *row = in + p->offset + i0 * p->strides[0] + i1 * p->strides[1]
                                    + i2 * p->strides[2];
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    *out++ = row[i3 * p->strides[3]];
                }
            }
        }
    }
}
