// armbert_context: one backend instance with its threads and core set.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "armbert.h"
#include "backend.h"

namespace armbert::host {
struct HostKernels;  // kernels/src/host/isa.h
}

// Reference counted: the caller's handle holds one reference and every op and
// tensor made from the context holds one, so armbert_context_destroy with live
// children only drops the caller's; the context is freed with its last child
// (armbert::retain / armbert::release, kernels/src/core/context.cpp).
struct armbert_context {
    std::atomic<int> refs{1};
    armbert_backend backend = ARMBERT_BACKEND_HOST;
    int threads = 1;
    std::vector<int> cores;  // empty: threads are not pinned
    std::string cache_dir;
    // Host backend: its kernel table, chosen once at creation (ISA level). NULL
    // for other backends (host helpers they call use default_host_kernels()).
    const armbert::host::HostKernels *host_kernels = nullptr;
    std::unique_ptr<armbert::Backend> impl;
};

namespace armbert {

// armbert_context_options.num_threads above this many per online core is refused.
constexpr int kMaxThreadsPerCpu = 4;

const char *backend_name(armbert_backend backend);
void retain(armbert_context *ctx);
void release(armbert_context *ctx);  // frees the context when its last reference goes
// Activation dtype that ops of this precision read and write.
inline armbert_dtype activation_dtype(armbert_precision p) {
    return p == ARMBERT_PRECISION_FP16 ? ARMBERT_F16 : ARMBERT_F32;
}
const char *precision_name(armbert_precision p);

}  // namespace armbert
