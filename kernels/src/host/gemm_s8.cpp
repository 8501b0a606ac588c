#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/cpu_features.h"
#include "gemm.h"
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace armbert::host {

PackedS8 pack_s8(const int8_t *w, int N, int K) {
    PackedS8 p;
    p.N = N;
    p.K = K;
    p.Kp = (K + 3) / 4 * 4;
    int blocks = (N + kNr - 1) / kNr;
    p.data.assign(size_t(blocks) * p.Kp * kNr, 0);
    p.col_sum.assign(size_t(blocks) * kNr, 0);
    for (int n = 0; n < N; ++n) {
        int b = n / kNr, c = n % kNr;
        int8_t *dst = p.data.data() + size_t(b) * p.Kp * kNr;
        int32_t sum = 0;
        for (int k = 0; k < K; ++k) {
            dst[(size_t(k / 4) * kNr + c) * 4 + k % 4] = w[size_t(n) * K + k];
            sum += w[size_t(n) * K + k];
        }
        p.col_sum[n] = sum;
    }
    return p;
}

namespace {

// Epilogue for one row of one block: acc holds sum(u8 * w) = sum(q * w) +
// 128 * col_sum.
inline void store_row(int32_t *acc, const PackedS8 &w, int n0, float rs,
                      const float *col_scale, const float *extra, const float *bias,
                      armbert_activation act, float *y) {
    int nn = std::min(kNr, w.N - n0);
    for (int c = 0; c < nn; ++c) acc[c] -= 128 * w.col_sum[n0 + c];
    dequant_row(acc, nn, rs, col_scale + n0, extra ? extra + n0 : nullptr,
                bias ? bias + n0 : nullptr, act, y + n0);
}

void gemm_generic(const PackedS8 &w, const uint8_t *x, int M, int b0, int b1, const float *rs,
                  const float *cs, const float *extra, const float *bias,
                  armbert_activation act, float *y, int ldy) {
    int32_t acc[kNr];
    for (int b = b0; b < b1; ++b) {
        const int8_t *pb = w.data.data() + size_t(b) * w.Kp * kNr;
        for (int m = 0; m < M; ++m) {
            const uint8_t *xr = x + size_t(m) * w.Kp;
            std::fill(acc, acc + kNr, 0);
            for (int k4 = 0; k4 < w.Kp / 4; ++k4) {
                const int8_t *p = pb + size_t(k4) * kNr * 4;
                for (int c = 0; c < kNr; ++c)
                    for (int t = 0; t < 4; ++t) acc[c] += int32_t(xr[k4 * 4 + t]) * p[c * 4 + t];
            }
            store_row(acc, w, b * kNr, rs[m], cs, extra ? extra + size_t(m) * ldy : nullptr,
                      bias, act, y + size_t(m) * ldy);
        }
    }
}

#if defined(__x86_64__)
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void
vnni_tile(const int8_t *pb, const uint8_t *x, int Kp, int32_t (*out)[kNr]) {
    __m512i acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (int k = 0; k < Kp; k += 4) {
        __m512i w0 = _mm512_loadu_si512(pb), w1 = _mm512_loadu_si512(pb + 64);
        pb += 128;
        for (int r = 0; r < MR; ++r) {
            int32_t xv;
            std::memcpy(&xv, x + size_t(r) * Kp + k, 4);
            __m512i xb = _mm512_set1_epi32(xv);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xb, w0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xb, w1);
        }
    }
    for (int r = 0; r < MR; ++r) {
        _mm512_storeu_si512(out[r], acc[r][0]);
        _mm512_storeu_si512(out[r] + 16, acc[r][1]);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
gemm_vnni(const PackedS8 &w, const uint8_t *x, int M, int b0, int b1, const float *rs,
          const float *cs, const float *extra, const float *bias, armbert_activation act,
          float *y, int ldy) {
    constexpr int MR = 4;
    alignas(64) int32_t acc[MR][kNr];
    for (int b = b0; b < b1; ++b) {
        const int8_t *pb = w.data.data() + size_t(b) * w.Kp * kNr;
        for (int m = 0; m < M; m += MR) {
            int mr = std::min(MR, M - m);
            const uint8_t *xr = x + size_t(m) * w.Kp;
            switch (mr) {
            case 4: vnni_tile<4>(pb, xr, w.Kp, acc); break;
            case 3: vnni_tile<3>(pb, xr, w.Kp, acc); break;
            case 2: vnni_tile<2>(pb, xr, w.Kp, acc); break;
            default: vnni_tile<1>(pb, xr, w.Kp, acc); break;
            }
            for (int r = 0; r < mr; ++r)
                store_row(acc[r], w, b * kNr, rs[m + r], cs,
                          extra ? extra + size_t(m + r) * ldy : nullptr, bias, act,
                          y + size_t(m + r) * ldy);
        }
    }
}
#endif

}  // namespace

void gemm_s8_dequant(const PackedS8 &w, const uint8_t *xu8, int M, int block_begin,
                     int block_end, const float *row_scale, const float *col_scale,
                     const float *extra, const float *bias, armbert_activation act, float *y,
                     int ldy) {
#if defined(__x86_64__)
    if (has_feature(ARMBERT_CPU_AVX512_VNNI))
        return gemm_vnni(w, xu8, M, block_begin, block_end, row_scale, col_scale, extra, bias,
                         act, y, ldy);
#endif
    gemm_generic(w, xu8, M, block_begin, block_end, row_scale, col_scale, extra, bias, act, y,
                 ldy);
}

void dequant_row(const int32_t *q, int n, float row_scale, const float *col_scale,
                 const float *extra, const float *bias, armbert_activation act, float *y) {
    // Separate branch-free passes, each of which vectorizes (3x faster than one
    // loop with per-element conditions); same arithmetic order as dequant_one.
    for (int c = 0; c < n; ++c) y[c] = float(q[c]) * (row_scale * col_scale[c]);
    if (extra)
        for (int c = 0; c < n; ++c) y[c] = y[c] + extra[c];
    if (bias)
        for (int c = 0; c < n; ++c) y[c] = y[c] + bias[c];
    if (act == ARMBERT_ACTIVATION_GELU)
        for (int c = 0; c < n; ++c) y[c] = gelu(y[c]);
    else if (act == ARMBERT_ACTIVATION_TANH)
        for (int c = 0; c < n; ++c) y[c] = fast_tanh(y[c]);
}

void quantize_rows_u8(const float *x, int M, int K, int Kp, float scale,
                      const float *inv_smooth, uint8_t *out, float *row_scale, float *tmp) {
    for (int m = 0; m < M; ++m) {
        const float *xr = x + size_t(m) * K;
        if (inv_smooth) {
            for (int k = 0; k < K; ++k) tmp[k] = xr[k] * inv_smooth[k];
            xr = tmp;
        }
        float s = scale;
        if (!(s > 0)) {
            float amax = 0;
            for (int k = 0; k < K; ++k) amax = std::max(amax, std::fabs(xr[k]));
            s = amax > 0 ? amax / 127.0f : 1.0f;
        }
        float inv = 1.0f / s;
        uint8_t *o = out + size_t(m) * Kp;
        for (int k = 0; k < K; ++k) {
            float q = std::nearbyint(xr[k] * inv);
            q = std::min(127.0f, std::max(-127.0f, q));
            o[k] = uint8_t(int(q) + 128);
        }
        for (int k = K; k < Kp; ++k) o[k] = 128;
        row_scale[m] = s;
    }
}

}  // namespace armbert::host
