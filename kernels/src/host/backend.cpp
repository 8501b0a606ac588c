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
    explicit HostBackend(const host::HostKernels &k) : kernels(k) {
        // Every op in every precision: the host backend is the reference and the
        // engine's fallback (INT8's non-linear ops run on FP32 activations).
        register_all(ops.embeddings, host::new_embeddings);
        register_all(ops.linear,
                     [&k](const armbert_linear_desc &d) { return host::new_linear(d, k); });
        register_all(ops.softmax, host::new_softmax);
        register_all(ops.attention, host::new_attention);
        register_all(ops.layernorm, host::new_layernorm);
        register_all(ops.gelu, host::new_gelu);
        register_all(ops.add, host::new_add);
        register_all(ops.pool, host::new_pool);
    }
    std::string describe() const override {
        return "portable C++ + OpenBLAS; " + host::describe_kernels(kernels);
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        return new_host_tensor(ctx, dtype, dims);
    }
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
