// Branch-free scalar float math of the CPU backends, which GCC vectorizes at -O3
// (no libm calls in loops); neon/vmath_fp16.h has the same formulas on four lanes.
// Accuracy: exp relative error < 2e-7 on [-87, 88]; erf absolute error
// < 1.5e-7 (Abramowitz & Stegun 7.1.26), far below the fp32 test bounds.
#pragma once
#include <cstdint>
#include <cstring>

namespace armbert::common {

// NaN in gives NaN out: it is replaced by 0 before the float-to-int conversion
// (converting NaN to int32 is undefined behaviour) and restored at the end.
inline float fast_exp(float x) {
    const bool nan = x != x;
    const float in = x;
    x = nan ? 0.0f : x;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    // Round x/ln2 to an integer with the 1.5*2^23 trick (no SSE4.1 needed).
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, 4);
    return nan ? in : p * scale;
}

// The sum of f(i) for i < n in one fixed order: 16 partial sums (i mod 16), added
// in lane order, then the tail. GCC vectorizes it at any width (one zmm, two ymm,
// four xmm or NEON q registers) without changing the order, so its rounding does
// not depend on the build (an omp simd reduction's order follows the vector width).
template <typename F> inline float fixed_order_sum(int n, F &&f) {
    constexpr int kLanes = 16;
    float part[kLanes] = {};
    int i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int l = 0; l < kLanes; ++l) part[l] += f(i + l);
    float s = 0;
    for (int l = 0; l < kLanes; ++l) s += part[l];
    for (; i < n; ++i) s += f(i);
    return s;
}

inline float fast_erf(float x) {
    float a = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float y = 1.061405429f;
    y = y * t - 1.453152027f;
    y = y * t + 1.421413741f;
    y = y * t - 0.284496736f;
    y = y * t + 0.254829592f;
    y = 1.0f - y * t * fast_exp(-a * a);
    return x < 0 ? -y : y;
}

inline float gelu(float x) { return 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f)); }

inline float fast_tanh(float x) {
    float e = fast_exp(-2.0f * (x < 0 ? -x : x));
    float t = (1.0f - e) / (1.0f + e);
    return x < 0 ? -t : t;
}

}  // namespace armbert::common
