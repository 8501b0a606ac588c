// Softmax with an additive mask over the last axis (fp32 arithmetic;
// common/rowops.h; the row kernel is the context's level of rows.cpp).
#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) { return new_row_softmax<HostRows>(d); }

}  // namespace armbert::host
