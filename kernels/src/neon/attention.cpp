// FP32 attention (INT8 runs it too: its attention is fp32). Per (batch, head)
// task a thread packs the head's keys and values from the qkv rows and runs
// attention_core.h's fused Q K^T -> masked softmax -> P V, reading Q in place
// and writing the head's output columns in place: no head copies, no full
// S x S scores tensor, no separate mask pass.
//
// It replaced ACL's NEMatMul + NEArithmeticAddition + NESoftmaxLayer with
// head copies in and out, which retired 45.5 M instructions for MiniLM at
// S=128 (6 layers, 1 thread) against 39.9 M for this (tools/insncount,
// docs/performance.md).
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "../common/workspace.h"
#include "../core/tensor.h"
#include "attention_core.h"
#include "ops.h"

namespace armbert::neon {
namespace {

struct FusedAttention : AttentionOp {
    std::vector<float> scratch;
    size_t per_thread = 0;

    void on_reshape() override {
        per_thread = head_scratch_floats(seq, desc.hidden / desc.heads);
        common::require_host_memory("attention: workspace",
                                    4.0 * double(ctx->threads) * double(per_thread));
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A, ld = 3 * H;
        const float scale = 1.0f / std::sqrt(float(d));
        const float *src = data_of<float>(qkv);
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        float *dst = data_of<float>(out);
        common::parallel_for(*ctx, int64_t(batch) * A, [&](int64_t t0, int64_t t1, int t) {
            float *work = scratch.data() + size_t(t) * per_thread;
            for (int64_t task = t0; task < t1; ++task) {
                const int64_t b = task / A, h = task % A;
                const float *q = src + b * S * ld + h * d;
                pack_keys_f32(q + H, ld, S, d, scratch_keys(work, S, d));
                pack_values_f32(q + 2 * H, ld, S, d, scratch_values(work, S, d));
                attend_head(q, ld, mk ? mk + b * S : nullptr, scale, S, d, work,
                            dst + b * S * H + h * d, H);
            }
        });
    }
};

}  // namespace

AttentionOp *new_attention(const armbert_attention_desc &d) { return new_op<FusedAttention>(d); }

}  // namespace armbert::neon
