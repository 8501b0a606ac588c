// FP32 linear on our NEON GEMM (gemm_f32.h): the weights are packed once, at
// creation, into panels of 12 channels with the bias beside them; each run packs
// the input rows into tiles of 8, the context's pinned team splits the panels,
// and each thread applies the activation to its own channels. This replaced ACL's
// NEGEMM (a64_sgemm_asimd_8x12 with its interleave and MergeResults passes, then
// NEActivationLayer): ACL's kernel retired 1.37 instructions per FMLA, this
// tile's loop 1.07 (tools/insncount, docs/performance.md).
#include <algorithm>
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "gemm_f32.h"
#include "ops.h"
#include "vmath.h"

namespace armbert::neon {

namespace {

struct LinearF32 : LinearOp {
    PackedF32 w;
    std::vector<float> packed_x;  // the input rows as gemm_f32.h tiles

    void on_reshape() override { packed_x.assign(packed_rows_floats(int(rows()), w.kb), 0.0f); }

    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = w.N, K = w.K;
        const float *xp = static_cast<const float *>(x->host());
        float *yp = static_cast<float *>(y->host());
        float *ap = packed_x.data();
        common::parallel_for(*ctx, (M + kMr - 1) / kMr, [&](int64_t t0, int64_t t1, int) {
            pack_rows_f32(xp, K, M, K, w.kb, int(t0), int(t1), ap);
        });
        const armbert_activation act = desc.activation;
        common::parallel_for(*ctx, w.panels(), [&](int64_t p0, int64_t p1, int) {
            gemm_f32_panels(ap, M, w, int(p0), int(p1), yp, N);
            if (act == ARMBERT_ACTIVATION_NONE) return;
            const int n0 = int(p0) * kNr, n1 = std::min(N, int(p1) * kNr);
            for (int m = 0; m < M; ++m)
                bias_activation_row(yp + size_t(m) * N + n0, nullptr, n1 - n0, act);
        });
    }
};

}  // namespace

LinearOp *new_linear_f32(const armbert_linear_desc &d) {
    auto op = std::make_unique<LinearF32>();
    op->w = pack_weights_f32(d.weight, d.bias, d.out_features, d.in_features);
    op->desc = d;
    op->desc.weight = op->desc.bias = nullptr;  // packed; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::neon
