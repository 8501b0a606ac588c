#include "topology.h"

#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <utility>

namespace armbert {
namespace {

// The first integer of a sysfs file, or `fallback` when it is absent or unreadable.
long read_long(const std::string &path, long fallback) {
    std::ifstream f(path);
    long v = fallback;
    if (f && (f >> v)) return v;
    return fallback;
}

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

}  // namespace

std::vector<int> default_cores() {
    const std::vector<int> cpus = allowed_cpus();
    if (cpus.empty()) return {0};
    const char *env = std::getenv("ARMBERT_SYSFS_CPU");
    const std::string root = env && *env ? env : "/sys/devices/system/cpu";
    std::map<int, long> speed;
    long fastest = -1;
    for (int c : cpus) {
        const std::string dir = root + "/cpu" + std::to_string(c);
        long s = read_long(dir + "/cpu_capacity", -1);
        if (s < 0) s = read_long(dir + "/cpufreq/cpuinfo_max_freq", 0);
        speed[c] = s;
        fastest = std::max(fastest, s);
    }
    std::vector<int> cores;
    std::map<std::pair<long, long>, int> seen;  // (package, core) -> its first CPU
    for (int c : cpus) {
        if (speed[c] != fastest) continue;
        const std::string dir = root + "/cpu" + std::to_string(c) + "/topology";
        const std::pair<long, long> key{read_long(dir + "/physical_package_id", 0),
                                        read_long(dir + "/core_id", c)};
        if (seen.emplace(key, c).second) cores.push_back(c);
    }
    return cores;
}

}  // namespace armbert
