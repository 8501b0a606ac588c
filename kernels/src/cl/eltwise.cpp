// Elementwise ops on the GPU, any shape (configured on the first run of each):
//   GELU  ACL CLActivationLayer (GELU, erf form) in F32 or F16
//   add   ACL CLArithmeticAddition in F32 or F16
// INT8 runs them in F32, as its activations are F32.
#include <arm_compute/runtime/CL/functions/CLActivationLayer.h>
#include <arm_compute/runtime/CL/functions/CLElementwiseOperations.h>

#include <memory>

#include "cl.h"

namespace armbert::opencl {
namespace {

using arm_compute::DataType;
using arm_compute::TensorShape;

// Tensors are viewed as 2-D [rows, last dim], the shape ACL vectorizes along.
TensorShape shape_of(const armbert_tensor *t) {
    const int64_t last = t->last_dim();
    return TensorShape(size_t(last), size_t(t->numel / last));
}

bool same_shape(const View &v, const TensorShape &s) {
    return v.t.info()->tensor_shape() == s;
}

struct ClGelu : GeluOp {
    View x, y;
    std::unique_ptr<arm_compute::CLActivationLayer> act;
    void compute(const armbert_tensor *in, armbert_tensor *out) override {
        const TensorShape s = shape_of(in);
        if (!act || !same_shape(x, s)) {
            act.reset();
            const DataType dt = acl_type(in->dtype);
            x.init(s, dt);
            y.init(s, dt);
            const arm_compute::ActivationLayerInfo gelu(
                arm_compute::ActivationLayerInfo::ActivationFunction::GELU);
            check(arm_compute::CLActivationLayer::validate(x.t.info(), y.t.info(), gelu),
                  "cl gelu: CLActivationLayer");
            auto a = std::make_unique<arm_compute::CLActivationLayer>();
            a->configure(&x.t, &y.t, gelu);
            require_dense(x.t, "the gelu input");
            require_dense(y.t, "the gelu output");
            act = std::move(a);
        }
        Binding bind;
        bind.bind(x, in);
        bind.bind(y, out);
        act->run();
    }
};

struct ClAdd : AddOp {
    View a, b, y;
    std::unique_ptr<arm_compute::CLArithmeticAddition> add;
    void compute(const armbert_tensor *ta, const armbert_tensor *tb, armbert_tensor *ty) override {
        const TensorShape s = shape_of(ta);
        if (!add || !same_shape(a, s)) {
            add.reset();
            const DataType dt = acl_type(ta->dtype);
            a.init(s, dt);
            b.init(s, dt);
            y.init(s, dt);
            const auto policy = arm_compute::ConvertPolicy::SATURATE;
            check(arm_compute::CLArithmeticAddition::validate(a.t.info(), b.t.info(), y.t.info(),
                                                              policy),
                  "cl add: CLArithmeticAddition");
            auto f = std::make_unique<arm_compute::CLArithmeticAddition>();
            f->configure(&a.t, &b.t, &y.t, policy);
            require_dense(a.t, "the add input");
            require_dense(y.t, "the add output");
            add = std::move(f);
        }
        Binding bind;
        bind.bind(a, ta);
        bind.bind(b, tb);
        bind.bind(y, ty);
        add->run();
    }
};

}  // namespace

GeluOp *new_gelu(const armbert_eltwise_desc &d) { return new_op<ClGelu>(d); }

AddOp *new_add(const armbert_eltwise_desc &d) { return new_op<ClAdd>(d); }

}  // namespace armbert::opencl
