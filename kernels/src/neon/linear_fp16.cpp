// FP16 linear: fp16 weights packed once (gemm_fp16.h), fp32 accumulation,
// bias and GELU/tanh in fp32 on each finished panel, then one rounding to
// fp16. The context's pinned team splits the output-channel panels.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "gemm_fp16.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

struct LinearF16 : LinearOp {
    PackedF16 w;
    bool fmlal = false;  // chosen once per op from HWCAP (gemm_fp16.h)
    std::vector<float> bias;
    std::vector<uint16_t> x16;  // FMLAL: rows zero padded to Kp (when K % 8 != 0)
    std::vector<float> x32;     // widening: rows in fp32
    std::vector<float> scratch; // per thread: [M, kPanel] results + one fp32 panel
    size_t per_thread = 0;

    void on_reshape() override {
        const size_t M = size_t(rows());
        x16.assign(fmlal && w.Kp != w.K ? M * w.Kp : 0, 0);
        x32.assign(fmlal ? 0 : M * w.K, 0.0f);
        per_thread = M * kPanel + (fmlal ? 0 : size_t(w.Kp) * kPanel);
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = w.N, K = w.K;
        const __fp16 *xp = as_f16(x->host());
        __fp16 *yp = as_f16(y->host());
        const uint16_t *a16 = static_cast<const uint16_t *>(x->host());
        int lda = K;
        if (fmlal && !x16.empty()) {
            common::parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int) {
                for (int64_t m = m0; m < m1; ++m)
                    std::memcpy(&x16[size_t(m) * w.Kp], xp + m * K, sizeof(uint16_t) * K);
            });
            a16 = x16.data();
            lda = w.Kp;
        } else if (!fmlal) {
            common::parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int) {
                f16_to_f32_row(xp + m0 * K, x32.data() + m0 * K, size_t(m1 - m0) * K);
            });
        }
        const float *b = bias.empty() ? nullptr : bias.data();
        common::parallel_for(*ctx, w.panels(), [&](int64_t p0, int64_t p1, int t) {
            float *c = scratch.data() + size_t(t) * per_thread;
            for (int p = int(p0); p < int(p1); ++p) {
                if (fmlal)
                    gemm_f16_fmlal(a16, lda, M, w, p, p + 1, c, kPanel);
                else
                    gemm_f16_widen(x32.data(), K, M, w, p, p + 1, c, kPanel,
                                   c + size_t(M) * kPanel);
                const int n0 = p * kPanel, nn = std::min(kPanel, N - n0);
                for (int m = 0; m < M; ++m) {
                    float *row = c + size_t(m) * kPanel;
                    bias_activation_row(row, b ? b + n0 : nullptr, nn, desc.activation);
                    f32_to_f16_row(row, yp + size_t(m) * N + n0, size_t(nn));
                }
            }
        });
    }
};

}  // namespace

LinearOp *new_linear_fp16(const armbert_linear_desc &d) {
    auto op = std::make_unique<LinearF16>();
    op->w = pack_f16(d.weight, d.out_features, d.in_features);
    op->fmlal = fp16_gemm_uses_fmlal();
    if (d.bias) op->bias.assign(d.bias, d.bias + d.out_features);
    op->desc = d;
    op->desc.weight = op->desc.bias = nullptr;  // packed; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::neon
