// FP16 linear: fp16 weights packed once (gemm_fp16.h), fp32 accumulation,
// bias and GELU/tanh in fp32, then one rounding to fp16. The context's pinned
// team splits the output-channel panels. FMLAL: the rows are packed into tiles
// of 4 and the accumulators start from the bias (linear_f16_fmlal); widening:
// bias and activation on each finished panel of 8.
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
    std::vector<float> bias;    // FMLAL: [panels * kFhmPanel], zeros without a bias
    std::vector<uint16_t> a16;  // FMLAL: the rows packed by pack_rows_fhm
    std::vector<float> x32;     // widening: rows in fp32
    std::vector<float> scratch; // widening, per thread: [M, kPanel] results + one fp32 panel
    size_t per_thread = 0;

    void on_reshape() override {
        const size_t M = size_t(rows());
        if (fmlal) {
            a16.assign(fhm_rows_halves(int(M), w.Kp), 0);
            return;
        }
        x32.assign(M * w.K, 0.0f);
        per_thread = M * kPanel + size_t(w.Kp) * kPanel;
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = w.N, K = w.K;
        const __fp16 *xp = as_f16(x->host());
        __fp16 *yp = as_f16(y->host());
        if (fmlal) {
            const uint16_t *x16 = static_cast<const uint16_t *>(x->host());
            uint16_t *y16 = static_cast<uint16_t *>(y->host());
            common::parallel_for(*ctx, (M + kFhmRows - 1) / kFhmRows,
                                 [&](int64_t t0, int64_t t1, int) {
                pack_rows_fhm(x16, K, M, K, w.Kp, int(t0), int(t1), a16.data());
            });
            common::parallel_for(*ctx, w.panels(), [&](int64_t p0, int64_t p1, int) {
                linear_f16_fmlal(a16.data(), M, w, bias.data(), desc.activation, int(p0),
                                 int(p1), y16, N);
            });
            return;
        }
        common::parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int) {
            f16_to_f32_row(xp + m0 * K, x32.data() + m0 * K, size_t(m1 - m0) * K);
        });
        const float *b = bias.empty() ? nullptr : bias.data();
        common::parallel_for(*ctx, w.panels(), [&](int64_t p0, int64_t p1, int t) {
            float *c = scratch.data() + size_t(t) * per_thread;
            for (int p = int(p0); p < int(p1); ++p) {
                gemm_f16_widen(x32.data(), K, M, w, p, p + 1, c, kPanel, c + size_t(M) * kPanel);
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
    op->fmlal = fp16_gemm_uses_fmlal();
    op->w = pack_f16(d.weight, d.out_features, d.in_features, op->fmlal ? kFhmPanel : kPanel);
    if (op->fmlal) {
        op->bias.assign(size_t(op->w.panels()) * kFhmPanel, 0.0f);
        if (d.bias) std::copy(d.bias, d.bias + d.out_features, op->bias.begin());
    } else if (d.bias) {
        op->bias.assign(d.bias, d.bias + d.out_features);
    }
    op->desc = d;
    op->desc.weight = op->desc.bias = nullptr;  // packed; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::neon
