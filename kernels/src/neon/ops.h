// NEON backend ops: FP32 (and INT8, whose non-linear components run in
// FP32) on ACL functions, except the linears' GEMMs (gemm_f32.h; int8 on cores
// with I8MM, gemm_s8_i8mm.h), the attention (our fused kernel,
// attention_core.h) and the layernorm; FP16 on our own kernels (*_fp16.cpp),
// because Debian's ACL is built without F16 CPU kernels. backend.cpp picks one.
#pragma once
#include <memory>

#include "../core/op.h"

namespace armbert::neon {

// fp32 activations (FP32 and INT8 precisions): ACL, and attention.cpp
EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d);
LinearOp *new_linear_f32(const armbert_linear_desc &d);
LinearOp *new_linear_s8(const armbert_linear_desc &d);
SoftmaxOp *new_softmax(const armbert_softmax_desc &d);
AttentionOp *new_attention(const armbert_attention_desc &d);
LayerNormOp *new_layernorm(const armbert_layernorm_desc &d);
GeluOp *new_gelu(const armbert_eltwise_desc &d);
AddOp *new_add(const armbert_eltwise_desc &d);

// Our NEON FP16 kernels; only built after the ASIMDHP check.
EmbeddingsOp *new_embeddings_fp16(const armbert_embeddings_desc &d);
LinearOp *new_linear_fp16(const armbert_linear_desc &d);
SoftmaxOp *new_softmax_fp16(const armbert_softmax_desc &d);
AttentionOp *new_attention_fp16(const armbert_attention_desc &d);
LayerNormOp *new_layernorm_fp16(const armbert_layernorm_desc &d);
GeluOp *new_gelu_fp16(const armbert_eltwise_desc &d);
AddOp *new_add_fp16(const armbert_eltwise_desc &d);

// Our layernorm ops (layernorm.cpp, layernorm_fp16.cpp) from a descriptor: Op keeps
// gamma and beta (std::vector<float>), copied here; the caller's memory is not kept.
template <class Op>
LayerNormOp *new_norm_op(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<Op>();
    op->gamma.assign(d.gamma, d.gamma + d.hidden);
    op->beta.assign(d.beta, d.beta + d.hidden);
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

// Which FP16 GEMM inner loop runs: FMLAL (FEAT_FHM) or fp16->fp32 widening.
bool fp16_gemm_uses_fmlal();

}  // namespace armbert::neon
