// Elementwise GELU (erf form) and residual add, in chunks that stay in L1.
#include "ops.h"

namespace armbert::host {
namespace {

constexpr int64_t kChunk = 1024;

// Splits [0, numel) into chunks across threads; f(offset, count, a, b, out)
// works on fp32 views of up to three tensors.
template <typename F>
void for_chunks(const armbert_context &ctx, int64_t numel, const armbert_tensor *a,
                const armbert_tensor *b, armbert_tensor *y, F &&f) {
    int64_t chunks = (numel + kChunk - 1) / kChunk;
    parallel_for(ctx, chunks, [&](int64_t c0, int64_t c1, int) {
        float abuf[kChunk], bbuf[kChunk], ybuf[kChunk];
        for (int64_t c = c0; c < c1; ++c) {
            int64_t off = c * kChunk, n = std::min(kChunk, numel - off);
            const float *av = read_f32(a, off, n, abuf);
            const float *bv = b ? read_f32(b, off, n, bbuf) : nullptr;
            float *yv = y->dtype == ARMBERT_F32 ? data_of<float>(y) + off : ybuf;
            f(av, bv, yv, n);
            write_f32(y, off, yv, n);
        }
    });
}

struct HostGelu : GeluOp {
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const auto activate = kernels_of(ctx).rows.activate;
        for_chunks(*ctx, x->numel, x, nullptr, y,
                   [activate](const float *a, const float *, float *o, int64_t n) {
                       if (o != a) std::copy(a, a + n, o);
                       activate(o, int(n), ARMBERT_ACTIVATION_GELU);
                   });
    }
};

struct HostAdd : AddOp {
    void compute(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y) override {
        for_chunks(*ctx, a->numel, a, b, y,
                   [](const float *p, const float *q, float *o, int64_t n) {
                       for (int64_t i = 0; i < n; ++i) o[i] = p[i] + q[i];
                   });
    }
};

}  // namespace

GeluOp *new_gelu(const armbert_eltwise_desc &d) { return new_op<HostGelu>(d); }

AddOp *new_add(const armbert_eltwise_desc &d) { return new_op<HostAdd>(d); }

}  // namespace armbert::host
