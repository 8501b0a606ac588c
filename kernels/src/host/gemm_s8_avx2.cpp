// INT8 micro-kernel for AVX2 (Haswell, Zen 1-4 without AVX-512): exact 16-bit
// widening. Weights are sign-extended to int16 (vpmovsxbw) and multiplied by
// int16 activations q in [-127, 127] (ActS8::kS16) with vpmaddwd, which sums
// pairs of products into int32: |q * w| <= 127 * 128, so nothing saturates and
// the int32 sums equal every other level's bit for bit.
//
// Why not vpmaddubsw (u8 x s8 -> int16 pairs, one instruction fewer): with
// u8 = q + 128 up to 255 and w down to -128 a pair reaches 65,280, past int16,
// and vpmaddubsw saturates. The usual ways out either change the numbers
// (7-bit activations, |q| <= 63: one bit of activation precision lost, ~2x the
// rounding error) or cost as much as widening (vpsignb on every product). We
// keep the int8 semantics of the other levels instead: same outputs everywhere.
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

// 8 columns (quarter q of the 32) x MR rows: 2 * MR accumulators + 2 weights + 1
// broadcast = 15 of AVX2's 16 ymm registers at MR = 6.
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
        __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[r][0], a[r][1]), 0xD8);
        int32_t *o = acc + r * kNr;
        if (accumulate) s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)o));
        _mm256_storeu_si256((__m256i *)o, s);
    }
}

template <int MR>
ARMBERT_AVX2 void tile(const int8_t *w, const int16_t *x, size_t ldx, int kc, int32_t *acc,
                       bool accumulate) {
    for (int q = 0; q < 4; ++q) quarter<MR>(w + q * 32, x, ldx, kc, acc + q * 8, accumulate);
}

}  // namespace

void tile_s8_avx2(const int8_t *w, const void *xv, size_t ldx, int kc, int mr, int32_t *acc,
                  bool accumulate) {
    const int16_t *x = static_cast<const int16_t *>(xv);
    for_rows<6>(mr, [&](auto rows) {
        tile<decltype(rows)::value>(w, x, ldx, kc, acc, accumulate);
    });
}

}  // namespace armbert::host
#endif
