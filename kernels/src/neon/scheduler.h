// ACL's scheduler is one per process, but armbert contexts each own a thread
// count and a core set, and two contexts (pipeline stages on big and LITTLE
// clusters) may run at once on two threads. So we install one scheduler that
// asks the *calling thread* which context it works for: NEON ops put theirs
// in an ActiveContext while they configure or run ACL functions.
#pragma once
#include <string>

#include "../core/context.h"

namespace armbert::neon {

// Installs the scheduler (once per process). Called by make_neon_backend.
void install_scheduler();

// The context whose team runs ACL work scheduled from this thread until the
// object goes out of scope (nests: the previous one comes back).
class ActiveContext {
  public:
    explicit ActiveContext(const armbert_context &ctx);
    ~ActiveContext();
    ActiveContext(const ActiveContext &) = delete;
    ActiveContext &operator=(const ActiveContext &) = delete;

  private:
    const armbert_context *previous_;
};

// "ACL v24.11" from arm_compute::build_information().
std::string acl_version();

}  // namespace armbert::neon
