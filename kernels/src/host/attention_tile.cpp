// FP32 tiles of the fused attention (attention.cpp), one per ISA level (isa.h):
//   c[r][0..cols) = sum_{k < K} a[r * lda + k] * bt[k * ldb + 0..cols)   (r < rows)
// Q K^T is this with a = the query rows and bt = K^T; P V with a = the scores and
// bt = V. Each output is one chain over k in order, so the levels differ only
// by FMA rounding (fused on avx2/avx512, a multiply then an add on scalar).
#include <cstring>

#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace armbert::host {

// Portable: vector extensions of 8 floats (one ymm, two xmm or two NEON q
// registers), 4 rows x 16 columns, 8 accumulators.
void tile_f32_scalar(const float *a, int lda, const float *bt, int ldb, int K, float *c,
                     int ldc) {
    typedef float v8f __attribute__((vector_size(32)));
    v8f acc[4][2] = {};
    for (int k = 0; k < K; ++k) {
        v8f b0, b1;
        std::memcpy(&b0, bt + size_t(k) * ldb, sizeof b0);
        std::memcpy(&b1, bt + size_t(k) * ldb + 8, sizeof b1);
        for (int r = 0; r < 4; ++r) {
            const float x = a[size_t(r) * lda + k];
            const v8f xv = {x, x, x, x, x, x, x, x};
            acc[r][0] += xv * b0;
            acc[r][1] += xv * b1;
        }
    }
    for (int r = 0; r < 4; ++r) {
        std::memcpy(c + size_t(r) * ldc, &acc[r][0], sizeof acc[r][0]);
        std::memcpy(c + size_t(r) * ldc + 8, &acc[r][1], sizeof acc[r][1]);
    }
}

#if defined(__x86_64__)
// AVX2 + FMA: 4 rows x 16 columns, 8 ymm accumulators (of 16 registers).
__attribute__((target("avx2,fma"))) void tile_f32_avx2(const float *a, int lda,
                                                       const float *bt, int ldb, int K,
                                                       float *c, int ldc) {
    __m256 acc[4][2];
    for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; ++k) {
        const __m256 b0 = _mm256_loadu_ps(bt + size_t(k) * ldb);
        const __m256 b1 = _mm256_loadu_ps(bt + size_t(k) * ldb + 8);
        for (int r = 0; r < 4; ++r) {
            const __m256 x = _mm256_broadcast_ss(a + size_t(r) * lda + k);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < 4; ++r) {
        _mm256_storeu_ps(c + size_t(r) * ldc, acc[r][0]);
        _mm256_storeu_ps(c + size_t(r) * ldc + 8, acc[r][1]);
    }
}

// AVX-512: 8 rows x 32 columns, 16 zmm accumulators (of 32 registers).
__attribute__((target("avx512f"))) void tile_f32_avx512(const float *a, int lda,
                                                        const float *bt, int ldb, int K,
                                                        float *c, int ldc) {
    __m512 acc[8][2];
    for (int r = 0; r < 8; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; ++k) {
        const __m512 b0 = _mm512_loadu_ps(bt + size_t(k) * ldb);
        const __m512 b1 = _mm512_loadu_ps(bt + size_t(k) * ldb + 16);
        for (int r = 0; r < 8; ++r) {
            const __m512 x = _mm512_set1_ps(a[size_t(r) * lda + k]);
            acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < 8; ++r) {
        _mm512_storeu_ps(c + size_t(r) * ldc, acc[r][0]);
        _mm512_storeu_ps(c + size_t(r) * ldc + 16, acc[r][1]);
    }
}
#endif

}  // namespace armbert::host
