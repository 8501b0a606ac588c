/* This core's FMA peak, the roofline of benchmarks/gemm_vs_onednn.py and gemm_vs_ort.py:
 * 16 independent FMA chains (more than latency x ports on current cores), ymm and zmm,
 * best of several timed loops. Built and run by benchmarks/fma_peak.py. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHAINS(V, FMA, SET)                                                              \
    V a0 = SET(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;     \
    V a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;      \
    const V m = SET(0.999999f), c = SET(1e-7f);                                           \
    for (long i = 0; i < iters; ++i) {                                                    \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);   \
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);   \
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c);                     \
        a11 = FMA(a11, m, c); a12 = FMA(a12, m, c); a13 = FMA(a13, m, c);                 \
        a14 = FMA(a14, m, c); a15 = FMA(a15, m, c);                                       \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), \
                         "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));  \
    }                                                                                     \
    V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15; \
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
        printf("%s %.1f GFLOP/s\n", w ? "zmm" : "ymm", 16.0 * iters * lanes * 2 / best / 1e9);
    }
    return sink == 12345.0f;
}
