// INT8 micro-kernel for AVX-VNNI (VEX-encoded vpdpbusd on ymm: Alder Lake,
// Sapphire Rapids, Zen 5): u8 activations (q + 128, ActS8::kU8Offset) times s8
// weights, four products summed into each int32 lane in one instruction,
// without intermediate saturation (vpdpbusd, not vpdpbusds), so exact.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "gemm.h"

namespace armbert::host {

namespace {

#define ARMBERT_AVXVNNI __attribute__((target("avx2,fma,avxvnni")))

// 16 columns (half h of the 32) x MR rows: 2 * MR accumulators + 2 weights + 1
// broadcast = 15 ymm registers at MR = 6.
template <int MR>
ARMBERT_AVXVNNI inline void half(const int8_t *w, const uint8_t *x, size_t ldx, int kc,
                                 int32_t *acc, bool accumulate) {
    __m256i a[MR][2];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
    for (int k = 0; k < kc; k += 4) {
        const int8_t *p = w + size_t(k) * kNr;
        __m256i w0 = _mm256_loadu_si256((const __m256i *)p);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 32));
        #pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int32_t xv;
            std::memcpy(&xv, x + size_t(r) * ldx + k, 4);
            __m256i xb = _mm256_set1_epi32(xv);
            a[r][0] = _mm256_dpbusd_avx_epi32(a[r][0], xb, w0);
            a[r][1] = _mm256_dpbusd_avx_epi32(a[r][1], xb, w1);
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 2
        for (int j = 0; j < 2; ++j) {
            int32_t *o = acc + r * kNr + j * 8;
            __m256i s = a[r][j];
            if (accumulate) s = _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)o));
            _mm256_storeu_si256((__m256i *)o, s);
        }
}

template <int MR>
ARMBERT_AVXVNNI void tile(const int8_t *w, const uint8_t *x, size_t ldx, int kc, int32_t *acc,
                          bool accumulate) {
    half<MR>(w, x, ldx, kc, acc, accumulate);
    half<MR>(w + 64, x, ldx, kc, acc + 16, accumulate);
}

}  // namespace

void tile_s8_avxvnni(const int8_t *w, const void *xv, size_t ldx, int kc, int mr, int32_t *acc,
                     bool accumulate) {
    const uint8_t *x = static_cast<const uint8_t *>(xv);
    for_rows<6>(mr, [&](auto rows) {
        tile<decltype(rows)::value>(w, x, ldx, kc, acc, accumulate);
    });
}

}  // namespace armbert::host
#endif
