// NEON helpers of the FP16 kernels: fp16 <-> fp32 rows and the fp16 row-op
// policy (GELU, tanh, exp, the bias + activation row and the fp32 softmax row
// are in vmath.h). BERT needs fp32 for sums, statistics and transcendental functions;
// fp16 is the storage format. Include only from *_fp16.cpp files.
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "../common/vecmath.h"
#include "../core/tensor.h"
#include "armbert.h"
#include "vmath.h"

namespace armbert::neon {

inline const __fp16 *as_f16(const void *p) { return static_cast<const __fp16 *>(p); }
inline __fp16 *as_f16(void *p) { return static_cast<__fp16 *>(p); }

inline void f16_to_f32_row(const __fp16 *s, float *d, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t h = vld1q_f16(s + i);
        vst1q_f32(d + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(d + i + 4, vcvt_high_f32_f16(h));
    }
    for (; i < n; ++i) d[i] = float(s[i]);
}

inline void f32_to_f16_row(const float *s, __fp16 *d, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        vst1q_f16(d + i, vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(s + i)), vld1q_f32(s + i + 4)));
    for (; i < n; ++i) d[i] = __fp16(s[i]);
}

inline float sum_row(const float *v, int n) {
    float32x4_t s = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) s = vaddq_f32(s, vld1q_f32(v + i));
    float r = vaddvq_f32(s);
    for (; i < n; ++i) r += v[i];
    return r;
}

// In place: (v - mean) / sqrt(var + eps) * gamma + beta, two passes in fp32.
inline void layernorm_row(float *v, int n, const float *gamma, const float *beta, float eps) {
    const float mean = sum_row(v, n) / float(n);
    float32x4_t m = vdupq_n_f32(mean), acc = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t c = vsubq_f32(vld1q_f32(v + i), m);
        acc = vfmaq_f32(acc, c, c);
    }
    float var = vaddvq_f32(acc);
    for (; i < n; ++i) var += (v[i] - mean) * (v[i] - mean);
    const float rstd = 1.0f / __builtin_sqrtf(var / float(n) + eps);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t y = vmulq_n_f32(vsubq_f32(vld1q_f32(v + i), m), rstd);
        vst1q_f32(v + i, vaddq_f32(vmulq_f32(y, vld1q_f32(gamma + i)), vld1q_f32(beta + i)));
    }
    for (; i < n; ++i) v[i] = (v[i] - mean) * rstd * gamma[i] + beta[i];
}

// The row-op policy of the FP16 kernels (common/rowops.h): fp16 tensors, rows
// widened to fp32 and narrowed once, four lanes at a time.
struct F16Rows {
    static const float *read(const armbert_tensor *t, int64_t offset, int n, float *scratch) {
        f16_to_f32_row(as_f16(t->host()) + offset, scratch, size_t(n));
        return scratch;
    }
    static void write(armbert_tensor *t, int64_t offset, const float *row, int n) {
        f32_to_f16_row(row, as_f16(t->host()) + offset, size_t(n));
    }
    static void add3(float *dst, const float *a, const float *b, const float *c, int n) {
        int i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(dst + i,
                      vaddq_f32(vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)), vld1q_f32(c + i)));
        for (; i < n; ++i) dst[i] = a[i] + b[i] + c[i];
    }
    static void add(float *dst, const float *a, int n) {
        int i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vld1q_f32(a + i)));
        for (; i < n; ++i) dst[i] += a[i];
    }
    static void layernorm(const armbert_context &, float *row, int n, const float *gamma,
                          const float *beta, float eps) {
        layernorm_row(row, n, gamma, beta, eps);
    }
    static void softmax(const armbert_context &, float *row, int n, float scale,
                        const float *mask) {
        softmax_row_f32(row, n, scale, mask);
    }
};

}  // namespace armbert::neon
