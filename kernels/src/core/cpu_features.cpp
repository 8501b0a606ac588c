#include "cpu_features.h"

#include <unistd.h>

#include "armbert.h"

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace armbert {

static uint64_t detect() {
    uint64_t f = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= ARMBERT_CPU_AVX2;
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        f |= ARMBERT_CPU_AVX512_VNNI;
    if (__builtin_cpu_supports("f16c")) f |= ARMBERT_CPU_F16C;
    if (__builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2"))
        f |= ARMBERT_CPU_AVX_VNNI;
#elif defined(__aarch64__)
    // HWCAP, not /proc/cpuinfo: under qemu-user the latter is the host's.
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f |= ARMBERT_CPU_NEON;
    if (hw & HWCAP_ASIMDHP) f |= ARMBERT_CPU_ASIMDHP;
    if (hw & HWCAP_ASIMDDP) f |= ARMBERT_CPU_ASIMDDP;
#ifdef HWCAP2_I8MM
    if (hw2 & HWCAP2_I8MM) f |= ARMBERT_CPU_I8MM;
#endif
    (void)hw2;
#endif
    return f;
}

uint64_t cpu_features() {
    static const uint64_t f = detect();
    return f;
}

int l1d_cache_bytes() {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    static const int n = int(sysconf(_SC_LEVEL1_DCACHE_SIZE));
    return n > 0 ? n : 0;
#else
    return 0;
#endif
}

int online_cpus() {
    static const int n = int(sysconf(_SC_NPROCESSORS_CONF));
    return n > 0 ? n : 1;
}

}  // namespace armbert
