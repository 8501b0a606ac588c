/* This core's FMA peak, the roofline of benchmarks/gemm_vs_onednn.py and gemm_vs_ort.py:
 * 12 independent FMA chains (more than latency x ports on current cores), ymm and zmm,
 * best of several timed loops. Built and run by benchmarks/fma_peak.py. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// 12 chains: more than FMA latency x ports (4 x 2) on current cores, and with m and c
// they fit the 16 ymm registers of AVX2, so nothing spills. Every chain starts from its
// own value and passes through an empty asm each step, so the compiler can neither
// merge chains nor drop one (an earlier version started all chains from one value: gcc
// kept 13 of 16, the figure counted 16 and read 241 GFLOP/s on a core whose peak is
// about 190).
#define CHAINS(V, FMA, SET)                                                              \
    V a0 = SET(1.00f), a1 = SET(1.01f), a2 = SET(1.02f), a3 = SET(1.03f);                \
    V a4 = SET(1.04f), a5 = SET(1.05f), a6 = SET(1.06f), a7 = SET(1.07f);                \
    V a8 = SET(1.08f), a9 = SET(1.09f), a10 = SET(1.10f), a11 = SET(1.11f);              \
    const V m = SET(0.999999f), c = SET(1e-7f);                                           \
    for (long i = 0; i < iters; ++i) {                                                    \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);   \
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);   \
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c);                     \
        a11 = FMA(a11, m, c);                                                             \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5)); \
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11)); \
    }                                                                                     \
    V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                    \
    float out[sizeof(V) / 4];                                                             \
    __builtin_memcpy(out, &s, sizeof s);                                                  \
    return out[0];

__attribute__((target("avx2,fma"))) static float ymm(long iters) {
    CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps)
}
__attribute__((target("avx512f"))) static float zmm(long iters) {
    CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps)
}

int main(void) {
    const long iters = 20000000;
    __builtin_cpu_init();
    float sink = 0;
    for (int w = 0; w < 2; ++w) {
        if (w == 1 && !__builtin_cpu_supports("avx512f")) break;
        double best = 1e30;
        for (int r = 0; r < 7; ++r) {
            double t = now();
            sink += w ? zmm(iters) : ymm(iters);
            t = now() - t;
            if (t < best) best = t;
        }
        int lanes = w ? 16 : 8;
        printf("%s %.1f GFLOP/s\n", w ? "zmm" : "ymm", 12.0 * iters * lanes * 2 / best / 1e9);
    }
    return sink == 12345.0f;
}
