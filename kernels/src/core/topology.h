// Which cores a context runs on when its caller names none.
#pragma once
#include <vector>

namespace armbert {

// One core per physical core of the fastest cluster, among the CPUs this process
// may run on (sched_getaffinity), lowest numbers first. "Fastest" is the largest
// cpu_capacity (Arm's big.LITTLE scheduling capacity), else the largest
// cpuinfo_max_freq; a machine that reports neither is one cluster. A physical core
// is a distinct (physical_package_id, core_id): SMT siblings count once. Read from
// /sys/devices/system/cpu, or from $ARMBERT_SYSFS_CPU (tests: a made-up topology).
// Never empty: without sysfs, every CPU this process may run on.
std::vector<int> default_cores();

}  // namespace armbert
