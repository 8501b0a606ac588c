// NEON row quantization. FCVTNS rounds to nearest, ties to even, which is
// what the reference's rint does in the default rounding mode; the int32 ->
// int8 narrowing saturates, so with the final max against -127 every value
// lands where the reference's clamp to [-127, 127] puts it.
#include "quantize_s8.h"

#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "../common/int8.h"

namespace armbert::neon {

namespace {

float smoothed_absmax(const float *x, const float *inv, int K) {
    float32x4_t m[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                        vdupq_n_f32(0.0f)};
    int k = 0;
    for (; k + 16 <= K; k += 16)  // four independent maxima: 16 values per step
        for (int j = 0; j < 4; ++j) {
            float32x4_t v = vld1q_f32(x + k + 4 * j);
            if (inv) v = vmulq_f32(v, vld1q_f32(inv + k + 4 * j));
            m[j] = vmaxq_f32(m[j], vabsq_f32(v));
        }
    for (; k + 4 <= K; k += 4) {
        float32x4_t v = vld1q_f32(x + k);
        if (inv) v = vmulq_f32(v, vld1q_f32(inv + k));
        m[0] = vmaxq_f32(m[0], vabsq_f32(v));
    }
    float r = vmaxvq_f32(vmaxq_f32(vmaxq_f32(m[0], m[1]), vmaxq_f32(m[2], m[3])));
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
            s = common::scale_from_absmax(amax);
        }
        row_scale[m] = s;
        const float inv = 1.0f / s;
        // 16 at a time: round (FCVTNS), narrow with saturation (SQXTN: the
        // int8 range), then clamp the one value left outside [-127, 127].
        const float32x4_t vinv = vdupq_n_f32(inv);
        const int8x16_t lo = vdupq_n_s8(-127);
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            int32x4_t i[4];
            for (int j = 0; j < 4; ++j) {
                float32x4_t v = vld1q_f32(xr + k + 4 * j);
                if (inv_smooth) v = vmulq_f32(v, vld1q_f32(inv_smooth + k + 4 * j));
                i[j] = vcvtnq_s32_f32(vmulq_f32(v, vinv));
            }
            const int16x8_t h0 = vqmovn_high_s32(vqmovn_s32(i[0]), i[1]);
            const int16x8_t h1 = vqmovn_high_s32(vqmovn_s32(i[2]), i[3]);
            vst1q_s8(qr + k, vmaxq_s8(lo, vqmovn_high_s16(vqmovn_s16(h0), h1)));
        }
        for (; k < K; ++k) {
            float v = (inv_smooth ? xr[k] * inv_smooth[k] : xr[k]) * inv;
            float r = std::min(127.0f, std::max(-127.0f, std::nearbyint(v)));
            qr[k] = int8_t(r);
        }
    }
}

}  // namespace armbert::neon
