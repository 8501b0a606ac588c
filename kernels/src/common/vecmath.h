// Branch-free scalar float math of the CPU backends, which GCC vectorizes at -O3
// (no libm calls in loops); neon/vmath_fp16.h has the same formulas on four lanes.
// Accuracy: exp relative error < 2e-7 on [-87, 88]; GELU absolute error < 1.2e-6
// (see gelu), far below the fp32 test bounds (1e-4).
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

// GELU, erf form: gelu(x) = x Phi(x) = 0.5 (x + |x| erf(|x| / sqrt 2)), with
// erf(a / sqrt 2) ~= a P(a^2) / Q(a^2) (degrees 5 and 5 in a^2, Q(0) = 1). The
// coefficients are a weighted least-squares fit driven to near minimax (Lawson
// iterations) of erf on [0, 5.2], made for this code and checked in float32 with
// this evaluation order and no FMA: |gelu error| < 5.1e-7 for |x| < 3 and < 1.2e-6
// everywhere (relative 2.4e-7 at x = 5), against the 4.7e-7 of the
// Abramowitz-Stegun 7.1.26 erf with an exponential it replaced, at half the
// operations and one division instead of a division and an exp (54 -> 33 NEON
// instructions per four values, counted by tools/insncount). Past a >= kClamp the
// quotient is >= 1 and is clamped to exactly 1, so gelu(x) = x for large x and 0
// for large negative x; NaN stays NaN (x enters the last sum), -inf gives NaN as
// x * 0 does in the textbook formula. neon/vmath.h vgelu is this on four lanes.
struct GeluErf {
    static constexpr float kClamp = 5.1610498428e+00f;  // first a with P/Q * a >= 1
    static constexpr float kP[6] = {7.9788452387e-01f, 6.5087877214e-02f, 9.2172184959e-03f,
                                    3.1371077057e-04f, 1.2815705304e-05f, 4.9463380947e-08f};
    static constexpr float kQ[5] = {2.4824190140e-01f, 2.7926342562e-02f, 1.8171684351e-03f,
                                    7.0494119427e-05f, 1.2588819800e-06f};
};

inline float gelu(float x) {
    const float a = std::fabs(x);
    const float c = a < GeluErf::kClamp ? a : GeluErf::kClamp;  // NaN -> kClamp
    const float u = c * c;
    float p = GeluErf::kP[5];
    for (int i = 4; i >= 0; --i) p = p * u + GeluErf::kP[i];
    float q = GeluErf::kQ[4];
    for (int i = 3; i >= 0; --i) q = q * u + GeluErf::kQ[i];
    q = q * u + 1.0f;
    float e = c * p / q;
    e = e < 1.0f ? e : 1.0f;
    return 0.5f * (x + a * e);
}

inline float fast_tanh(float x) {
    float e = fast_exp(-2.0f * std::fabs(x));
    float t = (1.0f - e) / (1.0f + e);
    return std::copysign(t, x);
}

}  // namespace armbert::common
