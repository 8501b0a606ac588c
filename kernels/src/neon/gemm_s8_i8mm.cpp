// The SMMLA INT8 GEMM (gemm_s8_i8mm.h), built with +i8mm; only called when
// HWCAP2_I8MM is set.
#include "gemm_s8_i8mm.h"

#include <algorithm>
#include <cstring>

#include "asm_regs.h"

namespace armbert::neon {

PackedS8 pack_weights_s8(const int8_t *w, int N, int K) {
    PackedS8 p;
    p.N = N;
    p.K = K;
    p.Kp = (K + 2 * kS8Ku - 1) / (2 * kS8Ku) * (2 * kS8Ku);  // two steps per loop
    p.data.assign(size_t(p.panels()) * p.Kp * kS8Nr, 0);
    for (int n = 0; n < N; ++n) {
        int8_t *panel = p.data.data() + size_t(n / kS8Nr) * p.Kp * kS8Nr;
        const int c = n % kS8Nr;
        for (int k = 0; k < K; ++k)  // per 8 k: channel c's 8 values at c * 8
            panel[size_t(k / kS8Ku) * kS8Nr * kS8Ku + c * kS8Ku + k % kS8Ku] = w[size_t(n) * K + k];
    }
    return p;
}

size_t packed_rows_s8_bytes(int M, int Kp) {
    return size_t((M + kS8Mr - 1) / kS8Mr) * size_t(Kp) * kS8Mr;
}

void pack_rows_s8(const int8_t *q, int M, int K, int Kp, int t0, int t1, int8_t *ap) {
    for (int t = t0; t < t1; ++t) {
        int8_t *dst = ap + size_t(t) * Kp * kS8Mr;
        const int m0 = t * kS8Mr, mr = std::min(kS8Mr, M - m0);
        for (int k0 = 0; k0 < Kp; k0 += kS8Ku, dst += kS8Mr * kS8Ku)
            for (int r = 0; r < kS8Mr; ++r) {
                int8_t *d = dst + r * kS8Ku;
                const int n = r < mr ? std::max(0, std::min(kS8Ku, K - k0)) : 0;
                if (n) std::memcpy(d, q + size_t(m0 + r) * K + k0, size_t(n));
                if (n < kS8Ku) std::memset(d + n, 0, size_t(kS8Ku - n));
            }
    }
}

namespace {

// Registers: v0-v23 accumulate (row pair i, channel pair j in v(6i + j)), v24-v27
// = A (row pairs 0-3 at 8 k), v28-v30 = channel pairs 0-2, then 3-5.
#define ARMBERT_MM_STEP                                                                    \
    "ld1 {v24.16b-v27.16b}, [%[a]], #64\n"                                                \
    "ld1 {v28.16b-v30.16b}, [%[bp]], #48\n"                                                \
    "smmla v0.4s, v24.16b, v28.16b\n smmla v1.4s, v24.16b, v29.16b\n"                    \
    "smmla v2.4s, v24.16b, v30.16b\n smmla v6.4s, v25.16b, v28.16b\n"                    \
    "smmla v7.4s, v25.16b, v29.16b\n smmla v8.4s, v25.16b, v30.16b\n"                    \
    "smmla v12.4s, v26.16b, v28.16b\n smmla v13.4s, v26.16b, v29.16b\n"                  \
    "smmla v14.4s, v26.16b, v30.16b\n smmla v18.4s, v27.16b, v28.16b\n"                  \
    "smmla v19.4s, v27.16b, v29.16b\n smmla v20.4s, v27.16b, v30.16b\n"                  \
    "ld1 {v28.16b-v30.16b}, [%[bp]], #48\n"                                                \
    "smmla v3.4s, v24.16b, v28.16b\n smmla v4.4s, v24.16b, v29.16b\n"                    \
    "smmla v5.4s, v24.16b, v30.16b\n smmla v9.4s, v25.16b, v28.16b\n"                    \
    "smmla v10.4s, v25.16b, v29.16b\n smmla v11.4s, v25.16b, v30.16b\n"                  \
    "smmla v15.4s, v26.16b, v28.16b\n smmla v16.4s, v26.16b, v29.16b\n"                  \
    "smmla v17.4s, v26.16b, v30.16b\n smmla v21.4s, v27.16b, v28.16b\n"                  \
    "smmla v22.4s, v27.16b, v29.16b\n smmla v23.4s, v27.16b, v30.16b\n"
// Row pair I's accumulators v(B) .. v(B + 5) -> rows 2I and 2I + 1 of C: each
// holds [r c, r c+1, r+1 c, r+1 c+1]; ZIP1/ZIP2 of 64-bit halves give the rows.
#define ARMBERT_MM_STORE(B0, B1, B2, B3, B4, B5)                                          \
    "zip1 v24.2d, v" #B0 ".2d, v" #B1 ".2d\n zip1 v25.2d, v" #B2 ".2d, v" #B3 ".2d\n"    \
    "zip1 v26.2d, v" #B4 ".2d, v" #B5 ".2d\n st1 {v24.4s-v26.4s}, [%[c]], %[os]\n"       \
    "zip2 v24.2d, v" #B0 ".2d, v" #B1 ".2d\n zip2 v25.2d, v" #B2 ".2d, v" #B3 ".2d\n"    \
    "zip2 v26.2d, v" #B4 ".2d, v" #B5 ".2d\n st1 {v24.4s-v26.4s}, [%[c]], %[os]\n"

// `count` full tiles down C (8 x 12 int32 each at c, stride ldc), their A tiles
// consecutive at a, against the panel at b (Kp a multiple of 16: two 8-k steps per
// loop).
void tiles_s8(const int8_t *a, const int8_t *b, int Kp, int32_t *c, int ldc, int count) {
    const int64_t steps = Kp / (2 * kS8Ku), out_step = int64_t(ldc) * 4;
    int64_t t = count, n;
    const int8_t *bp;
    asm volatile(
        "0:\n"
        "movi v0.4s, #0\n movi v1.4s, #0\n movi v2.4s, #0\n movi v3.4s, #0\n"
        "movi v4.4s, #0\n movi v5.4s, #0\n movi v6.4s, #0\n movi v7.4s, #0\n"
        "movi v8.4s, #0\n movi v9.4s, #0\n movi v10.4s, #0\n movi v11.4s, #0\n"
        "movi v12.4s, #0\n movi v13.4s, #0\n movi v14.4s, #0\n movi v15.4s, #0\n"
        "movi v16.4s, #0\n movi v17.4s, #0\n movi v18.4s, #0\n movi v19.4s, #0\n"
        "movi v20.4s, #0\n movi v21.4s, #0\n movi v22.4s, #0\n movi v23.4s, #0\n"
        "mov %[n], %[steps]\n"
        "mov %[bp], %[b0]\n"
        "1:\n" ARMBERT_MM_STEP ARMBERT_MM_STEP
        "subs %[n], %[n], #1\n"
        "b.ne 1b\n"
        ARMBERT_MM_STORE(0, 1, 2, 3, 4, 5) ARMBERT_MM_STORE(6, 7, 8, 9, 10, 11)
        ARMBERT_MM_STORE(12, 13, 14, 15, 16, 17) ARMBERT_MM_STORE(18, 19, 20, 21, 22, 23)
        "subs %[t], %[t], #1\n"
        "b.ne 0b\n"
        : [a] "+r"(a), [c] "+r"(c), [t] "+r"(t), [n] "=&r"(n), [bp] "=&r"(bp)
        : [b0] "r"(b), [steps] "r"(steps), [os] "r"(out_step)
        : ARMBERT_V0_7, ARMBERT_V8_15, ARMBERT_V16_23, ARMBERT_V24_30, "cc", "memory");
}
#undef ARMBERT_MM_STORE
#undef ARMBERT_MM_STEP

}  // namespace

void gemm_s8_i8mm(const int8_t *ap, int M, const PackedS8 &w, int p0, int p1, int32_t *c,
                  int ldc) {
    const int ntiles = (M + kS8Mr - 1) / kS8Mr;
    int32_t buf[kS8Mr * kS8Nr];
    for (int p = p0; p < p1; ++p) {
        const int8_t *b = w.panel(p);
        const int n0 = p * kS8Nr, nr = std::min(kS8Nr, w.N - n0);
        const int full = nr == kS8Nr ? M / kS8Mr : 0;
        if (full > 0) tiles_s8(ap, b, w.Kp, c + n0, ldc, full);
        for (int t = full; t < ntiles; ++t) {  // edges through a full tile
            tiles_s8(ap + size_t(t) * w.Kp * kS8Mr, b, w.Kp, buf, kS8Nr, 1);
            const int mr = std::min(kS8Mr, M - t * kS8Mr);
            for (int r = 0; r < mr; ++r)
                std::memcpy(c + size_t(t * kS8Mr + r) * ldc + n0, buf + r * kS8Nr,
                            sizeof(int32_t) * size_t(nr));
        }
    }
}

}  // namespace armbert::neon
