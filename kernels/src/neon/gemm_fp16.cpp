// Packing and the widening FP16 GEMM (plain Armv8.2 NEON: FCVTL + FMLA).
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "gemm_fp16.h"
#include "vmath_fp16.h"

namespace armbert::neon {

PackedF16 pack_f16(const float *w, int N, int K, int np) {
    PackedF16 p;
    p.N = N;
    p.K = K;
    p.Kp = (K + kKStep - 1) / kKStep * kKStep;
    p.np = np;
    p.data.assign(size_t(p.panels()) * p.Kp * np, 0);
    __fp16 *d = as_f16(p.data.data());
    for (int n = 0; n < N; ++n) {
        __fp16 *panel = d + size_t(n / np) * p.Kp * np;
        for (int k = 0; k < K; ++k)
            panel[size_t(k) * np + n % np] = __fp16(w[size_t(n) * K + k]);
    }
    return p;
}

void gemm_f16_widen(const float *a32, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc, float *panel32) {
    for (int p = p0; p < p1; ++p) {
        // One conversion per weight per call, amortised over all M rows.
        f16_to_f32_row(as_f16(w.panel(p)), panel32, size_t(w.K) * kPanel);
        const int nn = std::min(kPanel, w.N - p * kPanel);
        panel_gemm_f32(a32, lda, M, panel32, w.K, c_out + size_t(p - p0) * kPanel, ldc, nn);
    }
}

}  // namespace armbert::neon
