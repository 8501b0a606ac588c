// FP16 layernorm (+ residual): rows widened to fp32 as they are read, statistics
// in fp32, gamma/beta in fp32, one rounding to fp16 as they are written. Three
// passes per row, like the fp32 rows of layernorm.cpp: x (+ residual) widened
// into an fp32 row and summed, the centred sum of squares, the affine narrowed
// into y. (common/rowops.h's generic rows made five: widen x, widen the
// residual, add, normalize, narrow: 5.8 M of MiniLM fp16's instructions at
// S=128, tools/insncount; these take about 3.)
#include <arm_neon.h>

#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "../core/tensor.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

void norm_row_f16(const __fp16 *x, const __fp16 *res, float *s, __fp16 *y, int H,
                  const float *gamma, const float *beta, float eps) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int i = 0;
    for (; i + 16 <= H; i += 16) {  // two-register fp16 loads, a four-register store
        const float16x8x2_t h = vld1q_f16_x2(x + i);
        float32x4x4_t a{{vcvt_f32_f16(vget_low_f16(h.val[0])), vcvt_high_f32_f16(h.val[0]),
                         vcvt_f32_f16(vget_low_f16(h.val[1])), vcvt_high_f32_f16(h.val[1])}};
        if (res) {
            const float16x8x2_t r = vld1q_f16_x2(res + i);
            a.val[0] = vaddq_f32(a.val[0], vcvt_f32_f16(vget_low_f16(r.val[0])));
            a.val[1] = vaddq_f32(a.val[1], vcvt_high_f32_f16(r.val[0]));
            a.val[2] = vaddq_f32(a.val[2], vcvt_f32_f16(vget_low_f16(r.val[1])));
            a.val[3] = vaddq_f32(a.val[3], vcvt_high_f32_f16(r.val[1]));
        }
        vst1q_f32_x4(s + i, a);
        s0 = vaddq_f32(s0, vaddq_f32(a.val[0], a.val[2]));
        s1 = vaddq_f32(s1, vaddq_f32(a.val[1], a.val[3]));
    }
    for (; i + 8 <= H; i += 8) {
        const float16x8_t h = vld1q_f16(x + i);
        float32x4_t a = vcvt_f32_f16(vget_low_f16(h)), b = vcvt_high_f32_f16(h);
        if (res) {
            const float16x8_t r = vld1q_f16(res + i);
            a = vaddq_f32(a, vcvt_f32_f16(vget_low_f16(r)));
            b = vaddq_f32(b, vcvt_high_f32_f16(r));
        }
        vst1q_f32(s + i, a);
        vst1q_f32(s + i + 4, b);
        s0 = vaddq_f32(s0, a);
        s1 = vaddq_f32(s1, b);
    }
    float sum = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < H; ++i) {
        s[i] = float(x[i]) + (res ? float(res[i]) : 0.0f);
        sum += s[i];
    }
    const float mean = sum / float(H);
    const float32x4_t m = vdupq_n_f32(mean);
    const float rstd = inv_std_row(s, H, mean, eps);
    i = 0;
    for (; i + 16 <= H; i += 16) {  // four-register loads of s, gamma and beta
        const float32x4x4_t v = vld1q_f32_x4(s + i), g = vld1q_f32_x4(gamma + i),
                            b = vld1q_f32_x4(beta + i);
        float32x4_t o[4];
        for (int j = 0; j < 4; ++j)
            o[j] = vfmaq_f32(b.val[j], vmulq_n_f32(vsubq_f32(v.val[j], m), rstd), g.val[j]);
        vst1q_f16_x2(y + i, float16x8x2_t{{vcvt_high_f16_f32(vcvt_f16_f32(o[0]), o[1]),
                                           vcvt_high_f16_f32(vcvt_f16_f32(o[2]), o[3])}});
    }
    for (; i + 8 <= H; i += 8) {
        const float32x4_t a = vmulq_n_f32(vsubq_f32(vld1q_f32(s + i), m), rstd);
        const float32x4_t b = vmulq_n_f32(vsubq_f32(vld1q_f32(s + i + 4), m), rstd);
        const float32x4_t ya = vfmaq_f32(vld1q_f32(beta + i), a, vld1q_f32(gamma + i));
        const float32x4_t yb = vfmaq_f32(vld1q_f32(beta + i + 4), b, vld1q_f32(gamma + i + 4));
        vst1q_f16(y + i, vcvt_high_f16_f32(vcvt_f16_f32(ya), yb));
    }
    for (; i < H; ++i) y[i] = __fp16((s[i] - mean) * rstd * gamma[i] + beta[i]);
}

struct NeonLayerNormF16 : LayerNormOp {
    std::vector<float> gamma, beta, scratch;  // scratch: one fp32 row per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * desc.hidden, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        const __fp16 *xp = as_f16(x->host()), *rp = residual ? as_f16(residual->host()) : nullptr;
        __fp16 *yp = as_f16(y->host());
        common::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *s = scratch.data() + size_t(t) * H;
            for (int64_t r = r0; r < r1; ++r)
                norm_row_f16(xp + r * H, rp ? rp + r * H : nullptr, s, yp + r * H, H,
                             gamma.data(), beta.data(), desc.eps);
        });
    }
};

}  // namespace

LayerNormOp *new_layernorm_fp16(const armbert_layernorm_desc &d) {
    return new_norm_op<NeonLayerNormF16>(d);
}

}  // namespace armbert::neon
