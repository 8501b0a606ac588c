// FP16 attention: fp16 in and out, fp32 inside. Per (batch, head) task a
// thread widens its head's Q, K and V rows to fp32, packs K and V into the
// core's panels (attention_core.h), runs attention_core.h's fused Q K^T -> masked softmax -> P V, and rounds
// the head's output once to fp16. Scores and probabilities never round to
// fp16: at seq 128 that would cost more accuracy than the fp16 output itself.
#include <cmath>
#include <vector>

#include "../common/parallel.h"
#include "../common/workspace.h"
#include "../core/tensor.h"
#include "attention_core.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

namespace {

struct AttentionF16 : AttentionOp {
    std::vector<float> scratch;
    size_t per_thread = 0;

    void on_reshape() override {
        const int d = desc.hidden / desc.heads;
        // the core's panels and scores, then q [S, d] and out [S, d]
        per_thread = head_scratch_floats(seq, d) + 2 * size_t(seq) * size_t(d);
        common::require_host_memory("attention: workspace",
                                    4.0 * double(ctx->threads) * double(per_thread));
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A, ld = 3 * H;
        const float scale = 1.0f / std::sqrt(float(d));
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        const __fp16 *src = as_f16(qkv->host());
        __fp16 *dst = as_f16(out->host());
        common::parallel_for(*ctx, int64_t(batch) * A, [&](int64_t t0, int64_t t1, int t) {
            float *work = scratch.data() + size_t(t) * per_thread;
            float *q = work + head_scratch_floats(S, d), *o = q + size_t(S) * d;
            // o holds the widened keys, then the widened values, before the output
            const auto widen = [&](const __fp16 *base, int offset, float *rows) {
                for (int s = 0; s < S; ++s)
                    f16_to_f32_row(base + int64_t(s) * ld + offset, rows + size_t(s) * d,
                                   size_t(d));
            };
            for (int64_t task = t0; task < t1; ++task) {
                const int b = int(task / A), h = int(task % A);
                const __fp16 *base = src + int64_t(b) * S * ld + int64_t(h) * d;
                widen(base, 0, q);
                widen(base, H, o);
                pack_keys_f32(o, d, S, d, scratch_keys(work, S, d));
                widen(base, 2 * H, o);
                pack_values_f32(o, d, S, d, scratch_values(work, S, d));
                attend_head(q, d, mk ? mk + size_t(b) * S : nullptr, scale, S, d, work, o, d);
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
