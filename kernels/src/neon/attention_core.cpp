// The fp32 attention core of the NEON backend (attention_core.h).
#include "attention_core.h"

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../common/vecmath.h"
#include "../common/workspace.h"
#include "asm_regs.h"
#include "gemm_f32.h"
#include "vmath.h"

namespace armbert::neon {

namespace {

// MR rows x kPanel columns, the edge rows of panel_gemm_f32 (MR < 8). Four k per
// step: one vector load per row of A and two four-register loads of B feed
// 2 * MR fma by lane. The r loops are unrolled by pragma: without it gcc 14 kept
// the accumulator array in memory and stored it back on every k step.
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
        // Lane J of each row's four k values times row J of the B block; one
        // four-register load gives rows J and J + 1.
#define ARMBERT_FMA_LANE(J, B0, B1)                                     \
    ARMBERT_ROWS {                                                      \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], B0, av[r], J);           \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], B1, av[r], J);           \
    }
        const float32x4x4_t b01 = vld1q_f32_x4(bk);
        ARMBERT_FMA_LANE(0, b01.val[0], b01.val[1])
        ARMBERT_FMA_LANE(1, b01.val[2], b01.val[3])
        const float32x4x4_t b23 = vld1q_f32_x4(bk + 2 * kPanel);
        ARMBERT_FMA_LANE(2, b23.val[0], b23.val[1])
        ARMBERT_FMA_LANE(3, b23.val[2], b23.val[3])
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

// The 8-row tile in assembly: v0-v15 accumulate (row r in v2r, v2r+1), v16-v23
// hold four k of each row (one post-indexed load per row pointer) and v24-v27
// two k of the panel at a time: 64 FMLA by lane take 10 loads. Written with
// intrinsics (tile_f32<8>), gcc 14 issued both panel loads ahead, ran out of
// registers and copied eight accumulators through spare ones on every step:
// 1.40 instructions per FMLA with the tile's edges (tools/insncount, MiniLM at
// S = 128), this one 1.2. K % 4 trailing k go one at a time.
#define ARMBERT_LANE_OP(OP, L, B0, B1)                                                      \
    OP " v0.4s, " B0 ".4s, v16.s[" #L "]\n " OP " v1.4s, " B1 ".4s, v16.s[" #L "]\n"          \
    OP " v2.4s, " B0 ".4s, v17.s[" #L "]\n " OP " v3.4s, " B1 ".4s, v17.s[" #L "]\n"          \
    OP " v4.4s, " B0 ".4s, v18.s[" #L "]\n " OP " v5.4s, " B1 ".4s, v18.s[" #L "]\n"          \
    OP " v6.4s, " B0 ".4s, v19.s[" #L "]\n " OP " v7.4s, " B1 ".4s, v19.s[" #L "]\n"          \
    OP " v8.4s, " B0 ".4s, v20.s[" #L "]\n " OP " v9.4s, " B1 ".4s, v20.s[" #L "]\n"          \
    OP " v10.4s, " B0 ".4s, v21.s[" #L "]\n " OP " v11.4s, " B1 ".4s, v21.s[" #L "]\n"        \
    OP " v12.4s, " B0 ".4s, v22.s[" #L "]\n " OP " v13.4s, " B1 ".4s, v22.s[" #L "]\n"        \
    OP " v14.4s, " B0 ".4s, v23.s[" #L "]\n " OP " v15.4s, " B1 ".4s, v23.s[" #L "]\n"
#define ARMBERT_LANE(L, B0, B1) ARMBERT_LANE_OP("fmla", L, B0, B1)
#define ARMBERT_LOAD_ROWS(T, STEP)                                                       \
    "ldr " T "16, [%[a0]], #" STEP "\n ldr " T "17, [%[a1]], #" STEP "\n"                \
    "ldr " T "18, [%[a2]], #" STEP "\n ldr " T "19, [%[a3]], #" STEP "\n"                \
    "ldr " T "20, [%[a4]], #" STEP "\n ldr " T "21, [%[a5]], #" STEP "\n"                \
    "ldr " T "22, [%[a6]], #" STEP "\n ldr " T "23, [%[a7]], #" STEP "\n"

// Both 8-row tiles store v0-v15, row r in v2r, v2r+1, with stride %[os] from %[c]:
// into C, or into tmp for a panel of nn < kPanel keys, copied out by copy_rows.
#define ARMBERT_STORE_ROWS                                                           \
    "st1 {v0.4s, v1.4s}, [%[c]], %[os]\n st1 {v2.4s, v3.4s}, [%[c]], %[os]\n"         \
    "st1 {v4.4s, v5.4s}, [%[c]], %[os]\n st1 {v6.4s, v7.4s}, [%[c]], %[os]\n"         \
    "st1 {v8.4s, v9.4s}, [%[c]], %[os]\n st1 {v10.4s, v11.4s}, [%[c]], %[os]\n"       \
    "st1 {v12.4s, v13.4s}, [%[c]], %[os]\n st1 {v14.4s, v15.4s}, [%[c]], %[os]\n"

void copy_rows(const float *tmp, float *c, int ldc, int nn) {
    for (int r = 0; r < 8; ++r)
        std::memcpy(c + size_t(r) * ldc, tmp + r * kPanel, sizeof(float) * size_t(nn));
}

void tile8(const float *a, int lda, const float *b, int K, float *c, int ldc, int nn) {
    const float *a0 = a, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda,
                *a5 = a4 + lda, *a6 = a5 + lda, *a7 = a6 + lda;
    int64_t steps = K / 4, rest = K % 4;
    float tmp[8 * kPanel];
    float *out = nn == kPanel ? c : tmp;
    const int64_t out_step = int64_t(nn == kPanel ? ldc : kPanel) * 4;
    asm volatile(
        // The first k multiplies (no zeroing); K < 4 starts from zeros.
        "cbnz %[n], 5f\n"
        "movi v0.4s, #0\n movi v1.4s, #0\n movi v2.4s, #0\n movi v3.4s, #0\n"
        "movi v4.4s, #0\n movi v5.4s, #0\n movi v6.4s, #0\n movi v7.4s, #0\n"
        "movi v8.4s, #0\n movi v9.4s, #0\n movi v10.4s, #0\n movi v11.4s, #0\n"
        "movi v12.4s, #0\n movi v13.4s, #0\n movi v14.4s, #0\n movi v15.4s, #0\n"
        "b 2f\n"
        "5:\n" ARMBERT_LOAD_ROWS("q", "16")
        "ld1 {v24.4s-v27.4s}, [%[b]], #64\n"
        ARMBERT_LANE_OP("fmul", 0, "v24", "v25") ARMBERT_LANE(1, "v26", "v27")
        "ld1 {v24.4s-v27.4s}, [%[b]], #64\n"
        ARMBERT_LANE(2, "v24", "v25") ARMBERT_LANE(3, "v26", "v27")
        "subs %[n], %[n], #1\n"
        "b.eq 2f\n"
        "1:\n" ARMBERT_LOAD_ROWS("q", "16")
        "ld1 {v24.4s-v27.4s}, [%[b]], #64\n"
        ARMBERT_LANE(0, "v24", "v25") ARMBERT_LANE(1, "v26", "v27")
        "ld1 {v24.4s-v27.4s}, [%[b]], #64\n"
        ARMBERT_LANE(2, "v24", "v25") ARMBERT_LANE(3, "v26", "v27")
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "2:\n"
        "cbz %[r], 4f\n"
        "3:\n" ARMBERT_LOAD_ROWS("s", "4")
        "ld1 {v24.4s, v25.4s}, [%[b]], #32\n"
        ARMBERT_LANE(0, "v24", "v25")
        "subs %[r], %[r], #1\n"
        "b.ne 3b\n"
        "4:\n"
        ARMBERT_STORE_ROWS
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),
          [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [b] "+r"(b), [n] "+r"(steps),
          [r] "+r"(rest), [c] "+r"(out)
        : [os] "r"(out_step)
        : ARMBERT_V0_7, ARMBERT_V8_15, ARMBERT_V16_23, "v24", "v25", "v26", "v27", "cc",
          "memory");
    if (nn < kPanel) copy_rows(tmp, c, ldc, nn);
}
#undef ARMBERT_LOAD_ROWS

// tile8 with A packed by pack_tile8 (gemm_f32.h): per two k one four-register
// load of A (v16: rows 0-3 at k, v17: at k + 1, v18, v19: rows 4-7) and one of
// the panel, so 64 FMLA take 4 loads instead of 10. For Q K^T, whose 16 query
// rows meet every key panel: Q is packed once per query block. K % 4 == 0.
#define ARMBERT_PACKED_K(OP, LO, HI, B0, B1)                                                 \
    OP " v0.4s, " B0 ".4s, " LO ".s[0]\n " OP " v1.4s, " B1 ".4s, " LO ".s[0]\n"            \
    OP " v2.4s, " B0 ".4s, " LO ".s[1]\n " OP " v3.4s, " B1 ".4s, " LO ".s[1]\n"            \
    OP " v4.4s, " B0 ".4s, " LO ".s[2]\n " OP " v5.4s, " B1 ".4s, " LO ".s[2]\n"            \
    OP " v6.4s, " B0 ".4s, " LO ".s[3]\n " OP " v7.4s, " B1 ".4s, " LO ".s[3]\n"            \
    OP " v8.4s, " B0 ".4s, " HI ".s[0]\n " OP " v9.4s, " B1 ".4s, " HI ".s[0]\n"            \
    OP " v10.4s, " B0 ".4s, " HI ".s[1]\n " OP " v11.4s, " B1 ".4s, " HI ".s[1]\n"          \
    OP " v12.4s, " B0 ".4s, " HI ".s[2]\n " OP " v13.4s, " B1 ".4s, " HI ".s[2]\n"          \
    OP " v14.4s, " B0 ".4s, " HI ".s[3]\n " OP " v15.4s, " B1 ".4s, " HI ".s[3]\n"
#define ARMBERT_PACKED_TWO_K(OP)                                   \
    "ld1 {v16.4s-v19.4s}, [%[a]], #64\n"                          \
    "ld1 {v24.4s-v27.4s}, [%[b]], #64\n"                          \
    ARMBERT_PACKED_K(OP, "v16", "v18", "v24", "v25")               \
    ARMBERT_PACKED_K("fmla", "v17", "v19", "v26", "v27")

void tile8_packed(const float *a, const float *b, int K, float *c, int ldc, int nn) {
    int64_t steps = K / 4 - 1;
    float tmp[8 * kPanel];
    float *out = nn == kPanel ? c : tmp;
    const int64_t out_step = int64_t(nn == kPanel ? ldc : kPanel) * 4;
    asm volatile(
        ARMBERT_PACKED_TWO_K("fmul") ARMBERT_PACKED_TWO_K("fmla")
        "cbz %[n], 2f\n"
        "1:\n" ARMBERT_PACKED_TWO_K("fmla") ARMBERT_PACKED_TWO_K("fmla")
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "2:\n"
        ARMBERT_STORE_ROWS
        : [a] "+r"(a), [b] "+r"(b), [n] "+r"(steps), [c] "+r"(out)
        : [os] "r"(out_step)
        : ARMBERT_V0_7, ARMBERT_V8_15, "v16", "v17", "v18", "v19", "v24", "v25", "v26", "v27",
          "cc", "memory");
    if (nn < kPanel) copy_rows(tmp, c, ldc, nn);
}
#undef ARMBERT_STORE_ROWS
#undef ARMBERT_PACKED_TWO_K
#undef ARMBERT_PACKED_K
#undef ARMBERT_LANE
#undef ARMBERT_LANE_OP

}  // namespace

void panel_gemm_f32(const float *a, int lda, int M, const float *b, int K, float *c, int ldc,
                    int nn) {
    int m = 0;
    for (; m + 8 <= M; m += 8)
        tile8(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn);
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
    // 16 a step for the maximum and 8 for the exponentials, with a running value
    // per vector: MiniLM's exponential rows 9.9 -> 8.8 M instructions at S=128
    // with the Estrin polynomial (vmath.h).
    float32x4_t m0 = vdupq_n_f32(-3.402823466e38f), m1 = m0, m2 = m0, m3 = m0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const float32x4x4_t v = vld1q_f32_x4(row + i);
        m0 = vmaxq_f32(m0, v.val[0]);
        m1 = vmaxq_f32(m1, v.val[1]);
        m2 = vmaxq_f32(m2, v.val[2]);
        m3 = vmaxq_f32(m3, v.val[3]);
    }
    for (; i + 4 <= n; i += 4) m0 = vmaxq_f32(m0, vld1q_f32(row + i));
    float mx = vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
    for (; i < n; ++i) mx = row[i] > mx ? row[i] : mx;
    const float shift = -(mx * scale);
    const float32x4_t s4 = vdupq_n_f32(scale), sh = vdupq_n_f32(shift);
    float32x4_t sum0 = vdupq_n_f32(0.0f), sum1 = sum0;
    for (i = 0; i + 8 <= n; i += 8) {
        const float32x4x2_t v = vld1q_f32_x2(row + i);
        const float32x4_t e0 = vexp_nonpositive(vfmaq_f32(sh, v.val[0], s4));
        const float32x4_t e1 = vexp_nonpositive(vfmaq_f32(sh, v.val[1], s4));
        vst1q_f32_x2(row + i, float32x4x2_t{{e0, e1}});
        sum0 = vaddq_f32(sum0, e0);
        sum1 = vaddq_f32(sum1, e1);
    }
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = vexp_nonpositive(vfmaq_f32(sh, vld1q_f32(row + i), s4));
        vst1q_f32(row + i, e);
        sum0 = vaddq_f32(sum0, e);
    }
    float sum = vaddvq_f32(vaddq_f32(sum0, sum1));
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
    return Sp * size_t(d) + dp * size_t(S) + size_t(kQueryBlock) * (Sp + size_t(d));
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
    float *qpack = scores + size_t(kQueryBlock) * Sp;                 // packed query rows
    if (mask && zero_mask(mask, S)) mask = nullptr;
    for (int i0 = 0; i0 < S; i0 += kQueryBlock) {
        const int M = std::min(kQueryBlock, S - i0);
        // Q K^T: padding keys' columns (>= S) are never stored. With d % 4 == 0
        // the block's full groups of 8 query rows are packed once (pack_tile8) for
        // tile8_packed: MiniLM fp32's attention 35.4 -> 33.8 M instructions at
        // S = 128 (tools/insncount); the other rows go through panel_gemm_f32.
        const int packed = d % 4 == 0 ? M / 8 * 8 : 0;
        for (int g = 0; g < packed; g += 8)
            pack_tile8(q + size_t(i0 + g) * ldq, ldq, d / 4, qpack + size_t(g) * d);
        for (int p = 0; p < Sp / kPanel; ++p) {
            const float *kpp = kp + size_t(p) * d * kPanel;
            const int nn = std::min(kPanel, S - p * kPanel);
            for (int g = 0; g < packed; g += 8)
                tile8_packed(qpack + size_t(g) * d, kpp, d, scores + size_t(g) * Sp + p * kPanel,
                             Sp, nn);
            if (packed < M)
                panel_gemm_f32(q + size_t(i0 + packed) * ldq, ldq, M - packed, kpp, d,
                               scores + size_t(packed) * Sp + p * kPanel, Sp, nn);
        }
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
