// fp16 <-> fp32 conversion of arrays, for every backend that stores fp16 on the
// host side (host tensors, CL's fp16 weights before upload): dispatched on F16C
// (x86) or native __fp16 (aarch64), with an exact software fallback (round to
// nearest even).
//
// Declared here, defined in host/fp16.cpp, in namespace armbert::host: that file
// is the one place of its ISA dispatch, which is being reworked on its own
// (kernels/src/core/cpu_features.*); it moves to common/ with that change. Backends
// include this header and call common::f16_to_f32 / common::f32_to_f16.
#pragma once
#include <cstddef>
#include <cstdint>

namespace armbert {
namespace host {
void f16_to_f32(const uint16_t *src, float *dst, size_t n);
void f32_to_f16(const float *src, uint16_t *dst, size_t n);
}  // namespace host
namespace common {
using host::f16_to_f32;
using host::f32_to_f16;
}  // namespace common
}  // namespace armbert
