// CPU feature detection: the one place that asks the hardware what it has.
#pragma once
#include <cstdint>

namespace armbert {
uint64_t cpu_features();  // ARMBERT_CPU_* bits
inline bool has_feature(uint64_t bit) { return (cpu_features() & bit) != 0; }
int online_cpus();
// L1 data cache of a core in bytes, 0 when the C library cannot tell (glibc reads it
// from CPUID on x86).
int l1d_cache_bytes();
}  // namespace armbert
