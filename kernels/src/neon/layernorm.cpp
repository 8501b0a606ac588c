// FP32 layernorm: the residual is added first with NEArithmeticAddition,
// then AclNorm (NEMeanStdDevNormalizationLayer + our gamma/beta pass).
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEArithmeticAddition.h"

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "norm.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {

void AclNorm::configure(int64_t rows, int hidden) {
    fn.reset();
    in_.init(info_2d(rows, hidden));
    out_.init(info_2d(rows, hidden));
    check_valid(arm_compute::NEMeanStdDevNormalizationLayer::validate(in_.info(), out_.info(),
                                                                      eps),
                "NEMeanStdDevNormalizationLayer");
    auto f = std::make_unique<arm_compute::NEMeanStdDevNormalizationLayer>();
    f->configure(in_.get(), out_.get(), eps);
    in_.expect_dense("layernorm input");
    out_.expect_dense("layernorm output");
    fn = std::move(f);
}

void AclNorm::run(const armbert_context &ctx, const float *in, float *out) {
    const int64_t rows = int64_t(out_.info()->dimension(1));
    const int H = int(out_.info()->dimension(0));
    {
        ActiveContext active(ctx);
        in_.bind(in);
        out_.bind(out);
        configured(fn, "layernorm").run();
    }
    const float *g = gamma.data(), *b = beta.data();
    common::parallel_for(ctx, rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
            float *y = out + r * H;
            for (int i = 0; i < H; ++i) y[i] = y[i] * g[i] + b[i];
        }
    });
}

namespace {

struct AclLayerNorm : LayerNormOp {
    AclNorm norm;
    std::vector<float> sum;
    Borrowed x_, r_, s_;
    std::unique_ptr<arm_compute::NEArithmeticAddition> add;

    void on_reshape() override {
        const int64_t M = rows();
        const int H = desc.hidden;
        ActiveContext active(*ctx);
        add.reset();
        norm.fn.reset();
        for (Borrowed *t : {&x_, &r_, &s_}) t->init(info_2d(M, H));
        check_valid(arm_compute::NEArithmeticAddition::validate(
                        x_.info(), r_.info(), s_.info(), arm_compute::ConvertPolicy::WRAP),
                    "NEArithmeticAddition (residual)");
        auto f = std::make_unique<arm_compute::NEArithmeticAddition>();
        f->configure(x_.get(), r_.get(), s_.get(), arm_compute::ConvertPolicy::WRAP);
        for (Borrowed *t : {&x_, &r_, &s_}) t->expect_dense("layernorm residual add");
        sum.assign(size_t(M) * H, 0.0f);
        s_.bind(sum.data());
        norm.configure(M, H);
        add = std::move(f);
    }

    void compute(const armbert_tensor *x, const armbert_tensor *residual,
                 armbert_tensor *y) override {
        const float *in = data_of<float>(x);
        if (residual) {
            ActiveContext active(*ctx);
            x_.bind(x->host());
            r_.bind(residual->host());
            configured(add, "layernorm").run();
            in = sum.data();
        }
        norm.run(*ctx, in, data_of<float>(y));
    }
};

}  // namespace

LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) {
    auto op = std::make_unique<AclLayerNorm>();
    op->norm.gamma.assign(d.gamma, d.gamma + d.hidden);
    op->norm.beta.assign(d.beta, d.beta + d.hidden);
    op->norm.eps = d.eps;
    op->desc = d;
    op->desc.gamma = op->desc.beta = nullptr;
    return op.release();
}

}  // namespace armbert::neon
