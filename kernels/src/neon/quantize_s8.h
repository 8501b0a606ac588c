// Row quantization for the NEON INT8 linear: the header's semantics (see
// armbert_linear_desc), producing signed int8 for ACL's QASYMM8_SIGNED
// GEMMLowp with zero offsets.
#pragma once
#include <cstdint>

namespace armbert::neon {

// q[m, k] = clamp(rint(x[m, k] * inv_smooth[k] / s_m), -127, 127) with s_m =
// scale when scale > 0, else max_k |x[m, k] * inv_smooth[k]| / 127 (1 when
// the row is 0). inv_smooth may be NULL; an outlier channel has 0 there.
void quantize_rows_s8(const float *x, int M, int K, float scale, const float *inv_smooth,
                      int8_t *q, float *row_scale);

}  // namespace armbert::neon
