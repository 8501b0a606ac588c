// Plain Armv8.0 NEON fp32 helpers shared by the FP32 and FP16 kernels (no
// FP16 instructions here: this header is safe in files built for the
// baseline, such as attention.cpp on a Cortex-A53/A73).
#pragma once
#include <arm_neon.h>

#include "../common/vecmath.h"
#include "armbert.h"

namespace armbert::neon {

// e^x, the host's vecmath.h formula (Cody-Waite reduction by ln 2, degree-6
// Taylor polynomial, 2^n by exponent bits) on four lanes, with fused
// multiply-adds: NEON always has them, and fma rounds once where mul + add
// rounds twice. The polynomial goes by Estrin's scheme,
//   (1 + r) + r^2 (1/2 + r/6) + r^4 ((1/24 + r/120) + r^2/720),
// because FMLA accumulates into its destination: each Horner step c + p r needs
// the constant copied there first (mov + fmla), Estrin's steps mostly add to
// values already computed (10 instructions for the polynomial, 12 by Horner;
// tools/insncount).
// The body after the clamp to [-87, 88] (x already in range, or NaN).
inline float32x4_t vexp_in_range(float32x4_t x) {
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
    const float32x4_t c = {1.0f / 6.0f, 1.0f / 120.0f, 1.0f / 720.0f, 0.0f};
    const float32x4_t r2 = vmulq_f32(r, r), r4 = vmulq_f32(r2, r2);
    const float32x4_t e1 = vfmaq_laneq_f32(vdupq_n_f32(0.5f), r, c, 0);
    float32x4_t e2 = vfmaq_laneq_f32(vdupq_n_f32(1.0f / 24.0f), r, c, 1);
    e2 = vfmaq_laneq_f32(e2, r2, c, 2);
    float32x4_t p = vaddq_f32(r, vdupq_n_f32(1.0f));
    p = vfmaq_f32(p, r2, e1);
    p = vfmaq_f32(p, r4, e2);
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

// common::gelu on four lanes, the same operations in the same order (no FMA), so
// the same bits.
inline float32x4_t vgelu(float32x4_t x) {
    using common::GeluErf;
    const float32x4_t a = vabsq_f32(x), clamp = vdupq_n_f32(GeluErf::kClamp);
    const float32x4_t c = vminnmq_f32(a, clamp);  // a < clamp ? a : clamp, NaN -> clamp
    const float32x4_t u = vmulq_f32(c, c);
    float32x4_t p = vdupq_n_f32(GeluErf::kP[5]);
    for (int i = 4; i >= 0; --i) p = vaddq_f32(vmulq_f32(p, u), vdupq_n_f32(GeluErf::kP[i]));
    float32x4_t q = vdupq_n_f32(GeluErf::kQ[4]);
    for (int i = 3; i >= 0; --i) q = vaddq_f32(vmulq_f32(q, u), vdupq_n_f32(GeluErf::kQ[i]));
    q = vaddq_f32(vmulq_f32(q, u), vdupq_n_f32(1.0f));
    float32x4_t e = vdivq_f32(vmulq_f32(c, p), q);
    const float32x4_t one = vdupq_n_f32(1.0f);
    e = vminnmq_f32(e, one);  // e < 1 ? e : 1 (e is never NaN)
    return vmulq_n_f32(vaddq_f32(x, vmulq_f32(a, e)), 0.5f);
}

inline float32x4_t vtanh(float32x4_t x) {
    float32x4_t e = vexp(vmulq_n_f32(vabsq_f32(x), -2.0f));
    float32x4_t t = vdivq_f32(vsubq_f32(vdupq_n_f32(1.0f), e), vaddq_f32(vdupq_n_f32(1.0f), e));
    return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), vnegq_f32(t), t);
}

// act(v + bias) for n floats (bias may be NULL).
inline void bias_activation_row(float *v, const float *bias, int n, armbert_activation act) {
    int i = 0;
    if (!bias && act == ARMBERT_ACTIVATION_GELU)  // the linears' GELU passes: 8 a step
        for (; i + 8 <= n; i += 8) {
            const float32x4x2_t x = vld1q_f32_x2(v + i);
            vst1q_f32_x2(v + i, float32x4x2_t{{vgelu(x.val[0]), vgelu(x.val[1])}});
        }
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(v + i);
        if (bias) x = vaddq_f32(x, vld1q_f32(bias + i));
        if (act == ARMBERT_ACTIVATION_GELU) x = vgelu(x);
        else if (act == ARMBERT_ACTIVATION_TANH) x = vtanh(x);
        vst1q_f32(v + i, x);
    }
    for (; i < n; ++i) {
        float x = v[i] + (bias ? bias[i] : 0.0f);
        if (act == ARMBERT_ACTIVATION_GELU) x = common::gelu(x);
        else if (act == ARMBERT_ACTIVATION_TANH) x = common::fast_tanh(x);
        v[i] = x;
    }
}

// 1 / sqrt(var + eps) of an fp32 row whose mean is known: the centred sum of
// squares, sixteen values a step (four-register loads; the layernorm rows' second pass).
inline float inv_std_row(const float *s, int n, float mean, float eps) {
    const float32x4_t m = vdupq_n_f32(mean);
    float32x4_t q0 = vdupq_n_f32(0.0f), q1 = q0, q2 = q0, q3 = q0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const float32x4x4_t v = vld1q_f32_x4(s + i);
        const float32x4_t a = vsubq_f32(v.val[0], m), b = vsubq_f32(v.val[1], m);
        const float32x4_t c = vsubq_f32(v.val[2], m), d = vsubq_f32(v.val[3], m);
        q0 = vfmaq_f32(q0, a, a);
        q1 = vfmaq_f32(q1, b, b);
        q2 = vfmaq_f32(q2, c, c);
        q3 = vfmaq_f32(q3, d, d);
    }
    for (; i + 4 <= n; i += 4) {
        const float32x4_t a = vsubq_f32(vld1q_f32(s + i), m);
        q0 = vfmaq_f32(q0, a, a);
    }
    float var = vaddvq_f32(vaddq_f32(vaddq_f32(q0, q1), vaddq_f32(q2, q3)));
    for (; i < n; ++i) var += (s[i] - mean) * (s[i] - mean);
    return 1.0f / __builtin_sqrtf(var / float(n) + eps);
}

// In place over n floats: x * scale + mask (mask may be NULL), then softmax,
// all in fp32 (attention_core.cpp).
void softmax_row_f32(float *row, int n, float scale, const float *mask);

}  // namespace armbert::neon
