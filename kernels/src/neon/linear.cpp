// FP32 linear on NEGEMM. The weights stay [out, in] as the caller gave them
// and ACL transposes them once (GEMMInfo::pretranspose_B) and then packs them
// for its assembly kernel on the first run after each configure
// (reshape_b_only_on_first_run). Bias and activation go into the same call
// so ACL can fuse what its kernels support. We keep our copy of the weights
// because a new (batch, seq) means a new configure and a new packing.
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEGEMM.h"

#include "../common/acl_activation.h"
#include "../core/tensor.h"
#include "acl.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {

namespace {

struct LinearF32 : LinearOp {
    std::vector<float> w, bias;
    Borrowed x_, w_, b_, y_;
    std::unique_ptr<arm_compute::NEGEMM> gemm;

    void on_reshape() override {
        const int M = int(rows()), N = desc.out_features, K = desc.in_features;
        ActiveContext active(*ctx);
        gemm.reset();
        x_.init(info_2d(M, K));
        w_.init(info_2d(N, K));
        y_.init(info_2d(M, N));
        if (!bias.empty()) b_.init(arm_compute::TensorInfo(arm_compute::TensorShape(size_t(N)), 1,
                                                          arm_compute::DataType::F32));
        // is_a/b_reshaped = false, reshape_b_only_on_first_run = true,
        // broadcast_bias = true (bias is [N], not [M, N]).
        arm_compute::GEMMInfo gi(false, false, true, 0, false, false, {}, false, false, true,
                                 common::acl_activation(desc.activation));
        gi.set_pretranspose_B(true);
        const arm_compute::ITensorInfo *bi = bias.empty() ? nullptr : b_.info();
        check_valid(arm_compute::NEGEMM::validate(x_.info(), w_.info(), bi, y_.info(), 1.0f,
                                                  bias.empty() ? 0.0f : 1.0f, gi),
                    "NEGEMM");
        auto fn = std::make_unique<arm_compute::NEGEMM>();
        fn->configure(x_.get(), w_.get(), bias.empty() ? nullptr : b_.get(), y_.get(), 1.0f,
                      bias.empty() ? 0.0f : 1.0f, gi);
        for (Borrowed *t : {&x_, &w_, &y_}) t->expect_dense("a linear operand");
        w_.bind(w.data());
        if (!bias.empty()) b_.bind(bias.data());
        gemm = std::move(fn);
    }

    void compute(const armbert_tensor *x, armbert_tensor *y) override {
        ActiveContext active(*ctx);
        x_.bind(x->host());
        y_.bind(y->host());
        configured(gemm, "linear").run();
    }
};

}  // namespace

LinearOp *new_linear_f32(const armbert_linear_desc &d) {
    auto op = std::make_unique<LinearF32>();
    const size_t N = size_t(d.out_features), K = size_t(d.in_features);
    op->w.assign(d.weight, d.weight + N * K);
    if (d.bias) op->bias.assign(d.bias, d.bias + N);
    op->desc = d;
    op->desc.weight = op->desc.bias = nullptr;  // packed by ACL; the caller's memory is not kept
    return op.release();
}

}  // namespace armbert::neon
