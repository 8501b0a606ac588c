#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "vecmath.h"

namespace armbert::host {

PackedS8 pack_s8(const int8_t *w, int N, int K) {
    PackedS8 p;
    p.N = N;
    p.K = K;
    p.Kp = (K + 3) / 4 * 4;
    int blocks = (N + kNr - 1) / kNr;
    p.data.assign(size_t(blocks) * p.Kp * kNr, 0);
    p.col_offset.assign(size_t(blocks) * kNr, 0);
    for (int n = 0; n < N; ++n) {
        int b = n / kNr, c = n % kNr;
        int8_t *dst = p.data.data() + size_t(b) * p.Kp * kNr;
        int32_t sum = 0;
        const int8_t *row = w + size_t(n) * K;
        for (int k = 0; k < K; ++k) {
            dst[(size_t(k / 4) * kNr + c) * 4 + k % 4] = row[k];
            sum += row[k];
        }
        for (int k = 0; k < K; k += 2)
            if (std::abs(int(row[k])) + (k + 1 < K ? std::abs(int(row[k + 1])) : 0) > 128)
                p.pairs_safe = false;
        p.col_offset[n] = 128 * sum;
    }
    return p;
}

namespace {

// Rows per chunk of the driver: the int32 accumulators of one chunk x one
// block (kMc x kNr, 16 KiB) live on the stack across the K blocks. Each chunk
// streams the weights of its blocks from memory once, so a chunk covers a whole
// B=1 S=128 run: with chunks of 48 rows BERT-base int8 read its 85 MB of weights
// three times per inference (AMX, 1 thread: best runs 57 ms at 128 rows vs 61-64
// at 48; medians on this shared VM were too noisy to say more).
constexpr int kMc = 128;

}  // namespace

void tile_s8_scalar(const int8_t *w, const void *xv, size_t ldx, int kc, int mr, int32_t *acc,
                    bool accumulate) {
    const uint8_t *x = static_cast<const uint8_t *>(xv);
    for (int r = 0; r < mr; ++r) {
        int32_t a[kNr];
        for (int c = 0; c < kNr; ++c) a[c] = accumulate ? acc[r * kNr + c] : 0;
        const uint8_t *xr = x + size_t(r) * ldx;
        for (int k4 = 0; k4 < kc / 4; ++k4) {
            const int8_t *p = w + size_t(k4) * kNr * 4;
            for (int c = 0; c < kNr; ++c)
                for (int t = 0; t < 4; ++t) a[c] += int32_t(xr[k4 * 4 + t]) * p[c * 4 + t];
        }
        for (int c = 0; c < kNr; ++c) acc[r * kNr + c] = a[c];
    }
}

// Loop order: chunks of kMc rows; per output block of kNr channels, K in
// blocks of kernel.kc (K = 3072, BERT-base's FFN-out, is 6 blocks of 512: the
// 16 KiB weight slab of a block stays in L1 while every row tile of the chunk
// passes over it, instead of streaming the block's 96 KiB from L2 per tile).
void gemm_s8_dequant(const GemmS8Kernel &kernel, DequantRowsFn dequant, const PackedS8 &w,
                     const void *x, int M, int block_begin, int block_end, const float *rs,
                     const float *cs,
                     const float *extra, const float *bias, armbert_activation act, float *y,
                     int ldy) {
    alignas(64) int32_t acc[kMc * kNr];
    const bool u8 = kernel.act == ActS8::kU8Offset;
    const size_t es = u8 ? 1 : 2;
    const char *xb = static_cast<const char *>(x);
    const int kc_max = kernel.kc > 0 ? std::min(kernel.kc, w.Kp) : w.Kp;
    for (int m0 = 0; m0 < M; m0 += kMc) {
        const int mc = std::min(kMc, M - m0);
        const int tiles = (mc + kernel.mr - 1) / kernel.mr;
        for (int b = block_begin; b < block_end; ++b) {
            const int8_t *pb = w.data.data() + size_t(b) * w.Kp * kNr;
            for (int k0 = 0; k0 < w.Kp; k0 += kc_max) {
                const int kc = std::min(kc_max, w.Kp - k0);
                const bool last = k0 + kc >= w.Kp;
                // The next slab (next K block, or the next block's first) into L2 while
                // this one is computed, a share before each row tile (gemm.h
                // prefetch_part); panels are contiguous. (Spread over the tile's k loop
                // as the fp32 GEMM does, the int8 one streamed faster at 32 rows but ran
                // BERT-base int8 no faster end to end: docs/performance.md.)
                const bool more = !last || b + 1 < block_end;
                const int8_t *next = more ? pb + size_t(k0 + kc) * kNr : nullptr;
                const int next_kc =
                    last ? std::min(kc_max, w.Kp) : std::min(kc_max, w.Kp - k0 - kc);
                const size_t next_bytes = size_t(kNr) * size_t(next_kc);
                for (int r = 0, i = 0; r < mc; r += kernel.mr, ++i) {
                    prefetch_part(next, next_bytes, i, tiles);
                    const int mr = std::min(kernel.mr, mc - r);
                    kernel.tile(pb + size_t(k0) * kNr, xb + (size_t(m0 + r) * w.Kp + k0) * es,
                                size_t(w.Kp), kc, mr, acc + r * kNr, k0 > 0);
                    if (!last) continue;
                    // The epilogue on the tile's rows while they are still in L1. acc holds
                    // the exact sum over k of q * w (kS16 kernels) or of (q + 128) * w
                    // (kU8Offset kernels, corrected by 128 * the column sums): the same int32
                    // either way, so every ISA level gives the same outputs bit for bit.
                    // After the last K block, a pass over the whole chunk read them back from
                    // L2 (9 % of a BERT-base int8 run under perf, most of it waiting on
                    // those loads), and a call per row cost more than its 32 outputs.
                    const int m = m0 + r, n0 = b * kNr;
                    dequant(acc + r * kNr, kNr, mr, std::min(kNr, w.N - n0),
                            u8 ? w.col_offset.data() + n0 : nullptr, rs + m, cs + n0,
                            extra ? extra + size_t(m) * ldy + n0 : nullptr,
                            bias ? bias + n0 : nullptr, act, y + size_t(m) * ldy + n0, ldy);
                }
            }
        }
    }
}

void quantize_rows_u8(const float *x, int M, int K, int Kp, float scale,
                      const float *inv_smooth, void *codes, float *row_scale, float *tmp) {
    uint8_t *out = static_cast<uint8_t *>(codes);
    for (int m = 0; m < M; ++m) {
        const float *xr = smoothed_row(x, m, K, inv_smooth, tmp);
        float s = scale;
        if (!(s > 0)) {
            float amax = 0;
            for (int k = 0; k < K; ++k) amax = std::max(amax, std::fabs(xr[k]));
            s = scale_from_absmax(amax);
        }
        float inv = 1.0f / s;
        uint8_t *o = out + size_t(m) * Kp;
        for (int k = 0; k < K; ++k) o[k] = quantize_u8(xr[k], inv);
        for (int k = K; k < Kp; ++k) o[k] = 128;
        row_scale[m] = s;
    }
}

}  // namespace armbert::host
