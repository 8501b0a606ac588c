// FP16 embeddings (common/rowops.h): the tables stay fp32 (each row is read once
// per token); word + position + token type and the layernorm run in fp32, and
// only the output is rounded to fp16.
#include "../common/rowops.h"
#include "ops.h"
#include "vmath_fp16.h"

namespace armbert::neon {

EmbeddingsOp *new_embeddings_fp16(const armbert_embeddings_desc &d) {
    return common::new_row_embeddings<F16Rows>(d);
}

}  // namespace armbert::neon
