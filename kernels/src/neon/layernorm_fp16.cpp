// FP16 layernorm (common/rowops.h): rows (plus residual) widened to fp32,
// statistics in two fp32 passes, gamma/beta in fp32, one rounding to fp16.
#include "../common/rowops.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

LayerNormOp *new_layernorm_fp16(const armbert_layernorm_desc &d) {
    return common::new_row_layernorm<F16Rows>(d);
}

}  // namespace armbert::neon
