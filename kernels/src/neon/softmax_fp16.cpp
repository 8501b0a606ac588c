// FP16 softmax: each row widened to fp32, scale * x + mask, max, exp and sum
// in fp32 (NEON), normalised and rounded once to fp16.
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../host/parallel.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

void softmax_row_f32(float *row, int n, float scale, const float *mask) {
    float32x4_t mx4 = vdupq_n_f32(-3.402823466e38f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vld1q_f32(row + i), scale);
        if (mask) v = vaddq_f32(v, vld1q_f32(mask + i));
        vst1q_f32(row + i, v);
        mx4 = vmaxq_f32(mx4, v);
    }
    float mx = vmaxvq_f32(mx4);
    for (; i < n; ++i) {
        row[i] = row[i] * scale + (mask ? mask[i] : 0.0f);
        mx = row[i] > mx ? row[i] : mx;
    }
    float32x4_t sum4 = vdupq_n_f32(0.0f), m = vdupq_n_f32(mx);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t e = vexp(vsubq_f32(vld1q_f32(row + i), m));
        vst1q_f32(row + i, e);
        sum4 = vaddq_f32(sum4, e);
    }
    float sum = vaddvq_f32(sum4);
    for (; i < n; ++i) {
        row[i] = host::fast_exp(row[i] - mx);
        sum += row[i];
    }
    const float inv = 1.0f / sum;
    for (i = 0; i + 4 <= n; i += 4) vst1q_f32(row + i, vmulq_n_f32(vld1q_f32(row + i), inv));
    for (; i < n; ++i) row[i] *= inv;
}

namespace {

struct SoftmaxF16 : SoftmaxOp {
    std::vector<float> scratch;  // one row per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * seq, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                 int64_t rows_per_batch) override {
        const int S = seq;
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        const __fp16 *xp = as_f16(x->host());
        __fp16 *yp = as_f16(y->host());
        host::parallel_for(*ctx, batch * rows_per_batch, [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * S;
            for (int64_t r = r0; r < r1; ++r) {
                f16_to_f32_row(xp + r * S, buf, size_t(S));
                softmax_row_f32(buf, S, desc.scale, mk ? mk + (r / rows_per_batch) * S : nullptr);
                f32_to_f16_row(buf, yp + r * S, size_t(S));
            }
        });
    }
};

}  // namespace

SoftmaxOp *new_softmax_fp16(const armbert_softmax_desc &d) {
    auto *op = new SoftmaxF16();
    op->desc = d;
    return op;
}

}  // namespace armbert::neon
