// The FP32 GEMM of the NEON linear (plain Armv8.0 NEON), C = A W^T + bias.
//
// One 8 x 12 register tile: 24 accumulators, and per two k one four-register
// load of A (8 rows at k and k + 1, packed) and two three-register loads of W
// (12 channels at k, then at k + 1), so 48 FMLA by lane take 3 loads. Both
// operands are packed so that every load is one LD1 of consecutive vectors:
//  - weights once, at op creation, into panels of kNr channels, [Kp][kNr];
//  - activations per run into tiles of kMr rows per K block (pack_tile8's layout).
// K runs in blocks of at most kMaxKc (each block's A tiles stay in L2 and its
// panel slice in L1); the first block starts from the bias, the others add to C.
#pragma once
#include <cstddef>
#include <vector>

namespace armbert::neon {

constexpr int kMr = 8;       // rows per tile
constexpr int kNr = 12;      // channels per panel
constexpr int kKu = 32;      // k per step of the inner loop; blocks are multiples
constexpr int kMaxKc = 384;  // the largest K block

// How K is cut: nb blocks of kc (a multiple of kKu), nb * kc >= K, the rest zeros.
struct KBlocks {
    int nb = 1, kc = 0;
    int padded() const { return nb * kc; }
};
KBlocks k_blocks(int K);

struct PackedF32 {
    int N = 0, K = 0;
    KBlocks kb;
    std::vector<float> data;  // [panels][Kp][kNr], zero padded in k and channels
    std::vector<float> bias;  // [panels * kNr], zero padded; empty without a bias
    int panels() const { return (N + kNr - 1) / kNr; }
    const float *panel(int p) const { return data.data() + size_t(p) * kb.padded() * kNr; }
};

// w: [N, K] rows, as torch stores a linear's weight; bias: N values or NULL.
PackedF32 pack_weights_f32(const float *w, const float *bias, int N, int K);

// Floats of packed activations for M rows.
size_t packed_rows_floats(int M, const KBlocks &kb);
// Rows [t0 * kMr, t1 * kMr) of a ([M, K], stride lda) into tiles t0..t1 of ap:
// block b of tile t is [kc][kMr] at ((b * tiles + t) * kc * kMr); rows past M
// and k past K are zeros.
void pack_rows_f32(const float *a, int lda, int M, int K, const KBlocks &kb, int t0, int t1,
                   float *ap);

// One full tile: 8 rows of a (stride lda) at 4 * steps4 k into dst, laid out as
// above (a_offset in gemm_f32.cpp): per two k, [rows 0-3 at k][rows 0-3 at k + 1]
// [rows 4-7 at k][rows 4-7 at k + 1]. The attention packs its query rows so too.
void pack_tile8(const float *a, int lda, int steps4, float *dst);

// C[m, n] = bias[n] + sum_k A[m, k] W[n, k] for the M rows and the channels of
// panels [p0, p1) (C stride ldc); ap from pack_rows_f32, every tile.
void gemm_f32_panels(const float *ap, int M, const PackedF32 &w, int p0, int p1, float *c,
                     int ldc);

}  // namespace armbert::neon
