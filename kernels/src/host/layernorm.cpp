// LayerNorm of x (+ residual) per row; statistics in fp32, two passes for
// accuracy (mean first, then the centred variance).
#include <cmath>

#include "ops.h"
#include "parallel.h"

namespace armbert::host {

void layernorm_row(float *row, int n, const float *gamma, const float *beta, float eps) {
    float mean = 0;
    for (int i = 0; i < n; ++i) mean += row[i];
    mean /= float(n);
    float var = 0;
    for (int i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    float rstd = 1.0f / std::sqrt(var / float(n) + eps);
    for (int i = 0; i < n; ++i) row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
}

namespace {

struct HostLayerNorm : LayerNormOp {
    std::vector<float> gamma, beta, scratch;  // scratch: two rows per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * 2 * desc.hidden, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * 2 * H, *rbuf = buf + H;
            for (int64_t r = r0; r < r1; ++r) {
                const float *src = read_f32(x, r * H, H, buf);
                if (src != buf) std::copy(src, src + H, buf);
                if (residual) {
                    const float *res = read_f32(residual, r * H, H, rbuf);
                    for (int i = 0; i < H; ++i) buf[i] += res[i];
                }
                layernorm_row(buf, H, gamma.data(), beta.data(), desc.eps);
                write_f32(y, r * H, buf, H);
            }
        });
    }
};

}  // namespace

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<HostLayerNorm>();
    op->gamma.assign(d.gamma, d.gamma + d.hidden);
    op->beta.assign(d.beta, d.beta + d.hidden);
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

}  // namespace armbert::host
