// FP16 GEMM pieces of the NEON backend (no ACL: Debian's ACL has no F16 CPU
// kernels). Weights are packed once into panels of np output channels,
// [Kp][np] inside a panel, so one load gives one k for all channels of the
// panel. Accumulation is always fp32, by one of two inner loops chosen at run
// time (fp16_gemm_uses_fmlal, backend.cpp):
//  - FMLAL/FMLAL2 (FEAT_FHM): fp16 products accumulated in fp32 directly, in
//    4 x 24 tiles (np = kFhmPanel) over rows packed by pack_rows_fhm;
//  - widening: the panel (np = kPanel) and the activations converted to fp32,
//    then FMLA (attention_core.h's panel_gemm_f32).
#pragma once
#include <cstdint>
#include <vector>

#include "armbert.h"
#include "attention_core.h"  // kPanel, panel_gemm_f32

namespace armbert::neon {

constexpr int kKStep = 16;     // the FMLAL loop consumes 16 k at a time
constexpr int kFhmRows = 4;    // rows per FMLAL tile
constexpr int kFhmPanel = 24;  // channels per FMLAL panel

struct PackedF16 {
    int N = 0, K = 0, Kp = 0;     // Kp: K rounded up to kKStep, zero padded
    int np = kPanel;              // channels per panel, zero padded
    std::vector<uint16_t> data;   // fp16 bits, [panels][Kp][np]
    int panels() const { return (N + np - 1) / np; }
    const uint16_t *panel(int p) const { return data.data() + size_t(p) * Kp * np; }
};

// w: fp32 [N, K] rows (weights as torch stores them), rounded to fp16.
PackedF16 pack_f16(const float *w, int N, int K, int np);

// FMLAL: fp16 rows [M, K] (stride ldx) into tiles t0..t1 of 4 rows, [Kp][4]
// each (zero padded), at ap + t * Kp * 4; fhm_rows_halves(M, Kp) in all.
size_t fhm_rows_halves(int M, int Kp);
void pack_rows_fhm(const uint16_t *x, int ldx, int M, int K, int Kp, int t0, int t1,
                   uint16_t *ap);
// FMLAL: y[m, n] = act(bias[n] + sum_k x[m, k] w[n, k]) in fp16 (stride ldy) for
// the M rows and the channels of panels [p0, p1); w packed with np = kFhmPanel,
// bias fp32 [panels * kFhmPanel] (zeros where there is none).
void linear_f16_fmlal(const uint16_t *ap, int M, const PackedF16 &w, const float *bias,
                      armbert_activation act, int p0, int p1, uint16_t *y, int ldy);

// Per panel p in [p0, p1): C[m, c] = sum_k A[m, k] * W[p*kPanel + c, k] for
// m < M, c < the panel's channels, stored at c_out + (p - p0) * kPanel with
// row stride ldc.
// Widening: a32 holds the same rows in fp32 (K values suffice), stride lda;
// panel32 is Kp * kPanel floats of scratch.
void gemm_f16_widen(const float *a32, int lda, int M, const PackedF16 &w, int p0, int p1,
                    float *c_out, int ldc, float *panel32);

}  // namespace armbert::neon
