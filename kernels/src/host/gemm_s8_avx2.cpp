// INT8 micro-kernels for AVX2 (Haswell, Zen 1-4 without AVX-512), both exact: the
// int32 sums equal every other level's bit for bit.
//
// tile_s8_avx2_pairs, for pair-safe weights (every |w[2i]| + |w[2i+1]| <= 128, what
// armbert's quantizer makes): vpmaddubsw on u8 activations, below.
//
// tile_s8_avx2, for any int8 weights: exact 16-bit widening. Weights are
// sign-extended to int16 (vpmovsxbw) and multiplied by int16 activations q in
// [-127, 127] (ActS8::kS16) with vpmaddwd, which sums pairs of products into int32:
// |q * w| <= 127 * 128, so nothing saturates.
//
// Why not vpmaddubsw (u8 x s8 -> int16 pairs, one instruction fewer): with
// u8 = q + 128 up to 255 and w down to -128 a pair reaches 65,280, past int16,
// and vpmaddubsw saturates. The usual ways out either change the numbers
// (7-bit activations, |q| <= 63: one bit of activation precision lost, ~2x the
// rounding error, and the engine's accuracy bounds failed: docs/performance.md) or
// cost as much as widening (vpsignb on every product). Bounding the weights' pairs
// instead (|w0| + |w1| <= 128: 255 * 128 fits) keeps 8-bit activations: that is the
// pairs kernel, and the weight quantizer's job (armbert/quant.py); weights from
// elsewhere that break the bound take this kernel, with the same results.
//
// Layout: the packed block holds, per group of 4 k, 32 columns x 4 bytes. 16
// bytes (4 columns x 4 k) widen to one ymm of int16; vpmaddwd against the
// row's 4 activations broadcast (k0..k3, 8 bytes) gives per column two int32
// partial sums (k0+k1, k2+k3). vphaddd + vpermq fold them into 8 columns at the end.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "gemm.h"

namespace armbert::host {

namespace {

#define ARMBERT_AVX2 __attribute__((target("avx2,fma")))

// 8 int32 sums of a tile into acc: stored, or added to what the last K block left.
ARMBERT_AVX2 inline void put8(int32_t *o, __m256i s, bool accumulate) {
    if (accumulate) s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)o));
    _mm256_storeu_si256((__m256i *)o, s);
}

// 8 columns (quarter q of the 32) x MR rows: 2 * MR accumulators + 2 weights + 1
// broadcast + 1 product = AVX2's 16 ymm registers at MR = 6. MR = 6 is quarter6 below,
// in assembly; this is the rest.
template <int MR>
ARMBERT_AVX2 inline void quarter(const int8_t *w, const int16_t *x, size_t ldx, int kc,
                                 int32_t *acc, bool accumulate) {
    __m256i a[MR][2];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
    for (int k = 0; k < kc; k += 4) {
        const int8_t *p = w + size_t(k) * kNr;
        __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
        __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
        #pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int64_t xv;
            std::memcpy(&xv, x + size_t(r) * ldx + k, 8);
            __m256i xb = _mm256_set1_epi64x(xv);
            a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(xb, w0));
            a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(xb, w1));
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
        // hadd: [c0 c1 c4 c5 | c2 c3 c6 c7]; vpermq 0xD8 puts the columns in order.
        put8(acc + r * kNr,
             _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[r][0], a[r][1]), 0xD8), accumulate);
    }
}

// The k loop around both kernels' bodies below: ymm4-15 are the 12 accumulators
// (zeroed first, stored to a[] after), %[n] counts the steps.
#define ARMBERT_LOOP_BEGIN \
    "vpxor %%xmm4, %%xmm4, %%xmm4\n\t" \
    "vpxor %%xmm5, %%xmm5, %%xmm5\n\t" \
    "vpxor %%xmm6, %%xmm6, %%xmm6\n\t" \
    "vpxor %%xmm7, %%xmm7, %%xmm7\n\t" \
    "vpxor %%xmm8, %%xmm8, %%xmm8\n\t" \
    "vpxor %%xmm9, %%xmm9, %%xmm9\n\t" \
    "vpxor %%xmm10, %%xmm10, %%xmm10\n\t" \
    "vpxor %%xmm11, %%xmm11, %%xmm11\n\t" \
    "vpxor %%xmm12, %%xmm12, %%xmm12\n\t" \
    "vpxor %%xmm13, %%xmm13, %%xmm13\n\t" \
    "vpxor %%xmm14, %%xmm14, %%xmm14\n\t" \
    "vpxor %%xmm15, %%xmm15, %%xmm15\n\t" \
    "test %[n], %[n]\n\t" "jz 2f\n\t" "1:\n\t"
#define ARMBERT_LOOP_END \
    "dec %[n]\n\t" "jnz 1b\n\t" "2:\n\t" \
    "vmovdqa %%ymm4, 0(%[a])\n\t" \
    "vmovdqa %%ymm5, 32(%[a])\n\t" \
    "vmovdqa %%ymm6, 64(%[a])\n\t" \
    "vmovdqa %%ymm7, 96(%[a])\n\t" \
    "vmovdqa %%ymm8, 128(%[a])\n\t" \
    "vmovdqa %%ymm9, 160(%[a])\n\t" \
    "vmovdqa %%ymm10, 192(%[a])\n\t" \
    "vmovdqa %%ymm11, 224(%[a])\n\t" \
    "vmovdqa %%ymm12, 256(%[a])\n\t" \
    "vmovdqa %%ymm13, 288(%[a])\n\t" \
    "vmovdqa %%ymm14, 320(%[a])\n\t" \
    "vmovdqa %%ymm15, 352(%[a])\n\t"

// Both kernels' row step for each of the 6 rows: ROW(address of the row's activations
// at this k, its two accumulators). Rows 0-2 are read through xa, rows 3-5 through
// xb = xa + 3 rows, each as base, base + ld, base + 2 ld.
#define ARMBERT_SIX_ROWS(ROW)                      \
    ROW("(%[xa])", "%%ymm4", "%%ymm5")             \
    ROW("(%[xa],%[ld],1)", "%%ymm6", "%%ymm7")     \
    ROW("(%[xa],%[ld],2)", "%%ymm8", "%%ymm9")     \
    ROW("(%[xb])", "%%ymm10", "%%ymm11")           \
    ROW("(%[xb],%[ld],1)", "%%ymm12", "%%ymm13")   \
    ROW("(%[xb],%[ld],2)", "%%ymm14", "%%ymm15")
// What their asm clobbers: every vector register.
#define ARMBERT_ALL_YMM                                                              \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// quarter<6> with its k loop in assembly, each register named. Left to gcc (generic
// tuning or -march=znver2), the 12 accumulators did not stay in the 16 ymm registers
// of an AVX2 core: 5 went to the stack and the others moved between registers every
// step. A whole int8 linear (32 x 1536 x 384, quantization and epilogue included) took
// 2.2 x86 instructions per 8 multiply-adds, 1.7 with this loop (counted under
// qemu-x86_64 -cpu EPYC-Rome, docs/performance.md). A build for an AVX-512 CPU
// has 32 registers and never showed it.
ARMBERT_AVX2 void quarter6(const int8_t *w, const int16_t *x, size_t ldx, int kc, int32_t *acc,
                           bool accumulate) {
    alignas(32) int32_t a[6][2][8];
    const int8_t *p = w;
    const int16_t *xa = x, *xb = x + 3 * ldx;
    const size_t ld = ldx * sizeof(int16_t);
    size_t steps = size_t(kc / 4);
    __asm__ volatile(
        ARMBERT_LOOP_BEGIN
        "vpmovsxbw (%[p]), %%ymm0\n\t"
        "vpmovsxbw 16(%[p]), %%ymm1\n\t"
        "add $128, %[p]\n\t"
#define ARMBERT_ROW(ADDR, A0, A1)                  \
        "vpbroadcastq " ADDR ", %%ymm2\n\t"       \
        "vpmaddwd %%ymm0, %%ymm2, %%ymm3\n\t"     \
        "vpaddd %%ymm3, " A0 ", " A0 "\n\t"       \
        "vpmaddwd %%ymm1, %%ymm2, %%ymm3\n\t"     \
        "vpaddd %%ymm3, " A1 ", " A1 "\n\t"
        ARMBERT_SIX_ROWS(ARMBERT_ROW)
#undef ARMBERT_ROW
        "add $8, %[xa]\n\t"
        "add $8, %[xb]\n\t"
        ARMBERT_LOOP_END
        : [p] "+r"(p), [xa] "+r"(xa), [xb] "+r"(xb), [n] "+r"(steps)
        : [ld] "r"(ld), [a] "r"(&a[0][0][0])
        : ARMBERT_ALL_YMM, "cc", "memory");
    #pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) {
        const __m256i a0 = _mm256_load_si256((const __m256i *)a[r][0]);
        const __m256i a1 = _mm256_load_si256((const __m256i *)a[r][1]);
        put8(acc + r * kNr, _mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xD8),
             accumulate);
    }
}

template <int MR>
ARMBERT_AVX2 void tile(const int8_t *w, const int16_t *x, size_t ldx, int kc, int32_t *acc,
                       bool accumulate) {
    for (int q = 0; q < 4; ++q) {
        if constexpr (MR == 6) quarter6(w + q * 32, x, ldx, kc, acc + q * 8, accumulate);
        else quarter<MR>(w + q * 32, x, ldx, kc, acc + q * 8, accumulate);
    }
}

// Pair-safe weights (PackedS8::pairs_safe: every column's |w[2i]| + |w[2i+1]| <= 128,
// what armbert's weight quantizer makes, armbert/quant.py): u8 activations u = q + 128 (the
// VNNI levels' codes, ActS8::kU8Offset) times s8 weights with vpmaddubsw. A pair of
// products is at most 255 * 128 = 32,640 in magnitude, inside int16, so nothing
// saturates and every sum is exact; vpmaddwd against ones adds the two pairs of a column
// (its 4 k) into int32, vpaddd accumulates. The weights are read as packed (the vpdpbusd
// layout): 3 vector instructions per 32 multiply-adds where the widening kernel above
// needs 4 and a vpmovsxbw per weight load.

// 16 columns (half h of the 32) x MR rows, for the tails (MR < 6): 2 * MR accumulators
// + 2 weights + broadcast + product + ones fit 16 registers.
template <int MR>
ARMBERT_AVX2 inline void half_pairs(const int8_t *w, const uint8_t *x, size_t ldx, int kc,
                                    int32_t *acc, bool accumulate) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a[MR][2];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
    for (int k = 0; k < kc; k += 4) {
        const int8_t *p = w + size_t(k) * kNr;
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)p);
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 32));
        #pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int32_t xv;
            std::memcpy(&xv, x + size_t(r) * ldx + k, 4);
            const __m256i xb = _mm256_set1_epi32(xv);
            a[r][0] = _mm256_add_epi32(
                a[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w0), ones));
            a[r][1] = _mm256_add_epi32(
                a[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w1), ones));
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 2
        for (int j = 0; j < 2; ++j) put8(acc + r * kNr + j * 8, a[r][j], accumulate);
}

// half_pairs<6> in assembly, every register named (12 accumulators, 2 weights, the
// broadcast and the product take all 16; the ones come from memory), for the reason
// quarter6 gives.
ARMBERT_AVX2 void half6_pairs(const int8_t *w, const uint8_t *x, size_t ldx, int kc,
                              int32_t *acc, bool accumulate) {
    alignas(32) static const int16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 1, 1, 1, 1};
    alignas(32) int32_t a[6][2][8];
    const int8_t *p = w;
    const uint8_t *xa = x, *xb = x + 3 * ldx;
    const size_t ld = ldx;
    size_t steps = size_t(kc / 4);
    __asm__ volatile(
        ARMBERT_LOOP_BEGIN
        "vmovdqu (%[p]), %%ymm0\n\t"
        "vmovdqu 32(%[p]), %%ymm1\n\t"
        "add $128, %[p]\n\t"
#define ARMBERT_ROW(ADDR, A0, A1)                     \
        "vpbroadcastd " ADDR ", %%ymm2\n\t"          \
        "vpmaddubsw %%ymm0, %%ymm2, %%ymm3\n\t"      \
        "vpmaddwd (%[ones]), %%ymm3, %%ymm3\n\t"     \
        "vpaddd %%ymm3, " A0 ", " A0 "\n\t"          \
        "vpmaddubsw %%ymm1, %%ymm2, %%ymm3\n\t"      \
        "vpmaddwd (%[ones]), %%ymm3, %%ymm3\n\t"     \
        "vpaddd %%ymm3, " A1 ", " A1 "\n\t"
        ARMBERT_SIX_ROWS(ARMBERT_ROW)
#undef ARMBERT_ROW
        "add $4, %[xa]\n\t"
        "add $4, %[xb]\n\t"
        ARMBERT_LOOP_END
        : [p] "+r"(p), [xa] "+r"(xa), [xb] "+r"(xb), [n] "+r"(steps)
        : [ld] "r"(ld), [a] "r"(&a[0][0][0]), [ones] "r"(kOnes)
        : ARMBERT_ALL_YMM, "cc", "memory");
    #pragma GCC unroll 6
    for (int r = 0; r < 6; ++r)
        #pragma GCC unroll 2
        for (int j = 0; j < 2; ++j)
            put8(acc + r * kNr + j * 8, _mm256_load_si256((const __m256i *)a[r][j]),
                 accumulate);
}

template <int MR>
ARMBERT_AVX2 void tile_pairs(const int8_t *w, const uint8_t *x, size_t ldx, int kc,
                             int32_t *acc, bool accumulate) {
    for (int h = 0; h < 2; ++h) {
        if constexpr (MR == 6) half6_pairs(w + h * 64, x, ldx, kc, acc + h * 16, accumulate);
        else half_pairs<MR>(w + h * 64, x, ldx, kc, acc + h * 16, accumulate);
    }
}

}  // namespace

void tile_s8_avx2_pairs(const int8_t *w, const void *xv, size_t ldx, int kc, int mr,
                        int32_t *acc, bool accumulate) {
    const uint8_t *x = static_cast<const uint8_t *>(xv);
    for_rows<6>(mr, [&](auto rows) {
        tile_pairs<decltype(rows)::value>(w, x, ldx, kc, acc, accumulate);
    });
}

void tile_s8_avx2(const int8_t *w, const void *xv, size_t ldx, int kc, int mr, int32_t *acc,
                  bool accumulate) {
    const int16_t *x = static_cast<const int16_t *>(xv);
    for_rows<6>(mr, [&](auto rows) {
        tile<decltype(rows)::value>(w, x, ldx, kc, acc, accumulate);
    });
}

}  // namespace armbert::host
#endif
