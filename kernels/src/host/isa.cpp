// The host kernel table (isa.h): one row per ISA level, the CPU asked once
// (core/cpu_features.cpp), the level chosen per context.
#include "isa.h"

#include <cstdlib>
#include <cstring>

#include "../common/blas.h"
#include "../core/cpu_features.h"
#include "../core/error.h"
#include "fp16.h"

namespace armbert::host {

namespace {

// K blocks of 512: the 16 KiB weight slab of one 32-column block stays in L1
// (32-48 KiB on the x86 cores we target) next to the activation rows of a tile.
constexpr int kKc = 512;
// gemm_s8_pairs of the levels whose int8 kernel needs no pair bound (isa.h).
constexpr GemmS8Kernel kNoPairsKernel{"", ActS8::kU8Offset, 0, 0, nullptr};
constexpr TileF32Kernel kTileScalar{"portable (4x16 tile)", 4, 16, tile_f32_scalar};
constexpr GemmF32Kernel kGemmF32Blas{"OpenBLAS", 0, nullptr};
constexpr RowKernels kRowKernelsPortable{"portable", softmax_rows_portable,
                                         layernorm_row_portable, activate_portable,
                                         dequant_rows_portable, bias_act_rows_portable};

#if defined(__x86_64__)
constexpr F16Kernels kF16Soft{"software (round to nearest even)", f16_to_f32_soft,
                              f32_to_f16_soft};
constexpr F16Kernels kF16C{"f16c (vcvtph2ps/vcvtps2ph)", f16_to_f32_f16c, f32_to_f16_f16c};
constexpr QuantizeS8Kernel kQuantScalar{"scalar", quantize_rows_u8};
constexpr QuantizeS8Kernel kQuantAvx2{"avx2", quantize_rows_u8_avx2, quantize_rows_s16_avx2};
constexpr TileF32Kernel kTileAvx2{"avx2 (ymm fma, 6x16 tile)", 6, 16, tile_f32_avx2};
constexpr TileF32Kernel kTileAvx512{"avx512 (zmm fma, 8x32 tile)", 8, 32, tile_f32_avx512};
constexpr GemmF32Kernel kGemmF32Avx2{"avx2 (ymm fma, 3x32 tiles, packed weights)", 3,
                                     tile_f32p_avx2};
constexpr GemmF32Kernel kGemmF32Avx512{"avx512 (zmm fma, 6x64 tile, packed weights)", 6,
                                       tile_f32p_avx512};
constexpr RowKernels kRowKernelsAvx2{"avx2 (ymm)", softmax_rows_avx2, layernorm_row_avx2,
                                     activate_avx2, dequant_rows_avx2,
                                     bias_act_rows_avx2};
constexpr RowKernels kRowKernelsAvx512{"avx512 (zmm)", softmax_rows_avx512, layernorm_row_avx512,
                                       activate_avx512, dequant_rows_avx512,
                                       bias_act_rows_avx512};
const HostKernels kTable[kIsaCount] = {
    {Isa::kScalar, {"scalar (portable loop)", ActS8::kU8Offset, 4, kKc, tile_s8_scalar},
     kNoPairsKernel, kQuantScalar, kF16Soft, kTileScalar, kRowKernelsPortable, kGemmF32Blas},
    {Isa::kAvx2,
     {"avx2 (vpmovsxbw + vpmaddwd, exact 16-bit widening, 6x32 tile)", ActS8::kS16, 6, kKc,
      tile_s8_avx2},
     {"avx2 (vpmaddubsw + vpmaddwd, 6x32 tile)", ActS8::kU8Offset, 6, kKc, tile_s8_avx2_pairs},
     kQuantAvx2, kF16C, kTileAvx2, kRowKernelsAvx2, kGemmF32Avx2},
    {Isa::kAvxVnni,
     {"avxvnni (vpdpbusd ymm, 6x32 tile)", ActS8::kU8Offset, 6, kKc, tile_s8_avxvnni},
     kNoPairsKernel, kQuantAvx2, kF16C, kTileAvx2, kRowKernelsAvx2, kGemmF32Avx2},
    {Isa::kAvx512Vnni,
     {"avx512vnni (vpdpbusd zmm, 8x32 tile)", ActS8::kU8Offset, 8, kKc, tile_s8_avx512vnni},
     kNoPairsKernel, kQuantAvx2, kF16C, kTileAvx512, kRowKernelsAvx512, kGemmF32Avx512},
    {Isa::kAmx,
     {"amx (tdpbusd, 32x32 tile of four 16x16)", ActS8::kU8Offset, 32, kKc, tile_s8_amx},
     kNoPairsKernel, kQuantAvx2, kF16C, kTileAvx512, kRowKernelsAvx512, kGemmF32Avx512},
};
#else
#if defined(__aarch64__)
constexpr F16Kernels kF16Default{"native __fp16", f16_to_f32_native, f32_to_f16_native};
#else
constexpr F16Kernels kF16Default{"software (round to nearest even)", f16_to_f32_soft,
                                 f32_to_f16_soft};
#endif
const HostKernels kTable[1] = {
    {Isa::kScalar, {"scalar (portable loop)", ActS8::kU8Offset, 4, kKc, tile_s8_scalar},
     kNoPairsKernel, {"scalar", quantize_rows_u8}, kF16Default, kTileScalar,
     kRowKernelsPortable, kGemmF32Blas},
};
#endif
constexpr int kRows = int(sizeof(kTable) / sizeof(kTable[0]));

const char *const kNames[kIsaCount] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

Isa best_isa() {
    for (int i = kRows - 1; i > 0; --i)
        if (isa_supported(Isa(i))) return Isa(i);
    return Isa::kScalar;
}

// The level ARMBERT_ISA names, or the best one when it is unset, empty or "auto".
Isa isa_from_env() {
    const char *env = std::getenv("ARMBERT_ISA");
    if (!env || !*env || std::strcmp(env, "auto") == 0) return best_isa();
    for (int i = 0; i < kIsaCount; ++i) {
        if (std::strcmp(env, kNames[i]) != 0) continue;
        ARMBERT_REQUIRE(isa_supported(Isa(i)), ARMBERT_ERR_UNSUPPORTED,
                        std::string("ARMBERT_ISA=") + env +
                            ": this CPU cannot run that level (it runs " + supported_isa_list() +
                            ")");
        return Isa(i);
    }
    std::string known;
    for (const char *name : kNames) known += std::string(name) + ", ";
    fail(ARMBERT_ERR_INVALID_ARGUMENT, std::string("ARMBERT_ISA=") + env + ": unknown level (" +
                                           known + "or auto; this CPU runs " +
                                           supported_isa_list() + ")");
}

}  // namespace

const char *isa_name(Isa isa) {
    int i = int(isa);
    return i >= 0 && i < kIsaCount ? kNames[i] : "?";
}

bool isa_supported(Isa isa) {
    if (int(isa) < 0 || int(isa) >= kRows) return false;
#if defined(__x86_64__)
    const uint64_t f = cpu_features();
    const bool avx2 = (f & ARMBERT_CPU_AVX2) && (f & ARMBERT_CPU_F16C);
    switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvxVnni: return avx2 && (f & ARMBERT_CPU_AVX_VNNI);
    case Isa::kAvx512Vnni: return avx2 && (f & ARMBERT_CPU_AVX512_VNNI);
    case Isa::kAmx: return avx2 && (f & ARMBERT_CPU_AVX512_VNNI) && amx_usable();
    }
    return false;
#else
    return isa == Isa::kScalar;
#endif
}

const std::string &supported_isa_list() {
    static const std::string list = [] {
        std::string s;
        for (int i = 0; i < kRows; ++i)
            if (isa_supported(Isa(i))) s += (s.empty() ? "" : ",") + std::string(kNames[i]);
        return s;
    }();
    return list;
}

const HostKernels &host_kernels(Isa isa) {
    ARMBERT_REQUIRE(isa_supported(isa), ARMBERT_ERR_UNSUPPORTED,
                    std::string("ISA level ") + isa_name(isa) + " is not supported by this CPU");
    return kTable[int(isa)];
}

const HostKernels &select_host_kernels() { return kTable[int(isa_from_env())]; }

const HostKernels &default_host_kernels() {
    static const HostKernels &k = [&]() -> const HostKernels & {
        try {
            return kTable[int(isa_from_env())];
        } catch (const Error &) {
            return kTable[int(best_isa())];  // context creation reports the bad value
        }
    }();
    return k;
}

std::string describe_kernels(const HostKernels &k) {
    return std::string("isa ") + isa_name(k.isa) + " (this CPU runs " + supported_isa_list() +
           "; ARMBERT_ISA forces one): int8 gemm " + k.gemm_s8.name +
           (k.gemm_s8_pairs.tile ? std::string(", on pair-safe weights ") + k.gemm_s8_pairs.name
                                 : std::string()) +
           ", K blocks of " + std::to_string(k.gemm_s8.kc) + "; int8 quantize " + k.quantize_s8.name +
           "; fp16 conversions " + k.f16.name + "; fp32 tiles " + k.tile_f32.name +
           "; row kernels " + k.rows.name +
           "; fp32 gemm " +
           (k.gemm_f32.rows ? std::string(k.gemm_f32.name) + ", K blocks of " +
                                  std::to_string(gemm_f32_k_block()) + " (L1 " +
                                  std::to_string(l1d_cache_bytes() / 1024) + " KiB)" +
                                  "; OpenBLAS (" + common::blas_core() +
                                  ") for fp16 panels and int8 outlier columns"
                            : std::string("OpenBLAS (") + common::blas_core() + ")");
}

}  // namespace armbert::host
