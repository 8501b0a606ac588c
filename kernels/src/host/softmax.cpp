// Softmax with an additive mask over the last axis (fp32 arithmetic;
// common/rowops.h).
#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

void softmax_row(float *row, int n, float scale, const float *mask) {
    float mx = -3.402823466e38f;
    for (int i = 0; i < n; ++i) {
        float v = row[i] * scale + (mask ? mask[i] : 0.0f);
        row[i] = v;
        mx = v > mx ? v : mx;
    }
    float sum = 0;
    for (int i = 0; i < n; ++i) {
        row[i] = fast_exp(row[i] - mx);
        sum += row[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) row[i] *= inv;
}

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) { return new_row_softmax<HostRows>(d); }

}  // namespace armbert::host
