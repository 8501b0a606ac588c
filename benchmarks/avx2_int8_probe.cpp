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
// 3. a k loop the library does not have, for weights under a tighter bound than
//    pair-safe (two pairs of a column summing to at most 128: benchmarks/
//    int8_weight_scales.py --quad): two vpmaddubsw added in int16 (vpaddw) before one
//    vpmaddwd, 3 multiplies per 64 multiply-adds instead of 4; 6 rows x 16 columns,
//    the weights as memory operands (12 accumulators, 2 broadcasts, a product and the
//    ones fill the 16 registers; the second column vector broadcasts its row again).
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

// The quad k loop of 3. (6 rows of x at ldx bytes, kc a multiple of 8; weights: per
// 8 k, 4 x 32 bytes: columns 0-7 and 8-15 of k 0-3, then of k 4-7). Sums into out.
__attribute__((target("avx2"))) void half6_quad(const int8_t *w, const uint8_t *x, size_t ld,
                                                int kc, int32_t *out) {
    alignas(32) static const int16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 1, 1, 1, 1};
    alignas(32) int32_t a[6][2][8];
    const int8_t *p = w;
    const uint8_t *xa = x, *xb = x + 3 * ld;
    size_t steps = size_t(kc / 8);
    __asm__ volatile(
        "vmovdqa (%[ones]), %%ymm3\n\t"
        "vpxor %%xmm4, %%xmm4, %%xmm4\n\t" "vpxor %%xmm5, %%xmm5, %%xmm5\n\t"
        "vpxor %%xmm6, %%xmm6, %%xmm6\n\t" "vpxor %%xmm7, %%xmm7, %%xmm7\n\t"
        "vpxor %%xmm8, %%xmm8, %%xmm8\n\t" "vpxor %%xmm9, %%xmm9, %%xmm9\n\t"
        "vpxor %%xmm10, %%xmm10, %%xmm10\n\t" "vpxor %%xmm11, %%xmm11, %%xmm11\n\t"
        "vpxor %%xmm12, %%xmm12, %%xmm12\n\t" "vpxor %%xmm13, %%xmm13, %%xmm13\n\t"
        "vpxor %%xmm14, %%xmm14, %%xmm14\n\t" "vpxor %%xmm15, %%xmm15, %%xmm15\n\t"
        "1:\n\t"
#define ARMBERT_QUAD_ROW(ADDR0, ADDR1, A0, A1)           \
        "vpbroadcastd " ADDR0 ", %%ymm0\n\t"             \
        "vpbroadcastd " ADDR1 ", %%ymm1\n\t"             \
        "vpmaddubsw (%[p]), %%ymm0, %%ymm2\n\t"          \
        "vpmaddubsw 64(%[p]), %%ymm1, %%ymm0\n\t"        \
        "vpaddw %%ymm0, %%ymm2, %%ymm2\n\t"              \
        "vpmaddwd %%ymm3, %%ymm2, %%ymm2\n\t"            \
        "vpaddd %%ymm2, " A0 ", " A0 "\n\t"              \
        "vpbroadcastd " ADDR0 ", %%ymm0\n\t"             \
        "vpmaddubsw 32(%[p]), %%ymm0, %%ymm2\n\t"        \
        "vpmaddubsw 96(%[p]), %%ymm1, %%ymm0\n\t"        \
        "vpaddw %%ymm0, %%ymm2, %%ymm2\n\t"              \
        "vpmaddwd %%ymm3, %%ymm2, %%ymm2\n\t"            \
        "vpaddd %%ymm2, " A1 ", " A1 "\n\t"
        ARMBERT_QUAD_ROW("(%[xa])", "4(%[xa])", "%%ymm4", "%%ymm5")
        ARMBERT_QUAD_ROW("(%[xa],%[ld],1)", "4(%[xa],%[ld],1)", "%%ymm6", "%%ymm7")
        ARMBERT_QUAD_ROW("(%[xa],%[ld],2)", "4(%[xa],%[ld],2)", "%%ymm8", "%%ymm9")
        ARMBERT_QUAD_ROW("(%[xb])", "4(%[xb])", "%%ymm10", "%%ymm11")
        ARMBERT_QUAD_ROW("(%[xb],%[ld],1)", "4(%[xb],%[ld],1)", "%%ymm12", "%%ymm13")
        ARMBERT_QUAD_ROW("(%[xb],%[ld],2)", "4(%[xb],%[ld],2)", "%%ymm14", "%%ymm15")
#undef ARMBERT_QUAD_ROW
        "add $128, %[p]\n\t" "add $8, %[xa]\n\t" "add $8, %[xb]\n\t"
        "dec %[n]\n\t" "jnz 1b\n\t"
        "vmovdqa %%ymm4, 0(%[a])\n\t" "vmovdqa %%ymm5, 32(%[a])\n\t"
        "vmovdqa %%ymm6, 64(%[a])\n\t" "vmovdqa %%ymm7, 96(%[a])\n\t"
        "vmovdqa %%ymm8, 128(%[a])\n\t" "vmovdqa %%ymm9, 160(%[a])\n\t"
        "vmovdqa %%ymm10, 192(%[a])\n\t" "vmovdqa %%ymm11, 224(%[a])\n\t"
        "vmovdqa %%ymm12, 256(%[a])\n\t" "vmovdqa %%ymm13, 288(%[a])\n\t"
        "vmovdqa %%ymm14, 320(%[a])\n\t" "vmovdqa %%ymm15, 352(%[a])\n\t"
        : [p] "+r"(p), [xa] "+r"(xa), [xb] "+r"(xb), [n] "+r"(steps)
        : [ld] "r"(ld), [a] "r"(&a[0][0][0]), [ones] "r"(kOnes)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
    for (int i = 0; i < 96; ++i) out[i] += (&a[0][0][0])[i];
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
    {  // 3. the quad k loop, 6 x 16 per call, same K block
        alignas(64) static int32_t out[96];
        double best = 0;
        for (int rep = 0; rep < 5; ++rep) {
            const int n = 200000;
            double t = seconds();
            for (int i = 0; i < n; ++i) half6_quad(w.data(), x8.data(), kc, kc, out);
            t = seconds() - t;
            best = std::max(best, double(n) * kc * 16 * mr / t);
        }
        std::printf("quad k loop (not in the library) in L1: %.1f GMAC/s = %.2f cycles per "
                    "192 multiply-adds (15 vector instructions + 4.5 broadcasts)\n",
                    best / 1e9, 192.0 / (best / 1e9 / ghz));
        if (out[0] == 0) return 1;
    }
    return acc[0] == 0 ? 1 : 0;  // keep the results live
}
