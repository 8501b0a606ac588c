// Softmax with an additive mask over the last axis on the GPU: our
// armbert_scale_mask writes x * scale + mask into an F32 workspace, ACL's
// CLSoftmaxLayer normalizes it (in F32 for every precision: ACL's F16 softmax sums
// in fp16), and FP16 output is narrowed by our armbert_convert_add. The number of
// rows per batch comes with x at run time, so ACL is configured on the first run
// of each shape.
#include <arm_compute/runtime/CL/functions/CLSoftmaxLayer.h>

#include <memory>

#include "cl.h"

namespace armbert::opencl {
namespace {

using arm_compute::CLTensor;
using arm_compute::DataType;
using arm_compute::TensorShape;

struct ClSoftmax : SoftmaxOp {
    Kernel scale_mask{"armbert_scale_mask"}, narrow{"armbert_convert_add"};
    struct Config {
        int64_t rows = 0;
        CLTensor scaled, out32;  // out32: FP16 only
        View y;
        arm_compute::CLSoftmaxLayer softmax;
    };
    std::unique_ptr<Config> cfg;

    void on_reshape() override { cfg.reset(); }

    void configure(int64_t total_rows) {
        cfg.reset();
        const bool f16 = desc.precision == ARMBERT_PRECISION_FP16;
        const TensorShape shape(seq, total_rows);
        auto c = std::make_unique<Config>();
        c->rows = total_rows;
        c->scaled.allocator()->init(arm_compute::TensorInfo(shape, 1, DataType::F32));
        CLTensor *dst = &c->y.t;
        if (f16) {
            c->out32.allocator()->init(arm_compute::TensorInfo(shape, 1, DataType::F32));
            dst = &c->out32;
        } else {
            c->y.init(shape, DataType::F32);
        }
        check(arm_compute::CLSoftmaxLayer::validate(c->scaled.info(), dst->info(), 1.0f, 0),
              "cl softmax: CLSoftmaxLayer");
        c->softmax.configure(&c->scaled, dst, 1.0f, 0);
        c->scaled.allocator()->allocate();
        require_dense(c->scaled, "the softmax input");
        if (f16) {
            c->out32.allocator()->allocate();
            require_dense(c->out32, "the softmax output");
        } else {
            require_dense(c->y.t, "the softmax output");
        }
        cfg = std::move(c);
    }

    void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                 int64_t rows_per_batch) override {
        const int64_t total = int64_t(batch) * rows_per_batch;
        if (!cfg || cfg->rows != total) configure(total);
        Config &c = *cfg;
        const bool f16 = desc.precision == ARMBERT_PRECISION_FP16;
        scale_mask(cl::NDRange(size_t(seq), size_t(total)), buffer_of(x), cl_int(f16),
                   c.scaled.cl_buffer(), mask ? buffer_of(mask) : dummy_buffer(),
                   cl_int(mask != nullptr), desc.scale, cl_int(seq), cl_int(rows_per_batch));
        Binding bind;
        if (!f16) bind.bind(c.y, y);
        c.softmax.run();
        if (f16)
            narrow(cl::NDRange(size_t(y->numel)), c.out32.cl_buffer(), dummy_buffer(), cl_int(0),
                   cl_int(0), buffer_of(y), cl_int(1));
    }
};

}  // namespace

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) { return new_op<ClSoftmax>(d); }

}  // namespace armbert::opencl
