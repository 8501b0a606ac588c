// Embeddings: gather word + position + token-type rows, then layernorm.
// Tables stay fp32 in every precision (they are read once per token).
#include "ops.h"
#include "parallel.h"

namespace armbert::host {

void layernorm_row(float *row, int n, const float *gamma, const float *beta, float eps);

namespace {

struct HostEmbeddings : EmbeddingsOp {
    std::vector<float> word, position, token_type, gamma, beta, scratch;
    void on_reshape() override { scratch.assign(size_t(ctx->threads) * desc.hidden, 0.0f); }
    void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) override {
        const int H = desc.hidden;
        parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int t) {
            float *buf = scratch.data() + size_t(t) * H;
            for (int64_t r = r0; r < r1; ++r) {
                const float *w = word.data() + size_t(ids[r]) * H;
                const float *p = position.data() + size_t(r % seq) * H;
                const float *tt = token_type.data() + size_t(type_ids ? type_ids[r] : 0) * H;
                for (int i = 0; i < H; ++i) buf[i] = w[i] + p[i] + tt[i];
                layernorm_row(buf, H, gamma.data(), beta.data(), desc.eps);
                write_f32(out, r * H, buf, H);
            }
        });
    }
};

}  // namespace

EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) {
    auto op = std::make_unique<HostEmbeddings>();
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

}  // namespace armbert::host
