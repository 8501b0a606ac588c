// The INT8 linear's preparation and epilogue, one definition for every backend
// (host, NEON and CL quantize the same way: tests/kernels/test_linear.py holds them
// to armbert.quant's exact integer reference).
#pragma once
#include <cstdint>
#include <vector>

#include "armbert.h"
#include "vecmath.h"

namespace armbert {
namespace common {

// What multiplies each input channel before quantization: 1 / input_smooth[k]
// (SmoothQuant), and 0 for the outlier channels (LLM.int8(): they are computed
// in fp32 apart, so the int8 part must see them as 0). Empty when the descriptor
// has neither: quantize x as it is.
std::vector<float> inverse_smoothing(const armbert_linear_desc &d);

// The descriptor an op keeps: sizes and settings, none of the caller's pointers
// (ops copy or pack the weights at create; the caller's memory is not kept).
armbert_linear_desc without_weights(const armbert_linear_desc &d);

// One output from its exact int32 sum q = sum_k xq[k] * wq[k], the product of
// its row and column scales, the fp32 outlier part and the bias.
inline float dequant_one(int32_t q, float scale, float extra, float bias,
                         armbert_activation act) {
    float v = float(q) * scale + extra + bias;
    if (act == ARMBERT_ACTIVATION_GELU) return gelu(v);
    if (act == ARMBERT_ACTIVATION_TANH) return fast_tanh(v);
    return v;
}

}  // namespace common

// y[c] = dequant_one(q[c], row_scale * col_scale[c], extra[c], bias[c]) for c in
// [0, n), vectorized; extra and bias may be NULL (0). NEON's GEMMLowp path calls
// this portable build; the host's int8 GEMM takes its context's level of the
// same body (host/rows.cpp, isa.h RowKernels), which gives the same bits.
namespace host {
void dequant_row(const int32_t *q, int n, float row_scale, const float *col_scale,
                 const float *extra, const float *bias, armbert_activation act, float *y);
}  // namespace host
namespace common {
using host::dequant_row;
}  // namespace common

}  // namespace armbert
