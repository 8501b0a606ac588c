// FP32 GEMM over weights packed once (gemm.h PackedF32), one micro-kernel per ISA
// level (isa.h GemmF32Kernel), for the host's fp32 linear at the AVX2 and AVX-512
// levels; the scalar level keeps OpenBLAS.
//
// Why: OpenBLAS packs both operands on every call. For MiniLM's B=1 linears that
// is the whole weight matrix once per inference (sgemm_incopy was 14 % of an fp32
// run, `perf`), and at S=32 the per-call work dominates. MLAS (ONNX Runtime) packs
// its weights at load time; so does this.
//
// The tile: R rows x NV vectors of C in registers (AVX-512: 6 x 4 zmm = a whole
// 64-column panel; AVX2: 3 x 4 ymm, half a panel per call), one broadcast of A and
// NV vector loads of the panel per k. The driver walks chunks of rows
// (kGemmF32ChunkRows: the chunk's rows of A stay in L2 while every panel passes),
// then 64-column panels, then K blocks (k_block_for: from the L1 size), then row
// tiles. Shapes and blocks were chosen side by side with OpenBLAS 0.3.21 (SkylakeX kernels) on the Xeon of docs/performance.md, one
// core, weights rotated over six copies, medians of 40 interleaved rounds: 12 x 32
// with K blocks of 256 was 1.03-1.05x OpenBLAS's time at M=128 and 1.13 at M=512;
// 6 x 64 with blocks of 128 is 0.88-0.91 at M=128, 1.03-1.07 at M=512 and 0.59
// at M=32. Built with -ffp-contract=fast (build.py): each output is one FMA chain
// over k in order, so the AVX2 and AVX-512 levels give the same bits.
#include <algorithm>
#include <cstring>

#include "../core/cpu_features.h"
#include "gemm.h"

namespace armbert::host {

namespace {

// K slabs when a chunk's A passes kAChunkBytes (gemm_f32_packed). Chosen on the Xeon of
// docs/performance.md, one core, p10 of 40-60 alternated pairs: K = 3072, N = 768 took
// 0.89-0.90x the time at M = 128 and 0.88x at M = 512 with slabs of 256, 512 or 1024;
// K = 1536 at M = 128 (A 768 KiB) was 1.01x with them, so it keeps one pass.
constexpr int kKOuter = 512;
constexpr size_t kAChunkBytes = size_t(1) << 20;

// K block: the panel slab (kc x 64 floats) that a chunk's row tiles pass over in turn.
// With 48 KiB of L1 or more (the Xeon of docs/performance.md), blocks of 128 keep the
// 32 KiB slab in L1 beside A's rows and C: chosen there. With 32 KiB (Zen 4, and
// Intel cores before Ice Lake) that slab is the whole L1 and cannot stay; the blocks
// only reload C. On a Zen 4 core BERT-base fp32 S=128 ran 218-220 ms with blocks of
// 128 against 207-211 with 256, 384, 512 or 768 (the rows stream from its L2), and
// MiniLM 29.4-29.7 against 28.5-29.5: blocks of kKOuter there.
int k_block_for(int l1d_bytes) { return l1d_bytes >= 48 * 1024 ? 128 : kKOuter; }

// R rows x NV vectors of W floats; b has rows of kNrF32 floats.
template <int R, int W, int NV>
__attribute__((always_inline)) inline void tile(const float *a, size_t lda, const float *b,
                                                int kc, float *c, size_t ldc, bool accumulate,
                                                const float *bias, Prefetch pf) {
    typedef float vec __attribute__((vector_size(W * sizeof(float))));
    vec s[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            if (accumulate) std::memcpy(&s[r][v], c + size_t(r) * ldc + v * W, sizeof(vec));
            else if (bias) std::memcpy(&s[r][v], bias + v * W, sizeof(vec));
            else s[r][v] = vec{};
        }
    for (int k = 0; k < kc; ++k) {
        pf.at(k);
        vec bv[NV];
        // The pragma matters: left as a loop, gcc's generic tuning (a portable build)
        // kept bv on the stack in the AVX2 tile and copied the panel there each k, 5.1
        // instructions per ymm FMA instead of 2.2 (docs/performance.md).
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + size_t(k) * kNrF32 + v * W, sizeof(vec));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const vec x = a[size_t(r) * lda + k] - vec{};  // broadcast
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) s[r][v] += x * bv[v];
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) std::memcpy(c + size_t(r) * ldc + v * W, &s[r][v], sizeof(vec));
}

// tile<R> for a runtime row count in [1, MaxR]. Not gemm.h's for_rows: a lambda
// does not inherit its caller's target attribute, and gcc kept the AVX-512 one out
// of line, so in a portable build (no -march=native: the wheel) the "avx512" tile
// ran as SSE2 code. always_inline all the way down compiles every tile in the
// target function that calls this (tests/test_packaging.py checks the wheel's code).
template <int MaxR, int W, int NV>
__attribute__((always_inline)) inline void tile_rows(int rows, const float *a, size_t lda,
                                                     const float *b, int kc, float *c,
                                                     size_t ldc, bool accumulate,
                                                     const float *bias, Prefetch pf) {
    if constexpr (MaxR > 1) {
        if (rows != MaxR)
            return tile_rows<MaxR - 1, W, NV>(rows, a, lda, b, kc, c, ldc, accumulate, bias,
                                              pf);
    }
    tile<MaxR, W, NV>(a, lda, b, kc, c, ldc, accumulate, bias, pf);
}

}  // namespace

int gemm_f32_k_block() {
    static const int kc = k_block_for(l1d_cache_bytes());
    return kc;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void tile_f32p_avx2(const float *a, size_t lda,
                                                        const float *b, int kc, int rows,
                                                        float *c, size_t ldc, bool accumulate,
                                                        const float *bias, Prefetch pf) {
    for (int half = 0; half < 2; ++half)  // 32 of the panel's 64 columns per call
        tile_rows<3, 8, 4>(rows, a, lda, b + 32 * half, kc, c + 32 * half, ldc, accumulate,
                           bias ? bias + 32 * half : nullptr, half ? Prefetch{} : pf);
}

__attribute__((target("avx512f"))) void tile_f32p_avx512(const float *a, size_t lda,
                                                         const float *b, int kc, int rows,
                                                         float *c, size_t ldc,
                                                         bool accumulate, const float *bias,
                                                         Prefetch pf) {
    tile_rows<6, 16, 4>(rows, a, lda, b, kc, c, ldc, accumulate, bias, pf);
}
#endif

PackedF32 pack_f32(const float *w, const float *bias, int N, int K) {
    PackedF32 p;
    p.N = N;
    p.K = K;
    const int blocks = (N + kNrF32 - 1) / kNrF32;
    p.data.assign(size_t(blocks) * K * kNrF32, 0.0f);
    for (int n = 0; n < N; ++n) {
        float *dst = p.data.data() + size_t(n / kNrF32) * K * kNrF32 + n % kNrF32;
        for (int k = 0; k < K; ++k) dst[size_t(k) * kNrF32] = w[size_t(n) * K + k];
    }
    if (bias) {
        p.bias.assign(size_t(blocks) * kNrF32, 0.0f);
        std::copy(bias, bias + N, p.bias.begin());
    }
    return p;
}

void gemm_f32_packed(const GemmF32Kernel &kernel, const PackedF32 &w, const float *x, int M,
                     int block_begin, int block_end, float *y, int ldy, float *scratch,
                     armbert_activation act, BiasActRowsFn act_rows) {
    const int K = w.K, R = kernel.rows, kKc = gemm_f32_k_block();
    for (int m0 = 0; m0 < M; m0 += kGemmF32ChunkRows) {
        const int mc = std::min(kGemmF32ChunkRows, M - m0);
        // Every panel passes over the chunk's rows of A. When they outgrow L2 beside
        // the panels streaming through (BERT-base's FFN-out: 128 x 3072 floats, 1.5
        // MiB), K goes outermost in slabs of kKOuter, whose A stays in L2 while every
        // panel passes, and C is accumulated slab by slab.
        const int ko = size_t(mc) * size_t(K) * sizeof(float) > kAChunkBytes ? kKOuter : K;
        const int tiles = (mc + R - 1) / R;
        for (int k1 = 0; k1 < K; k1 += ko) {
            const int k1end = std::min(K, k1 + ko);
            for (int blk = block_begin; blk < block_end; ++blk) {
                const float *panel = w.data.data() + size_t(blk) * K * kNrF32;
                const int n0 = blk * kNrF32, nv = std::min(kNrF32, w.N - n0);
                // A partial last panel is computed into scratch (mc x kNrF32), copied out.
                float *c = nv == kNrF32 ? y + size_t(m0) * ldy + n0 : scratch;
                const size_t ldc = nv == kNrF32 ? size_t(ldy) : size_t(kNrF32);
                const float *bias = w.bias.empty() ? nullptr : w.bias.data() + n0;
                for (int k0 = k1; k0 < k1end; k0 += kKc) {
                    const int kc = std::min(kKc, k1end - k0);
                    // The slab after this one in the loops' order: the next K block,
                    // the next panel's, or the next K slab's first panel.
                    int nb = blk, nk = k0 + kc;
                    if (nk >= k1end) nk = k1, ++nb;
                    if (nb >= block_end) nb = block_begin, nk = k1end;
                    const float *next = nk < K ? w.data.data() + (size_t(nb) * K + nk) * kNrF32
                                               : nullptr;
                    const size_t next_bytes =
                        next ? sizeof(float) * kNrF32 * size_t(std::min(kKc, K - nk)) : 0;
                    for (int r = 0, i = 0; r < mc; r += R, ++i) {
                        kernel.tile(x + size_t(m0 + r) * K + k0, size_t(K),
                                    panel + size_t(k0) * kNrF32, kc, std::min(R, mc - r),
                                    c + size_t(r) * ldc, ldc, k0 > 0, bias,
                                    prefetch_spread(next, next_bytes, i, tiles, kc));
                    }
                }
                if (k1end < K) continue;
                // The panel's chunk is done: its activation now, while it is in L2 (a pass
                // over the whole output after the GEMM read BERT-base's FFN-in output, 1.5
                // MiB, back from L3 on a core with 1 MiB of L2).
                if (act != ARMBERT_ACTIVATION_NONE) act_rows(c, ldc, mc, nv, nullptr, act);
                if (nv < kNrF32)
                    for (int r = 0; r < mc; ++r)
                        std::memcpy(y + size_t(m0 + r) * ldy + n0, scratch + size_t(r) * kNrF32,
                                    sizeof(float) * size_t(nv));
            }
        }
    }
}

}  // namespace armbert::host
