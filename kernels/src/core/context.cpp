#include "context.h"

#include "error.h"

namespace armbert {

const char *backend_name(armbert_backend backend) {
    static const char *const names[] = {"host", "neon", "cl"};
    return unsigned(backend) < 3 ? names[backend] : "?";
}

const char *precision_name(armbert_precision p) {
    static const char *const names[] = {"fp32", "fp16", "int8"};
    return unsigned(p) < 3 ? names[p] : "?";
}

void retain(armbert_context *ctx) {
    if (ctx) ctx->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(armbert_context *ctx) {
    if (ctx && ctx->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete ctx;
}

}  // namespace armbert
