// FP32 layernorm (+ residual): our fused NEON rows (norm_row). AclNorm
// (NEMeanStdDevNormalizationLayer + our gamma/beta pass) stays for the embeddings.
#include <arm_neon.h>

#include <cmath>
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "norm.h"
#include "ops.h"
#include "scheduler.h"
#include "vmath.h"

namespace armbert::neon {

void AclNorm::configure(int64_t rows, int hidden) {
    fn.reset();
    in_.init(info_2d(rows, hidden));
    out_.init(info_2d(rows, hidden));
    check_valid(arm_compute::NEMeanStdDevNormalizationLayer::validate(in_.info(), out_.info(),
                                                                      eps),
                "NEMeanStdDevNormalizationLayer");
    auto f = std::make_unique<arm_compute::NEMeanStdDevNormalizationLayer>();
    f->configure(in_.get(), out_.get(), eps);
    in_.expect_dense("layernorm input");
    out_.expect_dense("layernorm output");
    fn = std::move(f);
}

void AclNorm::run(const armbert_context &ctx, const float *in, float *out) {
    const int64_t rows = int64_t(out_.info()->dimension(1));
    const int H = int(out_.info()->dimension(0));
    {
        ActiveContext active(ctx);
        in_.bind(in);
        out_.bind(out);
        configured(fn, "layernorm").run();
    }
    const float *g = gamma.data(), *b = beta.data();
    common::parallel_for(ctx, rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
            float *y = out + r * H;
            for (int i = 0; i < H; ++i) y[i] = y[i] * g[i] + b[i];
        }
    });
}

namespace {

// One row: y = (s - mean) / sqrt(var + eps) * gamma + beta with s = x (+ residual),
// in three passes over y, which stays in L1: s and its sum, the centred sum of
// squares, the affine. ACL's version (NEArithmeticAddition, then
// NEMeanStdDevNormalizationLayer, then our gamma/beta pass) made five passes: 2.6 M
// instructions per layernorm kind for MiniLM int8 S=128 (tools/insncount) where this
// takes about 1.4 M. Statistics in fp32 as on every backend.
void norm_row(const float *x, const float *res, float *y, int H, const float *gamma,
              const float *beta, float eps) {
    // Sixteen values a step with four-register loads and stores: 20.8 -> 14.4
    // instructions per four values (tools/insncount, MiniLM fp32).
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 16 <= H; i += 16) {
        float32x4x4_t a = vld1q_f32_x4(x + i);
        if (res) {
            const float32x4x4_t b = vld1q_f32_x4(res + i);
            for (int j = 0; j < 4; ++j) a.val[j] = vaddq_f32(a.val[j], b.val[j]);
        }
        vst1q_f32_x4(y + i, a);
        s0 = vaddq_f32(s0, a.val[0]);
        s1 = vaddq_f32(s1, a.val[1]);
        s2 = vaddq_f32(s2, a.val[2]);
        s3 = vaddq_f32(s3, a.val[3]);
    }
    for (; i + 4 <= H; i += 4) {
        float32x4_t a = vld1q_f32(x + i);
        if (res) a = vaddq_f32(a, vld1q_f32(res + i));
        vst1q_f32(y + i, a);
        s0 = vaddq_f32(s0, a);
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < H; ++i) {
        y[i] = res ? x[i] + res[i] : x[i];
        sum += y[i];
    }
    const float mean = sum / float(H);
    const float32x4_t m = vdupq_n_f32(mean);
    const float rstd = inv_std_row(y, H, mean, eps);
    for (i = 0; i + 16 <= H; i += 16) {
        float32x4x4_t v = vld1q_f32_x4(y + i);
        const float32x4x4_t g = vld1q_f32_x4(gamma + i), b = vld1q_f32_x4(beta + i);
        for (int j = 0; j < 4; ++j)
            v.val[j] = vfmaq_f32(b.val[j], vmulq_n_f32(vsubq_f32(v.val[j], m), rstd), g.val[j]);
        vst1q_f32_x4(y + i, v);
    }
    for (; i + 4 <= H; i += 4) {
        const float32x4_t t = vmulq_n_f32(vsubq_f32(vld1q_f32(y + i), m), rstd);
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(beta + i), t, vld1q_f32(gamma + i)));
    }
    for (; i < H; ++i) y[i] = (y[i] - mean) * rstd * gamma[i] + beta[i];
}

struct NeonLayerNorm : LayerNormOp {
    std::vector<float> gamma, beta;
    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        const float *xp = data_of<float>(x), *rp = residual ? data_of<float>(residual) : nullptr;
        float *yp = data_of<float>(y);
        common::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                norm_row(xp + r * H, rp ? rp + r * H : nullptr, yp + r * H, H, gamma.data(),
                         beta.data(), desc.eps);
        });
    }
};

}  // namespace

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    return new_norm_op<NeonLayerNorm>(d);
}

}  // namespace armbert::neon
