// Branch-free scalar float math of the CPU backends, which GCC vectorizes at -O3
// (no libm calls in loops); neon/vmath_fp16.h has the same formulas on four lanes.
// Accuracy: exp relative error < 2e-7 on [-87, 88]; erf absolute error
// < 1.5e-7 (Abramowitz & Stegun 7.1.26), far below the fp32 test bounds.
#pragma once
#include <cmath>
#include <cstdint>

namespace armbert::common {

// NaN in gives NaN out: the clamp never passes NaN to the float-to-int conversion
// (undefined behaviour), and the input is restored at the end. Loops over it
// vectorize on x86 and, with -fno-trapping-math (build.py), on aarch64. The clamp
// differs only in how: aarch64 has fmaxnm/fminnm (NaN -> -87), 2 instructions where
// the selects cost 7 per vector (counted by tools/insncount), but std::fmin/fmax stop
// gcc 12's x86 vectorizer, so x86 keeps the selects. Same result for every input.
inline float fast_exp(float x) {
    const bool nan = x != x;
    const float in = x;
#if defined(__aarch64__)
    x = std::fmin(std::fmax(x, -87.0f), 88.0f);
#else
    x = nan ? 0.0f : x;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
#endif
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
    const int32_t bits = (int32_t(n) + 127) << 23;
    const float scale = __builtin_bit_cast(float, bits);  // 2^n
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

// copysign keeps erf odd; at x = -0 it gives -erf(0) where a select gave +erf(0),
// which gelu multiplies by x = 0.
inline float fast_erf(float x) {
    float a = std::fabs(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float y = 1.061405429f;
    y = y * t - 1.453152027f;
    y = y * t + 1.421413741f;
    y = y * t - 0.284496736f;
    y = y * t + 0.254829592f;
    y = 1.0f - y * t * fast_exp(-a * a);
    return std::copysign(y, x);
}

inline float gelu(float x) { return 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f)); }

inline float fast_tanh(float x) {
    float e = fast_exp(-2.0f * std::fabs(x));
    float t = (1.0f - e) / (1.0f + e);
    return std::copysign(t, x);
}

}  // namespace armbert::common
