// Host implementations of each component (one file each), the helpers they
// share for reading/writing F32 or F16 activations, and the host's instance of
// the row-op templates (common/rowops.h). Host code builds on common/ and uses
// it unqualified.
#pragma once
#include <algorithm>
#include <vector>

#include "../common/fp16.h"
#include "../common/parallel.h"
#include "../common/vecmath.h"
#include "../core/op.h"
#include "fp16.h"
#include "isa.h"

namespace armbert::host {

using namespace common;

EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d);
LinearOp *new_linear(const armbert_linear_desc &d, const HostKernels &k);
SoftmaxOp *new_softmax(const armbert_softmax_desc &d);
AttentionOp *new_attention(const armbert_attention_desc &d);
LayerNormOp *new_layernorm(const armbert_layernorm_desc &d);
GeluOp *new_gelu(const armbert_eltwise_desc &d);
AddOp *new_add(const armbert_eltwise_desc &d);
PoolOp *new_pool(const armbert_pool_desc &d);

// The kernel table of a context: its own for host contexts, else the default.
inline const HostKernels &kernels_of(const armbert_context *ctx) {
    return ctx && ctx->host_kernels ? *ctx->host_kernels : default_host_kernels();
}

// n floats starting at element `offset` of an F32/F16 host tensor: a pointer
// into the tensor for F32, a converted copy in `scratch` for F16.
inline const float *read_f32(const armbert_tensor *t, int64_t offset, int64_t n, float *scratch) {
    if (t->dtype == ARMBERT_F32) return static_cast<const float *>(t->host()) + offset;
    kernels_of(t->ctx).f16.to_f32(static_cast<const uint16_t *>(t->host()) + offset, scratch,
                                  size_t(n));
    return scratch;
}
inline void write_f32(armbert_tensor *t, int64_t offset, const float *src, int64_t n) {
    if (t->dtype == ARMBERT_F32) {
        float *dst = static_cast<float *>(t->host()) + offset;
        if (dst != src) std::copy(src, src + n, dst);
    } else {
        kernels_of(t->ctx).f16.to_f16(src, static_cast<uint16_t *>(t->host()) + offset,
                                      size_t(n));
    }
}

// The row-op policy of the host backend (common/rowops.h): F32 or F16 tensors,
// scalar loops that GCC vectorizes; the row kernels of the context's level.
struct HostRows {
    static const float *read(const armbert_tensor *t, int64_t offset, int n, float *scratch) {
        return read_f32(t, offset, n, scratch);
    }
    static void write(armbert_tensor *t, int64_t offset, const float *row, int n) {
        write_f32(t, offset, row, n);
    }
    static void add3(float *dst, const float *a, const float *b, const float *c, int n) {
        for (int i = 0; i < n; ++i) dst[i] = a[i] + b[i] + c[i];
    }
    static void sum(float *dst, const float *a, const float *b, int n) {  // dst may be a or b
        for (int i = 0; i < n; ++i) dst[i] = a[i] + b[i];
    }
    // The F32 row at `offset` to compute in place, NULL for F16 (computed in scratch,
    // then written).
    static float *row_in_place(armbert_tensor *t, int64_t offset) {
        return t->dtype == ARMBERT_F32 ? static_cast<float *>(t->host()) + offset : nullptr;
    }
    static void layernorm(const armbert_context &ctx, float *row, int n, const float *gamma,
                          const float *beta, float eps) {
        kernels_of(&ctx).rows.layernorm(row, n, gamma, beta, eps);
    }
    static void softmax(const armbert_context &ctx, float *row, int n, float scale,
                        const float *mask) {
        kernels_of(&ctx).rows.softmax(row, 1, size_t(n), n, scale, mask);
    }
};

}  // namespace armbert::host
