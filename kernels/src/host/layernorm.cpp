// LayerNorm of x (+ residual) per row (common/rowops.h); statistics in fp32, two
// passes for accuracy (mean first, then the centred variance).
#include <cmath>

#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

void layernorm_row(float *row, int n, const float *gamma, const float *beta, float eps) {
    // Vectorized sums in one fixed order (fixed_order_sum): the same bits in every build.
    const float mean = fixed_order_sum(n, [row](int i) { return row[i]; }) / float(n);
    const float var =
        fixed_order_sum(n, [row, mean](int i) { return (row[i] - mean) * (row[i] - mean); });
    const float rstd = 1.0f / std::sqrt(var / float(n) + eps);
    for (int i = 0; i < n; ++i) row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
}

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    return new_row_layernorm<HostRows>(d);
}

}  // namespace armbert::host
