// LayerNorm of x (+ residual) per row (common/rowops.h); statistics in fp32, two
// passes for accuracy (the row kernel is the context's level of rows.cpp).
#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    return new_row_layernorm<HostRows>(d);
}

}  // namespace armbert::host
