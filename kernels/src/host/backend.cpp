// The host backend: portable C++ with OpenBLAS, runs on x86 and ARM alike.
#include <cblas.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../core/cpu_features.h"
#include "../core/tensor.h"
#include "ops.h"

namespace armbert {
namespace {

struct HostBackend : Backend {
    std::string describe() const override {
        uint64_t f = cpu_features();
        std::string s = "portable C++ + OpenBLAS";
        if (f & ARMBERT_CPU_AVX512_VNNI) s += ", int8 GEMM on AVX512-VNNI";
        else s += ", int8 GEMM portable";
        if (f & ARMBERT_CPU_F16C) s += ", F16C conversions";
        return s;
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        return new_host_tensor(ctx, dtype, dims);
    }
    EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) override {
        return host::new_embeddings(d);
    }
    LinearOp *new_linear(const armbert_linear_desc &d) override { return host::new_linear(d); }
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

std::unique_ptr<Backend> make_host_backend(armbert_context *) {
    // Our own teams split the work; each OpenBLAS call stays on its thread.
    openblas_set_num_threads(1);
    return std::make_unique<HostBackend>();
}

}  // namespace armbert
