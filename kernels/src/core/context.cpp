#include "context.h"

#include "error.h"

namespace armbert {

const char *backend_name(armbert_backend backend) {
    switch (backend) {
    case ARMBERT_BACKEND_HOST: return "host";
    case ARMBERT_BACKEND_NEON: return "neon";
    case ARMBERT_BACKEND_CL: return "cl";
    }
    return "?";
}

const char *precision_name(armbert_precision p) {
    switch (p) {
    case ARMBERT_PRECISION_FP32: return "fp32";
    case ARMBERT_PRECISION_FP16: return "fp16";
    case ARMBERT_PRECISION_INT8: return "int8";
    }
    return "?";
}

void retain(armbert_context *ctx) {
    if (ctx) ctx->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(armbert_context *ctx) {
    if (ctx && ctx->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete ctx;
}

void Backend::check_precision(armbert_precision, const char *) const {}

}  // namespace armbert
