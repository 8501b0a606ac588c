// Embeddings: gather word + position + token-type rows, then layernorm
// (common/rowops.h; tables stay fp32 in every precision).
#include "../common/rowops.h"
#include "ops.h"

namespace armbert::host {

EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) {
    return new_row_embeddings<HostRows>(d);
}

}  // namespace armbert::host
