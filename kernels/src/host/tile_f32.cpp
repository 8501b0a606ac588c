// FP32 tiles, one per ISA level (isa.h):
//   c[r][0..cols) = sum_{k < K} a[r * lda + k] * bt[k * ldb + 0..cols)   (r < rows)
// The fused attention (attention.cpp) runs Q K^T with a = the query rows and
// bt = K^T, and P V with a = the scores and bt = V. (The fp32 linear has its own
// packed-weight kernels: gemm_f32.cpp.) One template over GCC/Clang vector extensions, instantiated per level
// with the level's target: the compiler maps a vector of W floats to its registers
// (W = 16: one zmm; W = 8: one ymm, two xmm or two NEON q registers). This file is
// built with -ffp-contract=fast (build.py), so acc += x * b is one FMA where the
// target has it. Each output is one chain over k in order, so the levels differ
// only by FMA rounding.
#include <cstring>

#include "gemm.h"

namespace armbert::host {

namespace {

// R rows x 2 vectors of W floats: 2R accumulators (12 of AVX2's 16 registers at
// R = 6, W = 8; 16 of AVX-512's 32 at R = 8, W = 16). At R = 4 AVX2's 8 chains of FMAs
// were as many as its two FMA units of latency 4 need, with nothing to spare: one BERT-base
// attention call (S = 128, one thread, ARMBERT_ISA=avx2) took 1.20-1.29 ms, 1.155 at
// R = 6 (S = 512: 21.2 -> 20.0 ms; S = 32 the same).
template <int R, int W>
__attribute__((always_inline)) inline void tile(const float *a, int lda, const float *bt,
                                                int ldb, int K, float *c, int ldc) {
    typedef float vec __attribute__((vector_size(W * sizeof(float))));
    vec acc[R][2] = {};
    for (int k = 0; k < K; ++k) {
        vec b0, b1;
        std::memcpy(&b0, bt + size_t(k) * ldb, sizeof b0);
        std::memcpy(&b1, bt + size_t(k) * ldb + W, sizeof b1);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const vec x = a[size_t(r) * lda + k] - vec{};  // broadcast
            acc[r][0] += x * b0;
            acc[r][1] += x * b1;
        }
    }
#pragma GCC unroll 16  // unrolled, the accumulators go to c from their registers
    for (int r = 0; r < R; ++r) {
        std::memcpy(c + size_t(r) * ldc, &acc[r][0], sizeof acc[r][0]);
        std::memcpy(c + size_t(r) * ldc + W, &acc[r][1], sizeof acc[r][1]);
    }
}

}  // namespace

void tile_f32_scalar(const float *a, int lda, const float *bt, int ldb, int K, float *c,
                     int ldc) {
#if defined(__x86_64__) && !defined(__AVX__)
    // SSE2 (a portable build: the wheel): 8-float vectors are two xmm each, and the
    // 4x16 tile's 8 accumulators and 2 loads then need 20 of the 16 xmm registers;
    // the spills made MiniLM's attention 15x slower than the same tile with AVX
    // (17.5 vs 1.2 ms per call at S=128). Two 4x8 halves in 11 xmm each, the same
    // chains over k, so the same bits.
    tile<4, 4>(a, lda, bt, ldb, K, c, ldc);
    tile<4, 4>(a, lda, bt + 8, ldb, K, c + 8, ldc);
#else
    tile<4, 8>(a, lda, bt, ldb, K, c, ldc);
#endif
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void tile_f32_avx2(const float *a, int lda,
                                                       const float *bt, int ldb, int K,
                                                       float *c, int ldc) {
    tile<6, 8>(a, lda, bt, ldb, K, c, ldc);
}

__attribute__((target("avx512f"))) void tile_f32_avx512(const float *a, int lda,
                                                        const float *bt, int ldb, int K,
                                                        float *c, int ldc) {
    tile<8, 16>(a, lda, bt, ldb, K, c, ldc);
}
#endif

}  // namespace armbert::host
