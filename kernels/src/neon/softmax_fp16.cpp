// FP16 softmax (common/rowops.h): each row widened to fp32, scale * x + mask, max, exp and sum
// in fp32 (NEON), normalised and rounded once to fp16.
#include "../common/rowops.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

SoftmaxOp *new_softmax_fp16(const armbert_softmax_desc &d) {
    return common::new_row_softmax<F16Rows>(d);
}

}  // namespace armbert::neon
