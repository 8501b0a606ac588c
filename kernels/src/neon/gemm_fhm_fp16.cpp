// The FMLAL FP16 GEMM (FEAT_FHM, built with +fp16fml): FMLAL/FMLAL2 multiply
// fp16 lanes exactly and accumulate in fp32, so activations and weights stay
// fp16 in memory and registers. Only called when HWCAP_ASIMDFHM is set.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "gemm_fp16.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

// MR rows x 8 channels; per 8 k: one fp16 vector of A per row, and per k one
// panel vector whose 8 channels meet lane k of A (low and high halves).
template <int MR>
inline void tile_fhm(const __fp16 *a, int lda, const __fp16 *b, int Kp, float *c, int ldc,
                     int nn) {
    float32x4_t lo[MR], hi[MR];
    for (int r = 0; r < MR; ++r) lo[r] = hi[r] = vdupq_n_f32(0.0f);
    for (int k = 0; k < Kp; k += kKStep) {
        float16x8_t av[MR];
        for (int r = 0; r < MR; ++r) av[r] = vld1q_f16(a + size_t(r) * lda + k);
        const __fp16 *bk = b + size_t(k) * kPanel;
#define ARMBERT_FHM_STEP(L)                                             \
    {                                                                   \
        const float16x8_t wv = vld1q_f16(bk + (L) * kPanel);            \
        for (int r = 0; r < MR; ++r) {                                  \
            lo[r] = vfmlalq_laneq_low_f16(lo[r], wv, av[r], L);         \
            hi[r] = vfmlalq_laneq_high_f16(hi[r], wv, av[r], L);        \
        }                                                               \
    }
        ARMBERT_FHM_STEP(0) ARMBERT_FHM_STEP(1) ARMBERT_FHM_STEP(2) ARMBERT_FHM_STEP(3)
        ARMBERT_FHM_STEP(4) ARMBERT_FHM_STEP(5) ARMBERT_FHM_STEP(6) ARMBERT_FHM_STEP(7)
#undef ARMBERT_FHM_STEP
    }
    for (int r = 0; r < MR; ++r) {
        float *cr = c + size_t(r) * ldc;
        if (nn == kPanel) {
            vst1q_f32(cr, lo[r]);
            vst1q_f32(cr + 4, hi[r]);
        } else {
            float tmp[kPanel];
            vst1q_f32(tmp, lo[r]);
            vst1q_f32(tmp + 4, hi[r]);
            std::memcpy(cr, tmp, sizeof(float) * size_t(nn));
        }
    }
}

}  // namespace

void gemm_f16_fmlal(const uint16_t *a16, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc) {
    const __fp16 *a = as_f16(a16);
    for (int p = p0; p < p1; ++p) {
        const __fp16 *b = as_f16(w.panel(p));
        const int nn = std::min(kPanel, w.N - p * kPanel);
        float *c = c_out + size_t(p - p0) * kPanel;
        int m = 0;
        for (; m + 4 <= M; m += 4)
            tile_fhm<4>(a + size_t(m) * lda, lda, b, w.Kp, c + size_t(m) * ldc, ldc, nn);
        switch (M - m) {
        case 3: tile_fhm<3>(a + size_t(m) * lda, lda, b, w.Kp, c + size_t(m) * ldc, ldc, nn); break;
        case 2: tile_fhm<2>(a + size_t(m) * lda, lda, b, w.Kp, c + size_t(m) * ldc, ldc, nn); break;
        case 1: tile_fhm<1>(a + size_t(m) * lda, lda, b, w.Kp, c + size_t(m) * ldc, ldc, nn); break;
        default: break;
        }
    }
}

}  // namespace armbert::neon
