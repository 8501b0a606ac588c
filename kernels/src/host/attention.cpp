// Multi-head self-attention core: per (batch, head) task, scores = Q K^T on
// OpenBLAS, masked softmax, then P V written into the head's columns.
// FP16 widens the head's Q/K/V to fp32 scratch; INT8 runs in fp32.
#include <cmath>

#include "../common/workspace.h"
#include "gemm.h"
#include "ops.h"

namespace armbert::host {

namespace {

struct HostAttention : AttentionOp {
    std::vector<float> scratch;
    size_t per_thread = 0;
    void on_reshape() override {
        const size_t S = size_t(seq), d = size_t(desc.hidden / desc.heads);
        per_thread = S * S + 4 * S * d;
        common::require_host_memory("attention: workspace",
                                    4.0 * double(ctx->threads) * (double(S) * S + 4.0 * S * d));
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }
    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A, ld = 3 * H;
        const float scale = 1.0f / std::sqrt(float(d));
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        const bool f16 = qkv->dtype == ARMBERT_F16;
        parallel_for(*ctx, int64_t(batch) * A, [&](int64_t t0, int64_t t1, int t) {
            float *scores = scratch.data() + size_t(t) * per_thread;
            float *qf = scores + size_t(S) * S, *kf = qf + size_t(S) * d, *vf = kf + size_t(S) * d,
                  *of = vf + size_t(S) * d;
            for (int64_t task = t0; task < t1; ++task) {
                int b = int(task / A), h = int(task % A);
                int64_t base = int64_t(b) * S * ld + int64_t(h) * d;
                const float *q, *k, *v;
                int lq;
                if (f16) {
                    for (int s = 0; s < S; ++s) {
                        int64_t row = base + int64_t(s) * ld;
                        read_f32(qkv, row, d, qf + size_t(s) * d);
                        read_f32(qkv, row + H, d, kf + size_t(s) * d);
                        read_f32(qkv, row + 2 * H, d, vf + size_t(s) * d);
                    }
                    q = qf, k = kf, v = vf, lq = d;
                } else {
                    q = data_of<float>(qkv) + base, k = q + H, v = q + 2 * H, lq = ld;
                }
                sgemm_nt(S, S, d, 1.0f, q, lq, k, lq, 0.0f, scores, S);
                for (int i = 0; i < S; ++i)
                    softmax_row(scores + size_t(i) * S, S, scale, mk ? mk + size_t(b) * S : nullptr);
                int64_t obase = int64_t(b) * S * H + int64_t(h) * d;
                if (f16) {
                    sgemm_nn(S, d, S, scores, S, v, lq, of, d);
                    for (int s = 0; s < S; ++s)
                        write_f32(out, obase + int64_t(s) * H, of + size_t(s) * d, d);
                } else {
                    sgemm_nn(S, d, S, scores, S, v, lq, data_of<float>(out) + obase, H);
                }
            }
        });
    }
};

}  // namespace

AttentionOp *new_attention(const armbert_attention_desc &d) { return new_op<HostAttention>(d); }

}  // namespace armbert::host
