// LayerNorm of x (+ residual) per row on the GPU:
//   FP32  residual: ACL CLArithmeticAddition; then RowNorm.
//   FP16  our armbert_convert_add widens x (+ residual) to F32, RowNorm in F32, and
//         armbert_convert_add narrows to F16: armbert.h promises fp32 statistics, and
//         ACL's F16 CLMeanStdDevNormalizationLayer sums in fp16.
// RowNorm = ACL CLMeanStdDevNormalizationLayer, then gamma by CLPixelWiseMultiplication
// and beta by CLArithmeticAddition, both broadcasting a [hidden] vector over rows.
#include <arm_compute/runtime/CL/functions/CLElementwiseOperations.h>
#include <arm_compute/runtime/CL/functions/CLMeanStdDevNormalizationLayer.h>
#include <arm_compute/runtime/CL/functions/CLPixelWiseMultiplication.h>

#include <memory>

#include "cl.h"

namespace armbert::opencl {

using arm_compute::CLTensor;
using arm_compute::ConvertPolicy;
using arm_compute::DataType;
using arm_compute::TensorShape;

struct RowNorm::Impl {
    CLTensor gamma, beta;
    int hidden;
    float eps;
    CLTensor normed, scaled;
    std::unique_ptr<arm_compute::CLMeanStdDevNormalizationLayer> norm;
    std::unique_ptr<arm_compute::CLPixelWiseMultiplication> mul;
    std::unique_ptr<arm_compute::CLArithmeticAddition> add;
};

RowNorm::RowNorm(const float *gamma, const float *beta, int hidden, float eps)
    : impl_(std::make_unique<Impl>()) {
    impl_->hidden = hidden;
    impl_->eps = eps;
    allocate(impl_->gamma, TensorShape(hidden), DataType::F32);
    upload(impl_->gamma, gamma, size_t(hidden) * sizeof(float));
    allocate(impl_->beta, TensorShape(hidden), DataType::F32);
    upload(impl_->beta, beta, size_t(hidden) * sizeof(float));
}

RowNorm::~RowNorm() = default;

void RowNorm::configure(View &src, View &dst, int64_t rows) {
    Impl &m = *impl_;
    const TensorShape shape(m.hidden, rows);
    // Fresh functions and buffers for the new shape.
    m.norm.reset(), m.mul.reset(), m.add.reset();
    m.normed.allocator()->free();
    m.scaled.allocator()->free();
    m.normed.allocator()->init(arm_compute::TensorInfo(shape, 1, DataType::F32));
    m.scaled.allocator()->init(arm_compute::TensorInfo(shape, 1, DataType::F32));
    check(arm_compute::CLMeanStdDevNormalizationLayer::validate(src.t.info(), m.normed.info(),
                                                                m.eps),
          "cl layernorm: CLMeanStdDevNormalizationLayer");
    check(arm_compute::CLPixelWiseMultiplication::validate(
              m.normed.info(), m.gamma.info(), m.scaled.info(), 1.0f, ConvertPolicy::SATURATE,
              arm_compute::RoundingPolicy::TO_NEAREST_EVEN),
          "cl layernorm: CLPixelWiseMultiplication (gamma)");
    check(arm_compute::CLArithmeticAddition::validate(m.scaled.info(), m.beta.info(),
                                                      dst.t.info(), ConvertPolicy::SATURATE),
          "cl layernorm: CLArithmeticAddition (beta)");
    m.norm = std::make_unique<arm_compute::CLMeanStdDevNormalizationLayer>();
    m.norm->configure(&src.t, &m.normed, m.eps);
    m.mul = std::make_unique<arm_compute::CLPixelWiseMultiplication>();
    m.mul->configure(&m.normed, &m.gamma, &m.scaled, 1.0f, ConvertPolicy::SATURATE,
                     arm_compute::RoundingPolicy::TO_NEAREST_EVEN);
    m.add = std::make_unique<arm_compute::CLArithmeticAddition>();
    m.add->configure(&m.scaled, &m.beta, &dst.t, ConvertPolicy::SATURATE);
    m.normed.allocator()->allocate();
    m.scaled.allocator()->allocate();
    require_dense(src.t, "the layernorm input");
    require_dense(dst.t, "the layernorm output");
}

void RowNorm::run() {
    impl_->norm->run();
    impl_->mul->run();
    impl_->add->run();
}

namespace {

struct ClLayerNorm : LayerNormOp {
    std::unique_ptr<RowNorm> norm;
    Kernel convert{"armbert_convert_add"};
    struct Config {
        View x, residual, y;  // views of the caller's tensors
        CLTensor sum32, out32;     // F32 workspace (FP16, or FP32 with a residual)
        View sum32_view, out32_view;
        std::unique_ptr<arm_compute::CLArithmeticAddition> add;
    };
    // Whether a residual comes is known at run time: a switch reconfigures (the
    // engine always passes one).
    std::unique_ptr<Config> cfg;
    bool cfg_residual = false;

    void on_reshape() override { cfg.reset(); }

    Config &configure(bool with_residual) {
        cfg.reset();  // a failure below leaves nothing half-configured behind
        const bool f16 = desc.precision == ARMBERT_PRECISION_FP16;
        const TensorShape shape(desc.hidden, rows());
        auto c = std::make_unique<Config>();
        const DataType dt = f16 ? DataType::F16 : DataType::F32;
        c->x.init(shape, dt);
        c->residual.init(shape, dt);
        c->y.init(shape, dt);
        c->sum32_view.init(shape, DataType::F32);
        c->out32_view.init(shape, DataType::F32);
        if (f16) {
            allocate(c->sum32, shape, DataType::F32);
            allocate(c->out32, shape, DataType::F32);
            norm->configure(c->sum32_view, c->out32_view, rows());
        } else if (with_residual) {
            allocate(c->sum32, shape, DataType::F32);
            check(arm_compute::CLArithmeticAddition::validate(c->x.t.info(), c->residual.t.info(),
                                                              c->sum32.info(),
                                                              ConvertPolicy::SATURATE),
                  "cl layernorm: CLArithmeticAddition (residual)");
            c->add = std::make_unique<arm_compute::CLArithmeticAddition>();
            c->add->configure(&c->x.t, &c->residual.t, &c->sum32, ConvertPolicy::SATURATE);
            norm->configure(c->sum32_view, c->y, rows());
        } else {
            norm->configure(c->x, c->y, rows());
        }
        cfg = std::move(c);
        cfg_residual = with_residual;
        return *cfg;
    }

    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const bool with_residual = residual != nullptr;
        Config &c = cfg && cfg_residual == with_residual ? *cfg : configure(with_residual);
        Binding bind;
        if (desc.precision == ARMBERT_PRECISION_FP16) {
            const cl::NDRange n(size_t(x->numel));
            convert(n, buffer_of(x), with_residual ? buffer_of(residual) : dummy_buffer(),
                    cl_int(with_residual), cl_int(1), c.sum32.cl_buffer(), cl_int(0));
            bind.bind(c.sum32_view, c.sum32.cl_buffer());
            bind.bind(c.out32_view, c.out32.cl_buffer());
            norm->run();
            convert(n, c.out32.cl_buffer(), dummy_buffer(), cl_int(0), cl_int(0), buffer_of(y),
                    cl_int(1));
            return;
        }
        bind.bind(c.y, y);
        if (with_residual) {
            bind.bind(c.x, x);
            bind.bind(c.residual, residual);
            bind.bind(c.sum32_view, c.sum32.cl_buffer());
            c.add->run();
        } else {
            bind.bind(c.x, x);
        }
        norm->run();
    }
};

}  // namespace

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<ClLayerNorm>();
    op->norm = std::make_unique<RowNorm>(d.gamma, d.beta, d.hidden, d.eps);
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

}  // namespace armbert::opencl
