// The INT8 linear's preparation and epilogue, one definition for every backend
// (host, NEON and CL quantize the same way: tests/kernels/test_linear.py holds them
// to armbert.quant's exact integer reference).
#pragma once
#include <cfloat>
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

// A row's dynamic scale from its max |x|: max|x| / 127, at least FLT_MIN (a row whose
// max is below 127 * FLT_MIN, 1.5e-36, would get a subnormal scale whose inverse is
// inf, and 0 * inf = NaN codes), and 1 for a row of zeros (or NaN max). armbert.quant
// scales_from_absmax is the same, and CL's armbert_quantize_rows (cl/kernels_source.h).
inline float scale_from_absmax(float amax) {
    if (!(amax > 0)) return 1.0f;
    const float s = amax / 127.0f;
    return s > FLT_MIN ? s : FLT_MIN;
}

// One output from its exact int32 sum q = sum_k xq[k] * wq[k], the product of
// its row and column scales, the fp32 outlier part and the bias.
inline float dequant_one(int32_t q, float scale, float extra, float bias,
                         armbert_activation act) {
    float v = float(q) * scale + extra + bias;
    if (act == ARMBERT_ACTIVATION_GELU) return gelu(v);
    if (act == ARMBERT_ACTIVATION_TANH) return fast_tanh(v);
    return v;
}

// Its row form, vectorized with the same operations in the same order (so the same
// bits), is the host's RowKernels::dequant (host/rows.cpp, per ISA level) and NEON's
// epilogue_row (neon/linear_s8.cpp).

}  // namespace common

}  // namespace armbert
