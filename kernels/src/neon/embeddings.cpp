// FP32 embeddings on ACL: NEGather picks the word and token-type rows
// (core already checked every id), NEArithmeticAddition sums them and adds
// the position rows broadcast over the batch (positions are 0..seq-1 for
// every sequence, so the table's first seq rows are one [seq, hidden]
// operand), then AclNorm. INT8 runs this too (tables stay float).
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEArithmeticAddition.h"
#include "arm_compute/runtime/NEON/functions/NEGather.h"

#include "../core/tensor.h"
#include "acl.h"
#include "norm.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {
namespace {

using arm_compute::DataType;
using arm_compute::TensorInfo;
using arm_compute::TensorShape;

struct AclEmbeddings : EmbeddingsOp {
    std::vector<float> sum, types_sum;
    std::vector<int32_t> zero_types;  // type_ids == NULL means all 0
    AclNorm norm;
    Borrowed word_, type_, pos_, ids_, tids_, sum_, tsum_, sum3_;
    std::unique_ptr<arm_compute::NEGather> gather_word, gather_type;
    std::unique_ptr<arm_compute::NEArithmeticAddition> add_type, add_pos;

    void on_reshape() override {
        const size_t B = size_t(batch), S = size_t(seq), H = size_t(desc.hidden);
        const int64_t R = rows();
        ActiveContext active(*ctx);
        gather_word.reset();
        word_.init(info_2d(desc.vocab_size, desc.hidden));
        type_.init(info_2d(desc.type_vocab_size, desc.hidden));
        ids_.init(TensorInfo(TensorShape(size_t(R)), 1, DataType::S32));
        tids_.init(TensorInfo(TensorShape(size_t(R)), 1, DataType::S32));
        sum_.init(info_2d(R, desc.hidden));
        tsum_.init(info_2d(R, desc.hidden));
        sum3_.init(TensorInfo(TensorShape(H, S, B), 1, DataType::F32));
        pos_.init(TensorInfo(TensorShape(H, S, size_t(1)), 1, DataType::F32));
        const auto wrap = arm_compute::ConvertPolicy::WRAP;
        check_valid(arm_compute::NEGather::validate(word_.info(), ids_.info(), sum_.info(), 1),
                    "NEGather (word rows)");
        check_valid(arm_compute::NEGather::validate(type_.info(), tids_.info(), tsum_.info(), 1),
                    "NEGather (token type rows)");
        check_valid(arm_compute::NEArithmeticAddition::validate(sum_.info(), tsum_.info(),
                                                                sum_.info(), wrap),
                    "NEArithmeticAddition");
        check_valid(arm_compute::NEArithmeticAddition::validate(sum3_.info(), pos_.info(),
                                                                sum3_.info(), wrap),
                    "NEArithmeticAddition (positions, broadcast over batch)");
        auto gw = std::make_unique<arm_compute::NEGather>();
        gw->configure(word_.get(), ids_.get(), sum_.get(), 1);
        gather_type = std::make_unique<arm_compute::NEGather>();
        gather_type->configure(type_.get(), tids_.get(), tsum_.get(), 1);
        add_type = std::make_unique<arm_compute::NEArithmeticAddition>();
        add_type->configure(sum_.get(), tsum_.get(), sum_.get(), wrap);
        add_pos = std::make_unique<arm_compute::NEArithmeticAddition>();
        add_pos->configure(sum3_.get(), pos_.get(), sum3_.get(), wrap);
        for (Borrowed *t : {&word_, &type_, &ids_, &tids_, &sum_, &tsum_, &sum3_, &pos_})
            t->expect_dense("embeddings");
        norm.configure(R, desc.hidden);

        sum.assign(size_t(R) * H, 0.0f);
        types_sum.assign(size_t(R) * H, 0.0f);
        zero_types.assign(size_t(R), 0);
        word_.bind(word.data());
        type_.bind(token_type.data());
        pos_.bind(position.data());
        sum_.bind(sum.data());
        sum3_.bind(sum.data());
        tsum_.bind(types_sum.data());
        gather_word = std::move(gw);  // last: marks the op configured
    }

    void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) override {
        arm_compute::NEGather &gw = configured(gather_word, "embeddings");
        {
            ActiveContext active(*ctx);
            ids_.bind(ids);
            tids_.bind(type_ids ? type_ids : zero_types.data());
            gw.run();
            gather_type->run();
            add_type->run();
            add_pos->run();
        }
        norm.run(*ctx, sum.data(), data_of<float>(out));
    }
};

}  // namespace

EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) {
    auto op = std::make_unique<AclEmbeddings>();
    op->keep(d);
    op->norm.gamma = op->gamma;
    op->norm.beta = op->beta;
    op->norm.eps = d.eps;
    return op.release();
}

}  // namespace armbert::neon
