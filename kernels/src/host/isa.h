// The host backend's kernels per ISA level: one table, chosen once per context
// (XNNPACK's src/configs is the model). Nothing else in the host backend asks
// the CPU what it has: the kernels below are reached through a HostKernels
// table, never through a feature test at the call site.
//
// Levels (x86_64; aarch64 has "scalar" alone, its NEON code is the ACL backend):
//   scalar      portable C++ loops (what the compiler makes of them), software fp16
//   avx2        AVX2 + FMA + F16C: int8 GEMM by exact 16-bit widening (vpmovsxbw +
//               vpmaddwd), F16C conversions, fp32 tiles by ymm FMA, row
//               kernels (softmax, layernorm, GELU, int8 epilogue) on ymm, fp32
//               GEMM on packed weights (3x32 ymm tiles; scalar: OpenBLAS)
//   avxvnni     avx2 + AVX-VNNI: int8 GEMM by 256-bit vpdpbusd
//   avx512vnni  avx2 + AVX512F/BW/VNNI: int8 GEMM by 512-bit vpdpbusd, fp32
//               tiles by zmm FMA, row kernels on zmm, fp32 GEMM 6x64 zmm tile
//   amx         avx512vnni + AMX-TILE/INT8 (and the OS's permission for the tile
//               state): int8 GEMM by tdpbusd on 16x64-byte tiles
// A context takes the highest level this CPU runs, or the one named by
// ARMBERT_ISA (read at each context creation, so one process can hold contexts
// at several levels). Every level gives bit-identical int8 sums (exact in int32)
// fp16 conversions (round to nearest even on every path) and row kernels
// (rows.cpp); the fp32 tiles differ by FMA rounding only (one chain over k per
// output on every level), and the packed fp32 GEMM is the same at avx2 and up.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "gemm.h"

namespace armbert::host {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvxVnni = 2, kAvx512Vnni = 3, kAmx = 4 };
constexpr int kIsaCount = 5;
const char *isa_name(Isa isa);

struct F16Kernels {
    const char *name;
    void (*to_f32)(const uint16_t *src, float *dst, size_t n);
    void (*to_f16)(const float *src, uint16_t *dst, size_t n);
};

struct QuantizeS8Kernel {
    const char *name;
    QuantizeRowsFn rows;  // quantize_rows_u8's contract (gemm.h): u8 codes q + 128
    QuantizeRowsFn rows_s16 = nullptr;  // the same q as int16 (ActS8::kS16 kernels)
};

// Row kernels (rows.cpp): the same scalar bodies compiled for the level's vector
// width; every level gives the same bits (no FMA contraction, fixed sum order).
struct RowKernels {
    const char *name;  // e.g. "avx512 (zmm)"
    // nrows rows of n scores, ld floats apart, each softmax(row * scale + mask) in place;
    // mask (n floats, shared by the rows) may be NULL
    void (*softmax)(float *rows, int nrows, size_t ld, int n, float scale, const float *mask);
    void (*layernorm)(float *row, int n, const float *gamma, const float *beta, float eps);
    void (*activate)(float *y, int n, armbert_activation act);  // GELU/tanh in place
    DequantRowsFn dequant;  // the int8 epilogue (gemm.h)
    BiasActRowsFn bias_act;  // the fp32 epilogue (gemm.h)
};
#define ARMBERT_DECLARE_ROW_KERNELS(SUFFIX)                                                    \
    void softmax_rows_##SUFFIX(float *rows, int nrows, size_t ld, int n, float scale,          \
                               const float *mask);                                             \
    void layernorm_row_##SUFFIX(float *row, int n, const float *gamma, const float *beta,      \
                                float eps);                                                    \
    void activate_##SUFFIX(float *y, int n, armbert_activation act);                           \
    void dequant_rows_##SUFFIX(int32_t *q, size_t ldq, int rows, int n,                        \
                               const int32_t *col_offset, const float *row_scale,              \
                               const float *col_scale, const float *extra, const float *bias,  \
                               armbert_activation act, float *y, size_t ldy);                  \
    void bias_act_rows_##SUFFIX(float *y, size_t ldy, int rows, int n, const float *bias,      \
                                armbert_activation act);
ARMBERT_DECLARE_ROW_KERNELS(portable)
#if defined(__x86_64__)
ARMBERT_DECLARE_ROW_KERNELS(avx2)
ARMBERT_DECLARE_ROW_KERNELS(avx512)
// rows.cpp's body at the avx2 and avx512 levels, for the edges of dequant_x86.cpp's
// one-pass dequant_rows_avx2 / dequant_rows_avx512
void dequant_rows_avx2_scalar(int32_t *q, size_t ldq, int rows, int n,
                              const int32_t *col_offset, const float *row_scale,
                              const float *col_scale, const float *extra, const float *bias,
                              armbert_activation act, float *y, size_t ldy);
void dequant_rows_avx512_scalar(int32_t *q, size_t ldq, int rows, int n,
                                const int32_t *col_offset, const float *row_scale,
                                const float *col_scale, const float *extra, const float *bias,
                                armbert_activation act, float *y, size_t ldy);
#endif
#undef ARMBERT_DECLARE_ROW_KERNELS

struct HostKernels {
    Isa isa;
    GemmS8Kernel gemm_s8;  // int8 linear
    // The int8 linear when its weights are pair-safe (PackedS8::pairs_safe); tile NULL:
    // gemm_s8 for every weight (the levels whose kernel needs no such bound).
    GemmS8Kernel gemm_s8_pairs;
    QuantizeS8Kernel quantize_s8;  // its activations, fp32 -> codes
    F16Kernels f16;        // fp16 <-> fp32 arrays
    TileF32Kernel tile_f32;  // the fused attention's fp32 tiles
    RowKernels rows;         // softmax, layernorm, activations, int8 epilogue
    GemmF32Kernel gemm_f32;  // fp32 linear over packed weights; rows 0: OpenBLAS
};

// Can this CPU run the level (its kernels' instructions)?
bool isa_supported(Isa isa);
// Levels this CPU runs, lowest first, e.g. "scalar,avx2,avx512vnni".
const std::string &supported_isa_list();
const HostKernels &host_kernels(Isa isa);  // isa must be supported
// The table for a new context: ARMBERT_ISA when set (throws Error:
// ARMBERT_ERR_INVALID_ARGUMENT for an unknown name, ARMBERT_ERR_UNSUPPORTED for
// a level this CPU cannot run), else the highest supported level.
const HostKernels &select_host_kernels();
// For code that has no host context (CL packing, NEON helpers): the table of
// ARMBERT_ISA as first seen in this process when valid, else the highest level.
const HostKernels &default_host_kernels();
// One line for armbert_context_describe: the level and each kernel family's path.
std::string describe_kernels(const HostKernels &k);

}  // namespace armbert::host
