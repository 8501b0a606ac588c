// FP16 embeddings: the tables stay fp32 (each row is read once per token);
// word + position + token type and the layernorm run in fp32, and only the
// output is rounded to fp16.
#include <memory>
#include <vector>

#include "../core/tensor.h"
#include "../host/parallel.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

struct EmbeddingsF16 : EmbeddingsOp {
    std::vector<float> word, position, token_type, gamma, beta, scratch;
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * desc.hidden, 0.0f); }
    void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) override {
        const int H = desc.hidden;
        __fp16 *yp = as_f16(out->host());
        host::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * H;
            for (int64_t r = r0; r < r1; ++r) {
                const float *w = word.data() + size_t(ids[r]) * H;
                const float *p = position.data() + size_t(r % seq) * H;
                const float *tt = token_type.data() + size_t(type_ids ? type_ids[r] : 0) * H;
                int i = 0;
                for (; i + 4 <= H; i += 4)
                    vst1q_f32(buf + i, vaddq_f32(vaddq_f32(vld1q_f32(w + i), vld1q_f32(p + i)),
                                                 vld1q_f32(tt + i)));
                for (; i < H; ++i) buf[i] = w[i] + p[i] + tt[i];
                layernorm_row(buf, H, gamma.data(), beta.data(), desc.eps);
                f32_to_f16_row(buf, yp + r * H, size_t(H));
            }
        });
    }
};

}  // namespace

EmbeddingsOp *new_embeddings_fp16(const armbert_embeddings_desc &d) {
    auto op = std::make_unique<EmbeddingsF16>();
    const size_t H = size_t(d.hidden);
    op->word.assign(d.word, d.word + size_t(d.vocab_size) * H);
    op->position.assign(d.position, d.position + size_t(d.max_positions) * H);
    op->token_type.assign(d.token_type, d.token_type + size_t(d.type_vocab_size) * H);
    op->gamma.assign(d.gamma, d.gamma + H);
    op->beta.assign(d.beta, d.beta + H);
    op->desc = d;
    op->desc.word = op->desc.position = op->desc.token_type = nullptr;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

}  // namespace armbert::neon
