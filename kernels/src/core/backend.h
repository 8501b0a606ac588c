// Backend: the one place where a context's backend is chosen. Each backend
// says what it supports (supports_*: throws Unsupported with the reason) and
// builds ops and tensors.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "armbert.h"

namespace armbert {

struct EmbeddingsOp;
struct LinearOp;
struct SoftmaxOp;
struct AttentionOp;
struct LayerNormOp;
struct GeluOp;
struct AddOp;

struct Backend {
    virtual ~Backend() = default;
    virtual std::string describe() const = 0;
    virtual armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                                       const std::vector<int64_t> &dims) = 0;

    // Throws Error(ARMBERT_ERR_UNSUPPORTED) when this backend cannot run the
    // precision; the default accepts all three.
    virtual void check_precision(armbert_precision p, const char *component) const;

    // Waits for the work queued on the device (armbert_context_synchronize); the
    // default is for backends whose ops return when done.
    virtual void synchronize() {}

    virtual EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) = 0;
    virtual LinearOp *new_linear(const armbert_linear_desc &d) = 0;
    virtual SoftmaxOp *new_softmax(const armbert_softmax_desc &d) = 0;
    virtual AttentionOp *new_attention(const armbert_attention_desc &d) = 0;
    virtual LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) = 0;
    virtual GeluOp *new_gelu(const armbert_eltwise_desc &d) = 0;
    virtual AddOp *new_add(const armbert_eltwise_desc &d) = 0;
};

// Factories, defined in each backend's directory; registry.cpp picks one.
std::unique_ptr<Backend> make_backend(armbert_context *ctx);
uint32_t backends_compiled();

}  // namespace armbert
