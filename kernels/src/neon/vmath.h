// Plain Armv8.0 NEON fp32 helpers shared by the FP32 and FP16 kernels (no
// FP16 instructions here: this header is safe in files built for the
// baseline, such as attention.cpp on a Cortex-A53/A73).
#pragma once
#include <arm_neon.h>

namespace armbert::neon {

// e^x, the host's vecmath.h formula (Cody-Waite reduction by ln 2, degree-6
// Taylor polynomial, 2^n by exponent bits) on four lanes, with fused
// multiply-adds: NEON always has them, and fma rounds once where mul + add
// rounds twice.
// The body after the clamp to [-87, 88] (x already in range, or NaN).
inline float32x4_t vexp_in_range(float32x4_t x) {
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 720.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(bits));
}

inline float32x4_t vexp(float32x4_t x) {
    return vexp_in_range(vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f)));
}

// e^x for x <= 0 (a softmax's x - max): no upper clamp. NaN stays NaN (fmax).
inline float32x4_t vexp_nonpositive(float32x4_t x) {
    return vexp_in_range(vmaxq_f32(x, vdupq_n_f32(-87.0f)));
}

// In place over n floats: x * scale + mask (mask may be NULL), then softmax,
// all in fp32 (attention_core.cpp).
void softmax_row_f32(float *row, int n, float scale, const float *mask);

}  // namespace armbert::neon
