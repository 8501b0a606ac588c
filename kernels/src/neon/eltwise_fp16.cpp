// FP16 GELU (fp32 erf, one rounding) and add (native fp16 FADD: the sum of
// two fp16 values rounded once to fp16 is exactly what fp32 math followed by
// rounding would give, at twice the lanes).
#include <algorithm>

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {
namespace {

constexpr int64_t kChunk = 1024;  // elements per task: stays in L1

template <typename F> void for_chunks(const armbert_context &ctx, int64_t n, F &&f) {
    common::parallel_for(ctx, (n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1, int) {
        for (int64_t c = c0; c < c1; ++c) f(c * kChunk, std::min(kChunk, n - c * kChunk));
    });
}

struct GeluF16 : GeluOp {
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const __fp16 *xp = as_f16(x->host());
        __fp16 *yp = as_f16(y->host());
        for_chunks(*ctx, x->numel, [&](int64_t off, int64_t n) {
            float buf[kChunk];
            f16_to_f32_row(xp + off, buf, size_t(n));
            bias_activation_row(buf, nullptr, int(n), ARMBERT_ACTIVATION_GELU);
            f32_to_f16_row(buf, yp + off, size_t(n));
        });
    }
};

struct AddF16 : AddOp {
    void compute(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y) override {
        const __fp16 *ap = as_f16(a->host()), *bp = as_f16(b->host());
        __fp16 *yp = as_f16(y->host());
        for_chunks(*ctx, a->numel, [&](int64_t off, int64_t n) {
            int64_t i = off, end = off + n;
            for (; i + 8 <= end; i += 8)
                vst1q_f16(yp + i, vaddq_f16(vld1q_f16(ap + i), vld1q_f16(bp + i)));
            for (; i < end; ++i) yp[i] = ap[i] + bp[i];
        });
    }
};

}  // namespace

GeluOp *new_gelu_fp16(const armbert_eltwise_desc &d) { return new_op<GeluF16>(d); }

AddOp *new_add_fp16(const armbert_eltwise_desc &d) { return new_op<AddF16>(d); }

}  // namespace armbert::neon
