// The fp32 core of the NEON attention, shared by the FP32/INT8 op
// (attention.cpp) and the FP16 op (attention_fp16.cpp), plain Armv8.0 NEON.
//
// Per (batch, head), softmax(scale * Q K^T + mask) V without leaving the
// thread: keys packed into panels of kPanel keys ([d][kPanel] each), values
// into panels of kPanel channels ([S][kPanel] each), then, kQueryBlock query
// rows at a time, Q K^T into a scores block, the masked exponentials of each
// row, P V straight into the output rows, and each output row divided by its
// row's sum. Only a kQueryBlock x S block of scores exists at a time (8 KiB
// at S = 128), so it stays in L1.
#pragma once
#include <cstddef>

namespace armbert::neon {

constexpr int kPanel = 8;        // columns per packed panel (two float32x4)
constexpr int kQueryBlock = 16;  // query rows per scores block

// C[M, nn] = A[M, K] (fp32 rows, stride lda) * B, B one [K][kPanel] fp32
// panel; nn <= kPanel columns are stored (stride ldc). Each output is one
// fma chain over k in order.
void panel_gemm_f32(const float *a, int lda, int M, const float *b, int K, float *c, int ldc,
                    int nn);

// Floats of per-thread scratch attend_head needs (key and value panels,
// scores block, packed query rows).
size_t head_scratch_floats(int S, int d);

// k: S fp32 key rows of d (stride ldk) -> panels [ceil(S/kPanel)][d][kPanel];
// v: S value rows -> panels [ceil(d/kPanel)][S][kPanel]. Padding lanes are
// left as they are: no stored result reads them.
void pack_keys_f32(const float *k, int ldk, int S, int d, float *kp);
void pack_values_f32(const float *v, int ldv, int S, int d, float *vp);

// One head: q rows (stride ldq) against the packed keys and values; mask is
// S additive values or NULL; out rows of d (stride ldo). scratch is
// head_scratch_floats(S, d); the panels must already be in its first part
// (scratch_keys / scratch_values say where).
float *scratch_keys(float *scratch, int S, int d);
float *scratch_values(float *scratch, int S, int d);
void attend_head(const float *q, int ldq, const float *mask, float scale, int S, int d,
                 float *scratch, float *out, int ldo);

}  // namespace armbert::neon
