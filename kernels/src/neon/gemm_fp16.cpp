// Packing and the widening FP16 GEMM (plain Armv8.2 NEON: FCVTL + FMLA).
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "gemm_fp16.h"
#include "vmath_fp16.h"

namespace armbert::neon {

PackedF16 pack_f16(const float *w, int N, int K) {
    PackedF16 p;
    p.N = N;
    p.K = K;
    p.Kp = (K + kKStep - 1) / kKStep * kKStep;
    p.data.assign(size_t(p.panels()) * p.Kp * kPanel, 0);
    __fp16 *d = as_f16(p.data.data());
    for (int n = 0; n < N; ++n) {
        __fp16 *panel = d + size_t(n / kPanel) * p.Kp * kPanel;
        for (int k = 0; k < K; ++k)
            panel[size_t(k) * kPanel + n % kPanel] = __fp16(w[size_t(n) * K + k]);
    }
    return p;
}

namespace {

// MR rows x 8 columns; b advances by kPanel floats per k.
template <int MR>
inline void tile_f32(const float *a, int lda, const float *b, int K, float *c, int ldc, int nn) {
    float32x4_t acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
    for (int k = 0; k < K; ++k) {
        const float32x4_t b0 = vld1q_f32(b + size_t(k) * kPanel);
        const float32x4_t b1 = vld1q_f32(b + size_t(k) * kPanel + 4);
        for (int r = 0; r < MR; ++r) {
            const float av = a[size_t(r) * lda + k];
            acc[r][0] = vfmaq_n_f32(acc[r][0], b0, av);
            acc[r][1] = vfmaq_n_f32(acc[r][1], b1, av);
        }
    }
    for (int r = 0; r < MR; ++r) {
        float *cr = c + size_t(r) * ldc;
        if (nn == kPanel) {
            vst1q_f32(cr, acc[r][0]);
            vst1q_f32(cr + 4, acc[r][1]);
        } else {
            float tmp[kPanel];
            vst1q_f32(tmp, acc[r][0]);
            vst1q_f32(tmp + 4, acc[r][1]);
            std::memcpy(cr, tmp, sizeof(float) * size_t(nn));
        }
    }
}

}  // namespace

void panel_gemm_f32(const float *a, int lda, int M, const float *b, int K, float *c, int ldc,
                    int nn) {
    int m = 0;
    for (; m + 4 <= M; m += 4)
        tile_f32<4>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn);
    switch (M - m) {
    case 3: tile_f32<3>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    case 2: tile_f32<2>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    case 1: tile_f32<1>(a + size_t(m) * lda, lda, b, K, c + size_t(m) * ldc, ldc, nn); break;
    default: break;
    }
}

void gemm_f16_widen(const float *a32, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc, float *panel32) {
    for (int p = p0; p < p1; ++p) {
        // One conversion per weight per call, amortised over all M rows.
        f16_to_f32_row(as_f16(w.panel(p)), panel32, size_t(w.K) * kPanel);
        const int nn = std::min(kPanel, w.N - p * kPanel);
        panel_gemm_f32(a32, lda, M, panel32, w.K, c_out + size_t(p - p0) * kPanel, ldc, nn);
    }
}

}  // namespace armbert::neon
