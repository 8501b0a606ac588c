// NEON row quantization. FCVTNS rounds to nearest, ties to even, which is
// what the reference's rint does in the default rounding mode.
#include "quantize_s8.h"

#include <arm_neon.h>

#include <algorithm>
#include <cmath>

namespace armbert::neon {

namespace {

float smoothed_absmax(const float *x, const float *inv, int K) {
    float32x4_t m = vdupq_n_f32(0.0f);
    int k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t v = vld1q_f32(x + k);
        if (inv) v = vmulq_f32(v, vld1q_f32(inv + k));
        m = vmaxq_f32(m, vabsq_f32(v));
    }
    float r = vmaxvq_f32(m);
    for (; k < K; ++k) r = std::max(r, std::fabs(inv ? x[k] * inv[k] : x[k]));
    return r;
}

}  // namespace

void quantize_rows_s8(const float *x, int M, int K, float scale, const float *inv_smooth,
                      int8_t *q, float *row_scale) {
    for (int m = 0; m < M; ++m) {
        const float *xr = x + size_t(m) * K;
        int8_t *qr = q + size_t(m) * K;
        float s = scale;
        if (!(s > 0)) {
            float amax = smoothed_absmax(xr, inv_smooth, K);
            s = amax > 0 ? amax / 127.0f : 1.0f;
        }
        row_scale[m] = s;
        const float inv = 1.0f / s;
        const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
        int k = 0;
        for (; k + 8 <= K; k += 8) {
            float32x4_t a = vld1q_f32(xr + k), b = vld1q_f32(xr + k + 4);
            if (inv_smooth) {
                a = vmulq_f32(a, vld1q_f32(inv_smooth + k));
                b = vmulq_f32(b, vld1q_f32(inv_smooth + k + 4));
            }
            int32x4_t ia = vminq_s32(hi, vmaxq_s32(lo, vcvtnq_s32_f32(vmulq_n_f32(a, inv))));
            int32x4_t ib = vminq_s32(hi, vmaxq_s32(lo, vcvtnq_s32_f32(vmulq_n_f32(b, inv))));
            int16x8_t h = vcombine_s16(vmovn_s32(ia), vmovn_s32(ib));
            vst1_s8(qr + k, vmovn_s16(h));
        }
        for (; k < K; ++k) {
            float v = (inv_smooth ? xr[k] * inv_smooth[k] : xr[k]) * inv;
            float r = std::min(127.0f, std::max(-127.0f, std::nearbyint(v)));
            qr[k] = int8_t(r);
        }
    }
}

}  // namespace armbert::neon
