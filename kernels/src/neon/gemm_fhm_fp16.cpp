// The FMLAL FP16 linear (FEAT_FHM, built with +fp16fml): FMLAL/FMLAL2 multiply
// fp16 lanes exactly and accumulate in fp32, so activations and weights stay
// fp16 in memory and registers. Only called when HWCAP_ASIMDFHM is set.
//
// One 4 x 24 register tile in assembly (gemm_fp16.h): 24 fp32 accumulators
// (v8-v31, row r in v8+6r .. v13+6r), per 8 k one four-register load of A (v0-v3:
// the 4 rows at 8 k, packed [k][4]) and six four-register loads of the panel (v4-v7,
// 32 of its halves each, straddling the k), so 192 FMLAL take 7 loads. FMLAL by element
// reads its scalar from v0-v15 only, which is where A sits. The accumulators
// start from the bias; a tile with no activation is rounded to fp16 and stored
// in place (FCVTN), the others go through fp32 rows for the activation.
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "asm_regs.h"
#include "gemm_fp16.h"
#include "vmath_fp16.h"

namespace armbert::neon {

size_t fhm_rows_halves(int M, int Kp) {
    return size_t((M + kFhmRows - 1) / kFhmRows) * Kp * kFhmRows;
}

void pack_rows_fhm(const uint16_t *x, int ldx, int M, int K, int Kp, int t0, int t1,
                   uint16_t *ap) {
    for (int t = t0; t < t1; ++t) {
        const int m0 = t * kFhmRows, mr = std::min(kFhmRows, M - m0);
        uint16_t *dst = ap + size_t(t) * Kp * kFhmRows;
        const uint16_t *rows = x + size_t(m0) * ldx;
        int k = 0;
        if (mr == kFhmRows)
            for (; k + 8 <= K; k += 8) {
                // ST4 interleaves the four rows' 8 values: [k][4 rows].
                const uint16x8x4_t v{{vld1q_u16(rows + k), vld1q_u16(rows + ldx + k),
                                      vld1q_u16(rows + 2 * size_t(ldx) + k),
                                      vld1q_u16(rows + 3 * size_t(ldx) + k)}};
                vst4q_u16(dst + size_t(k) * kFhmRows, v);
            }
        for (; k < Kp; ++k)
            for (int r = 0; r < kFhmRows; ++r)
                dst[size_t(k) * kFhmRows + r] =
                    r < mr && k < K ? rows[size_t(r) * ldx + k] : uint16_t(0);
    }
}

namespace {

// Channels 8j..8j+7 (the fp16 lanes of B) of the 4 rows at one k: row r's scalar is
// lane Lr of register A, its accumulators vCr (low four) and vCr+1 (high four).
#define ARMBERT_FHM_ROW(C, C2, B, A, L)                  \
    "fmlal v" #C ".4s, v" #B ".4h, " A ".h[" #L "]\n"    \
    "fmlal2 v" #C2 ".4s, v" #B ".4h, " A ".h[" #L "]\n"
#define ARMBERT_FHM_COL(C0, C1, C2, C3, C4, C5, C6, C7, B, A, L0, L1, L2, L3)  \
    ARMBERT_FHM_ROW(C0, C1, B, A, L0) ARMBERT_FHM_ROW(C2, C3, B, A, L1)        \
    ARMBERT_FHM_ROW(C4, C5, B, A, L2) ARMBERT_FHM_ROW(C6, C7, B, A, L3)
#define ARMBERT_FHM_COL_(...) ARMBERT_FHM_COL(__VA_ARGS__)  // expands L into four lanes
// Channel group j (0-2) of the 4 rows; L: the k's lanes in A, FHM_LO (0-3, the even k)
// or FHM_HI (4-7, the odd).
#define ARMBERT_FHM_C0(B, A, L) ARMBERT_FHM_COL_(8, 9, 14, 15, 20, 21, 26, 27, B, A, L)
#define ARMBERT_FHM_C1(B, A, L) ARMBERT_FHM_COL_(10, 11, 16, 17, 22, 23, 28, 29, B, A, L)
#define ARMBERT_FHM_C2(B, A, L) ARMBERT_FHM_COL_(12, 13, 18, 19, 24, 25, 30, 31, B, A, L)
#define FHM_LO 0, 1, 2, 3
#define FHM_HI 4, 5, 6, 7
// The panel 32 halves at a time into v4-v7: four k (96 halves) per three loads whose
// registers straddle the k (A0 holds k0 and k1, A1 k2 and k3). Each accumulator still
// adds its k in order.
#define ARMBERT_FHM_LOAD_B "ld1 {v4.8h-v7.8h}, [%[bp]], #64\n"
#define ARMBERT_FHM_FOUR_K(A0, A1)                                             \
    ARMBERT_FHM_LOAD_B /* v4-v6: k0, v7: k1 channels 0-7 */                    \
    ARMBERT_FHM_C0(4, A0, FHM_LO) ARMBERT_FHM_C1(5, A0, FHM_LO)                \
    ARMBERT_FHM_C2(6, A0, FHM_LO) ARMBERT_FHM_C0(7, A0, FHM_HI)                \
    ARMBERT_FHM_LOAD_B /* v4-v5: k1 channels 8-23, v6-v7: k2 channels 0-15 */  \
    ARMBERT_FHM_C1(4, A0, FHM_HI) ARMBERT_FHM_C2(5, A0, FHM_HI)                \
    ARMBERT_FHM_C0(6, A1, FHM_LO) ARMBERT_FHM_C1(7, A1, FHM_LO)                \
    ARMBERT_FHM_LOAD_B /* v4: k2 channels 16-23, v5-v7: k3 */                  \
    ARMBERT_FHM_C2(4, A1, FHM_LO) ARMBERT_FHM_C0(5, A1, FHM_HI)                \
    ARMBERT_FHM_C1(6, A1, FHM_HI) ARMBERT_FHM_C2(7, A1, FHM_HI)

// `count` tiles down C, their A tiles consecutive at a: each is its bias (24
// fp32) plus A (Kp x 4) times the panel at b (Kp x 24), Kp a multiple of kKStep. f16:
// rounded to fp16 at out (row stride out_bytes); otherwise fp32 rows of 24 at
// out, contiguous. One call per panel: a call per tile cost 20 instructions more.
void tile_fhm(const __fp16 *a, const __fp16 *b, int Kp, const float *bias, void *out,
              int64_t out_bytes, bool f16, int count) {
    const int64_t steps = Kp / kKStep;
    const float *bias16 = bias + 16;
    int64_t t = count, n;
    const __fp16 *bp;
    asm volatile(
        "0:\n"
        "mov %[n], %[steps]\n"
        "mov %[bp], %[b0]\n"
        "ld1 {v8.4s-v11.4s}, [%[bias]]\n ld1 {v12.4s, v13.4s}, [%[bias16]]\n"
        "ld1 {v14.4s-v17.4s}, [%[bias]]\n ld1 {v18.4s, v19.4s}, [%[bias16]]\n"
        "ld1 {v20.4s-v23.4s}, [%[bias]]\n ld1 {v24.4s, v25.4s}, [%[bias16]]\n"
        "ld1 {v26.4s-v29.4s}, [%[bias]]\n ld1 {v30.4s, v31.4s}, [%[bias16]]\n"
        "1:\n"
        "ld1 {v0.8h-v3.8h}, [%[a]], #64\n"
        ARMBERT_FHM_FOUR_K("v0", "v1") ARMBERT_FHM_FOUR_K("v2", "v3")
        "ld1 {v0.8h-v3.8h}, [%[a]], #64\n"
        ARMBERT_FHM_FOUR_K("v0", "v1") ARMBERT_FHM_FOUR_K("v2", "v3")
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        "cbz %w[f16], 2f\n"
        "fcvtn v4.4h, v8.4s\n fcvtn2 v4.8h, v9.4s\n fcvtn v5.4h, v10.4s\n"
        "fcvtn2 v5.8h, v11.4s\n fcvtn v6.4h, v12.4s\n fcvtn2 v6.8h, v13.4s\n"
        "st1 {v4.8h-v6.8h}, [%[out]], %[os]\n"
        "fcvtn v4.4h, v14.4s\n fcvtn2 v4.8h, v15.4s\n fcvtn v5.4h, v16.4s\n"
        "fcvtn2 v5.8h, v17.4s\n fcvtn v6.4h, v18.4s\n fcvtn2 v6.8h, v19.4s\n"
        "st1 {v4.8h-v6.8h}, [%[out]], %[os]\n"
        "fcvtn v4.4h, v20.4s\n fcvtn2 v4.8h, v21.4s\n fcvtn v5.4h, v22.4s\n"
        "fcvtn2 v5.8h, v23.4s\n fcvtn v6.4h, v24.4s\n fcvtn2 v6.8h, v25.4s\n"
        "st1 {v4.8h-v6.8h}, [%[out]], %[os]\n"
        "fcvtn v4.4h, v26.4s\n fcvtn2 v4.8h, v27.4s\n fcvtn v5.4h, v28.4s\n"
        "fcvtn2 v5.8h, v29.4s\n fcvtn v6.4h, v30.4s\n fcvtn2 v6.8h, v31.4s\n"
        "st1 {v4.8h-v6.8h}, [%[out]], %[os]\n"
        "b 3f\n"
        "2:\n"
        "st1 {v8.4s-v11.4s}, [%[out]], #64\n st1 {v12.4s, v13.4s}, [%[out]], #32\n"
        "st1 {v14.4s-v17.4s}, [%[out]], #64\n st1 {v18.4s, v19.4s}, [%[out]], #32\n"
        "st1 {v20.4s-v23.4s}, [%[out]], #64\n st1 {v24.4s, v25.4s}, [%[out]], #32\n"
        "st1 {v26.4s-v29.4s}, [%[out]], #64\n st1 {v30.4s, v31.4s}, [%[out]], #32\n"
        "3:\n"
        "subs %[t], %[t], #1\n"
        "b.ne 0b\n"
        : [a] "+r"(a), [out] "+r"(out), [t] "+r"(t), [n] "=&r"(n), [bp] "=&r"(bp)
        : [b0] "r"(b), [steps] "r"(steps), [bias] "r"(bias), [bias16] "r"(bias16),
          [os] "r"(out_bytes), [f16] "r"(int(f16))
        : ARMBERT_V0_7, ARMBERT_V8_15, ARMBERT_V16_23, ARMBERT_V24_30, "v31", "cc",
          "memory");
}
#undef ARMBERT_FHM_FOUR_K
#undef ARMBERT_FHM_LOAD_B
#undef FHM_HI
#undef FHM_LO
#undef ARMBERT_FHM_C2
#undef ARMBERT_FHM_C1
#undef ARMBERT_FHM_C0
#undef ARMBERT_FHM_COL_
#undef ARMBERT_FHM_COL
#undef ARMBERT_FHM_ROW

}  // namespace

void linear_f16_fmlal(const uint16_t *ap, int M, const PackedF16 &w, const float *bias,
                      armbert_activation act, int p0, int p1, uint16_t *y, int ldy) {
    const int tiles = (M + kFhmRows - 1) / kFhmRows;
    float rows[kFhmRows * kFhmPanel];
    for (int p = p0; p < p1; ++p) {
        const __fp16 *b = as_f16(w.panel(p));
        const float *bp = bias + size_t(p) * kFhmPanel;
        const int n0 = p * kFhmPanel, nn = std::min(kFhmPanel, w.N - n0);
        int t = 0;
        if (act == ARMBERT_ACTIVATION_NONE && nn == kFhmPanel && M >= kFhmRows) {
            t = M / kFhmRows;  // the full tiles, rounded to fp16 in place
            tile_fhm(as_f16(ap), b, w.Kp, bp, y + n0, int64_t(ldy) * 2, true, t);
        }
        for (; t < tiles; ++t) {
            const __fp16 *a = as_f16(ap + size_t(t) * w.Kp * kFhmRows);
            const int m0 = t * kFhmRows, mr = std::min(kFhmRows, M - m0);
            uint16_t *yt = y + size_t(m0) * ldy + n0;
            tile_fhm(a, b, w.Kp, bp, rows, 0, false, 1);
            // The tile's rows are contiguous: one activation pass over all of them.
            if (nn == kFhmPanel) bias_activation_row(rows, nullptr, mr * kFhmPanel, act);
            for (int r = 0; r < mr; ++r) {
                float *row = rows + r * kFhmPanel;
                if (nn < kFhmPanel) bias_activation_row(row, nullptr, nn, act);
                f32_to_f16_row(row, as_f16(yt + size_t(r) * ldy), size_t(nn));
            }
        }
    }
}

}  // namespace armbert::neon
