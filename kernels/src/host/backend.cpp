// The host backend: portable C++ with OpenBLAS, runs on x86 and ARM alike.
#include <cblas.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../core/tensor.h"
#include "isa.h"
#include "ops.h"

namespace armbert {
namespace {

struct HostBackend : Backend {
    const host::HostKernels &kernels;
    explicit HostBackend(const host::HostKernels &k) : kernels(k) {}
    std::string describe() const override {
        return "portable C++ + OpenBLAS; " + host::describe_kernels(kernels);
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        return new_host_tensor(ctx, dtype, dims);
    }
    EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) override {
        return host::new_embeddings(d);
    }
    LinearOp *new_linear(const armbert_linear_desc &d) override {
        return host::new_linear(d, kernels);
    }
    SoftmaxOp *new_softmax(const armbert_softmax_desc &d) override {
        return host::new_softmax(d);
    }
    AttentionOp *new_attention(const armbert_attention_desc &d) override {
        return host::new_attention(d);
    }
    LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) override {
        return host::new_layernorm(d);
    }
    GeluOp *new_gelu(const armbert_eltwise_desc &d) override { return host::new_gelu(d); }
    AddOp *new_add(const armbert_eltwise_desc &d) override { return host::new_add(d); }
};

}  // namespace

std::unique_ptr<Backend> make_host_backend(armbert_context *ctx) {
    // The ISA level, once per context (ARMBERT_ISA or the best this CPU runs);
    // a level the CPU lacks fails the context creation with the reason.
    const host::HostKernels &k = host::select_host_kernels();
    // Our own teams split the work; each OpenBLAS call stays on its thread.
    openblas_set_num_threads(1);
    ctx->host_kernels = &k;
    return std::make_unique<HostBackend>(k);
}

}  // namespace armbert
