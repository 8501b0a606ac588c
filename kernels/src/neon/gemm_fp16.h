// FP16 GEMM pieces of the NEON backend (no ACL: Debian's ACL has no F16 CPU
// kernels). Weights are packed once into panels of kPanel output channels,
// [K][kPanel] inside a panel, so one vector load gives one k for all
// channels of the panel. Accumulation is always fp32, by one of two inner
// loops chosen at run time (fp16_gemm_uses_fmlal, backend.cpp):
//  - FMLAL/FMLAL2 (FEAT_FHM): fp16 products accumulated in fp32 directly;
//  - widening: the panel and the activations converted to fp32, then FMLA.
#pragma once
#include <cstdint>
#include <vector>

#include "attention_core.h"  // kPanel, panel_gemm_f32

namespace armbert::neon {

constexpr int kKStep = 8;  // the FMLAL loop consumes 8 k at a time

struct PackedF16 {
    int N = 0, K = 0, Kp = 0;     // Kp: K rounded up to kKStep, zero padded
    std::vector<uint16_t> data;   // fp16 bits, [panels][Kp][kPanel]
    int panels() const { return (N + kPanel - 1) / kPanel; }
    const uint16_t *panel(int p) const { return data.data() + size_t(p) * Kp * kPanel; }
};

// w: fp32 [N, K] rows (weights as torch stores them), rounded to fp16.
PackedF16 pack_f16(const float *w, int N, int K);

// Per panel p in [p0, p1): C[m, c] = sum_k A[m, k] * W[p*kPanel + c, k] for
// m < M, c < the panel's channels, stored at c_out + (p - p0) * kPanel with
// row stride ldc.
// FMLAL: a16 holds fp16 rows of Kp values (zero padded), stride lda.
void gemm_f16_fmlal(const uint16_t *a16, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc);
// Widening: a32 holds the same rows in fp32 (K values suffice), stride lda;
// panel32 is Kp * kPanel floats of scratch.
void gemm_f16_widen(const float *a32, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc, float *panel32);

}  // namespace armbert::neon
