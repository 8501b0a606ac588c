// armbert_context: one backend instance with its threads and core set.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "armbert.h"
#include "backend.h"

struct armbert_context {
    armbert_backend backend = ARMBERT_BACKEND_HOST;
    int threads = 1;
    std::vector<int> cores;  // empty: threads are not pinned
    std::string cache_dir;
    std::unique_ptr<armbert::Backend> impl;
};

namespace armbert {

const char *backend_name(armbert_backend backend);
// Activation dtype that ops of this precision read and write.
inline armbert_dtype activation_dtype(armbert_precision p) {
    return p == ARMBERT_PRECISION_FP16 ? ARMBERT_F16 : ARMBERT_F32;
}
const char *precision_name(armbert_precision p);

}  // namespace armbert
