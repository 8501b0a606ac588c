// Backend choice lives here and nowhere else.
#include "backend.h"
#include "context.h"
#include "error.h"

namespace armbert {

std::unique_ptr<Backend> make_host_backend(armbert_context *ctx);
#ifdef ARMBERT_WITH_NEON
std::unique_ptr<Backend> make_neon_backend(armbert_context *ctx);
#endif
#ifdef ARMBERT_WITH_CL
std::unique_ptr<Backend> make_cl_backend(armbert_context *ctx);
#endif

uint32_t backends_compiled() {
    uint32_t mask = 1u << ARMBERT_BACKEND_HOST;
#ifdef ARMBERT_WITH_NEON
    mask |= 1u << ARMBERT_BACKEND_NEON;
#endif
#ifdef ARMBERT_WITH_CL
    mask |= 1u << ARMBERT_BACKEND_CL;
#endif
    return mask;
}

std::unique_ptr<Backend> make_backend(armbert_context *ctx) {
    switch (ctx->backend) {
    case ARMBERT_BACKEND_HOST: return make_host_backend(ctx);
#ifdef ARMBERT_WITH_NEON
    case ARMBERT_BACKEND_NEON: return make_neon_backend(ctx);
#endif
#ifdef ARMBERT_WITH_CL
    case ARMBERT_BACKEND_CL: return make_cl_backend(ctx);
#endif
    default: break;
    }
    if (ctx->backend == ARMBERT_BACKEND_NEON || ctx->backend == ARMBERT_BACKEND_CL)
        fail(ARMBERT_ERR_UNSUPPORTED, std::string("backend '") + backend_name(ctx->backend) +
                                          "' is not compiled into this build (ARM Compute "
                                          "Library was not found when it was built)");
    fail(ARMBERT_ERR_INVALID_ARGUMENT, "unknown backend " + std::to_string(int(ctx->backend)));
}

}  // namespace armbert
