// fp16 <-> fp32 conversion of arrays: F16C (x86), native __fp16 (aarch64) or
// an exact software fallback (round to nearest even), all bit-identical. Which
// one runs is the HostKernels table's choice (isa.h): ops with a host context
// use their context's table (host_f16 in ops.h), the plain functions use
// default_host_kernels().
#pragma once
#include "../common/fp16.h"  // the same two declarations, for other backends
#include <cstddef>
#include <cstdint>

namespace armbert::host {
void f16_to_f32(const uint16_t *src, float *dst, size_t n);
void f32_to_f16(const float *src, uint16_t *dst, size_t n);

// The implementations the table points at.
void f16_to_f32_soft(const uint16_t *src, float *dst, size_t n);
void f32_to_f16_soft(const float *src, uint16_t *dst, size_t n);
#if defined(__x86_64__)
void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n);
void f32_to_f16_f16c(const float *src, uint16_t *dst, size_t n);
#endif
#if defined(__aarch64__)
void f16_to_f32_native(const uint16_t *src, float *dst, size_t n);
void f32_to_f16_native(const float *src, uint16_t *dst, size_t n);
#endif
}  // namespace armbert::host
