// Workspace sizes checked before anything is allocated or configured: a shape
// whose workspace cannot fit in memory is ARMBERT_ERR_OUT_OF_MEMORY naming the
// op and the size, at once, instead of a bad_alloc (or an OOM kill) after ACL has
// configured, and on OpenCL compiled programs, for a shape that never runs.
#pragma once
#include <cstdint>

namespace armbert::common {

// Physical memory of this machine in bytes (0 when unknown: nothing is refused).
double host_memory_bytes();

// Fails with ARMBERT_ERR_OUT_OF_MEMORY when `bytes` exceed `limit` (> 0).
// `what` names the op and buffer ("attention: scores workspace").
void require_fits(const char *what, double bytes, double limit, const char *limit_name);

// x rounded up to a multiple of m (> 0): padded workspace dimensions.
inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// require_fits against host_memory_bytes().
inline void require_host_memory(const char *what, double bytes) {
    require_fits(what, bytes, host_memory_bytes(), "this machine's memory");
}

}  // namespace armbert::common
