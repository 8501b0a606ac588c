// FP32 softmax on NESoftmaxLayer. The header's semantics are
// softmax(scale * x + mask), with the mask added *after* scaling; ACL's beta
// scales everything, mask included, so we write scale * x + mask into a
// workspace in one pass of our own and let ACL run with beta = 1.
// rows per batch is only known at run time: ACL is configured on the first
// run with a new row count and kept while it stays the same.
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NESoftmaxLayer.h"

#include "../core/tensor.h"
#include "../common/parallel.h"
#include "acl.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {
namespace {

struct AclSoftmax : SoftmaxOp {
    std::vector<float> tmp;
    Borrowed t_, y_;
    std::unique_ptr<arm_compute::NESoftmaxLayer> fn;
    int64_t configured_rows = -1;

    void on_reshape() override { configured_rows = -1; }

    void configure(int64_t total_rows) {
        ActiveContext active(*ctx);
        configured_rows = -1;
        t_.init(info_2d(total_rows, seq));
        y_.init(info_2d(total_rows, seq));
        check_valid(arm_compute::NESoftmaxLayer::validate(t_.info(), y_.info(), 1.0f, 0),
                    "NESoftmaxLayer");
        fn = std::make_unique<arm_compute::NESoftmaxLayer>();
        fn->configure(t_.get(), y_.get(), 1.0f, 0);
        t_.expect_dense("softmax input");
        y_.expect_dense("softmax output");
        tmp.assign(size_t(total_rows) * seq, 0.0f);
        t_.bind(tmp.data());
        configured_rows = total_rows;  // last: a failure above configures again next run
    }

    void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                 int64_t rows_per_batch) override {
        const int64_t total = batch * rows_per_batch;
        const int S = seq;
        if (total != configured_rows) configure(total);
        const float *xp = data_of<float>(x);
        const float *mk = mask ? data_of<float>(mask) : nullptr;
        const float scale = desc.scale;
        common::parallel_for(*ctx, total, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) {
                const float *in = xp + r * S;
                float *o = tmp.data() + r * S;
                const float *m = mk ? mk + (r / rows_per_batch) * S : nullptr;
                if (m)
                    for (int i = 0; i < S; ++i) o[i] = in[i] * scale + m[i];
                else
                    for (int i = 0; i < S; ++i) o[i] = in[i] * scale;
            }
        });
        ActiveContext active(*ctx);
        y_.bind(y->host());
        fn->run();
    }
};

}  // namespace

SoftmaxOp *new_softmax(const armbert_softmax_desc &d) { return new_op<AclSoftmax>(d); }

}  // namespace armbert::neon
