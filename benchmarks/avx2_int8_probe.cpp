// Is the AVX2 int8 kernel at the core's limit? Two measurements, one thread:
// 1. throughput of the instructions it is made of (12 independent chains each, so
//    only the ports limit them): ymm FMA, vpmaddwd, vpaddd, and vpmaddwd + vpaddd
//    pairs; FMA's known two ports give the clock;
// 2. the kernels themselves (gemm_s8_avx2.cpp, 6 rows x 32 columns, K block 512) on
//    weights and activations that stay in L1, in multiply-adds per second: the exact
//    widening (tile_s8_avx2: per k step 12 vpmaddwd + 12 vpaddd + 2 vpmovsxbw for 192
//    multiply-adds, 26 vector instructions) and the pairs kernel for pair-safe weights
//    (tile_s8_avx2_pairs: 12 vpmaddubsw + 12 vpmaddwd + 12 vpaddd for 384 per k step of
//    a half, 36), against what three vector ports allow (docs/performance.md).
//
//     g++ -O2 -std=c++17 -Ikernels/src/host -Ikernels/include -o /tmp/avx2_int8_probe
//         benchmarks/avx2_int8_probe.cpp kernels/src/host/gemm_s8_avx2.cpp
//     taskset -c 1 /tmp/avx2_int8_probe
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace armbert::host {
void tile_s8_avx2(const int8_t *w, const void *x, size_t ldx, int kc, int mr, int32_t *acc,
                  bool accumulate);
void tile_s8_avx2_pairs(const int8_t *w, const void *x, size_t ldx, int kc, int mr,
                        int32_t *acc, bool accumulate);
}

namespace {

double seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

#define ARMBERT_X12(X) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define ARMBERT_FMA(i) "vfmadd231ps %%ymm0, %%ymm1, %%ymm" #i "\n\t"
#define ARMBERT_MADD(i) "vpmaddwd %%ymm0, %%ymm1, %%ymm" #i "\n\t"
#define ARMBERT_ADD(i) "vpaddd %%ymm0, %%ymm" #i ", %%ymm" #i "\n\t"
#define ARMBERT_PAIR(i) \
    "vpmaddwd %%ymm0, %%ymm1, %%ymm3\n\tvpaddd %%ymm3, %%ymm" #i ", %%ymm" #i "\n\t"
#define ARMBERT_LOOP(BODY)                                                                  \
    [](long n) {                                                                            \
        __asm__ volatile("1:\n\t" BODY "dec %0\n\tjnz 1b"                                  \
                         : "+r"(n)                                                          \
                         :                                                                  \
                         : "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
                           "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");              \
    }

template <typename F> double per_second(F loop) {  // groups of 12, best of 5
    const long n = 20000000;
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        double t = seconds();
        loop(n);
        t = seconds() - t;
        best = std::max(best, 12.0 * double(n) / t);
    }
    return best;
}

}  // namespace

int main() {
    const double fma = per_second(ARMBERT_LOOP(ARMBERT_X12(ARMBERT_FMA)));
    const double madd = per_second(ARMBERT_LOOP(ARMBERT_X12(ARMBERT_MADD)));
    const double add = per_second(ARMBERT_LOOP(ARMBERT_X12(ARMBERT_ADD)));
    const double pair = per_second(ARMBERT_LOOP(ARMBERT_X12(ARMBERT_PAIR)));
    const double ghz = fma / 2 / 1e9;  // two FMA ports
    std::printf("clock ~%.2f GHz (ymm FMA %.2f G/s at 2 per cycle)\n", ghz, fma / 1e9);
    std::printf("vpmaddwd %.2f per cycle, vpaddd %.2f, vpmaddwd+vpaddd pairs %.2f\n",
                madd / 1e9 / ghz, add / 1e9 / ghz, pair / 1e9 / ghz);

    const int kc = 512, mr = 6;
    std::vector<int8_t> w(size_t(kc) * 32, 3);
    std::vector<int16_t> x16(size_t(mr) * kc, -5);
    std::vector<uint8_t> x8(size_t(mr) * kc, 200);
    alignas(64) static int32_t acc[6 * 32];
    struct Kernel {
        const char *name;
        void (*tile)(const int8_t *, const void *, size_t, int, int, int32_t *, bool);
        const void *x;
        double instructions_per_192;  // vector instructions per 192 multiply-adds
    };
    const Kernel kernels[] = {{"tile_s8_avx2", armbert::host::tile_s8_avx2, x16.data(), 26},
                              {"tile_s8_avx2_pairs", armbert::host::tile_s8_avx2_pairs,
                               x8.data(), 18}};
    for (const Kernel &k : kernels) {
        double best = 0;
        for (int rep = 0; rep < 5; ++rep) {
            const int n = 100000;
            double t = seconds();
            for (int i = 0; i < n; ++i) k.tile(w.data(), k.x, kc, kc, mr, acc, i & 1);
            t = seconds() - t;
            best = std::max(best, double(n) * kc * 32 * mr / t);
        }
        const double cycles = 192.0 / (best / 1e9 / ghz);
        std::printf("%s in L1: %.1f GMAC/s = %.2f cycles per 192 multiply-adds (%.0f vector "
                    "instructions: %.2f cycles on 3 ports)\n",
                    k.name, best / 1e9, cycles, k.instructions_per_192,
                    k.instructions_per_192 / 3);
    }
    return acc[0] == 0 ? 1 : 0;  // keep the results live
}
