// Host GEMM kernels. FP32 goes to OpenBLAS (common/blas.h, shared with NEON).
// INT8 is ours: AVX512-VNNI (vpdpbusd) on x86 when present, a portable loop
// elsewhere; its epilogue is common/int8.h's.
#pragma once
#include <cstdint>
#include <vector>

#include "../common/blas.h"
#include "../common/int8.h"
#include "armbert.h"
#include "vecmath.h"

namespace armbert::host {

// INT8 weights packed once for the kernel: blocks of kNr output channels,
// groups of 4 along K (the vpdpbusd/sdot layout), zero padded.
constexpr int kNr = 32;
struct PackedS8 {
    int N = 0, K = 0, Kp = 0;          // Kp: K rounded up to 4
    std::vector<int8_t> data;          // [N/kNr][Kp/4][kNr][4]
    std::vector<int32_t> col_sum;      // per output channel, for the u8 offset
};
PackedS8 pack_s8(const int8_t *w, int N, int K);

// Activations enter as u8 = q + 128 (rows of Kp bytes). For rows [0, M) and
// the output-channel blocks [block_begin, block_end):
//   y[m, n] = act(float(sum_k q[m,k] w[n,k]) * (row_scale[m] * col_scale[n])
//                 + extra[m, n] + bias[n])
// extra (ld = ldy) and bias may be NULL.
void gemm_s8_dequant(const PackedS8 &w, const uint8_t *xu8, int M, int block_begin,
                     int block_end, const float *row_scale, const float *col_scale,
                     const float *extra, const float *bias, armbert_activation act, float *y,
                     int ldy);

// Quantizes rows of x to u8 (q + 128), static scale when scale > 0 else per
// row; inv_smooth (may be NULL) multiplies each input channel first.
void quantize_rows_u8(const float *x, int M, int K, int Kp, float scale,
                      const float *inv_smooth, uint8_t *out, float *row_scale, float *tmp);

}  // namespace armbert::host
