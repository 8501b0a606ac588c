#include "workspace.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "../core/error.h"

namespace armbert::common {

double host_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

static std::string gib(double bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

void require_fits(const char *what, double bytes, double limit, const char *limit_name) {
    if (limit > 0 && bytes > limit)
        fail(ARMBERT_ERR_OUT_OF_MEMORY, std::string(what) + " needs " + gib(bytes) +
                                            ", more than " + limit_name + " (" + gib(limit) +
                                            ")");
}

}  // namespace armbert::common
