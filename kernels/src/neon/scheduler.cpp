// Our IScheduler: ACL splits a kernel's window (IScheduler::schedule_common)
// into as many workloads as num_threads() says, and we run them on an OpenMP
// team of the calling thread's context, pinned like the host backend's teams.
// Assembly GEMMs size per-thread workspaces from num_threads() at configure
// time and index them with ThreadInfo::thread_id at run time: ops configure
// and run under the same context, so thread ids stay below that count.
#include "scheduler.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "arm_compute/core/CPP/ICPPKernel.h"
#include "arm_compute/core/Version.h"
#include "arm_compute/runtime/IScheduler.h"
#include "arm_compute/runtime/Scheduler.h"

#include "../common/parallel.h"

namespace armbert::neon {
namespace {

thread_local const armbert_context *t_active = nullptr;

class ContextScheduler final : public arm_compute::IScheduler {
  public:
    // Contexts own their thread counts; a count set through ACL's API only
    // applies to ACL work started outside any armbert op.
    void set_num_threads(unsigned int n) override { fallback_threads_ = n ? n : 1; }
    void set_num_threads_with_affinity(unsigned int n, BindFunc) override {
        set_num_threads(n);
    }
    unsigned int num_threads() const override {
        return t_active ? unsigned(std::max(1, t_active->threads)) : fallback_threads_;
    }
    void schedule(arm_compute::ICPPKernel *kernel, const Hints &hints) override {
        arm_compute::ITensorPack tensors;
        schedule_common(kernel, hints, kernel->window(), tensors);
    }
    void schedule_op(arm_compute::ICPPKernel *kernel, const Hints &hints,
                     const arm_compute::Window &window,
                     arm_compute::ITensorPack &tensors) override {
        schedule_common(kernel, hints, window, tensors);
    }

  protected:
    // Dynamic hints can ask for more workloads than threads: each thread then
    // takes every n-th one, keeping its thread_id (its workspace slot).
    //
    // The two rules of common::parallel_for hold here too: no exception leaves the
    // OpenMP region (ACL throws std::runtime_error; each thread catches, the first
    // is rethrown on the calling thread after the region, where the ABI's guard()
    // turns it into a status), and the calling thread's CPU affinity is restored
    // after the work that pinned it.
    void run_workloads(std::vector<Workload> &workloads) override {
        const int total = int(workloads.size());
        const int n = std::min(total, int(num_threads()));
        const armbert_context *ctx = t_active;
        arm_compute::ThreadInfo info;
        info.cpu_info = &cpu_info();
        info.num_threads = std::max(1, n);
        std::unique_ptr<common::AffinityRestore> restore;
        if (ctx) restore = std::make_unique<common::AffinityRestore>(*ctx);
        if (n <= 1) {
            if (ctx) common::pin_current_thread(*ctx, 0);
            for (auto &w : workloads) w(info);
            return;
        }
        common::FirstException first;
#pragma omp parallel num_threads(n) firstprivate(info)
        {
            first.run([&] {
                const int t = omp_get_thread_num();
                if (ctx) common::pin_current_thread(*ctx, t);
                info.thread_id = t;
                for (int i = t; i < total; i += n) workloads[size_t(i)](info);
            });
        }
        first.rethrow();
    }

  private:
    unsigned int fallback_threads_ = 1;
};

}  // namespace

void install_scheduler() {
    static std::once_flag once;
    std::call_once(once, [] {
        arm_compute::Scheduler::set(std::make_shared<ContextScheduler>());
    });
}

ActiveContext::ActiveContext(const armbert_context &ctx) : previous_(t_active) {
    t_active = &ctx;
}
ActiveContext::~ActiveContext() { t_active = previous_; }

std::string acl_version() {
    // "arm_compute_version=v24.11 Build options: ..." -> "v24.11"
    std::string info = arm_compute::build_information();
    const std::string key = "arm_compute_version=";
    size_t at = info.find(key);
    if (at == std::string::npos) return "unknown version";
    at += key.size();
    return info.substr(at, info.find_first_of(" \n", at) - at);
}

}  // namespace armbert::neon
