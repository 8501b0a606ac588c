// The AVX2 level's int8 epilogue (gemm.h DequantRowsFn) in one pass: per 8 outputs
// the u8 offset correction, the dequantization, the extra part, the bias and the GELU
// or tanh, in registers, then one store. The other levels run rows.cpp's scalar body
// (vectorized by the compiler), which makes a pass for the offset, one for the rest
// and one for the activation: gcc 12 does not vectorize the three fused. The
// operations and their order are that body's (common/int8.h dequant_one, common/
// vecmath.h gelu; no FMA, the library's -ffp-contract=off), so the bits are the same:
// tests/kernels/test_isa.py compares every level.
#if defined(__x86_64__)
#include <immintrin.h>

#include "gemm.h"
#include "isa.h"

namespace armbert::host {

namespace {

#define ARMBERT_AVX2 __attribute__((target("avx2")))

// common/vecmath.h gelu on 8 lanes: _mm256_min_ps(a, b) is a < b ? a : b, the
// scalar's clamps, NaN included.
ARMBERT_AVX2 inline __m256 gelu8(__m256 x) {
    using common::GeluErf;
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 c = _mm256_min_ps(a, _mm256_set1_ps(GeluErf::kClamp));
    const __m256 u = _mm256_mul_ps(c, c);
    __m256 p = _mm256_set1_ps(GeluErf::kP[5]);
    #pragma GCC unroll 5
    for (int i = 4; i >= 0; --i)
        p = _mm256_add_ps(_mm256_mul_ps(p, u), _mm256_set1_ps(GeluErf::kP[i]));
    __m256 q = _mm256_set1_ps(GeluErf::kQ[4]);
    #pragma GCC unroll 4
    for (int i = 3; i >= 0; --i)
        q = _mm256_add_ps(_mm256_mul_ps(q, u), _mm256_set1_ps(GeluErf::kQ[i]));
    q = _mm256_add_ps(_mm256_mul_ps(q, u), _mm256_set1_ps(1.0f));
    __m256 e = _mm256_div_ps(_mm256_mul_ps(c, p), q);
    e = _mm256_min_ps(e, _mm256_set1_ps(1.0f));
    return _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_add_ps(x, _mm256_mul_ps(a, e)));
}

// One row, n a multiple of 8 here; kOffset/kExtra/kBias/kGelu make each variant a loop
// without conditions.
template <bool kOffset, bool kExtra, bool kBias, bool kGelu>
ARMBERT_AVX2 void row8(const int32_t *q, int n, const int32_t *col_offset, float row_scale,
                       const float *col_scale, const float *extra, const float *bias,
                       float *y) {
    const __m256 rs = _mm256_set1_ps(row_scale);
    for (int c = 0; c < n; c += 8) {
        __m256i qi = _mm256_loadu_si256((const __m256i *)(q + c));
        if (kOffset)
            qi = _mm256_sub_epi32(qi, _mm256_loadu_si256((const __m256i *)(col_offset + c)));
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(qi),
                                 _mm256_mul_ps(rs, _mm256_loadu_ps(col_scale + c)));
        if (kExtra) v = _mm256_add_ps(v, _mm256_loadu_ps(extra + c));
        if (kBias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
        if (kGelu) v = gelu8(v);
        _mm256_storeu_ps(y + c, v);
    }
}

using Row8Fn = void (*)(const int32_t *, int, const int32_t *, float, const float *,
                        const float *, const float *, float *);

template <bool kOffset, bool kExtra, bool kBias>
constexpr Row8Fn pick(bool gelu) {
    return gelu ? row8<kOffset, kExtra, kBias, true> : row8<kOffset, kExtra, kBias, false>;
}

}  // namespace

void dequant_rows_avx2(int32_t *q, size_t ldq, int rows, int n, const int32_t *col_offset,
                       const float *row_scale, const float *col_scale, const float *extra,
                       const float *bias, armbert_activation act, float *y, size_t ldy) {
    // Edges (n not a multiple of 8: a layer's last 32 channels) and tanh take the
    // scalar body; every tile of a BERT linear but the last has n = 32.
    if (n % 8 || act == ARMBERT_ACTIVATION_TANH) {
        dequant_rows_avx2_scalar(q, ldq, rows, n, col_offset, row_scale, col_scale, extra,
                                 bias, act, y, ldy);
        return;
    }
    const bool gelu = act == ARMBERT_ACTIVATION_GELU;
    Row8Fn f;
    if (col_offset) {
        f = extra ? (bias ? pick<true, true, true>(gelu) : pick<true, true, false>(gelu))
                  : (bias ? pick<true, false, true>(gelu) : pick<true, false, false>(gelu));
    } else {
        f = extra ? (bias ? pick<false, true, true>(gelu) : pick<false, true, false>(gelu))
                  : (bias ? pick<false, false, true>(gelu) : pick<false, false, false>(gelu));
    }
    for (int r = 0; r < rows; ++r)
        f(q + size_t(r) * ldq, n, col_offset, row_scale[r], col_scale,
          extra ? extra + size_t(r) * ldy : nullptr, bias, y + size_t(r) * ldy);
}

}  // namespace armbert::host
#endif
