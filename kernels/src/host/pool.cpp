// Pooling over the sequence (sentence-transformers' Pooling + Normalize), one
// batch row per work item. The only backend with this op so far: NEON and CL
// contexts answer UNSUPPORTED and the engine pools on a host context
// (armbert/placement.py).
#include <cmath>

#include "ops.h"

namespace armbert::host {
namespace {

struct HostPool : PoolOp {
    std::vector<float> scratch_;  // per thread: a row and the accumulator

    void on_reshape() override {
        scratch_.assign(size_t(team_size(*ctx, batch)) * 2 * desc.hidden, 0.0f);
    }

    void compute(const armbert_tensor *x, const armbert_tensor *mask,
                 armbert_tensor *y) override {
        const int H = desc.hidden;
        const float *m = mask ? data_of<float>(mask) : nullptr;
        parallel_for(*ctx, batch, [&](int64_t b0, int64_t b1, int t) {
            float *row = scratch_.data() + size_t(t) * 2 * H, *acc = row + H;
            for (int64_t b = b0; b < b1; ++b) pool_row(x, m, b, row, acc, y);
        });
    }

    // A token counts when its additive mask value is >= 0 (armbert.h).
    void pool_row(const armbert_tensor *x, const float *m, int64_t b, float *row, float *acc,
                  armbert_tensor *y) const {
        const int H = desc.hidden;
        const int64_t first = b * seq;
        if (desc.mode == ARMBERT_POOL_CLS) {
            std::copy_n(read_f32(x, first * H, H, row), H, acc);
        } else if (desc.mode == ARMBERT_POOL_MAX) {
            std::fill(acc, acc + H, -INFINITY);
            for (int s = 0; s < seq; ++s) {
                if (m && !(m[first + s] >= 0)) {  // dropped: -1e9, as sentence-transformers
                    for (int i = 0; i < H; ++i) acc[i] = std::max(acc[i], -1e9f);
                    continue;
                }
                const float *v = read_f32(x, (first + s) * H, H, row);
                for (int i = 0; i < H; ++i) acc[i] = std::max(acc[i], v[i]);
            }
        } else {  // MEAN, MEAN_SQRT_LEN
            std::fill(acc, acc + H, 0.0f);
            float count = 0;
            for (int s = 0; s < seq; ++s) {
                if (m && !(m[first + s] >= 0)) continue;
                const float *v = read_f32(x, (first + s) * H, H, row);
                for (int i = 0; i < H; ++i) acc[i] += v[i];
                count += 1;
            }
            count = std::max(count, 1e-9f);
            const float div = desc.mode == ARMBERT_POOL_MEAN ? count : std::sqrt(count);
            for (int i = 0; i < H; ++i) acc[i] /= div;
        }
        if (desc.normalize) {
            double ss = 0;
            for (int i = 0; i < H; ++i) ss += double(acc[i]) * acc[i];
            const float norm = std::max(float(std::sqrt(ss)), 1e-12f);
            for (int i = 0; i < H; ++i) acc[i] /= norm;
        }
        write_f32(y, b * H, acc, H);
    }
};

}  // namespace

PoolOp *new_pool(const armbert_pool_desc &d) { return new_op<HostPool>(d); }

}  // namespace armbert::host
