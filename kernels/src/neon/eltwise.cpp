// FP32 GELU (NEActivationLayer, erf form) and add (NEArithmeticAddition).
// These ops take any shape and have no reshape, so each configures ACL on
// the first run with a new shape, viewed as [rows, last dim] so ACL's
// scheduler can split the rows.
#include <memory>

#include "arm_compute/runtime/NEON/functions/NEActivationLayer.h"
#include "arm_compute/runtime/NEON/functions/NEArithmeticAddition.h"

#include "../common/acl_activation.h"
#include "../core/tensor.h"
#include "acl.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {


namespace {

// The [rows, cols] view ACL was configured for (fn is null until a
// configure succeeds, so a rejected shape is tried again, not run).
struct View {
    int64_t rows = -1, cols = -1;
    bool differs(const armbert_tensor *t) const {
        return t->last_dim() != cols || t->numel / t->last_dim() != rows;
    }
    void set(const armbert_tensor *t) {
        cols = t->last_dim();
        rows = t->numel / cols;
    }
};

struct AclGelu : GeluOp {
    View shape;
    Borrowed x_, y_;
    std::unique_ptr<arm_compute::NEActivationLayer> fn;
    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        ActiveContext active(*ctx);
        if (!fn || shape.differs(x)) {
            fn.reset();
            shape.set(x);
            x_.init(info_2d(shape.rows, shape.cols));
            y_.init(info_2d(shape.rows, shape.cols));
            const auto act = common::acl_activation(ARMBERT_ACTIVATION_GELU);
            check_valid(arm_compute::NEActivationLayer::validate(x_.info(), y_.info(), act),
                        "NEActivationLayer (GELU)");
            auto f = std::make_unique<arm_compute::NEActivationLayer>();
            f->configure(x_.get(), y_.get(), act);
            x_.expect_dense("gelu input");
            y_.expect_dense("gelu output");
            fn = std::move(f);
        }
        x_.bind(x->host());
        y_.bind(y->host());
        fn->run();
    }
};

struct AclAdd : AddOp {
    View shape;
    Borrowed a_, b_, y_;
    std::unique_ptr<arm_compute::NEArithmeticAddition> fn;
    void compute(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y) override {
        ActiveContext active(*ctx);
        if (!fn || shape.differs(a)) {
            fn.reset();
            shape.set(a);
            for (Borrowed *t : {&a_, &b_, &y_}) t->init(info_2d(shape.rows, shape.cols));
            check_valid(arm_compute::NEArithmeticAddition::validate(
                            a_.info(), b_.info(), y_.info(), arm_compute::ConvertPolicy::WRAP),
                        "NEArithmeticAddition");
            auto f = std::make_unique<arm_compute::NEArithmeticAddition>();
            f->configure(a_.get(), b_.get(), y_.get(), arm_compute::ConvertPolicy::WRAP);
            for (Borrowed *t : {&a_, &b_, &y_}) t->expect_dense("add operand");
            fn = std::move(f);
        }
        a_.bind(a->host());
        b_.bind(b->host());
        y_.bind(y->host());
        fn->run();
    }
};

}  // namespace

GeluOp *new_gelu(const armbert_eltwise_desc &d) { return new_op<AclGelu>(d); }

AddOp *new_add(const armbert_eltwise_desc &d) { return new_op<AclAdd>(d); }

}  // namespace armbert::neon
