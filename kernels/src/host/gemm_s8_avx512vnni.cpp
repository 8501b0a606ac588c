// INT8 micro-kernel for AVX512-VNNI (Cascade Lake, Ice Lake, Sapphire Rapids,
// Zen 4+): 512-bit vpdpbusd, u8 activations (q + 128, ActS8::kU8Offset) times
// s8 weights, exact int32 sums. The whole 32-column block is two zmm.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "gemm.h"

namespace armbert::host {

namespace {

#define ARMBERT_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// MR rows x 32 columns: 2 * MR accumulators + 2 weights + 1 broadcast (19 of 32
// zmm at MR = 8).
template <int MR>
ARMBERT_AVX512VNNI void tile(const int8_t *w, const uint8_t *x, size_t ldx, int kc,
                             int32_t *acc, bool accumulate) {
    __m512i a[MR][2];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm512_setzero_si512();
    for (int k = 0; k < kc; k += 4) {
        const int8_t *p = w + size_t(k) * kNr;
        __m512i w0 = _mm512_loadu_si512(p), w1 = _mm512_loadu_si512(p + 64);
        #pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int32_t xv;
            std::memcpy(&xv, x + size_t(r) * ldx + k, 4);
            __m512i xb = _mm512_set1_epi32(xv);
            a[r][0] = _mm512_dpbusd_epi32(a[r][0], xb, w0);
            a[r][1] = _mm512_dpbusd_epi32(a[r][1], xb, w1);
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
        #pragma GCC unroll 2
        for (int j = 0; j < 2; ++j) {
            int32_t *o = acc + r * kNr + j * 16;
            __m512i s = a[r][j];
            if (accumulate) s = _mm512_add_epi32(s, _mm512_loadu_si512(o));
            _mm512_storeu_si512(o, s);
        }
}

}  // namespace

void tile_s8_avx512vnni(const int8_t *w, const void *xv, size_t ldx, int kc, int mr,
                        int32_t *acc, bool accumulate) {
    const uint8_t *x = static_cast<const uint8_t *>(xv);
    for_rows<8>(mr, [&](auto rows) {
        tile<decltype(rows)::value>(w, x, ldx, kc, acc, accumulate);
    });
}

}  // namespace armbert::host
#endif
