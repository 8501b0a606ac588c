// fp16 <-> fp32 conversion of arrays, dispatched on F16C (x86) or native
// __fp16 (aarch64), with an exact software fallback (round to nearest even).
#pragma once
#include <cstddef>
#include <cstdint>

namespace armbert::host {
void f16_to_f32(const uint16_t *src, float *dst, size_t n);
void f32_to_f16(const float *src, uint16_t *dst, size_t n);
}  // namespace armbert::host
