// LayerNorm rows on ACL, shared by layernorm.cpp and embeddings.cpp:
// NEMeanStdDevNormalizationLayer gives (x - mean) / sqrt(var + eps); ACL has
// no fused per-channel affine for 2-D rows, so gamma and beta are one small
// pass of ours over the output (cheaper than two broadcast ACL functions).
#pragma once
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEMeanStdDevNormalizationLayer.h"

#include "../core/context.h"
#include "acl.h"

namespace armbert::neon {

struct AclNorm {
    std::vector<float> gamma, beta;
    float eps = 1e-12f;
    Borrowed in_, out_;
    std::unique_ptr<arm_compute::NEMeanStdDevNormalizationLayer> fn;

    // Call under an ActiveContext.
    void configure(int64_t rows, int hidden);
    // Normalizes rows of in into out (distinct buffers) under ctx's team.
    void run(const armbert_context &ctx, const float *in, float *out);
};

}  // namespace armbert::neon
