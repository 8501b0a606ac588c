// INT8 linear: int8 x int8 -> int32 by our SMMLA GEMM on cores with FEAT_I8MM
// (gemm_s8_i8mm.h), else by ACL's NEGEMMLowpMatrixMultiplyCore.
// Scales stay ours: dynamic per-row input scales have no place in ACL's
// per-tensor output stage, so ACL returns the raw int32 sums and our epilogue
// (epilogue_row: common::dequant_one's arithmetic in one NEON pass) dequantizes,
// adds the fp32 outlier part and the bias and applies the activation. Both offsets
// are 0 (symmetric quantization), so GEMMLowp's offset terms (it adds them) vanish.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEGEMMLowpMatrixMultiplyCore.h"

#include "../core/cpu_features.h"
#include "../core/tensor.h"
#include "../common/int8.h"
#include "../common/parallel.h"
#include "acl.h"
#include "gemm_s8_i8mm.h"
#include "ops.h"
#include "quantize_s8.h"
#include "scheduler.h"
#include "vmath.h"

namespace armbert::neon {
namespace {

using arm_compute::DataType;
using arm_compute::QuantizationInfo;

// The fp32 part of the outlier channels for one row: extra[n] = sum_j x[j] w[j][n]
// over the O (a handful) outlier channels, w as [O][N]. One fma chain per output in
// j order, 16 outputs a step. OpenBLAS's sgemm on these K = O products took 6.8 M of
// MiniLM int8's 158 M instructions (S=128, tools/insncount), nearly all packing;
// with this loop inlined, LinearS8::compute counts 5.9 M. (Fusing it into the
// epilogue's pass, with an FMA GELU, was tried: 4.2 M more; the per-vector
// outlier loop and GELU's constant moves for fmla cost more than the pass saved.)
void outlier_row(const float *x, int O, const float *w, int N, float *extra) {
    int n = 0;
    for (; n + 16 <= N; n += 16) {
        float32x4_t a0 = vmulq_n_f32(vld1q_f32(w + n), x[0]);
        float32x4_t a1 = vmulq_n_f32(vld1q_f32(w + n + 4), x[0]);
        float32x4_t a2 = vmulq_n_f32(vld1q_f32(w + n + 8), x[0]);
        float32x4_t a3 = vmulq_n_f32(vld1q_f32(w + n + 12), x[0]);
        for (int j = 1; j < O; ++j) {
            const float *wj = w + size_t(j) * N + n;
            a0 = vfmaq_n_f32(a0, vld1q_f32(wj), x[j]);
            a1 = vfmaq_n_f32(a1, vld1q_f32(wj + 4), x[j]);
            a2 = vfmaq_n_f32(a2, vld1q_f32(wj + 8), x[j]);
            a3 = vfmaq_n_f32(a3, vld1q_f32(wj + 12), x[j]);
        }
        vst1q_f32(extra + n, a0);
        vst1q_f32(extra + n + 4, a1);
        vst1q_f32(extra + n + 8, a2);
        vst1q_f32(extra + n + 12, a3);
    }
    for (; n < N; ++n) {
        float v = x[0] * w[n];
        for (int j = 1; j < O; ++j) v = std::fma(x[j], w[size_t(j) * N + n], v);
        extra[n] = v;
    }
}

// The int8 epilogue for one row, in one pass: y = act(float(q) * (rs * cs) [+ extra]
// [+ bias]), common/int8.h dequant_one's operations in its order (vgelu is
// common::gelu on four lanes), so the same bits as the host's epilogue and the
// reference. 16 outputs a step with four-register loads
// and stores, GELU in the same pass: the portable loops (a dequantization pass,
// then a GELU pass, four outputs a step) counted 19.0 M of MiniLM int8's
// instructions at S=128 (tools/insncount).
template <bool kExtra, bool kBias>
inline float32x4_t dequant4(const int32_t *q, float rs, const float *cs, const float *extra,
                            const float *bias) {
    float32x4_t t = vmulq_f32(vcvtq_f32_s32(vld1q_s32(q)), vmulq_n_f32(vld1q_f32(cs), rs));
    if (kExtra) t = vaddq_f32(t, vld1q_f32(extra));
    if (kBias) t = vaddq_f32(t, vld1q_f32(bias));
    return t;
}

template <bool kExtra, bool kBias, bool kGelu>
void epilogue_row(const int32_t *q, int n, float rs, const float *cs, const float *extra,
                  const float *bias, float *y) {
    int c = 0;
    // With GELU, 8 a step: its 13 constants and two vectors' temporaries fit the 32
    // registers (16 a step spilled: 50 instructions per four values instead of ~40).
    for (; kGelu && c + 8 <= n; c += 8) {
        const float32x4_t t0 = dequant4<kExtra, kBias>(q + c, rs, cs + c, extra + (kExtra ? c : 0),
                                                       bias + (kBias ? c : 0));
        const float32x4_t t1 = dequant4<kExtra, kBias>(q + c + 4, rs, cs + c + 4,
                                                       extra + (kExtra ? c + 4 : 0),
                                                       bias + (kBias ? c + 4 : 0));
        vst1q_f32(y + c, vgelu(t0));
        vst1q_f32(y + c + 4, vgelu(t1));
    }
    for (; !kGelu && c + 16 <= n; c += 16) {
        const int32x4x4_t qi = vld1q_s32_x4(q + c);
        const float32x4x4_t sc = vld1q_f32_x4(cs + c);
        float32x4x4_t ex, bi, v;
        if (kExtra) ex = vld1q_f32_x4(extra + c);
        if (kBias) bi = vld1q_f32_x4(bias + c);
        for (int j = 0; j < 4; ++j) {
            float32x4_t t = vmulq_f32(vcvtq_f32_s32(qi.val[j]), vmulq_n_f32(sc.val[j], rs));
            if (kExtra) t = vaddq_f32(t, ex.val[j]);
            if (kBias) t = vaddq_f32(t, bi.val[j]);
            v.val[j] = t;
        }
        vst1q_f32_x4(y + c, v);
    }
    for (; c < n; ++c) {
        float t = float(q[c]) * (rs * cs[c]);
        if (kExtra) t = t + extra[c];
        if (kBias) t = t + bias[c];
        y[c] = kGelu ? common::gelu(t) : t;
    }
}

using EpilogueFn = void (*)(const int32_t *, int, float, const float *, const float *,
                            const float *, float *);
template <bool kExtra, bool kBias> EpilogueFn epilogue_for(bool gelu) {
    return gelu ? epilogue_row<kExtra, kBias, true> : epilogue_row<kExtra, kBias, false>;
}
EpilogueFn epilogue_for(bool extra, bool bias, bool gelu) {
    if (extra) return bias ? epilogue_for<true, true>(gelu) : epilogue_for<true, false>(gelu);
    return bias ? epilogue_for<false, true>(gelu) : epilogue_for<false, false>(gelu);
}

struct LinearS8 : LinearOp {
    bool mmla = false;         // FEAT_I8MM: our SMMLA GEMM on wp, else ACL's on w_kn
    PackedS8 wp;
    std::vector<int8_t> xp8;   // SMMLA: the quantized rows packed (gemm_s8_i8mm.h)
    std::vector<int8_t> w_kn;  // [K, N]: ACL's B is TensorShape(N, K)
    std::vector<float> bias, col_scale, inv_smooth;
    std::vector<int32_t> outliers;
    std::vector<float> outlier_w;  // [O, N]
    // per shape
    std::vector<int8_t> xq;
    std::vector<int32_t> acc;
    std::vector<float> row_scale, outlier_x, extra;
    Borrowed a_, b_, c_;
    std::unique_ptr<arm_compute::NEGEMMLowpMatrixMultiplyCore> gemm;

    void on_reshape() override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        const size_t O = outliers.size();
        ActiveContext active(*ctx);
        gemm.reset();
        xq.assign(size_t(M) * K, 0);
        acc.assign(size_t(M) * N, 0);
        row_scale.assign(size_t(M), 1.0f);
        outlier_x.assign(size_t(M) * O, 0.0f);
        extra.assign(O ? size_t(ctx->threads) * N : 0, 0.0f);  // one row per thread
        if (mmla) {
            xp8.assign(packed_rows_s8_bytes(M, wp.Kp), 0);
            return;
        }
        a_.init(info_2d(M, K, DataType::QASYMM8_SIGNED, QuantizationInfo(1.0f, 0)));
        b_.init(info_2d(K, N, DataType::QASYMM8_SIGNED, QuantizationInfo(1.0f, 0)));
        c_.init(info_2d(M, N, DataType::S32));
        arm_compute::GEMMInfo gi;  // reshape_b_only_on_first_run: weights packed once
        check_valid(arm_compute::NEGEMMLowpMatrixMultiplyCore::validate(a_.info(), b_.info(),
                                                                       nullptr, c_.info(), gi),
                    "NEGEMMLowpMatrixMultiplyCore (s8 x s8 -> s32)");
        auto fn = std::make_unique<arm_compute::NEGEMMLowpMatrixMultiplyCore>();
        fn->configure(a_.get(), b_.get(), nullptr, c_.get(), gi);
        for (Borrowed *t : {&a_, &b_, &c_}) t->expect_dense("an int8 linear operand");
        a_.bind(xq.data());
        b_.bind(w_kn.data());
        c_.bind(acc.data());
        gemm = std::move(fn);
    }

    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        const int O = int(outliers.size());
        const float *xp = data_of<float>(x);
        float *yp = data_of<float>(y);
        const float *inv = inv_smooth.empty() ? nullptr : inv_smooth.data();
        common::parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int) {
            quantize_rows_s8(xp + m0 * K, int(m1 - m0), K, desc.input_scale, inv,
                             xq.data() + m0 * K, row_scale.data() + m0);
            for (int64_t m = m0; O && m < m1; ++m)
                for (int j = 0; j < O; ++j) outlier_x[size_t(m) * O + j] = xp[m * K + outliers[j]];
        });
        if (mmla) {
            common::parallel_for(*ctx, (M + kS8Mr - 1) / kS8Mr, [&](int64_t t0, int64_t t1, int) {
                pack_rows_s8(xq.data(), M, K, wp.Kp, int(t0), int(t1), xp8.data());
            });
            common::parallel_for(*ctx, wp.panels(), [&](int64_t p0, int64_t p1, int) {
                gemm_s8_i8mm(xp8.data(), M, wp, int(p0), int(p1), acc.data(), N);
            });
        } else {
            arm_compute::NEGEMMLowpMatrixMultiplyCore &mm = configured(gemm, "linear (int8)");
            ActiveContext active(*ctx);
            mm.run();
        }
        const bool tanh = desc.activation == ARMBERT_ACTIVATION_TANH;
        const EpilogueFn epilogue = epilogue_for(O > 0, !bias.empty(),
                                                 desc.activation == ARMBERT_ACTIVATION_GELU);
        common::parallel_for(*ctx, M, [&](int64_t m0, int64_t m1, int t) {
            float *ex = O ? extra.data() + size_t(t) * N : nullptr;
            for (int64_t m = m0; m < m1; ++m) {
                // LLM.int8() outlier columns in fp32, row by row beside the epilogue
                if (O) outlier_row(outlier_x.data() + m * O, O, outlier_w.data(), N, ex);
                float *ym = yp + m * N;
                epilogue(acc.data() + m * N, N, row_scale[m], col_scale.data(), ex, bias.data(),
                         ym);
                if (tanh)  // the pooler's; dequant_one's order: the sum, then tanh
                    for (int n = 0; n < N; ++n) ym[n] = common::fast_tanh(ym[n]);
            }
        });
    }
};

}  // namespace

LinearOp *new_linear_s8(const armbert_linear_desc &d) {
    auto op = std::make_unique<LinearS8>();
    const size_t N = size_t(d.out_features), K = size_t(d.in_features);
    op->mmla = (cpu_features() & ARMBERT_CPU_I8MM) != 0;
    if (op->mmla) {
        op->wp = pack_weights_s8(d.weight_i8, int(N), int(K));
    } else {
        op->w_kn.resize(N * K);
        for (size_t n = 0; n < N; ++n)
            for (size_t k = 0; k < K; ++k) op->w_kn[k * N + n] = d.weight_i8[n * K + k];
    }
    op->col_scale.assign(d.weight_scale, d.weight_scale + N);
    if (d.bias) op->bias.assign(d.bias, d.bias + N);
    op->inv_smooth = common::inverse_smoothing(d);
    op->outliers.assign(d.outlier_channels, d.outlier_channels + d.num_outliers);
    const size_t O = size_t(d.num_outliers);
    op->outlier_w.resize(O * N);  // the descriptor's [N, O], transposed
    for (size_t n = 0; n < N; ++n)
        for (size_t j = 0; j < O; ++j) op->outlier_w[j * N + n] = d.outlier_weight[n * O + j];
    op->desc = common::without_weights(d);  // the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::neon
