// The NEON FP32 GEMM (gemm_f32.h): packing and the 8 x 12 tile.
#include "gemm_f32.h"

#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "asm_regs.h"

namespace armbert::neon {

KBlocks k_blocks(int K) {
    KBlocks kb;
    kb.nb = std::max(1, (K + kMaxKc - 1) / kMaxKc);
    const int per = (K + kb.nb - 1) / kb.nb;
    kb.kc = std::max(kKu, (per + kKu - 1) / kKu * kKu);
    return kb;
}

PackedF32 pack_weights_f32(const float *w, const float *bias, int N, int K) {
    PackedF32 p;
    p.N = N;
    p.K = K;
    p.kb = k_blocks(K);
    const size_t Kp = size_t(p.kb.padded());
    p.data.assign(size_t(p.panels()) * Kp * kNr, 0.0f);
    for (int n = 0; n < N; ++n) {
        float *col = p.data.data() + size_t(n / kNr) * Kp * kNr + n % kNr;
        const float *row = w + size_t(n) * K;
        for (int k = 0; k < K; ++k) col[size_t(k) * kNr] = row[k];
    }
    if (bias) {
        p.bias.assign(size_t(p.panels()) * kNr, 0.0f);
        std::copy(bias, bias + N, p.bias.begin());
    }
    return p;
}

size_t packed_rows_floats(int M, const KBlocks &kb) {
    return size_t((M + kMr - 1) / kMr) * size_t(kb.padded()) * kMr;
}

namespace {
// Where row r (< kMr) at k = j of a K block sits in its tile: per two k, 16
// floats [rows 0-3 at k][rows 0-3 at k + 1][rows 4-7 at k][rows 4-7 at k + 1].
size_t a_offset(int j, int r) {
    return size_t(j / 2) * 16 + (r < 4 ? 0 : 8) + (j % 2) * 4 + (r & 3);
}
}  // namespace

void pack_tile8(const float *a, int lda, int steps4, float *dst) {
    // Four k of the 8 rows a step: one LD4 (single lane) per row puts row r's four
    // values in lane r & 3 of v0-v3 (rows 0-3) or v4-v7 (rows 4-7), one vector
    // per k, and four stores write them in tile order: 14 instructions for 32
    // values (transposing by TRN took 30; the same LD4s in intrinsics made gcc
    // copy the register quadruples through the stack).
    const float *p0 = a, *p1 = p0 + lda, *p2 = p1 + lda, *p3 = p2 + lda, *p4 = p3 + lda,
                *p5 = p4 + lda, *p6 = p5 + lda, *p7 = p6 + lda;
    int64_t n = steps4;
    if (n <= 0) return;
    asm volatile(
        "1:\n"
        "ld4 {v0.s-v3.s}[0], [%[p0]], #16\n ld4 {v0.s-v3.s}[1], [%[p1]], #16\n"
        "ld4 {v0.s-v3.s}[2], [%[p2]], #16\n ld4 {v0.s-v3.s}[3], [%[p3]], #16\n"
        "ld4 {v4.s-v7.s}[0], [%[p4]], #16\n ld4 {v4.s-v7.s}[1], [%[p5]], #16\n"
        "ld4 {v4.s-v7.s}[2], [%[p6]], #16\n ld4 {v4.s-v7.s}[3], [%[p7]], #16\n"
        "st1 {v0.4s, v1.4s}, [%[d]], #32\n st1 {v4.4s, v5.4s}, [%[d]], #32\n"
        "st1 {v2.4s, v3.4s}, [%[d]], #32\n st1 {v6.4s, v7.4s}, [%[d]], #32\n"
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        : [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [p4] "+r"(p4),
          [p5] "+r"(p5), [p6] "+r"(p6), [p7] "+r"(p7), [d] "+r"(dst), [n] "+r"(n)
        :
        : ARMBERT_V0_7, "cc", "memory");
}

void pack_rows_f32(const float *a, int lda, int M, int K, const KBlocks &kb, int t0, int t1,
                   float *ap) {
    const int tiles = (M + kMr - 1) / kMr, kc = kb.kc;
    for (int t = t0; t < t1; ++t) {
        const int m0 = t * kMr, mr = std::min(kMr, M - m0);
        const float *at = a + size_t(m0) * lda;
        for (int b = 0; b < kb.nb; ++b) {
            float *dst = ap + (size_t(b) * tiles + t) * kc * kMr;
            const int k0 = b * kc, n = std::min(K, k0 + kc) - k0;
            int j = 0;
            if (mr == kMr && n >= 4) {
                pack_tile8(at + k0, lda, n / 4, dst);
                j = n / 4 * 4;
            }
            for (; j < n; ++j)
                for (int r = 0; r < kMr; ++r)
                    dst[a_offset(j, r)] = r < mr ? at[size_t(r) * lda + k0 + j] : 0.0f;
            if (n < kc) std::memset(dst + size_t(n) * kMr, 0, sizeof(float) * size_t(kc - n) * kMr);
        }
    }
}

namespace {

// The tile is assembly: written with intrinsics, gcc 14 loaded the next k's
// weights before the last FMLA of this k had read them and spilled accumulators
// to the stack (34 vectors live for 32 registers), and an asm loop with the 24
// accumulators as operands is more than an asm statement may have. Registers:
// v0-v23 the accumulators (row r, channels 4j..4j+3 in v(3r + j)); v24-v27 = A for
// two k (rows 0-3 at k and k + 1, then rows 4-7: a_offset); v28-v31 = 16 of the
// panel's floats, so four k of the panel (48 floats) take three four-register loads
// whose vectors straddle the k: 5 loads per 96 FMLA where a load per k of its 12
// channels (v28-v30) took 6. With 32 k per loop step, MiniLM fp32's tile loop went
// from 363.8 to 359.4 M instructions at S = 128 (tools/insncount). Each accumulator
// still adds its k in order, so the bits did not change.
#define ARMBERT_FMLA(C, B, A, L) "fmla v" #C ".4s, v" #B ".4s, " A ".s[" #L "]\n"
// Channels 4j..4j+3 (in vB) of the 8 rows (lanes of LO: rows 0-3, HI: rows 4-7):
// accumulators vJ, vJ+3, ..., vJ+21.
#define ARMBERT_COL8(C0, C1, C2, C3, C4, C5, C6, C7, B, LO, HI)                    \
    ARMBERT_FMLA(C0, B, LO, 0) ARMBERT_FMLA(C1, B, LO, 1) ARMBERT_FMLA(C2, B, LO, 2) \
    ARMBERT_FMLA(C3, B, LO, 3) ARMBERT_FMLA(C4, B, HI, 0) ARMBERT_FMLA(C5, B, HI, 1) \
    ARMBERT_FMLA(C6, B, HI, 2) ARMBERT_FMLA(C7, B, HI, 3)
#define ARMBERT_COL0(B, LO, HI) ARMBERT_COL8(0, 3, 6, 9, 12, 15, 18, 21, B, LO, HI)
#define ARMBERT_COL1(B, LO, HI) ARMBERT_COL8(1, 4, 7, 10, 13, 16, 19, 22, B, LO, HI)
#define ARMBERT_COL2(B, LO, HI) ARMBERT_COL8(2, 5, 8, 11, 14, 17, 20, 23, B, LO, HI)
#define ARMBERT_LOAD_A "ld1 {v24.4s-v27.4s}, [%[a]], #64\n"
#define ARMBERT_LOAD_B "ld1 {v28.4s-v31.4s}, [%[bp]], #64\n"
#define ARMBERT_FOUR_K                                                                  \
    ARMBERT_LOAD_A ARMBERT_LOAD_B /* v28-v30: k0, v31: k1 channels 0-3 */               \
    ARMBERT_COL0(28, "v24", "v26") ARMBERT_COL1(29, "v24", "v26")                   \
    ARMBERT_COL2(30, "v24", "v26") ARMBERT_COL0(31, "v25", "v27")                   \
    ARMBERT_LOAD_B /* v28-v29: k1 channels 4-11, v30-v31: k2 channels 0-7 */            \
    ARMBERT_COL1(28, "v25", "v27") ARMBERT_COL2(29, "v25", "v27")                   \
    ARMBERT_LOAD_A                                                                      \
    ARMBERT_COL0(30, "v24", "v26") ARMBERT_COL1(31, "v24", "v26")                   \
    ARMBERT_LOAD_B /* v28: k2 channels 8-11, v29-v31: k3 */                             \
    ARMBERT_COL2(28, "v24", "v26") ARMBERT_COL0(29, "v25", "v27")                   \
    ARMBERT_COL1(30, "v25", "v27") ARMBERT_COL2(31, "v25", "v27")
#define ARMBERT_ROWS(OP, P, STRIDE)                                          \
    OP " {v0.4s-v2.4s}, [%[" P "]], %[" STRIDE "]\n"                         \
    OP " {v3.4s-v5.4s}, [%[" P "]], %[" STRIDE "]\n"                         \
    OP " {v6.4s-v8.4s}, [%[" P "]], %[" STRIDE "]\n"                         \
    OP " {v9.4s-v11.4s}, [%[" P "]], %[" STRIDE "]\n"                        \
    OP " {v12.4s-v14.4s}, [%[" P "]], %[" STRIDE "]\n"                       \
    OP " {v15.4s-v17.4s}, [%[" P "]], %[" STRIDE "]\n"                       \
    OP " {v18.4s-v20.4s}, [%[" P "]], %[" STRIDE "]\n"                       \
    OP " {v21.4s-v23.4s}, [%[" P "]], %[" STRIDE "]\n"

const float kZeros[kNr] = {};

// `count` full tiles down C (8 x 12 each at c, stride ldc floats; their A tiles
// consecutive at a): each starts from C itself (add: after the first K block),
// else from the bias or zeros, and adds A (kc x 8) times the panel slice at b
// (kc x 12); kc is a multiple of kKu. One call per panel slice: a call per tile
// cost 30 instructions more per tile.
void tiles(const float *a, const float *b, int kc, bool add, const float *bias, float *c,
           int ldc, int count) {
    // The 8 starting rows are read at init with stride in_step: C's rows, or the
    // same bias (or zero) row 8 times.
    const float *init = add ? c : bias ? bias : kZeros;
    const int64_t steps = kc / kKu, in_step = add ? int64_t(ldc) * 4 : 0,
                  out_step = int64_t(ldc) * 4;
    int64_t t = count, n;
    const float *bp;
    asm volatile("0:\n" ARMBERT_ROWS("ld1", "init", "is")
                 "mov %[n], %[steps]\n"
                 "mov %[bp], %[b0]\n"
                 "1:\n" ARMBERT_FOUR_K ARMBERT_FOUR_K ARMBERT_FOUR_K ARMBERT_FOUR_K
                 ARMBERT_FOUR_K ARMBERT_FOUR_K ARMBERT_FOUR_K ARMBERT_FOUR_K
                 "subs %[n], %[n], #1\n"
                 "b.ne 1b\n"
                 ARMBERT_ROWS("st1", "c", "os")
                 "subs %[t], %[t], #1\n"
                 "b.ne 0b\n"
                 : [a] "+r"(a), [init] "+r"(init), [c] "+r"(c), [t] "+r"(t), [bp] "=&r"(bp),
                   [n] "=&r"(n)
                 : [b0] "r"(b), [steps] "r"(steps), [is] "r"(in_step), [os] "r"(out_step)
                 : ARMBERT_V0_7, ARMBERT_V8_15, ARMBERT_V16_23, ARMBERT_V24_30, "v31", "cc",
                   "memory");
}
#undef ARMBERT_ROWS
#undef ARMBERT_FOUR_K
#undef ARMBERT_LOAD_B
#undef ARMBERT_LOAD_A
#undef ARMBERT_COL2
#undef ARMBERT_COL1
#undef ARMBERT_COL0
#undef ARMBERT_COL8
#undef ARMBERT_FMLA

// A tile at the edge of C (mr < 8 rows or nr < 12 channels) through a full one.
void edge_tile(bool add, const float *a, const float *b, int kc, const float *bias, float *c,
               int ldc, int mr, int nr) {
    float buf[kMr * kNr] = {};
    for (int r = 0; add && r < mr; ++r)
        std::memcpy(buf + r * kNr, c + size_t(r) * ldc, sizeof(float) * size_t(nr));
    tiles(a, b, kc, add, bias, buf, kNr, 1);
    for (int r = 0; r < mr; ++r)
        std::memcpy(c + size_t(r) * ldc, buf + r * kNr, sizeof(float) * size_t(nr));
}

}  // namespace

void gemm_f32_panels(const float *ap, int M, const PackedF32 &w, int p0, int p1, float *c,
                     int ldc) {
    const int ntiles = (M + kMr - 1) / kMr, kc = w.kb.kc;
    for (int blk = 0; blk < w.kb.nb; ++blk) {
        const float *ab = ap + size_t(blk) * ntiles * kc * kMr;
        for (int p = p0; p < p1; ++p) {
            const float *b = w.panel(p) + size_t(blk) * kc * kNr;
            const float *bias =
                blk == 0 && !w.bias.empty() ? w.bias.data() + size_t(p) * kNr : nullptr;
            const int n0 = p * kNr, nr = std::min(kNr, w.N - n0);
            const int full = nr == kNr ? M / kMr : 0;  // tiles that need no edge
            if (full > 0) tiles(ab, b, kc, blk > 0, bias, c + n0, ldc, full);
            for (int t = full; t < ntiles; ++t)
                edge_tile(blk > 0, ab + size_t(t) * kc * kMr, b, kc, bias,
                          c + size_t(t) * kMr * ldc + n0, ldc, std::min(kMr, M - t * kMr), nr);
        }
    }
}

}  // namespace armbert::neon
