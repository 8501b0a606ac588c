#include "parallel.h"

#include <omp.h>

namespace armbert::common {

namespace {
thread_local int t_pinned_core = -1;
thread_local const armbert_context *t_pinned_ctx = nullptr;
}  // namespace

void pin_current_thread(const armbert_context &ctx, int index) {
    if (ctx.cores.empty()) return;
    int core = ctx.cores[size_t(index) % ctx.cores.size()];
    if (t_pinned_core == core && t_pinned_ctx == &ctx) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof(set), &set) == 0) {
        t_pinned_core = core;
        t_pinned_ctx = &ctx;
    }
}

AffinityRestore::AffinityRestore(const armbert_context &ctx) {
    if (ctx.cores.empty()) return;
    CPU_ZERO(&set_);
    saved_ = sched_getaffinity(0, sizeof(set_), &set_) == 0;
}

AffinityRestore::~AffinityRestore() {
    if (!saved_) return;
    sched_setaffinity(0, sizeof(set_), &set_);
    t_pinned_core = -1;  // the cache must not claim a pin that is gone
    t_pinned_ctx = nullptr;
}

int thread_index() { return omp_get_thread_num(); }

int team_size(const armbert_context &ctx, int64_t work_items) {
    return int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads, work_items)));
}

}  // namespace armbert::common
