// INT8 micro-kernel for AMX (Sapphire Rapids, Emerald Rapids and later Xeons):
// tdpbusd on tiles, u8 activations (q + 128, ActS8::kU8Offset) times s8 weights,
// exact int32 sums, so its outputs equal every other level's bit for bit.
//
// One call: up to 32 rows x the 32-column block, K in steps of 64:
//   tmm0..3  C, int32: rows 0-15 and 16-31 x columns 0-15 and 16-31 (the rows of
//            acc, stride kNr * 4 bytes)
//   tmm4, 5  A: rows 0-15 and 16-31 of x, 64 k (bytes) each, stride ldx
//   tmm6, 7  B: 16 k-groups of 4 x columns 0-15 and 16-31. The packed block
//            ([K/4][32][4], gemm.h) is already AMX's layout: a k-group is a row of
//            128 bytes, the two tiles are its halves (stride 128 bytes).
// K beyond the last multiple of 64 goes through the AVX512-VNNI kernel on the
// stored sums (every AMX CPU has it). The tile configuration is loaded per call
// (it is per thread and cheap next to 16 tdpbusd per 64 k).
//
// Linux gives a process AMX's 8 KiB of tile state only on request
// (arch_prctl ARCH_REQ_XCOMP_PERM): amx_usable() asks once; without it the level
// is not offered.
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "gemm.h"

namespace armbert::host {

namespace {

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};  // bytes per row of each tile
    uint8_t rows[16] = {};
};

constexpr int kKStep = 64;  // bytes of k per A tile row

#define ARMBERT_AMX __attribute__((target("amx-tile,amx-int8,avx512f")))

// rows0 (1..16) rows in tmm0/1/4, rows1 (0..16) in tmm2/3/5.
template <bool kTwo>
ARMBERT_AMX void amx_tile(const int8_t *w, const uint8_t *x, size_t ldx, int kmain, int rows0,
                          int rows1, int32_t *acc, bool accumulate) {
    TileConfig cfg;
    for (int t : {0, 1, 4}) cfg.rows[t] = uint8_t(rows0), cfg.colsb[t] = 64;
    if (kTwo)
        for (int t : {2, 3, 5}) cfg.rows[t] = uint8_t(rows1), cfg.colsb[t] = 64;
    for (int t : {6, 7}) cfg.rows[t] = kKStep / 4, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
    constexpr size_t ldc = kNr * sizeof(int32_t);
    int32_t *acc1 = acc + 16 * kNr;
    if (accumulate) {
        _tile_loadd(0, acc, ldc);
        _tile_loadd(1, acc + 16, ldc);
        if (kTwo) {
            _tile_loadd(2, acc1, ldc);
            _tile_loadd(3, acc1 + 16, ldc);
        }
    } else {
        _tile_zero(0);
        _tile_zero(1);
        if (kTwo) {
            _tile_zero(2);
            _tile_zero(3);
        }
    }
    for (int k = 0; k < kmain; k += kKStep) {
        const int8_t *b = w + size_t(k) * kNr;  // k-group k/4, row of kNr * 4 bytes
        _tile_loadd(6, b, kNr * 4);
        _tile_loadd(7, b + 64, kNr * 4);
        _tile_loadd(4, x + k, ldx);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        if (kTwo) {
            _tile_loadd(5, x + 16 * ldx + k, ldx);
            _tile_dpbusd(2, 5, 6);
            _tile_dpbusd(3, 5, 7);
        }
    }
    _tile_stored(0, acc, ldc);
    _tile_stored(1, acc + 16, ldc);
    if (kTwo) {
        _tile_stored(2, acc1, ldc);
        _tile_stored(3, acc1 + 16, ldc);
    }
    _tile_release();
}

}  // namespace

bool amx_usable() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
        constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        return tile && int8 && syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
    }();
    return ok;
}

void tile_s8_amx(const int8_t *w, const void *xv, size_t ldx, int kc, int mr, int32_t *acc,
                 bool accumulate) {
    const uint8_t *x = static_cast<const uint8_t *>(xv);
    const int kmain = kc / kKStep * kKStep;
    if (kmain > 0) {
        const int rows0 = std::min(mr, 16), rows1 = mr - rows0;
        if (rows1 > 0)
            amx_tile<true>(w, x, ldx, kmain, rows0, rows1, acc, accumulate);
        else
            amx_tile<false>(w, x, ldx, kmain, rows0, 0, acc, accumulate);
    }
    if (kc > kmain)
        for (int r = 0; r < mr; r += 8)
            tile_s8_avx512vnni(w + size_t(kmain) * kNr, x + size_t(r) * ldx + kmain, ldx,
                               kc - kmain, std::min(8, mr - r), acc + r * kNr,
                               accumulate || kmain > 0);
}

}  // namespace armbert::host
#endif
