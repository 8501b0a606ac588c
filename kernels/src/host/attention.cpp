// Multi-head self-attention core, fused per (batch, head). The head's K^T and V
// are packed once into the thread's scratch (fp32, zero padded to the tile's
// columns), then the queries go through in blocks of the tile's rows: the
// block's scores (Q K^T tiles over d), softmax_row with the mask on each row, and
// P V (tiles over the keys) straight into the output. Only one block of score
// rows (rows x S floats, in L1) exists at a time, never the S x S matrix, and no
// call leaves the kernel. The tiles come from the context's ISA table
// (tile_f32.cpp, isa.h). FP16 widens on read and narrows on write; INT8
// runs in fp32.
#include <cmath>
#include <cstring>

#include "../common/workspace.h"
#include "ops.h"

namespace armbert::host {

namespace {

struct HostAttention : AttentionOp {
    std::vector<float> scratch;
    size_t per_thread = 0;
    int Sp = 0, dp = 0;  // S and d rounded up to the tile's columns

    void on_reshape() override {
        const TileF32Kernel &tk = kernels_of(ctx).tile_f32;
        const int S = seq, d = desc.hidden / desc.heads, R = tk.rows;
        Sp = common::round_up(S, tk.cols), dp = common::round_up(d, tk.cols);
        // K^T [d][Sp], V [S][dp], Q and out blocks [R][dp], scores [R][Sp], an fp16 row
        per_thread = size_t(d) * Sp + size_t(S) * dp + 2 * size_t(R) * dp + size_t(R) * Sp +
                     size_t(dp);
        common::require_host_memory("attention: workspace",
                                    4.0 * double(ctx->threads) * double(per_thread));
        scratch.assign(size_t(ctx->threads) * per_thread, 0.0f);
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const TileF32Kernel &tk = kernels_of(ctx).tile_f32;
        const auto softmax_rows = kernels_of(ctx).rows.softmax;
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A, ld = 3 * H, R = tk.rows;
        const float scale = 1.0f / std::sqrt(float(d));
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        // F32 tensors with d a multiple of the tile's columns: whole blocks of query
        // rows are read from qkv and their output is written to out, with no copy.
        // F16, padded d and a last partial block of rows go through the thread's
        // scratch. V is always copied: its S rows, 3 H floats apart in qkv, fall in
        // a few L1 sets (BERT-base: 9 KiB apart, 4 sets); read in place, the tiles'
        // share of a BERT-base fp32 run rose from 2.9 to 3.4 % (`perf`).
        const bool in_place = qkv->dtype == ARMBERT_F32 && out->dtype == ARMBERT_F32 && dp == d;
        const float *qkv32 = in_place ? data_of<float>(qkv) : nullptr;
        float *out32 = in_place ? data_of<float>(out) : nullptr;
        parallel_for(*ctx, int64_t(batch) * A, [&](int64_t t0, int64_t t1, int t) {
            float *kt = scratch.data() + size_t(t) * per_thread;
            float *vb = kt + size_t(d) * Sp, *qb = vb + size_t(S) * dp;
            float *ob = qb + size_t(R) * dp, *sc = ob + size_t(R) * dp;
            float *row = sc + size_t(R) * Sp;
            for (int64_t task = t0; task < t1; ++task) {
                const int b = int(task / A), h = int(task % A);
                const int64_t base = int64_t(b) * S * ld + int64_t(h) * d;
                const float *bmask = mk ? mk + size_t(b) * S : nullptr;
                // K^T and V of the head; their padding stays zero from reshape.
                for (int s = 0; s < S; ++s) {
                    const int64_t r = base + int64_t(s) * ld;
                    const float *kr = read_f32(qkv, r + H, d, row);
                    for (int k = 0; k < d; ++k) kt[size_t(k) * Sp + s] = kr[k];
                    std::memcpy(vb + size_t(s) * dp, read_f32(qkv, r + 2 * H, d, row),
                                sizeof(float) * size_t(d));
                }
                for (int i0 = 0; i0 < S; i0 += R) {
                    const int rows = std::min(R, S - i0);
                    const bool direct = in_place && rows == R;
                    const float *q = qb;
                    int ldq = dp;
                    if (direct) {
                        q = qkv32 + base + int64_t(i0) * ld, ldq = ld;
                    } else {
                        for (int r = 0; r < R; ++r) {  // rows past S are zero queries
                            float *qr = qb + size_t(r) * dp;
                            if (r < rows)
                                std::memcpy(qr,
                                            read_f32(qkv, base + int64_t(i0 + r) * ld, d, row),
                                            sizeof(float) * size_t(d));
                            else
                                std::fill(qr, qr + d, 0.0f);
                        }
                    }
                    for (int j0 = 0; j0 < Sp; j0 += tk.cols)
                        tk.tile(q, ldq, kt + j0, Sp, d, sc + j0, Sp);
                    softmax_rows(sc, rows, size_t(Sp), S, scale, bmask);
                    float *o = direct ? out32 + (int64_t(b) * S + i0) * H + int64_t(h) * d : ob;
                    const int ldo = direct ? H : dp;
                    for (int c0 = 0; c0 < dp; c0 += tk.cols)
                        tk.tile(sc, Sp, vb + c0, dp, S, o + c0, ldo);
                    if (!direct)
                        for (int r = 0; r < rows; ++r)
                            write_f32(out, (int64_t(b) * S + i0 + r) * H + int64_t(h) * d,
                                      ob + size_t(r) * dp, d);
                }
            }
        });
    }
};

}  // namespace

AttentionOp *new_attention(const armbert_attention_desc &d) { return new_op<HostAttention>(d); }

}  // namespace armbert::host
