// Host GEMM kernels, through the context's HostKernels table (isa.h). FP32: our
// packed-weight driver (gemm_f32.cpp) at the AVX2 and AVX-512 levels, OpenBLAS at
// the scalar level and for fp16 panels and int8 outlier columns (common/blas.h;
// single-threaded per call: the caller splits N over its own pinned team). INT8:
// one blocked driver (gemm_s8.cpp) over a micro-kernel per ISA level
// (gemm_s8_<isa>.cpp); its epilogue is the level's row kernel (rows.cpp).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <vector>

#include "../common/blas.h"
#include "../common/int8.h"
#include "armbert.h"
#include "vecmath.h"

namespace armbert::host {

// Memory on 64-byte boundaries: the tiles' full-vector panel loads then never split a
// cache line (std::vector's large blocks come from mmap 16 bytes past a page).
template <typename T> struct CacheLineAllocator {
    using value_type = T;
    CacheLineAllocator() = default;
    template <typename U> CacheLineAllocator(const CacheLineAllocator<U> &) {}
    T *allocate(size_t n) {
        void *p = ::operator new(n * sizeof(T), std::align_val_t(64));
        return static_cast<T *>(p);
    }
    void deallocate(T *p, size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <typename U> bool operator==(const CacheLineAllocator<U> &) const { return true; }
    template <typename U> bool operator!=(const CacheLineAllocator<U> &) const { return false; }
};

// INT8 weights packed once for the kernel: blocks of kNr output channels,
// groups of 4 along K (the vpdpbusd/sdot layout), zero padded.
constexpr int kNr = 32;
struct PackedS8 {
    int N = 0, K = 0, Kp = 0;  // Kp: K rounded up to 4
    std::vector<int8_t, CacheLineAllocator<int8_t>> data;  // [N/kNr][Kp/4][kNr][4]
    std::vector<int32_t> col_offset;  // 128 * column sum per output channel (u8 kernels)
    // Every column's |w[2i]| + |w[2i+1]| <= 128 (k pairs as vpmaddubsw takes them):
    // the AVX2 level's vpmaddubsw kernel is exact on these (gemm_s8_avx2.cpp).
    bool pairs_safe = true;
};
PackedS8 pack_s8(const int8_t *w, int N, int K);

// How a micro-kernel reads the quantized activations q in [-127, 127]:
// kU8Offset: uint8 q + 128 (the vpdpbusd/udot operand; the driver subtracts
// 128 * column sum afterwards), kS16: int16 q (the vpmaddwd operand).
enum class ActS8 { kU8Offset, kS16 };

// One line into L2. An asm statement: gcc deletes a loop whose body is only
// __builtin_prefetch (it has no side effect, and C++ loops are assumed to finish);
// a version of Prefetch::at written with it compiled to nothing.
inline void prefetch_l2(const char *p) {
#if defined(__x86_64__)
    asm volatile("prefetcht1 %0" : : "m"(*p));
#elif defined(__aarch64__)
    asm volatile("prfm pldl2keep, %0" : : "Q"(*p));
#else
    __builtin_prefetch(p, 0, 2);
#endif
}

// The next weight slab, asked into L2 while a micro-kernel computes on the current
// one: the fp32 GEMM driver gives each row tile a share of the slab's cache lines, and
// the tile asks for `per_step` of them at each of its first `steps` k steps. The hardware
// streamer stops at every 4 KiB page, and a model's weights (MiniLM fp32: 42 MB) do
// not stay in cache between inferences: without a prefetch each slab's first tile
// waited on memory. Spread over the k loop rather than one burst before the tile: a
// burst of 85 lines (a 32 KiB fp32 slab over the 6 tiles of 32 rows) queued the tile's
// own loads behind the fill buffers; spread, fp32 at 32 rows streams 131-148 GFLOP/s
// from memory instead of 86-116 (docs/performance.md).
struct Prefetch {
    const char *p = nullptr;
    int steps = 0;
    int per_step = 0;
    // The lines of k step `step` (a no-op past the last).
    void at(int step) const {
        if (step < steps)
            for (int j = 0; j < per_step; ++j)
                prefetch_l2(p + (size_t(step) * per_step + j) * 64);
    }
};

// Part `part` of `parts` of the cache lines of [p, p + bytes), spread over k_steps steps.
inline Prefetch prefetch_spread(const void *p, size_t bytes, int part, int parts,
                                int k_steps) {
    if (!p || k_steps <= 0) return {};
    const size_t lines = (bytes + 63) / 64;
    const size_t l0 = lines * size_t(part) / size_t(parts);
    const size_t l1 = lines * size_t(part + 1) / size_t(parts);
    if (l1 <= l0) return {};
    const int n = int(l1 - l0);
    const int per_step = (n + k_steps - 1) / k_steps;
    return {static_cast<const char *>(p) + l0 * 64, (n + per_step - 1) / per_step, per_step};
}

// The same share asked for at once, before the tile (the int8 driver: gemm_s8.cpp says
// why it keeps the burst).
inline void prefetch_part(const void *p, size_t bytes, int part, int parts) {
    prefetch_spread(p, bytes, part, parts, 1).at(0);
}

// A micro-kernel: for r < mr and c < kNr,
//   acc[r * kNr + c] (+)= sum_{k < kc} x[r * ldx + k] * w[k][c]
// (= when !accumulate, += when accumulate); w points into a block of PackedS8 at
// K offset k0 (w = block + k0 * kNr), x at element k0 of row 0 (ldx in elements,
// of the kernel's ActS8 type), kc a multiple of 4. Every sum is exact in int32.
using TileS8Fn = void (*)(const int8_t *w, const void *x, size_t ldx, int kc, int mr,
                          int32_t *acc, bool accumulate);
struct GemmS8Kernel {
    const char *name;  // e.g. "avx2 (vpmovsxbw + vpmaddwd, exact)"
    ActS8 act;
    int mr;  // rows per tile call (the driver's chunks are 128 rows, gemm_s8.cpp)
    int kc;  // K block (multiple of 4): the weight slab kc x kNr stays in L1
    TileS8Fn tile;
};

// The int8 epilogue of a tile of rows (r in [0, rows), c in [0, n)):
//   q[r, c] -= col_offset[c] (when not NULL: the u8 kernels' 128 * column sums), then
//   y[r, c] = dequant_one(q[r, c], row_scale[r] * col_scale[c], extra[r, c], bias[c], act)
// (common/int8.h); extra and bias may be NULL. q has rows of ldq, extra and y of ldy.
// The context's level of it (isa.h RowKernels). A tile per call, not a row: the driver
// calls it on blocks of 32 channels, and per row the call cost more than the work.
using DequantRowsFn = void (*)(int32_t *q, size_t ldq, int rows, int n,
                               const int32_t *col_offset, const float *row_scale,
                               const float *col_scale, const float *extra, const float *bias,
                               armbert_activation act, float *y, size_t ldy);

// The fp32 epilogue of rows (r in [0, rows), c in [0, n)), in place:
//   y[r, c] = act(y[r, c] + bias[c]) (bias may be NULL). The context's level of it
// (isa.h RowKernels); the same bits at every level.
using BiasActRowsFn = void (*)(float *y, size_t ldy, int rows, int n, const float *bias,
                               armbert_activation act);

// Activations enter as rows of Kp elements in the kernel's ActS8 format
// (the level's QuantizeRowsFn). For rows [0, M) and the
// output-channel blocks [block_begin, block_end):
//   y[m, n] = act(float(sum_k q[m,k] w[n,k]) * (row_scale[m] * col_scale[n])
//                 + extra[m, n] + bias[n])
// extra (ld = ldy) and bias may be NULL; dequant computes each row of y.
void gemm_s8_dequant(const GemmS8Kernel &kernel, DequantRowsFn dequant, const PackedS8 &w,
                     const void *x, int M, int block_begin, int block_end,
                     const float *row_scale, const float *col_scale, const float *extra,
                     const float *bias, armbert_activation act, float *y, int ldy);

// Calls f(std::integral_constant<int, mr>) for a runtime row count mr in
// [1, MaxMR] (1 for anything else): the micro-kernels are templates on their
// row count, so each keeps its accumulators in registers. f is a lambda, which
// gcc compiles without its caller's target attribute: f must call a function that
// carries the target itself (the int8 tiles), never inline ISA code into f
// (gemm_f32.cpp tile_rows says what that cost a portable build).
template <int MaxMR, typename F>
inline void for_rows(int mr, F &&f) {
    if constexpr (MaxMR > 1) {
        if (mr == MaxMR) return f(std::integral_constant<int, MaxMR>{});
        return for_rows<MaxMR - 1>(mr, f);
    } else {
        return f(std::integral_constant<int, 1>{});
    }
}

// FP32 weights packed once for gemm_f32.cpp: panels of kNrF32 output channels,
// [N/kNrF32][K][kNrF32], zero padded.
constexpr int kNrF32 = 64;
struct PackedF32 {
    int N = 0, K = 0;
    std::vector<float, CacheLineAllocator<float>> data;
    std::vector<float> bias;  // [panels * kNrF32], zero padded; empty without a bias
};
// w: [N, K] rows (torch's layout); bias: N values or NULL.
PackedF32 pack_f32(const float *w, const float *bias, int N, int K);

// An fp32 micro-kernel (gemm_f32.cpp): for r < rows (<= the kernel's rows) and
// c < 64, c[r * ldc + c] = init + sum_{k < kc} a[r * lda + k] * b[k * 64 + c], where
// init is c[r * ldc + c] itself when accumulate, else bias[c] (0 when bias is NULL);
// b points into a panel at its K offset. The bias starts each output's FMA chain, so
// no pass over the output adds it afterwards.
using TileF32PackedFn = void (*)(const float *a, size_t lda, const float *b, int kc, int rows,
                                 float *c, size_t ldc, bool accumulate, const float *bias,
                                 Prefetch pf);
struct GemmF32Kernel {
    const char *name;  // e.g. "avx512 (zmm fma, 6x64 tile, packed weights)"
    int rows;          // 0: no packed kernel at this level (OpenBLAS)
    TileF32PackedFn tile;
};
#if defined(__x86_64__)
void tile_f32p_avx2(const float *a, size_t lda, const float *b, int kc, int rows, float *c,
                    size_t ldc, bool accumulate, const float *bias, Prefetch pf);
void tile_f32p_avx512(const float *a, size_t lda, const float *b, int kc, int rows, float *c,
                      size_t ldc, bool accumulate, const float *bias, Prefetch pf);
#endif
// The K block of gemm_f32_packed on this CPU (gemm_f32.cpp: from its L1 size).
int gemm_f32_k_block();
// y[m, n] = act(bias[n] + sum_k x[m, k] w[n, k]) (w.bias, 0 without one) for rows
// [0, M) (x dense, ld = K) and the panels [block_begin, block_end) of kNrF32 columns
// (ld of y = ldy), in chunks of kGemmF32ChunkRows rows; scratch: kGemmF32ScratchFloats
// for a partial last panel. The activation (none: act_rows unused) is act_rows on
// each chunk's panel once its sums are done.
constexpr int kGemmF32ChunkRows = 132;  // a multiple of the tiles' 6 and 3 rows
void gemm_f32_packed(const GemmF32Kernel &kernel, const PackedF32 &w, const float *x, int M,
                     int block_begin, int block_end, float *y, int ldy, float *scratch,
                     armbert_activation act, BiasActRowsFn act_rows);
constexpr int kGemmF32ScratchFloats = kGemmF32ChunkRows * kNrF32;

// FP32 tiles of the fused attention (tile_f32.cpp): for r < rows,
//   c[r * ldc + j] = sum_{k < K} a[r * lda + k] * bt[k * ldb + j], j < cols.
using TileF32Fn = void (*)(const float *a, int lda, const float *bt, int ldb, int K, float *c,
                           int ldc);
struct TileF32Kernel {
    const char *name;  // e.g. "avx512 (zmm fma, 8x32 tile)"
    int rows, cols;
    TileF32Fn tile;
};
void tile_f32_scalar(const float *a, int lda, const float *bt, int ldb, int K, float *c,
                     int ldc);
#if defined(__x86_64__)
void tile_f32_avx2(const float *a, int lda, const float *bt, int ldb, int K, float *c, int ldc);
void tile_f32_avx512(const float *a, int lda, const float *bt, int ldb, int K, float *c,
                     int ldc);
#endif

// The micro-kernels (gemm_s8_<isa>.cpp; x86 ones are only called after the
// context's table said the CPU has their instructions).
void tile_s8_scalar(const int8_t *w, const void *x, size_t ldx, int kc, int mr, int32_t *acc,
                    bool accumulate);
#if defined(__x86_64__)
void tile_s8_avx2_pairs(const int8_t *w, const void *x, size_t ldx, int kc, int mr,
                        int32_t *acc, bool accumulate);
void tile_s8_avx2(const int8_t *w, const void *x, size_t ldx, int kc, int mr, int32_t *acc,
                  bool accumulate);
void tile_s8_avxvnni(const int8_t *w, const void *x, size_t ldx, int kc, int mr, int32_t *acc,
                     bool accumulate);
void tile_s8_avx512vnni(const int8_t *w, const void *x, size_t ldx, int kc, int mr,
                        int32_t *acc, bool accumulate);
void tile_s8_amx(const int8_t *w, const void *x, size_t ldx, int kc, int mr, int32_t *acc,
                 bool accumulate);  // mr <= 32
// AMX tiles with int8 on this CPU and the OS's permission for their state
// (requested once per process): gemm_s8_amx.cpp.
bool amx_usable();
#endif

// The steps of quantize_rows_u8 that every implementation shares, so the
// vectorized ones give the portable loop's bytes: row m of x times inv_smooth
// (into tmp) when given; the per-row scale from the row's max |x|; one value's
// uint8 (q + 128, q rounded to nearest even and clamped to [-127, 127]). The scale
// is common/int8.h scale_from_absmax.
inline const float *smoothed_row(const float *x, int m, int K, const float *inv_smooth,
                                 float *tmp) {
    const float *xr = x + size_t(m) * K;
    if (!inv_smooth) return xr;
    for (int k = 0; k < K; ++k) tmp[k] = xr[k] * inv_smooth[k];
    return tmp;
}
using common::scale_from_absmax;
inline uint8_t quantize_u8(float v, float inv) {
    float q = std::nearbyint(v * inv);
    q = std::min(127.0f, std::max(-127.0f, q));
    return uint8_t(int(q) + 128);
}

// Quantizes rows of x to u8 (q + 128), static scale when scale > 0 else per
// row; inv_smooth (may be NULL) multiplies each input channel first.
void quantize_rows_u8(const float *x, int M, int K, int Kp, float scale,
                      const float *inv_smooth, void *out, float *row_scale, float *tmp);
// A quantizer of the table (isa.h QuantizeS8Kernel): out holds rows of Kp codes in its
// GEMM kernel's ActS8 format (uint8 q + 128, or int16 q for kS16).
using QuantizeRowsFn = void (*)(const float *x, int M, int K, int Kp, float scale,
                                const float *inv_smooth, void *out, float *row_scale,
                                float *tmp);
#if defined(__x86_64__)
void quantize_rows_u8_avx2(const float *x, int M, int K, int Kp, float scale,
                           const float *inv_smooth, void *out, float *row_scale, float *tmp);
// The same q as int16 (ActS8::kS16, the AVX2 kernel's operand), written directly: a
// second pass widening the bytes cost 2 % of an AVX2 int8 MiniLM run (`perf`).
void quantize_rows_s16_avx2(const float *x, int M, int K, int Kp, float scale,
                            const float *inv_smooth, void *out, float *row_scale, float *tmp);
#endif

}  // namespace armbert::host
