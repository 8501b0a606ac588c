// Softmax with an additive mask over the last axis (fp32 arithmetic;
// common/rowops.h).
#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

void softmax_row(float *row, int n, float scale, const float *mask) {
    // Vectorized: max is exact in any order (omp simd), the sum's order is fixed
    // (fixed_order_sum), so every build gives the same bits.
    float mx = -3.402823466e38f;
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < n; ++i) {
        float v = row[i] * scale + (mask ? mask[i] : 0.0f);
        row[i] = v;
        mx = v > mx ? v : mx;
    }
    for (int i = 0; i < n; ++i) row[i] = fast_exp(row[i] - mx);
    const float inv = 1.0f / fixed_order_sum(n, [row](int i) { return row[i]; });
    for (int i = 0; i < n; ++i) row[i] *= inv;
}

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) { return new_row_softmax<HostRows>(d); }

}  // namespace armbert::host
