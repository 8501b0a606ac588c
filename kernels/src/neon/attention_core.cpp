// The fp32 attention core of the NEON backend (attention_core.h).
#include "attention_core.h"

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common/vecmath.h"
#include "../common/workspace.h"
#include "vmath.h"

namespace armbert::neon {

namespace {

// MR rows x kPanel columns. Four k per step: one vector load per row of A
// feeds 2 * MR fma by lane: 16 accumulators + 8 A vectors + 2 B vectors of
// the 32 registers at MR = 8: 1.30 instructions per fma in the loop's code,
// 1.40 with the tile's edges (tools/insncount, MiniLM at S = 128). The r
// loops are unrolled by pragma: without it gcc 14 kept the accumulator array
// in memory and stored it back on every k step (1.52 in the loop).
#define ARMBERT_ROWS _Pragma("GCC unroll 8") for (int r = 0; r < MR; ++r)
template <int MR>
inline void tile_f32(const float *a, int lda, const float *b, int K, float *c, int ldc, int nn) {
    float32x4_t acc[MR][2];
    ARMBERT_ROWS acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    int k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t av[MR];
        ARMBERT_ROWS av[r] = vld1q_f32(a + size_t(r) * lda + k);
        const float *bk = b + size_t(k) * kPanel;
        // Lane J of each row's four k values times row J of the B block.
#define ARMBERT_FMA_LANE(J)                                             \
    {                                                                   \
        const float32x4_t b0 = vld1q_f32(bk + (J)*kPanel);              \
        const float32x4_t b1 = vld1q_f32(bk + (J)*kPanel + 4);          \
        ARMBERT_ROWS {                                                  \
            acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, av[r], J);       \
            acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, av[r], J);       \
        }                                                               \
    }
        ARMBERT_FMA_LANE(0)
        ARMBERT_FMA_LANE(1)
        ARMBERT_FMA_LANE(2)
        ARMBERT_FMA_LANE(3)
#undef ARMBERT_FMA_LANE
    }
    for (; k < K; ++k) {
        const float32x4_t b0 = vld1q_f32(b + size_t(k) * kPanel);
        const float32x4_t b1 = vld1q_f32(b + size_t(k) * kPanel + 4);
        ARMBERT_ROWS {
            const float av = a[size_t(r) * lda + k];
            acc[r][0] = vfmaq_n_f32(acc[r][0], b0, av);
            acc[r][1] = vfmaq_n_f32(acc[r][1], b1, av);
        }
    }
    ARMBERT_ROWS {
        float *cr = c + size_t(r) * ldc;
        if (nn == kPanel) {
            vst1q_f32(cr, acc[r][0]);
            vst1q_f32(cr + 4, acc[r][1]);
        } else {
            float tmp[kPanel];
            vst1q_f32(tmp, acc[r][0]);
            vst1q_f32(tmp + 4, acc[r][1]);
            std::memcpy(cr, tmp, sizeof(float) * size_t(nn));
        }
    }
}
#undef ARMBERT_ROWS

}  // namespace

void panel_gemm_f32(const float *a, int lda, int M, const float *b, int K, float *c, int ldc,
                    int nn) {
    int m = 0;
    for (; m + 8 <= M; m += 8)
        tile_f32<8>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn);
    if (M - m >= 4) {
        tile_f32<4>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn);
        m += 4;
    }
    switch (M - m) {
    case 3: tile_f32<3>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    case 2: tile_f32<2>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    case 1: tile_f32<1>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    default: break;
    }
}

namespace {

// In place: e^(x * scale - max) over a row without a mask, returns their sum. The
// maximum is taken over the raw scores (scale > 0, and rounding is monotonic, so
// scale * max(x) is the maximum of the scaled scores) and the scale is fused into
// the exponent's argument: no scaled row is stored. Unpadded rows (no mask, or a
// mask of zeros: attend_head) take this path: MiniLM int8's exponential rows went
// from 11.4 to 9.9 M instructions at S=128 (tools/insncount).
float exp_row_unmasked(float *row, int n, float scale) {
    float32x4_t mx4 = vdupq_n_f32(-3.402823466e38f);
    int i = 0;
    for (; i + 4 <= n; i += 4) mx4 = vmaxq_f32(mx4, vld1q_f32(row + i));
    float mx = vmaxvq_f32(mx4);
    for (; i < n; ++i) mx = row[i] > mx ? row[i] : mx;
    const float shift = -(mx * scale);
    const float32x4_t s4 = vdupq_n_f32(scale), sh = vdupq_n_f32(shift);
    float32x4_t sum4 = vdupq_n_f32(0.0f);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t e = vexp_nonpositive(vfmaq_f32(sh, vld1q_f32(row + i), s4));
        vst1q_f32(row + i, e);
        sum4 = vaddq_f32(sum4, e);
    }
    float sum = vaddvq_f32(sum4);
    for (; i < n; ++i) {
        row[i] = common::fast_exp(std::fma(row[i], scale, shift));
        sum += row[i];
    }
    return sum;
}

// True when the additive mask row is all zeros (no padding).
bool zero_mask(const float *mask, int n) {
    uint32x4_t any = vdupq_n_u32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) any = vorrq_u32(any, vreinterpretq_u32_f32(vld1q_f32(mask + i)));
    bool nonzero = vmaxvq_u32(vshlq_n_u32(any, 1)) != 0;  // -0 counts as zero
    for (; i < n; ++i) nonzero |= mask[i] != 0.0f;
    return !nonzero;
}

// In place: e^(x * scale + mask - max) over the row; returns their sum.
float exp_row_f32(float *row, int n, float scale, const float *mask) {
    if (!mask) return exp_row_unmasked(row, n, scale);
    float32x4_t mx4 = vdupq_n_f32(-3.402823466e38f);
    const float32x4_t s4 = vdupq_n_f32(scale);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vaddq_f32(vmulq_f32(vld1q_f32(row + i), s4), vld1q_f32(mask + i));
        vst1q_f32(row + i, v);
        mx4 = vmaxq_f32(mx4, v);
    }
    float mx = vmaxvq_f32(mx4);
    for (; i < n; ++i) {
        row[i] = row[i] * scale + mask[i];
        mx = row[i] > mx ? row[i] : mx;
    }
    float32x4_t sum4 = vdupq_n_f32(0.0f);
    const float32x4_t m = vdupq_n_f32(mx);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t e = vexp_nonpositive(vsubq_f32(vld1q_f32(row + i), m));
        vst1q_f32(row + i, e);
        sum4 = vaddq_f32(sum4, e);
    }
    float sum = vaddvq_f32(sum4);
    for (; i < n; ++i) {
        row[i] = common::fast_exp(row[i] - mx);
        sum += row[i];
    }
    return sum;
}

void scale_row(float *row, int n, float by) {
    const float32x4_t b4 = vdupq_n_f32(by);
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(row + i, vmulq_f32(vld1q_f32(row + i), b4));
    for (; i < n; ++i) row[i] *= by;
}

}  // namespace

void softmax_row_f32(float *row, int n, float scale, const float *mask) {
    scale_row(row, n, 1.0f / exp_row_f32(row, n, scale, mask));
}

size_t head_scratch_floats(int S, int d) {
    const size_t Sp = size_t(common::round_up(S, kPanel)), dp = size_t(common::round_up(d, kPanel));
    return Sp * size_t(d) + dp * size_t(S) + size_t(kQueryBlock) * Sp;
}

float *scratch_keys(float *scratch, int, int) { return scratch; }
float *scratch_values(float *scratch, int S, int d) {
    return scratch + size_t(common::round_up(S, kPanel)) * size_t(d);
}

// 4 x 4 blocks: four keys' rows of four channels in, transposed, out as four
// channels' rows of four keys.
inline void transpose4(const float *k, size_t ldk, float *dst) {
    const float32x4_t r0 = vld1q_f32(k), r1 = vld1q_f32(k + ldk), r2 = vld1q_f32(k + 2 * ldk),
                      r3 = vld1q_f32(k + 3 * ldk);
    const float32x4_t t0 = vtrn1q_f32(r0, r1), t1 = vtrn2q_f32(r0, r1), t2 = vtrn1q_f32(r2, r3),
                      t3 = vtrn2q_f32(r2, r3);
    const auto lo = [](float32x4_t a, float32x4_t b) {
        return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
    };
    const auto hi = [](float32x4_t a, float32x4_t b) {
        return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
    };
    vst1q_f32(dst, lo(t0, t2));
    vst1q_f32(dst + kPanel, lo(t1, t3));
    vst1q_f32(dst + 2 * kPanel, hi(t0, t2));
    vst1q_f32(dst + 3 * kPanel, hi(t1, t3));
}

void pack_keys_f32(const float *k, int ldk, int S, int d, float *kp) {
    int s = 0;
    if (d % 4 == 0)
        for (; s + 4 <= S; s += 4) {
            float *panel = kp + size_t(s / kPanel) * d * kPanel + s % kPanel;
            for (int i = 0; i < d; i += 4)
                transpose4(k + size_t(s) * ldk + i, size_t(ldk), panel + size_t(i) * kPanel);
        }
    for (; s < S; ++s) {
        const float *row = k + size_t(s) * ldk;
        float *col = kp + size_t(s / kPanel) * d * kPanel + s % kPanel;
        for (int i = 0; i < d; ++i) col[size_t(i) * kPanel] = row[i];
    }
}

void pack_values_f32(const float *v, int ldv, int S, int d, float *vp) {
    for (int s = 0; s < S; ++s) {
        const float *row = v + size_t(s) * ldv;
        for (int p = 0; p * kPanel < d; ++p)
            std::memcpy(vp + (size_t(p) * S + s) * kPanel, row + p * kPanel,
                        sizeof(float) * size_t(std::min(kPanel, d - p * kPanel)));
    }
}

void attend_head(const float *q, int ldq, const float *mask, float scale, int S, int d,
                 float *scratch, float *out, int ldo) {
    const int Sp = common::round_up(S, kPanel), dp = common::round_up(d, kPanel);
    const float *kp = scratch_keys(scratch, S, d), *vp = scratch_values(scratch, S, d);
    float *scores = scratch_values(scratch, S, d) + size_t(dp) * S;  // after the panels
    if (mask && zero_mask(mask, S)) mask = nullptr;
    for (int i0 = 0; i0 < S; i0 += kQueryBlock) {
        const int M = std::min(kQueryBlock, S - i0);
        // Q K^T: padding keys' columns (>= S) are never stored.
        for (int p = 0; p < Sp / kPanel; ++p)
            panel_gemm_f32(q + size_t(i0) * ldq, ldq, M, kp + size_t(p) * d * kPanel, d,
                           scores + size_t(p) * kPanel, Sp, std::min(kPanel, S - p * kPanel));
        float inv_sum[kQueryBlock];
        for (int i = 0; i < M; ++i)
            inv_sum[i] = 1.0f / exp_row_f32(scores + size_t(i) * Sp, S, scale, mask);
        // P V on the unnormalised exponentials, each output row divided by its
        // row's sum afterwards: d values per row to scale instead of S.
        for (int p = 0; p < dp / kPanel; ++p)
            panel_gemm_f32(scores, Sp, M, vp + size_t(p) * S * kPanel, S,
                           out + size_t(i0) * ldo + size_t(p) * kPanel, ldo,
                           std::min(kPanel, d - p * kPanel));
        for (int i = 0; i < M; ++i) scale_row(out + size_t(i0 + i) * ldo, d, inv_sum[i]);
    }
}

}  // namespace armbert::neon
