// FP16 softmax (common/rowops.h): each row widened to fp32, scale * x + mask, max, exp and sum
// in fp32 (NEON), normalised and rounded once to fp16.
#include "../common/rowops.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

void softmax_row_f32(float *row, int n, float scale, const float *mask) {
    float32x4_t mx4 = vdupq_n_f32(-3.402823466e38f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vld1q_f32(row + i), scale);
        if (mask) v = vaddq_f32(v, vld1q_f32(mask + i));
        vst1q_f32(row + i, v);
        mx4 = vmaxq_f32(mx4, v);
    }
    float mx = vmaxvq_f32(mx4);
    for (; i < n; ++i) {
        row[i] = row[i] * scale + (mask ? mask[i] : 0.0f);
        mx = row[i] > mx ? row[i] : mx;
    }
    float32x4_t sum4 = vdupq_n_f32(0.0f), m = vdupq_n_f32(mx);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t e = vexp(vsubq_f32(vld1q_f32(row + i), m));
        vst1q_f32(row + i, e);
        sum4 = vaddq_f32(sum4, e);
    }
    float sum = vaddvq_f32(sum4);
    for (; i < n; ++i) {
        row[i] = common::fast_exp(row[i] - mx);
        sum += row[i];
    }
    const float inv = 1.0f / sum;
    for (i = 0; i + 4 <= n; i += 4) vst1q_f32(row + i, vmulq_n_f32(vld1q_f32(row + i), inv));
    for (; i < n; ++i) row[i] *= inv;
}

SoftmaxOp *new_softmax_fp16(const armbert_softmax_desc &d) {
    return common::new_row_softmax<F16Rows>(d);
}

}  // namespace armbert::neon
