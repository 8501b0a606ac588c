// FP16 layernorm: rows (plus residual) widened to fp32, statistics in two
// fp32 passes, gamma/beta in fp32, one rounding to fp16.
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../host/parallel.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

struct LayerNormF16 : LayerNormOp {
    std::vector<float> gamma, beta, scratch;  // scratch: two rows per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * 2 * desc.hidden, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        const __fp16 *xp = as_f16(x->host());
        const __fp16 *rp = residual ? as_f16(residual->host()) : nullptr;
        __fp16 *yp = as_f16(y->host());
        host::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * 2 * H, *rbuf = buf + H;
            for (int64_t r = r0; r < r1; ++r) {
                f16_to_f32_row(xp + r * H, buf, size_t(H));
                if (rp) {
                    f16_to_f32_row(rp + r * H, rbuf, size_t(H));
                    int i = 0;
                    for (; i + 4 <= H; i += 4)
                        vst1q_f32(buf + i, vaddq_f32(vld1q_f32(buf + i), vld1q_f32(rbuf + i)));
                    for (; i < H; ++i) buf[i] += rbuf[i];
                }
                layernorm_row(buf, H, gamma.data(), beta.data(), desc.eps);
                f32_to_f16_row(buf, yp + r * H, size_t(H));
            }
        });
    }
};

}  // namespace

LayerNormOp *new_layernorm_fp16(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<LayerNormF16>();
    op->gamma.assign(d.gamma, d.gamma + d.hidden);
    op->beta.assign(d.beta, d.beta + d.hidden);
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

}  // namespace armbert::neon
