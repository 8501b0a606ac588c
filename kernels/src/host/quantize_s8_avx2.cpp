// Activation quantization for the int8 linear, AVX2 (every x86 level above
// scalar): the same arithmetic as quantize_rows_u8 (gemm_s8.cpp), lane by lane,
// so the bytes are identical: amax with the same NaN rule (std::max keeps the
// running value when x is NaN; vmaxps(x, amax) returns its second operand),
// vroundps to nearest even (nearbyint in the default rounding mode), the same
// clamps, then +128 and packing to u8 (or, for the AVX2 GEMM's int16 operand, q
// packed to int16 with no offset).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "gemm.h"

namespace armbert::host {
namespace {

// 8 values to u8 codes (+128, still as int32 lanes). A function of its own, not a
// lambda: a lambda does not inherit the target attribute of the function it is in, so
// a build without -march=native (ARMBERT_PORTABLE=1, every wheel) could not inline
// the AVX intrinsics into it.
__attribute__((target("avx2,fma"))) inline __m256i q8(const float *p, __m256 inv8, __m256 lo,
                                                      __m256 hi, __m256i offset) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(p), inv8),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
    return _mm256_add_epi32(_mm256_cvtps_epi32(q), offset);
}

// Rows of codes: uint8 q + 128 (ActS8::kU8Offset) or int16 q (kS16, kS16 = true).
template <bool kS16>
__attribute__((target("avx2,fma"))) void quantize_rows(const float *x, int M, int K, int Kp,
                                                       float scale, const float *inv_smooth,
                                                       void *codes, float *row_scale,
                                                       float *tmp) {
    using Code = std::conditional_t<kS16, int16_t, uint8_t>;
    const __m256 sign = _mm256_set1_ps(-0.0f), lo = _mm256_set1_ps(-127.0f),
                 hi = _mm256_set1_ps(127.0f);
    const __m256i offset = _mm256_set1_epi32(kS16 ? 0 : 128),
                  order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int m = 0; m < M; ++m) {
        const float *xr = smoothed_row(x, m, K, inv_smooth, tmp);
        float s = scale;
        if (!(s > 0)) {
            // Four running maxima: one chain waited on vmaxps's latency for every 8
            // values (K = 3072: 1,536 cycles a row). Max is order-free, so the same bits.
            __m256 m0 = _mm256_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
            int k = 0;
            for (; k + 32 <= K; k += 32) {
                m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xr + k)), m0);
                m1 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xr + k + 8)), m1);
                m2 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xr + k + 16)), m2);
                m3 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xr + k + 24)), m3);
            }
            for (; k + 8 <= K; k += 8)
                m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xr + k)), m0);
            const __m256 amax8 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
            alignas(32) float lanes[8];
            _mm256_store_ps(lanes, amax8);
            float amax = 0;  // max is exact and order-free on non-NaN values
            for (float v : lanes) amax = std::max(amax, v);
            for (; k < K; ++k) amax = std::max(amax, std::fabs(xr[k]));
            s = scale_from_absmax(amax);
        }
        const float inv = 1.0f / s;
        const __m256 inv8 = _mm256_set1_ps(inv);
        Code *o = static_cast<Code *>(codes) + size_t(m) * Kp;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            // packs works per 128-bit lane: a = [v0-3 v8-11 | v4-7 v12-15] as int16.
            __m256i a = _mm256_packs_epi32(q8(xr + k, inv8, lo, hi, offset),
                                           q8(xr + k + 8, inv8, lo, hi, offset));
            __m256i b = _mm256_packs_epi32(q8(xr + k + 16, inv8, lo, hi, offset),
                                           q8(xr + k + 24, inv8, lo, hi, offset));
            if constexpr (kS16) {
                _mm256_storeu_si256((__m256i *)(o + k), _mm256_permute4x64_epi64(a, 0xD8));
                _mm256_storeu_si256((__m256i *)(o + k + 16), _mm256_permute4x64_epi64(b, 0xD8));
            } else {
                __m256i u = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), order);
                _mm256_storeu_si256((__m256i *)(o + k), u);
            }
        }
        for (; k < K; ++k) o[k] = Code(int(quantize_u8(xr[k], inv)) - (kS16 ? 128 : 0));
        for (int k2 = K; k2 < Kp; ++k2) o[k2] = kS16 ? 0 : 128;
        row_scale[m] = s;
    }
}

}  // namespace

void quantize_rows_u8_avx2(const float *x, int M, int K, int Kp, float scale,
                           const float *inv_smooth, void *out, float *row_scale, float *tmp) {
    quantize_rows<false>(x, M, K, Kp, scale, inv_smooth, out, row_scale, tmp);
}

void quantize_rows_s16_avx2(const float *x, int M, int K, int Kp, float scale,
                            const float *inv_smooth, void *out, float *row_scale, float *tmp) {
    quantize_rows<true>(x, M, K, Kp, scale, inv_smooth, out, row_scale, tmp);
}

}  // namespace armbert::host
#endif
