// The int8 epilogue (gemm.h DequantRowsFn) of the avx2 and avx512 levels in one
// pass: per vector of outputs the u8 offset correction, the dequantization, the
// extra part, the bias and the GELU, in registers, then one store. rows.cpp's scalar
// body (the portable level's, and these levels' for edges and tanh) makes a pass for
// the offset, one for the rest and one for the activation (gcc 12 does not vectorize
// the three fused), and at the avx512 level those passes cost a BERT-base int8
// inference on one thread 16 ms of 77 on a Zen 4 core (`perf`, docs/performance.md):
// the activation pass read back each 32-column slice of y the pass before had just
// stored, rows 9-12 KiB apart. One body, written with GCC vector extensions for L
// lanes and compiled into an entry point per level's target (ymm, zmm). The
// operations and their order are rows.cpp's (common/int8.h dequant_one, common/
// vecmath.h gelu; no FMA, the library's -ffp-contract=off), so the bits are the
// same: tests/kernels/test_isa.py compares every level.
#if defined(__x86_64__)
#include <cstring>

#include "gemm.h"
#include "isa.h"
#include "vecmath.h"

// 64-byte vectors pass between inlined functions only (no ABI is involved).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace armbert::host {

namespace {

#define ARMBERT_INLINE __attribute__((always_inline)) inline

template <int L>
struct V {
    typedef float f __attribute__((vector_size(4 * L)));
    typedef int32_t i __attribute__((vector_size(4 * L)));
};

template <class T, class S>
ARMBERT_INLINE T load(const S *p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <int L>
ARMBERT_INLINE typename V<L>::f splat(float x) {
    typename V<L>::f v{};
    v[0] = x;
    return __builtin_shuffle(v, typename V<L>::i{});  // lane 0 everywhere: a broadcast
}

// a < b ? a : b lane by lane, the scalar clamps' rule (NaN a gives b): what minps
// computes. Written as the instruction: gcc makes the vector ternary a compare and a
// blend (AVX2: vblendvps), 7 % slower on the AVX2 ffn_in (benchmarks/op_loop.py).
// The operands print as ymm or zmm registers by the vector's size.
template <class F>
ARMBERT_INLINE F min_lt(F a, F b) {
    F r;
    __asm__("vminps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
    return r;
}

// common/vecmath.h gelu on L lanes, operation for operation.
template <int L>
ARMBERT_INLINE typename V<L>::f gelu(typename V<L>::f x) {
    using F = typename V<L>::f;
    using I = typename V<L>::i;
    using common::GeluErf;
    const F a = (F)((I)x & 0x7fffffff);
    const F c = min_lt(a, splat<L>(GeluErf::kClamp));
    const F u = c * c;
    F p = splat<L>(GeluErf::kP[5]);
    #pragma GCC unroll 5
    for (int i = 4; i >= 0; --i) p = p * u + GeluErf::kP[i];
    F q = splat<L>(GeluErf::kQ[4]);
    #pragma GCC unroll 4
    for (int i = 3; i >= 0; --i) q = q * u + GeluErf::kQ[i];
    q = q * u + 1.0f;
    const F e = min_lt(c * p / q, splat<L>(1.0f));
    return 0.5f * (x + a * e);
}

// One row, n a multiple of L; kOffset/kExtra/kBias/kGelu make each variant a loop
// without conditions.
template <int L, bool kOffset, bool kExtra, bool kBias, bool kGelu>
ARMBERT_INLINE void row(const int32_t *q, int n, const int32_t *col_offset, float row_scale,
                        const float *col_scale, const float *extra, const float *bias,
                        float *y) {
    using F = typename V<L>::f;
    using I = typename V<L>::i;
    const F rs = splat<L>(row_scale);
    for (int c = 0; c < n; c += L) {
        I qi = load<I>(q + c);
        if (kOffset) qi = qi - load<I>(col_offset + c);
        F v = __builtin_convertvector(qi, F) * (rs * load<F>(col_scale + c));
        if (kExtra) v = v + load<F>(extra + c);
        if (kBias) v = v + load<F>(bias + c);
        if (kGelu) v = gelu<L>(v);
        std::memcpy(y + c, &v, sizeof v);
    }
}

template <int L, bool kOffset, bool kExtra, bool kBias, bool kGelu>
ARMBERT_INLINE void rows_of(int32_t *q, size_t ldq, int rows, int n,
                            const int32_t *col_offset, const float *row_scale,
                            const float *col_scale, const float *extra, const float *bias,
                            float *y, size_t ldy) {
    for (int r = 0; r < rows; ++r)
        row<L, kOffset, kExtra, kBias, kGelu>(q + size_t(r) * ldq, n, col_offset, row_scale[r],
                                              col_scale, extra ? extra + size_t(r) * ldy : nullptr,
                                              bias, y + size_t(r) * ldy);
}

// The variant for this call's operands, all inlined into the level's entry point.
template <int L>
ARMBERT_INLINE void one_pass(int32_t *q, size_t ldq, int rows, int n,
                             const int32_t *col_offset, const float *row_scale,
                             const float *col_scale, const float *extra, const float *bias,
                             bool gelu, float *y, size_t ldy) {
#define ARMBERT_VARIANT(O, E, B, G)                                                            \
    rows_of<L, O, E, B, G>(q, ldq, rows, n, col_offset, row_scale, col_scale, extra, bias, y, \
                           ldy)
#define ARMBERT_GELU_OR_NOT(O, E, B)                                                           \
    (gelu ? ARMBERT_VARIANT(O, E, B, true) : ARMBERT_VARIANT(O, E, B, false))
    if (col_offset) {
        if (extra) bias ? ARMBERT_GELU_OR_NOT(true, true, true) : ARMBERT_GELU_OR_NOT(true, true, false);
        else bias ? ARMBERT_GELU_OR_NOT(true, false, true) : ARMBERT_GELU_OR_NOT(true, false, false);
    } else {
        if (extra) bias ? ARMBERT_GELU_OR_NOT(false, true, true) : ARMBERT_GELU_OR_NOT(false, true, false);
        else bias ? ARMBERT_GELU_OR_NOT(false, false, true) : ARMBERT_GELU_OR_NOT(false, false, false);
    }
#undef ARMBERT_GELU_OR_NOT
#undef ARMBERT_VARIANT
}

}  // namespace

// Edges (n not a multiple of the lanes: a layer's last channels when N is not a
// multiple of 32) and tanh (the pooler's, one row) take the scalar body; every tile
// of a BERT linear has n = 32.
__attribute__((target("avx2,fma"))) void dequant_rows_avx2(
    int32_t *q, size_t ldq, int rows, int n, const int32_t *col_offset, const float *row_scale,
    const float *col_scale, const float *extra, const float *bias, armbert_activation act,
    float *y, size_t ldy) {
    if (n % 8 || act == ARMBERT_ACTIVATION_TANH) {
        dequant_rows_avx2_scalar(q, ldq, rows, n, col_offset, row_scale, col_scale, extra,
                                 bias, act, y, ldy);
        return;
    }
    one_pass<8>(q, ldq, rows, n, col_offset, row_scale, col_scale, extra, bias,
                act == ARMBERT_ACTIVATION_GELU, y, ldy);
}

__attribute__((target("avx512f"))) void dequant_rows_avx512(
    int32_t *q, size_t ldq, int rows, int n, const int32_t *col_offset, const float *row_scale,
    const float *col_scale, const float *extra, const float *bias, armbert_activation act,
    float *y, size_t ldy) {
    if (n % 16 || act == ARMBERT_ACTIVATION_TANH) {
        dequant_rows_avx512_scalar(q, ldq, rows, n, col_offset, row_scale, col_scale, extra,
                                   bias, act, y, ldy);
        return;
    }
    one_pass<16>(q, ldq, rows, n, col_offset, row_scale, col_scale, extra, bias,
                 act == ARMBERT_ACTIVATION_GELU, y, ldy);
}

}  // namespace armbert::host
#endif
