// Linear (GEMM + bias, optional GELU/tanh) on the host in three precisions.
// Output channels are split over the context's threads in blocks of kNr.
#include <algorithm>
#include <memory>

#include "gemm.h"
#include "ops.h"

namespace armbert::host {

namespace {

int blocks_of(int n) { return (n + kNr - 1) / kNr; }

// fp32: the level's packed-weight GEMM (gemm_f32.cpp) where it has one, else
// OpenBLAS on the weights as given.
struct LinearF32 : LinearOp {
    const GemmF32Kernel *packed = nullptr;  // null: OpenBLAS on w
    PackedF32 wp;
    std::vector<float> w, bias, scratch;  // w, bias: OpenBLAS's; scratch: a partial last panel
    void on_reshape() override {
        if (packed && desc.out_features % kNrF32)
            scratch.assign(size_t(ctx->threads) * kGemmF32ScratchFloats, 0.0f);
    }
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        const float *xp = data_of<float>(x);
        float *yp = data_of<float>(y);
        const int nr = packed ? kNrF32 : kNr;  // the thread split follows the panels
        parallel_for(*ctx, (N + nr - 1) / nr, [&](int64_t b0, int64_t b1, int t) {
            int n0 = int(b0) * nr, n1 = std::min(N, int(b1) * nr);
            const RowKernels &rk = kernels_of(ctx).rows;
            if (packed) {
                // The bias starts the GEMM's accumulators (wp.bias); the activation
                // follows each panel (gemm_f32_packed).
                float *sp = scratch.empty() ? nullptr
                                            : scratch.data() + size_t(t) * kGemmF32ScratchFloats;
                gemm_f32_packed(*packed, wp, xp, M, int(b0), int(b1), yp, N, sp,
                                desc.activation, rk.bias_act);
            } else {
                sgemm_nt(M, n1 - n0, K, 1.0f, xp, K, w.data() + size_t(n0) * K, K, 0.0f, yp + n0,
                         N);
                rk.bias_act(yp + n0, size_t(N), M, n1 - n0,
                            bias.empty() ? nullptr : bias.data() + n0, desc.activation);
            }
        });
    }
};

// fp16 weights and activations; fp32 accumulation: each thread widens a
// panel of kPanel weight rows to fp32 and calls sgemm on it.
struct LinearF16 : LinearOp {
    static constexpr int kPanel = 64;
    const F16Kernels *f16 = nullptr;
    std::vector<uint16_t> w;
    std::vector<float> bias, x32, y32, panels;
    void on_reshape() override {
        x32.assign(size_t(rows()) * desc.in_features, 0.0f);
        y32.assign(size_t(rows()) * desc.out_features, 0.0f);
        panels.assign(size_t(ctx->threads) * kPanel * desc.in_features, 0.0f);
    }
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int) {
            f16->to_f32(data_of<uint16_t>(x) + m0 * K, x32.data() + m0 * K,
                        size_t((m1 - m0) * K));
        });
        int npanels = (N + kPanel - 1) / kPanel;
        parallel_for(*ctx, npanels, [&](int64_t p0, int64_t p1, int t) {
            float *panel = panels.data() + size_t(t) * kPanel * K;
            for (int64_t p = p0; p < p1; ++p) {
                int n0 = int(p) * kPanel, nn = std::min(kPanel, N - n0);
                f16->to_f32(w.data() + size_t(n0) * K, panel, size_t(nn) * K);
                sgemm_nt(M, nn, K, 1.0f, x32.data(), K, panel, K, 0.0f, y32.data() + n0, N);
                kernels_of(ctx).rows.bias_act(y32.data() + n0, size_t(N), M, nn,
                                              bias.empty() ? nullptr : bias.data() + n0,
                                              desc.activation);
                for (int m = 0; m < M; ++m)
                    f16->to_f16(y32.data() + size_t(m) * N + n0,
                                data_of<uint16_t>(y) + size_t(m) * N + n0, size_t(nn));
            }
        });
    }
};

struct LinearI8 : LinearOp {
    const GemmS8Kernel *kernel = nullptr;
    DequantRowsFn dequant = dequant_rows_portable;
    QuantizeRowsFn quantize = quantize_rows_u8;
    PackedS8 w;
    std::vector<float> bias, col_scale, row_scale, inv_smooth, tmp;
    std::vector<uint8_t> xq;
    std::vector<int16_t> xq16;  // the kS16 kernels' activations (q, not q + 128)
    // LLM.int8() outliers: fp32 columns, their inputs gathered per row.
    std::vector<int32_t> outliers;
    std::vector<float> outlier_w, outlier_x, extra;
    void on_reshape() override {
        const bool s16 = kernel->act == ActS8::kS16;
        xq.assign(s16 ? 0 : size_t(rows()) * w.Kp, 128);
        xq16.assign(s16 ? size_t(rows()) * w.Kp : 0, 0);
        row_scale.assign(size_t(rows()), 1.0f);
        tmp.assign(inv_smooth.empty() ? 0 : size_t(ctx->threads) * desc.in_features, 0.0f);
        outlier_x.assign(size_t(rows()) * outliers.size(), 0.0f);
        extra.assign(outliers.empty() ? 0 : size_t(rows()) * desc.out_features, 0.0f);
    }
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        const float *xp = data_of<float>(x);
        const float *inv = inv_smooth.empty() ? nullptr : inv_smooth.data();
        parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int t) {
            void *codes = xq16.empty() ? static_cast<void *>(xq.data() + m0 * w.Kp)
                                       : static_cast<void *>(xq16.data() + m0 * w.Kp);
            quantize(xp + m0 * K, int(m1 - m0), K, w.Kp, desc.input_scale, inv, codes,
                     row_scale.data() + m0, inv ? tmp.data() + size_t(t) * K : nullptr);
        });
        const void *xk = xq16.empty() ? static_cast<const void *>(xq.data()) : xq16.data();
        const int O = int(outliers.size());
        for (int m = 0; O && m < M; ++m)
            for (int j = 0; j < O; ++j)
                outlier_x[size_t(m) * O + j] = xp[size_t(m) * K + outliers[j]];
        parallel_for(*ctx, blocks_of(N), [&](int64_t b0, int64_t b1, int) {
            int n0 = int(b0) * kNr, n1 = std::min(N, int(b1) * kNr);
            if (O)
                sgemm_nt(M, n1 - n0, O, 1.0f, outlier_x.data(), O,
                         outlier_w.data() + size_t(n0) * O, O, 0.0f, extra.data() + n0, N);
            gemm_s8_dequant(*kernel, dequant, w, xk, M, int(b0), int(b1), row_scale.data(),
                            col_scale.data(), O ? extra.data() : nullptr,
                            bias.empty() ? nullptr : bias.data(), desc.activation,
                            data_of<float>(y), N);
        });
    }
};

template <typename T> std::vector<T> copy_of(const T *p, size_t n) {
    return p ? std::vector<T>(p, p + n) : std::vector<T>();
}

}  // namespace

LinearOp *new_linear(const armbert_linear_desc &d, const HostKernels &k) {
    const size_t N = size_t(d.out_features), K = size_t(d.in_features);
    std::unique_ptr<LinearOp> op;
    if (d.precision == ARMBERT_PRECISION_FP32) {
        auto o = std::make_unique<LinearF32>();
        if (k.gemm_f32.rows > 0) {
            o->packed = &k.gemm_f32;
            o->wp = pack_f32(d.weight, d.bias, int(N), int(K));
        } else {
            o->w = copy_of(d.weight, N * K);
            o->bias = copy_of(d.bias, N);
        }
        op = std::move(o);
    } else if (d.precision == ARMBERT_PRECISION_FP16) {
        auto o = std::make_unique<LinearF16>();
        o->f16 = &k.f16;
        o->w.resize(N * K);
        k.f16.to_f16(d.weight, o->w.data(), N * K);
        o->bias = copy_of(d.bias, N);
        op = std::move(o);
    } else {
        auto o = std::make_unique<LinearI8>();
        o->w = pack_s8(d.weight_i8, int(N), int(K));
        // The level's faster kernel when these weights keep its bound (isa.h).
        o->kernel = k.gemm_s8_pairs.tile && o->w.pairs_safe ? &k.gemm_s8_pairs : &k.gemm_s8;
        o->dequant = k.rows.dequant;
        o->quantize = o->kernel->act == ActS8::kS16 ? k.quantize_s8.rows_s16 : k.quantize_s8.rows;
        o->col_scale = copy_of(d.weight_scale, N);
        o->bias = copy_of(d.bias, N);
        o->inv_smooth = inverse_smoothing(d);
        o->outliers = copy_of(d.outlier_channels, size_t(d.num_outliers));
        o->outlier_w = copy_of(d.outlier_weight, N * size_t(d.num_outliers));
        op = std::move(o);
    }
    op->desc = without_weights(d);  // weights are packed; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::host
