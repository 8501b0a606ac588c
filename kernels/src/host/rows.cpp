// Row kernels per ISA level (isa.h RowKernels): softmax, layernorm, the
// GELU/tanh activation and the int8 epilogue. One scalar body each, compiled
// three times: for the portable baseline (SSE2 on x86_64, what the rest of the
// library gets), for AVX2 (ymm) and for AVX-512 (zmm; GCC's default tuning would
// stop at 256-bit vectors, hence prefer-vector-width=512). The library keeps
// -ffp-contract=off (build.py), so no level fuses a multiply and an add: every
// operation is one correctly rounded IEEE operation in the same order on every
// level, and the levels give the same bits (tests/kernels/test_isa.py compares
// them). The sums keep their fixed order (common/vecmath.h fixed_order_sum).
// Measured (GELU over one MiniLM ffn_in output, 128 x 1536, this file's body):
// 0.73 ms portable, 0.36 ms avx2, 0.19 ms avx512 on the Xeon of docs/performance.md.
#include <cmath>

#include "isa.h"
#include "ops.h"

namespace armbert::host {

namespace {

#define ARMBERT_INLINE __attribute__((always_inline)) inline

// nrows rows (ld floats apart) of n scores, pass by pass over all the rows: each
// row is one chain of dependent steps (its max, then its exps, its sum, the
// division), and the rows side by side in each pass are independent chains the
// core overlaps, where row after row it waited on each (the attention's blocks of
// query rows: 34 % -> 27 % of the fused attention's time, `perf`). Every row
// gets the same operations in the same order as alone: the same bits.
ARMBERT_INLINE void softmax_body(float *rows, int nrows, size_t ld, int n, float scale,
                                 const float *mask) {
    constexpr int kGroup = 16;
    for (int r0 = 0; r0 < nrows; r0 += kGroup) {
        const int g = nrows - r0 < kGroup ? nrows - r0 : kGroup;
        float *base = rows + size_t(r0) * ld;
        float mx[kGroup], inv[kGroup];
        for (int r = 0; r < g; ++r) {  // max is exact in any order (omp simd)
            float *row = base + size_t(r) * ld, m = -3.402823466e38f;
            if (mask) {
#pragma omp simd reduction(max : m)
                for (int i = 0; i < n; ++i) {
                    float v = row[i] * scale + mask[i];
                    row[i] = v;
                    m = v > m ? v : m;
                }
            } else {  // a loop apart: with `mask ? mask[i] : 0` gcc left this one scalar
#pragma omp simd reduction(max : m)
                for (int i = 0; i < n; ++i) {
                    float v = row[i] * scale + 0.0f;  // + 0 as with a mask of zeros: -0 -> 0
                    row[i] = v;
                    m = v > m ? v : m;
                }
            }
            mx[r] = m;
        }
        for (int r = 0; r < g; ++r) {
            float *row = base + size_t(r) * ld;
            const float m = mx[r];
            for (int i = 0; i < n; ++i) row[i] = fast_exp(row[i] - m);
        }
        for (int r = 0; r < g; ++r) {  // the sum's order is fixed
            const float *row = base + size_t(r) * ld;
            inv[r] = 1.0f / fixed_order_sum(n, [row](int i) { return row[i]; });
        }
        for (int r = 0; r < g; ++r) {
            float *row = base + size_t(r) * ld;
            const float v = inv[r];
            for (int i = 0; i < n; ++i) row[i] *= v;
        }
    }
}

// Two passes for accuracy: the mean first, then the centred variance.
ARMBERT_INLINE void layernorm_body(float *row, int n, const float *gamma, const float *beta,
                                   float eps) {
    const float mean = fixed_order_sum(n, [row](int i) { return row[i]; }) / float(n);
    const float var =
        fixed_order_sum(n, [row, mean](int i) { return (row[i] - mean) * (row[i] - mean); });
    const float rstd = 1.0f / std::sqrt(var / float(n) + eps);
    for (int i = 0; i < n; ++i) row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
}

ARMBERT_INLINE void activate_body(float *y, int n, armbert_activation act) {
    if (act == ARMBERT_ACTIVATION_GELU)
        for (int i = 0; i < n; ++i) y[i] = gelu(y[i]);
    else if (act == ARMBERT_ACTIVATION_TANH)
        for (int i = 0; i < n; ++i) y[i] = fast_tanh(y[i]);
}

// y = q * (row_scale * col_scale) [+ extra] [+ bias], specialized on what it adds
// so that each variant is a loop without conditions; common/int8.h dequant_one's
// order. The activation is a second pass (fused into this loop, gcc 12's x86
// vectorizer gave up: "no vectype" for the col_scale load).
template <bool kExtra, bool kBias>
ARMBERT_INLINE void dequant_pass(const int32_t *q, int n, float row_scale,
                                 const float *col_scale, const float *extra, const float *bias,
                                 float *y) {
    for (int c = 0; c < n; ++c) {
        float v = float(q[c]) * (row_scale * col_scale[c]);
        if (kExtra) v = v + extra[c];
        if (kBias) v = v + bias[c];
        y[c] = v;
    }
}

ARMBERT_INLINE void dequant_row(const int32_t *q, int n, float row_scale,
                                const float *col_scale, const float *extra, const float *bias,
                                armbert_activation act, float *y) {
    // One pass for the extra part and the bias: a pass each cost 51.0 M instructions
    // for NEON int8 MiniLM S=128, 24.6 M as one (tools/insncount).
    if (extra && bias) dequant_pass<true, true>(q, n, row_scale, col_scale, extra, bias, y);
    else if (extra) dequant_pass<true, false>(q, n, row_scale, col_scale, extra, bias, y);
    else if (bias) dequant_pass<false, true>(q, n, row_scale, col_scale, extra, bias, y);
    else dequant_pass<false, false>(q, n, row_scale, col_scale, extra, bias, y);
    activate_body(y, n, act);
}

ARMBERT_INLINE void bias_act_body(float *y, size_t ldy, int rows, int n, const float *bias,
                                  armbert_activation act) {
    for (int r = 0; r < rows; ++r) {
        float *row = y + size_t(r) * ldy;
        if (bias)
            for (int c = 0; c < n; ++c) row[c] += bias[c];
        activate_body(row, n, act);
    }
}

ARMBERT_INLINE void dequant_body(int32_t *q, size_t ldq, int rows, int n,
                                 const int32_t *col_offset, const float *row_scale,
                                 const float *col_scale, const float *extra, const float *bias,
                                 armbert_activation act, float *y, size_t ldy) {
    for (int r = 0; r < rows; ++r) {
        int32_t *qr = q + size_t(r) * ldq;
        if (col_offset)
            for (int c = 0; c < n; ++c) qr[c] -= col_offset[c];
        dequant_row(qr, n, row_scale[r], col_scale, extra ? extra + size_t(r) * ldy : nullptr,
                    bias, act, y + size_t(r) * ldy);
    }
}

}  // namespace

// The kernels of one level: NAME_<suffix> functions with the level's target.
#define ARMBERT_ROW_KERNELS(SUFFIX, TARGET)                                                    \
    TARGET void softmax_rows_##SUFFIX(float *rows, int nrows, size_t ld, int n, float scale,   \
                                      const float *mask) {                                     \
        softmax_body(rows, nrows, ld, n, scale, mask);                                         \
    }                                                                                          \
    TARGET void layernorm_row_##SUFFIX(float *row, int n, const float *gamma,                  \
                                       const float *beta, float eps) {                         \
        layernorm_body(row, n, gamma, beta, eps);                                              \
    }                                                                                          \
    TARGET void activate_##SUFFIX(float *y, int n, armbert_activation act) {                   \
        activate_body(y, n, act);                                                              \
    }                                                                                          \
    TARGET void bias_act_rows_##SUFFIX(float *y, size_t ldy, int rows, int n,                 \
                                       const float *bias, armbert_activation act) {            \
        bias_act_body(y, ldy, rows, n, bias, act);                                             \
    }
// The int8 epilogue, apart: the avx2 and avx512 levels' is dequant_x86.cpp, in one
// pass, with this body (as dequant_rows_avx2_scalar / _avx512_scalar) for its edges.
#define ARMBERT_DEQUANT_ROWS(NAME, TARGET)                                                     \
    TARGET void NAME(int32_t *q, size_t ldq, int rows, int n, const int32_t *col_offset,       \
                     const float *row_scale, const float *col_scale, const float *extra,       \
                     const float *bias, armbert_activation act, float *y, size_t ldy) {        \
        dequant_body(q, ldq, rows, n, col_offset, row_scale, col_scale, extra, bias, act, y,   \
                     ldy);                                                                     \
    }

ARMBERT_ROW_KERNELS(portable, )
ARMBERT_DEQUANT_ROWS(dequant_rows_portable, )
#if defined(__x86_64__)
ARMBERT_ROW_KERNELS(avx2, __attribute__((target("avx2,fma"))))
ARMBERT_DEQUANT_ROWS(dequant_rows_avx2_scalar, __attribute__((target("avx2,fma"))))
ARMBERT_ROW_KERNELS(avx512, __attribute__((target("avx512f,prefer-vector-width=512"))))
ARMBERT_DEQUANT_ROWS(dequant_rows_avx512_scalar,
                     __attribute__((target("avx512f,prefer-vector-width=512"))))
#endif

}  // namespace armbert::host
