// FP16 attention: fp16 in and out, fp32 inside. Per (batch, head) task a
// thread widens its head's Q, K and V into fp32 panels (K packed by key, V
// by head channel, the layout panel_gemm_f32 reads), computes Q K^T, the
// masked softmax with the scale applied first, and P V, then rounds once
// to fp16. Scores and probabilities never round to fp16: at seq 128 that
// would cost more accuracy than the fp16 output itself.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "../common/workspace.h"
#include "../core/tensor.h"
#include "../common/parallel.h"
#include "gemm_fp16.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

namespace {

struct AttentionF16 : AttentionOp {
    std::vector<float> scratch;
    size_t per_thread = 0;

    void on_reshape() override {
        const int dh = desc.hidden / desc.heads;
        const size_t S = size_t(seq), Sp = size_t(common::round_up(seq, kPanel)), d = size_t(dh),
                     dp = size_t(common::round_up(dh, kPanel));
        // q [S, d], k panels [Sp/8][d][8], v panels [dp/8][S][8], scores [S, Sp], out [S, d]
        per_thread = S * d + Sp * d + dp * S + S * Sp + S * d;
        common::require_host_memory(
            "attention: workspace",
            4.0 * double(ctx->threads) *
                (double(S) * d + double(Sp) * d + double(dp) * S + double(S) * Sp + double(S) * d));
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A, ld = 3 * H;
        const int Sp = common::round_up(S, kPanel), dp = common::round_up(d, kPanel);
        const float scale = 1.0f / std::sqrt(float(d));
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        const __fp16 *src = as_f16(qkv->host());
        __fp16 *dst = as_f16(out->host());
        common::parallel_for(*ctx, int64_t(batch) * A, [&](int64_t t0, int64_t t1, int t) {
            float *q = scratch.data() + size_t(t) * per_thread;
            float *kp = q + size_t(S) * d, *vp = kp + size_t(Sp) * d,
                  *scores = vp + size_t(dp) * S, *o = scores + size_t(S) * Sp;
            for (int64_t task = t0; task < t1; ++task) {
                const int b = int(task / A), h = int(task % A);
                const __fp16 *base = src + int64_t(b) * S * ld + int64_t(h) * d;
                for (int s = 0; s < S; ++s) {
                    const __fp16 *row = base + int64_t(s) * ld;
                    f16_to_f32_row(row, q + size_t(s) * d, size_t(d));
                    float *kcol = kp + size_t(s / kPanel) * d * kPanel + s % kPanel;
                    for (int i = 0; i < d; ++i) kcol[size_t(i) * kPanel] = float(row[H + i]);
                    for (int i = 0; i < d; ++i)
                        vp[size_t(i / kPanel) * S * kPanel + size_t(s) * kPanel + i % kPanel] =
                            float(row[2 * H + i]);
                }
                // Padding keys (>= S) are zero and their score columns are
                // never stored: softmax and P V read the first S only.
                for (int p = 0; p < Sp / kPanel; ++p)
                    panel_gemm_f32(q, d, S, kp + size_t(p) * d * kPanel, d,
                                   scores + size_t(p) * kPanel, Sp,
                                   std::min(kPanel, S - p * kPanel));
                for (int i = 0; i < S; ++i)
                    softmax_row_f32(scores + size_t(i) * Sp, S, scale,
                                    mk ? mk + size_t(b) * S : nullptr);
                for (int p = 0; p < dp / kPanel; ++p)
                    panel_gemm_f32(scores, Sp, S, vp + size_t(p) * S * kPanel, S,
                                   o + size_t(p) * kPanel, d, std::min(kPanel, d - p * kPanel));
                __fp16 *obase = dst + int64_t(b) * S * H + int64_t(h) * d;
                for (int s = 0; s < S; ++s)
                    f32_to_f16_row(o + size_t(s) * d, obase + int64_t(s) * H, size_t(d));
            }
        });
    }
};

}  // namespace

AttentionOp *new_attention_fp16(const armbert_attention_desc &d) { return new_op<AttentionF16>(d); }

}  // namespace armbert::neon
