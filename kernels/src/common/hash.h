// FNV-1a, 64 bit: a stable name for contents (the CL backend keys its program
// file by the device and driver, and our OpenCL program by its source).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace armbert::common {

inline uint64_t fnv1a(const char *data, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ uint8_t(data[i])) * 1099511628211ull;
    return h;
}
inline uint64_t fnv1a(const std::string &s) { return fnv1a(s.data(), s.size()); }

// 16 lower-case hex digits.
inline std::string hex16(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace armbert::common
