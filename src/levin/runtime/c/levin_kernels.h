/* levin_kernels.h -- int8 kernels of the levin runtime, with TFLite int8 semantics.
 *
 * Every kernel mirrors one kernel of the numpy oracle (src/levin/runtime/reference.py) bit for
 * bit, and through it TFLite Micro's reference kernel of the same name. Conventions:
 * - Feature maps are NHWC with N = 1, [H, W, C]; conv weights [O, KH, KW, I/groups], linear
 *   weights [out, in], read through levin_weights (raw, packed, codebook, rANS, sparse).
 * - Requantization is per output channel: int32 multiplier and shift (TFLite's convention,
 *   real = multiplier * 2^(shift - 31)), prepared by the code generator from float32 scales;
 *   multipliers are never negative (conv and fully connected rely on it).
 * - Padding of convs is the input zero point (real 0); of max pools, never the maximum.
 * - Elementwise kernels (rescale, lut, add) accept out == in (the memory planner's in-place reuse).
 * - Kernels that decode weights take a caller-owned scratch buffer of the size
 *   levin_*_scratch_size returns (0: none needed), and return a levin_status.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LEVIN_KERNELS_H
#define LEVIN_KERNELS_H

#include <stdint.h>

#include "levin_runtime.h"
#include "levin_weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t groups;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max; /* output clamp: -128, 127, or a fused ReLU / ReLU6 */
    int32_t pairs;            /* 1: pixels may be computed two at a time (the second written while
                                 the first is read: an output that streams over its input needs
                                 the planner's lead for it, analyze/memory.py Placement.ahead) */
    int32_t scratch_use;      /* what `scratch` holds, a buffer the planner placed for this conv
                                 where the arena had room (weights in flash; ops/conv2d.py) */
} levin_conv_params;

enum {
    LEVIN_SCRATCH_NONE = 0,
    LEVIN_SCRATCH_GATHER = 1, /* windows gathered with zero-point padding: two pixels' of a
                                 conv over short rows (2 * kernel_h * kernel_w * in_c bytes), or
                                 a depthwise 3x3 border pixel's (kernel_h * kernel_w * in_c) */
    LEVIN_SCRATCH_WIDEN = 2,  /* a 1x1 conv's input pixel widened to int16 (2 * in_c bytes,
                                 4-aligned): each input word then serves four output channels */
    LEVIN_SCRATCH_WIDE_WEIGHTS = 3, /* coded dense weights of a 1x1 conv (groups 1, no padding,
                                 in_c a multiple of 4): the decoding scratch holds four output
                                 channels widened to int16 (8 * in_c bytes, 8-aligned), decoded
                                 once and read at every pixel (levin_conv_coded.c; cores with the
                                 DSP extension, others decode two channels into the same buffer) */
    LEVIN_SCRATCH_WIDEN_PAIRS = 4 /* a 1x1 conv (in_c a multiple of 4)'s input pixels widened to
                                 int16 two at a time (4 * in_c bytes, 4-aligned): each input word
                                 then serves two output channels and each weight word two pixels */
};

typedef struct {
    int32_t in_features, out_features;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max; /* output clamp: -128, 127, or a fused ReLU / ReLU6 */
} levin_linear_params;

typedef struct {
    int32_t in_h, in_w, channels, out_h, out_w;
    int32_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
    int32_t count_include_pad; /* avg pool: padded positions count, as the zero point `pad_value` */
    int32_t pad_value;
} levin_pool_params;

/* MEAN (mode 0), SUM (1), REDUCE_MAX (2) over the axes flagged in `reduce` of the input `dims`
 * (rank padded to 4 in front): out_zp + mbqm(sum - in_zp * count, multiplier, shift), clamped
 * (1 / count folded into multiplier and shift for MEAN); REDUCE_MAX: the largest code. */
typedef struct {
    int32_t dims[4], reduce[4];
    int32_t mode, count, in_zp, out_zp, multiplier, shift;
} levin_reduce_params;

/* TRANSPOSE, STRIDED_SLICE: output `dims` (rank padded to 4 in front) written in order, element
 * (i0..i3) read at in[offset + sum(i_k * strides[k])]. out must not overlap in. */
typedef struct {
    int32_t dims[4], strides[4], offset;
} levin_strided_copy_params;

/* RESIZE_NEAREST_NEIGHBOR: [batches, in_h, in_w, channels] -> [batches, out_h, out_w, channels]. */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
} levin_resize_params;

/* TRANSPOSE_CONV: input pixel (iy, ix) reaches output (iy * stride_h - pad_top + ky, ...). */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, kernel_h, kernel_w;
    int32_t stride_h, stride_w, pad_top, pad_left, in_zp, out_zp;
} levin_conv_transpose_params;

/* zp_out + (x - zp_in) * multiplier * 2^(shift - 31), clamped: ReLU/ReLU6 and int8 requantize. */
typedef struct {
    int32_t in_zp, out_zp, multiplier, shift, act_min, act_max;
    int32_t rescale; /* 0: the same parameters in and out, only the clamp applies */
} levin_rescale_params;

typedef struct {
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift, act_min, act_max;
} levin_add_params;

typedef struct {
    int32_t input_multiplier, input_left_shift, diff_min;
} levin_softmax_params;

/* TFLite MUL: out = output_offset + (in1 + input1_offset) * (in2 + input2_offset) requantized. */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} levin_mul_params;

/* How a binary op walks its output (up to 4-D, NHWC): dims[0..3], dims[3] a contiguous row of the
 * output; input i is read at element offset sum_d index_d * stride<i>[d] (0 where it broadcasts).
 * Equal shapes are one row: dims {1, 1, 1, n}, strides {0, 0, 0, 1}. */
typedef struct {
    int32_t dims[4];
    int32_t stride1[4], stride2[4];
} levin_broadcast;

/* Scratch bytes of a conv / linear over weights w: none for raw int8 (read in place); coded
 * dense, two output channels of a conv, four rows of a linear (a conv of at most
 * LEVIN_WEIGHTS_WHOLE_MAX weights: the whole
 * tensor, plus, 16-aligned after it, the buffer of p->scratch_use when the generator planned one;
 * a conv with p->scratch_use LEVIN_SCRATCH_WIDE_WEIGHTS: eight channels' bytes, 8 * in_c);
 * sparse, 3 bytes per element of a channel, a conv 2 more for the window offsets. */
uint32_t levin_conv2d_s8_scratch_size(const levin_weights *w);
uint32_t levin_linear_s8_scratch_size(const levin_weights *w);

/* TFLite integer_ops::ConvPerChannel / DepthwiseConvPerChannel (groups == in_c). bias may be NULL. */
levin_status levin_conv2d_s8(const levin_conv_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch);

/* TFLite integer_ops::FullyConnected (per-tensor weights: repeat the multiplier). bias may be NULL. */
levin_status levin_linear_s8(const levin_linear_params *p, const int8_t *in, const levin_weights *w,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *out, uint8_t *scratch);

/* TFLite reference_integer_ops::TransposeConv (OHWI weights, groups 1). bias may be NULL. */
uint32_t levin_conv_transpose2d_s8_scratch_size(const levin_weights *w);
levin_status levin_conv_transpose2d_s8(const levin_conv_transpose_params *p, const int8_t *in,
                                       const levin_weights *w, const int32_t *bias,
                                       const int32_t *multiplier, const int32_t *shift, int8_t *out,
                                       uint8_t *scratch);

void levin_max_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out);
void levin_avg_pool_s8(const levin_pool_params *p, const int8_t *in, int8_t *out);
void levin_reduce_s8(const levin_reduce_params *p, const int8_t *in, int8_t *out);
void levin_strided_copy_s8(const levin_strided_copy_params *p, const int8_t *in, int8_t *out);
/* Output pixel (y, x) = input pixel (ys[y], xs[x]) (ys: out_h entries in 0..in_h-1, xs likewise). */
void levin_resize_nearest_s8(const levin_resize_params *p, const int32_t *ys, const int32_t *xs,
                             const int8_t *in, int8_t *out);
/* ys: (y0, y1, py) per output row, py the source row in 1/1024; xs likewise per column. */
void levin_resize_bilinear_s8(const levin_resize_params *p, const int32_t *ys, const int32_t *xs,
                              const int8_t *in, int8_t *out);

void levin_rescale_s8(const levin_rescale_params *p, const int8_t *in, int8_t *out, uint32_t n);
/* out[i] = table[in[i] + 128] (Sigmoid, Tanh: 256-entry tables made by the generator). */
void levin_lut_s8(const int8_t *table, const int8_t *in, int8_t *out, uint32_t n);

/* Binary ops with numpy broadcasting (levin_binary.c): TFLite Micro ADD, SUB (levin_add_params),
 * MUL, MAXIMUM, MINIMUM (the larger / smaller code: inputs and output share their parameters).
 * out may be in1 or in2 when that input has the output's shape. */
void levin_binary_add_s8(const levin_add_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out);
void levin_binary_sub_s8(const levin_add_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out);
void levin_binary_mul_s8(const levin_mul_params *p, const levin_broadcast *b, const int8_t *in1,
                         const int8_t *in2, int8_t *out);
void levin_binary_max_s8(const levin_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void levin_binary_min_s8(const levin_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);

/* Concatenation of `count` inputs along an axis: viewed as [outer, inner_i], each input i is
 * requantized by rescale[i] into the output [outer, sum of inner_i]. */
void levin_concat_s8(const int8_t *const *in, const int32_t *inner, const levin_rescale_params *rescale,
                     uint32_t count, uint32_t outer, int8_t *out);

/* Pad of [H, W, C] by (top, bottom, left, right) with the code `value`. */
void levin_pad_s8(const int8_t *in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom,
                  int32_t left, int32_t right, int8_t value, int8_t *out);

/* Pad of [H, W, C] by (top, bottom, left, right) with the map's mirror image: TFLite's
 * MIRROR_PAD, REFLECT (symmetric 0: the edge is not repeated) or SYMMETRIC (1). */
void levin_mirror_pad_s8(const int8_t *in, int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom,
                         int32_t left, int32_t right, int32_t symmetric, int8_t *out);

void levin_copy_s8(const int8_t *in, int8_t *out, uint32_t n);

/* TFLite Micro int8 Softmax (gemmlowp, output scale 1/256, zero point -128) over the middle axis
 * of [outer, n, inner]. */
void levin_softmax_s8(const levin_softmax_params *p, const int8_t *in, int8_t *out, uint32_t outer,
                      uint32_t n, uint32_t inner);

#ifdef __cplusplus
}
#endif

#endif /* LEVIN_KERNELS_H */
