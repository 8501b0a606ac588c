// Linear on the GPU, y = act(x W^T + b), in three precisions:
//   FP32  ACL CLGEMM on W^T (transposed once at create; ACL reshapes it once per
//         configuration, on the first run) with the bias fused, then GELU by ACL's
//         CLActivationLayer in place, or TANH (the pooler's) by our armbert_activate:
//         ACL's TANH kernel pastes ACT##_op with -DACT=tanh, which does not build
//         where the OpenCL compiler defines tanh as a macro (PoCL).
//   FP16  our armbert_linear_f16: fp16 weights and activations, fp32 accumulation,
//         bias and activation fused. armbert.h promises fp32 accumulation, and ACL's
//         F16 GEMM accumulates in fp16 (GEMMInfo's fp_mixed_precision is ignored by
//         ClGemm in 24.11), which misses the FP16 bounds at K = 384.
//   INT8  our armbert_quantize_rows (SmoothQuant division, outlier channels out,
//         per-row dynamic or static scale, exact host rounding) -> ACL
//         CLGEMMLowpMatrixMultiplyCore (int8 x int8 -> int32, zero offsets) -> our
//         armbert_dequantize (scales, fp32 outlier columns, bias, activation).
//         Everything stays on the GPU; the rows' absmax reduction is one work-group
//         per row inside the quantization kernel.
#include <arm_compute/runtime/CL/functions/CLActivationLayer.h>
#include <arm_compute/runtime/CL/functions/CLGEMM.h>
#include <arm_compute/runtime/CL/functions/CLGEMMLowpMatrixMultiplyCore.h>

#include <algorithm>
#include <memory>

#include "../common/acl_activation.h"
#include "../common/fp16.h"
#include "../common/int8.h"
#include "cl.h"

namespace armbert::opencl {
namespace {

using arm_compute::ActivationLayerInfo;
using arm_compute::CLTensor;
using arm_compute::DataType;
using arm_compute::GEMMInfo;
using arm_compute::QuantizationInfo;
using arm_compute::TensorShape;

// W [N, K] -> W^T [K, N], the layout ACL's GEMMs take as their B matrix.
template <typename T> std::vector<T> transposed(const T *w, int N, int K) {
    std::vector<T> t(size_t(N) * K);
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) t[size_t(k) * N + n] = w[size_t(n) * K + k];
    return t;
}

struct LinearF32 : LinearOp {
    CLTensor w, bias;  // w: W^T, TensorShape(N, K)
    bool has_bias = false;
    struct Config {
        View x, y;
        arm_compute::CLGEMM gemm;
        std::unique_ptr<arm_compute::CLActivationLayer> gelu;
    };
    Kernel tanh_kernel;
    std::unique_ptr<Config> cfg;

    void on_reshape() override {
        cfg.reset();
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        auto c = std::make_unique<Config>();
        c->x.init(TensorShape(K, M), DataType::F32);
        c->y.init(TensorShape(N, M), DataType::F32);
        GEMMInfo info(false, false, true, 0, false, false, {}, false, false, has_bias);
        const CLTensor *b = has_bias ? &bias : nullptr;
        check(arm_compute::CLGEMM::validate(c->x.t.info(), w.info(), b ? b->info() : nullptr,
                                            c->y.t.info(), 1.0f, has_bias ? 1.0f : 0.0f, info),
              "cl linear (fp32): CLGEMM");
        w.mark_as_used();  // a previous configuration's first run marked it consumed
        c->gemm.configure(&c->x.t, &w, b, &c->y.t, 1.0f, has_bias ? 1.0f : 0.0f, info);
        if (desc.activation == ARMBERT_ACTIVATION_GELU) {
            const ActivationLayerInfo a = common::acl_activation(desc.activation);
            check(arm_compute::CLActivationLayer::validate(c->y.t.info(), nullptr, a),
                  "cl linear (fp32): CLActivationLayer");
            c->gelu = std::make_unique<arm_compute::CLActivationLayer>();
            c->gelu->configure(&c->y.t, nullptr, a);
        }
        require_dense(c->x.t, "the linear input");
        require_dense(c->y.t, "the linear output");
        cfg = std::move(c);
    }
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        Config &c = configured(cfg, "linear");
        Binding bind;
        bind.bind(c.x, x);
        bind.bind(c.y, y);
        c.gemm.run();
        if (c.gelu) c.gelu->run();
        if (desc.activation == ARMBERT_ACTIVATION_TANH)
            tanh_kernel(cl::NDRange(size_t(y->numel)), buffer_of(y), cl_int(kActTanh));
    }
};

struct LinearF16 : LinearOp {
    CLTensor w, bias;  // w: fp16 [N, K] as given; bias fp32
    bool has_bias = false;
    Kernel gemm{"armbert_linear_f16"};
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const cl_int M = cl_int(rows()), N = desc.out_features, K = desc.in_features;
        gemm(cl::NDRange((N + 3) / 4, (M + 3) / 4), buffer_of(x), w.cl_buffer(),
             has_bias ? bias.cl_buffer() : dummy_buffer(), cl_int(has_bias), buffer_of(y), M, N,
             K, act_code(desc.activation));
    }
};

struct LinearI8 : LinearOp {
    CLTensor w, col_scale, bias, inv_smooth, outliers, outlier_w;  // w: W^T int8 (N, K)
    bool has_bias = false, has_smooth = false;
    float static_inv = 0;
    int num_outliers = 0;
    Kernel quantize{"armbert_quantize_rows"}, dequantize{"armbert_dequantize"};
    size_t group = kQuantizeGroup;
    struct Config {
        CLTensor xq, row_scale, outlier_x, acc;
        arm_compute::CLGEMMLowpMatrixMultiplyCore gemm;
    };
    std::unique_ptr<Config> cfg;

    void on_reshape() override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        cfg.reset();
        const QuantizationInfo unit(1.0f, 0);  // symmetric: zero points 0, scales applied by us
        auto c = std::make_unique<Config>();
        c->xq.allocator()->init(arm_compute::TensorInfo(TensorShape(K, M), 1,
                                                        DataType::QASYMM8_SIGNED, unit));
        c->acc.allocator()->init(arm_compute::TensorInfo(TensorShape(N, M), 1, DataType::S32));
        GEMMInfo info(false, false, true);
        check(arm_compute::CLGEMMLowpMatrixMultiplyCore::validate(c->xq.info(), w.info(), nullptr,
                                                                  c->acc.info(), info),
              "cl linear (int8): CLGEMMLowpMatrixMultiplyCore");
        w.mark_as_used();
        c->gemm.configure(&c->xq, &w, nullptr, &c->acc, info);
        c->xq.allocator()->allocate();
        c->acc.allocator()->allocate();
        require_dense(c->xq, "the quantized linear input");
        require_dense(c->acc, "the int32 accumulators");
        allocate(c->row_scale, TensorShape(M), DataType::F32);
        if (num_outliers)
            allocate(c->outlier_x, TensorShape(num_outliers, M), DataType::F32);
        cfg = std::move(c);
    }
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        const cl_int M = cl_int(rows()), N = desc.out_features, K = desc.in_features;
        Config &c = configured(cfg, "linear (int8)");
        const cl::Buffer &ox = num_outliers ? c.outlier_x.cl_buffer() : dummy_buffer();
        quantize.local(cl::NDRange(size_t(M) * group), cl::NDRange(group), buffer_of(x), K,
                       has_smooth ? inv_smooth.cl_buffer() : dummy_buffer(), cl_int(has_smooth),
                       desc.input_scale, static_inv, c.xq.cl_buffer(), c.row_scale.cl_buffer(),
                       num_outliers ? outliers.cl_buffer() : dummy_buffer(), cl_int(num_outliers),
                       ox);
        c.gemm.run();
        dequantize(cl::NDRange(N, M), c.acc.cl_buffer(), c.row_scale.cl_buffer(),
                   col_scale.cl_buffer(), has_bias ? bias.cl_buffer() : dummy_buffer(),
                   cl_int(has_bias), ox,
                   num_outliers ? outlier_w.cl_buffer() : dummy_buffer(), cl_int(num_outliers),
                   act_code(desc.activation), N, buffer_of(y));
    }
};

void load_bias(CLTensor &t, bool &has, const float *b, int N) {
    has = b != nullptr;
    if (!has) return;
    allocate(t, TensorShape(N), DataType::F32);
    upload(t, b, size_t(N) * sizeof(float));
}

}  // namespace

LinearOp *new_linear(const armbert_linear_desc &d) {
    const int N = d.out_features, K = d.in_features;
    std::unique_ptr<LinearOp> op;
    if (d.precision == ARMBERT_PRECISION_FP32) {
        auto o = std::make_unique<LinearF32>();
        allocate_gemm_rhs(o->w, K, N, DataType::F32, transposed(d.weight, N, K).data());
        load_bias(o->bias, o->has_bias, d.bias, N);
        if (d.activation == ARMBERT_ACTIVATION_TANH) o->tanh_kernel = Kernel("armbert_activate");
        op = std::move(o);
    } else if (d.precision == ARMBERT_PRECISION_FP16) {
        auto o = std::make_unique<LinearF16>();
        std::vector<uint16_t> w16(size_t(N) * K);
        common::f32_to_f16(d.weight, w16.data(), w16.size());
        allocate(o->w, TensorShape(K, N), DataType::F16);
        upload(o->w, w16.data(), w16.size() * sizeof(uint16_t));
        load_bias(o->bias, o->has_bias, d.bias, N);
        op = std::move(o);
    } else {
        auto o = std::make_unique<LinearI8>();
        allocate_gemm_rhs(o->w, K, N, DataType::QASYMM8_SIGNED, transposed(d.weight_i8, N, K).data(),
                          QuantizationInfo(1.0f, 0));
        allocate(o->col_scale, TensorShape(N), DataType::F32);
        upload(o->col_scale, d.weight_scale, size_t(N) * sizeof(float));
        load_bias(o->bias, o->has_bias, d.bias, N);
        if (d.input_scale > 0) o->static_inv = 1.0f / d.input_scale;  // as the host does
        const std::vector<float> inv = common::inverse_smoothing(d);
        if (!inv.empty()) {
            allocate(o->inv_smooth, TensorShape(K), DataType::F32);
            upload(o->inv_smooth, inv.data(), inv.size() * sizeof(float));
            o->has_smooth = true;
        }
        if (d.num_outliers > 0) {
            const int O = d.num_outliers;
            o->num_outliers = O;
            allocate(o->outliers, TensorShape(O), DataType::S32);
            upload(o->outliers, d.outlier_channels, size_t(O) * sizeof(int32_t));
            allocate(o->outlier_w, TensorShape(O, N), DataType::F32);
            upload(o->outlier_w, d.outlier_weight, size_t(N) * O * sizeof(float));
        }
        o->group = std::min<size_t>(kQuantizeGroup, o->quantize.max_work_group_size());
        for (size_t g = 1;; g *= 2)  // the reduction halves: a power of two
            if (g * 2 > o->group) {
                o->group = g;
                break;
            }
        op = std::move(o);
    }
    op->desc = common::without_weights(d);  // packed on the device; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::opencl
