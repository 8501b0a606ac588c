// LayerNorm of x (+ residual) per row (common/rowops.h); statistics in fp32, two
// passes for accuracy (mean first, then the centred variance).
#include <cmath>

#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

void layernorm_row(float *row, int n, const float *gamma, const float *beta, float eps) {
    float mean = 0;
    for (int i = 0; i < n; ++i) mean += row[i];
    mean /= float(n);
    float var = 0;
    for (int i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    float rstd = 1.0f / std::sqrt(var / float(n) + eps);
    for (int i = 0; i < n; ++i) row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
}

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    return new_row_layernorm<HostRows>(d);
}

}  // namespace armbert::host
