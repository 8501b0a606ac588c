// Thread teams of every CPU backend (host; NEON's own loops and its ACL
// scheduler, neon/scheduler.cpp): OpenMP teams sized by the context, each thread
// pinned to the context's cores (when it has any) so a stage can own a cluster.
//
// Two rules hold for every parallel_for:
// - No exception crosses the OpenMP region (that is std::terminate, not the
//   ABI's guard()): each thread catches, the first exception is kept and
//   rethrown on the calling thread after the region.
// - The calling thread's CPU affinity is restored afterwards: the caller runs
//   slice 0 and is pinned for it, but a Python thread that ran one op must not
//   stay on a core for good.
#pragma once
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>

#include "../core/context.h"

namespace armbert::common {

// Pins the calling thread to ctx.cores[index % n]; cheap when already there.
void pin_current_thread(const armbert_context &ctx, int index);
int thread_index();
int team_size(const armbert_context &ctx, int64_t work_items);

// Saves the calling thread's affinity when ctx pins; puts it back on destruction.
class AffinityRestore {
  public:
    explicit AffinityRestore(const armbert_context &ctx);
    ~AffinityRestore();
    AffinityRestore(const AffinityRestore &) = delete;
    AffinityRestore &operator=(const AffinityRestore &) = delete;

  private:
    bool saved_ = false;
    cpu_set_t set_;
};

// The first exception thrown by any thread of a region, rethrown after it.
class FirstException {
  public:
    template <typename F> void run(F &&f) noexcept {
        try {
            f();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mu_);
            if (!error_) error_ = std::current_exception();
        }
    }
    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

  private:
    std::mutex mu_;
    std::exception_ptr error_;
};

// Calls f(begin, end, thread) on `threads` contiguous slices of [0, n).
template <typename F> void parallel_for(const armbert_context &ctx, int64_t n, F &&f) {
    int threads = team_size(ctx, n);
    AffinityRestore restore(ctx);
    if (threads <= 1) {
        pin_current_thread(ctx, 0);
        f(int64_t(0), n, 0);
        return;
    }
    FirstException first;
#pragma omp parallel num_threads(threads)
    {
        first.run([&] {
            int t = thread_index();
            pin_current_thread(ctx, t);
            int64_t chunk = (n + threads - 1) / threads;
            int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
            if (b < e) f(b, e, t);
        });
    }
    first.rethrow();
}

}  // namespace armbert::common
