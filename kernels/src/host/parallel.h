// Host threading: OpenMP teams sized by the context, each thread pinned to
// the context's cores (when it has any) so a stage can own a cluster.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../core/context.h"

namespace armbert::host {

// Pins the calling thread to ctx.cores[index % n]; cheap when already there.
void pin_current_thread(const armbert_context &ctx, int index);
int thread_index();
int team_size(const armbert_context &ctx, int64_t work_items);

// Calls f(begin, end, thread) on `threads` contiguous slices of [0, n).
template <typename F> void parallel_for(const armbert_context &ctx, int64_t n, F &&f) {
    int threads = team_size(ctx, n);
    if (threads <= 1) {
        pin_current_thread(ctx, 0);
        f(int64_t(0), n, 0);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = thread_index();
        pin_current_thread(ctx, t);
        int64_t chunk = (n + threads - 1) / threads;
        int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
        if (b < e) f(b, e, t);
    }
}

}  // namespace armbert::host
