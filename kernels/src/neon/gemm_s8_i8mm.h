// The INT8 GEMM of the NEON linear on cores with FEAT_I8MM (SMMLA): int8 x int8
// -> int32, exact, C = A W^T row-major. Cores without it take ACL's GEMMLowp.
//
// One 8 x 12 tile: 24 int32 accumulators of 2 x 2 (row pair i, channel pair j),
// and per 8 k one four-register load of A (the 8 rows' 8 k, row pairs packed)
// and two three-register loads of the panel (the 12 channels' 8 k, channel
// pairs packed), so 24 SMMLA take 3 loads. Weights are packed once, rows per
// run; K is zero padded to a multiple of 16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace armbert::neon {

constexpr int kS8Mr = 8, kS8Nr = 12, kS8Ku = 8;

struct PackedS8 {
    int N = 0, K = 0, Kp = 0;
    std::vector<int8_t> data;  // [panels][Kp / 8][12 channels x 8 k]
    int panels() const { return (N + kS8Nr - 1) / kS8Nr; }
    const int8_t *panel(int p) const { return data.data() + size_t(p) * Kp * kS8Nr; }
};

// w: int8 [N, K] rows.
PackedS8 pack_weights_s8(const int8_t *w, int N, int K);

// Rows of q ([M, K], stride K) into tiles t0..t1 of 8 rows ([Kp / 8][8 rows x 8 k]
// each, zero padded); packed_rows_s8_bytes(M, Kp) in all.
size_t packed_rows_s8_bytes(int M, int Kp);
void pack_rows_s8(const int8_t *q, int M, int K, int Kp, int t0, int t1, int8_t *ap);

// c[m, n] = sum_k q[m, k] w[n, k] (int32, stride ldc) for the M rows and the
// channels of panels [p0, p1).
void gemm_s8_i8mm(const int8_t *ap, int M, const PackedS8 &w, int p0, int p1, int32_t *c,
                  int ldc);

}  // namespace armbert::neon
