// Row-op templates: the components that read each row into fp32, run one row
// kernel over it and write it back once (embeddings, layernorm, softmax). The host
// backend (fp32 and fp16 tensors) and NEON's FP16 kernels are both instances; what
// differs is a policy P, the backend's row I/O and row kernels:
//
//   // n floats at element `offset` of t, as fp32: a pointer into t when it is
//   // fp32 already, else widened into scratch (n floats)
//   static const float *read(const armbert_tensor *t, int64_t offset, int n, float *scratch);
//   static void write(armbert_tensor *t, int64_t offset, const float *row, int n);  // narrows
//   static void add3(float *dst, const float *a, const float *b, const float *c, int n);
//   static void add(float *dst, const float *a, int n);  // dst += a
//   // the row kernels, at the context's level (the host's ISA table)
//   static void layernorm(const armbert_context &ctx, float *row, int n, const float *gamma,
//                         const float *beta, float eps);
//   static void softmax(const armbert_context &ctx, float *row, int n, float scale,
//                       const float *mask);  // mask may be NULL
//
// Workspaces: one or two rows per thread of the context's team, sized by reshape.
#pragma once
#include <algorithm>
#include <memory>
#include <vector>

#include "../core/op.h"
#include "../core/tensor.h"
#include "parallel.h"

namespace armbert::common {

// Word + position + token-type rows (fp32 tables in every precision: each row is
// read once per token), summed and normalized in fp32, written once.
template <typename P> struct RowEmbeddings : EmbeddingsOp {
    std::vector<float> scratch;
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * desc.hidden, 0.0f); }
    void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) override {
        const int H = desc.hidden;
        parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * H;
            for (int64_t r = r0; r < r1; ++r) {
                const float *w = word.data() + size_t(ids[r]) * H;
                const float *p = position.data() + size_t(r % seq) * H;
                const float *tt = token_type.data() + size_t(type_ids ? type_ids[r] : 0) * H;
                P::add3(buf, w, p, tt, H);
                P::layernorm(*ctx, buf, H, gamma.data(), beta.data(), desc.eps);
                P::write(out, r * H, buf, H);
            }
        });
    }
};

template <typename P> EmbeddingsOp *new_row_embeddings(const armbert_embeddings_desc &d) {
    auto op = std::make_unique<RowEmbeddings<P>>();
    op->keep(d);
    return op.release();
}

// LayerNorm of x (+ residual) per row, statistics in fp32. An F32 output row is
// where the sum is formed and normalized, so F32 rows are never copied (the two
// copies per row were 2 % of a BERT-base fp32 run, `perf`); F16 rows go through
// scratch.
template <typename P> struct RowLayerNorm : LayerNormOp {
    std::vector<float> gamma, beta, scratch;  // scratch: two rows per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * 2 * desc.hidden, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * 2 * H, *rbuf = buf + H;
            for (int64_t r = r0; r < r1; ++r) {
                float *out = P::row_in_place(y, r * H);
                float *row = out ? out : buf;
                const float *src = P::read(x, r * H, H, buf);
                if (residual) P::sum(row, src, P::read(residual, r * H, H, rbuf), H);
                else if (src != row) std::copy(src, src + H, row);
                P::layernorm(*ctx, row, H, gamma.data(), beta.data(), desc.eps);
                if (!out) P::write(y, r * H, row, H);
            }
        });
    }
};

template <typename P> LayerNormOp *new_row_layernorm(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<RowLayerNorm<P>>();
    op->gamma.assign(d.gamma, d.gamma + d.hidden);
    op->beta.assign(d.beta, d.beta + d.hidden);
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

// Softmax of scale * x + mask over the last axis, in fp32.
template <typename P> struct RowSoftmax : SoftmaxOp {
    std::vector<float> scratch;  // one row per thread
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * seq, 0.0f); }
    void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                 int64_t rows_per_batch) override {
        const int S = seq;
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        parallel_for(*ctx, batch * rows_per_batch, [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * S;
            for (int64_t r = r0; r < r1; ++r) {
                const float *src = P::read(x, r * S, S, buf);
                if (src != buf) std::copy(src, src + S, buf);
                P::softmax(*ctx, buf, S, desc.scale, mk ? mk + (r / rows_per_batch) * S : nullptr);
                P::write(y, r * S, buf, S);
            }
        });
    }
};

template <typename P> SoftmaxOp *new_row_softmax(const armbert_softmax_desc &d) {
    return new_op<RowSoftmax<P>>(d);
}

}  // namespace armbert::common
