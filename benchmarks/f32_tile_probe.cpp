// Standalone fp32 GEMM tiles, to see what tile shape and K block this core rewards
// outside the library (docs/performance.md, "Weights from memory"). The tile is
// gemm_f32.cpp's, templated on its rows (R), zmm vectors per row (NV) and K block
// (KC); the loop order is gemm_f32_packed's (panels, K blocks, row tiles), weights
// packed [N / (16 NV)][K][16 NV] and in cache. Rows past the last whole tile are left
// out, and out of the flop count. One thread:
//
//     g++ -O3 -ffp-contract=fast -o /tmp/f32_tile_probe benchmarks/f32_tile_probe.cpp
//     taskset -c 1 /tmp/f32_tile_probe
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

template <int R, int NV>
__attribute__((always_inline)) inline void tile(const float *a, size_t lda, const float *b,
                                                int kc, float *c, size_t ldc, bool accumulate) {
    typedef float vec __attribute__((vector_size(64)));
    constexpr int NR = 16 * NV;
    vec s[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            if (accumulate) std::memcpy(&s[r][v], c + size_t(r) * ldc + v * 16, sizeof(vec));
            else s[r][v] = vec{};
        }
    for (int k = 0; k < kc; ++k) {
        vec bv[NV];
        for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + size_t(k) * NR + v * 16, sizeof(vec));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const vec x = a[size_t(r) * lda + k] - vec{};  // broadcast
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) s[r][v] += x * bv[v];
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) std::memcpy(c + size_t(r) * ldc + v * 16, &s[r][v], sizeof(vec));
}

template <int R, int NV, int KC>
__attribute__((noinline, target("avx512f"))) void gemm(const float *x, int M, int K,
                                                       const float *w, int N, float *y) {
    constexpr int NR = 16 * NV;
    for (int blk = 0; blk < N / NR; ++blk) {
        const float *panel = w + size_t(blk) * K * NR;
        for (int k0 = 0; k0 < K; k0 += KC)
            for (int r = 0; r + R <= M; r += R)
                tile<R, NV>(x + size_t(r) * K + k0, K, panel + size_t(k0) * NR,
                            std::min(KC, K - k0), y + size_t(r) * N + blk * NR, N, k0 > 0);
    }
}

template <int R, int NV, int KC> void run(int M, int K, int N) {
    std::vector<float> x(size_t(M) * K, 1.0f), w(size_t(N) * K, 0.5f), y(size_t(M) * N);
    const double flop = 2.0 * (M / R * R) * K * (N / (16 * NV) * 16 * NV);
    const int reps = std::max(1, int(4e8 / flop));
    std::vector<double> t;
    for (int i = 0; i < 15; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        for (int j = 0; j < reps; ++j) gemm<R, NV, KC>(x.data(), M, K, w.data(), N, y.data());
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
    }
    std::sort(t.begin(), t.end());
    std::printf("%2d x %3d tile, K block %3d, M=%d K=%d N=%d: %6.1f GFLOP/s\n", R, 16 * NV, KC,
                M, K, N, flop / t[7] / 1e9);
}

int main() {
    if (!__builtin_cpu_supports("avx512f")) {
        std::puts("no AVX-512F on this CPU");
        return 1;
    }
    std::puts("everything in L1 (one 128 x 64 panel, 126 rows):");
    run<6, 4, 128>(126, 128, 64);
    run<4, 6, 128>(124, 128, 96);
    run<8, 3, 128>(128, 128, 48);
    std::puts("BERT shapes, weights in cache (MiniLM qkv, BERT-base qkv and FFN-out):");
    for (auto [K, N] : {std::pair{384, 1152}, {768, 2304}, {3072, 768}}) {
        run<6, 4, 128>(128, K, N);
        run<6, 4, 64>(128, K, N);
        run<6, 4, 256>(128, K, N);
        run<8, 3, 128>(128, K, N);
        run<12, 2, 256>(128, K, N);
    }
    return 0;
}
