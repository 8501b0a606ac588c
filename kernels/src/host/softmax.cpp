// Softmax with an additive mask over the last axis (fp32 arithmetic).
#include "gemm.h"
#include "ops.h"
#include "parallel.h"
#include "vecmath.h"

namespace armbert::host {

void softmax_row(float *row, int n, float scale, const float *mask) {
    float mx = -3.402823466e38f;
    for (int i = 0; i < n; ++i) {
        float v = row[i] * scale + (mask ? mask[i] : 0.0f);
        row[i] = v;
        mx = v > mx ? v : mx;
    }
    float sum = 0;
    for (int i = 0; i < n; ++i) {
        row[i] = fast_exp(row[i] - mx);
        sum += row[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) row[i] *= inv;
}

namespace {

struct HostSoftmax : SoftmaxOp {
    std::vector<float> scratch;  // one row per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * seq, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                 int64_t rows_per_batch) override {
        const int S = seq;
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        parallel_for(*ctx, batch * rows_per_batch, [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * S;
            for (int64_t r = r0; r < r1; ++r) {
                const float *src = read_f32(x, r * S, S, buf);
                if (src != buf) std::copy(src, src + S, buf);
                softmax_row(buf, S, desc.scale, mk ? mk + (r / rows_per_batch) * S : nullptr);
                write_f32(y, r * S, buf, S);
            }
        });
    }
};

}  // namespace

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) {
    auto *op = new HostSoftmax();
    op->desc = d;
    return op;
}

}  // namespace armbert::host
