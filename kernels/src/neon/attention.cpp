// FP32 attention on ACL: NEMatMul wants each operand contiguous per batch,
// and Q/K/V sit interleaved in the qkv rows, so we copy them into
// [batch, heads, seq, head_dim] buffers (folding 1/sqrt(d) into Q on the
// way), then run Q K^T (adj_rhs: K is used as stored), add the mask
// broadcast over heads and query rows in place, softmax along keys, P V,
// and copy the heads back into [tokens, hidden]. INT8 runs this too.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "arm_compute/runtime/NEON/functions/NEArithmeticAddition.h"
#include "arm_compute/runtime/NEON/functions/NEMatMul.h"
#include "arm_compute/runtime/NEON/functions/NESoftmaxLayer.h"

#include "../common/workspace.h"
#include "../core/tensor.h"
#include "../common/parallel.h"
#include "acl.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert::neon {
namespace {

using arm_compute::DataType;
using arm_compute::TensorInfo;
using arm_compute::TensorShape;

struct AclAttention : AttentionOp {
    std::vector<float> q, k, v, scores, probs, heads_out;
    Borrowed q_, k_, v_, s_, p_, o_, m_;
    std::unique_ptr<arm_compute::NEMatMul> qk, pv;
    std::unique_ptr<arm_compute::NEArithmeticAddition> add_mask;
    std::unique_ptr<arm_compute::NESoftmaxLayer> softmax;

    void on_reshape() override {
        const size_t B = size_t(batch), S = size_t(seq), A = size_t(desc.heads),
                     d = size_t(desc.hidden / desc.heads);
        ActiveContext active(*ctx);
        qk.reset();  // pv, add_mask and softmax are only run after qk
        const double head_bytes = 4.0 * double(B * A) * double(S) * double(d),
                     score_bytes = 4.0 * double(B * A) * double(S) * double(S);
        common::require_host_memory("attention: workspace", 4 * head_bytes + 2 * score_bytes);
        // NEMatMul (24.11) rejects operands whose values are marked constant,
        // the TensorInfo default: it only multiplies activations.
        TensorInfo head(TensorShape(d, S, A, B), 1, DataType::F32);
        TensorInfo score(TensorShape(S, S, A, B), 1, DataType::F32);
        head.set_are_values_constant(false);
        score.set_are_values_constant(false);
        for (Borrowed *t : {&q_, &k_, &v_, &o_}) t->init(head);
        s_.init(score);
        p_.init(score);
        m_.init(TensorInfo(TensorShape(S, size_t(1), size_t(1), B), 1, DataType::F32));

        const arm_compute::CpuMatMulSettings settings;  // exact fp32, no bf16 fast math
        const auto qk_info = arm_compute::MatMulInfo().adj_rhs(true);
        const auto pv_info = arm_compute::MatMulInfo();
        check_valid(arm_compute::NEMatMul::validate(q_.info(), k_.info(), s_.info(), qk_info,
                                                    settings),
                    "NEMatMul (Q K^T)");
        check_valid(arm_compute::NEArithmeticAddition::validate(
                        s_.info(), m_.info(), s_.info(), arm_compute::ConvertPolicy::WRAP),
                    "NEArithmeticAddition (mask)");
        check_valid(arm_compute::NESoftmaxLayer::validate(s_.info(), p_.info(), 1.0f, 0),
                    "NESoftmaxLayer");
        check_valid(arm_compute::NEMatMul::validate(p_.info(), v_.info(), o_.info(), pv_info,
                                                    settings),
                    "NEMatMul (P V)");
        add_mask = std::make_unique<arm_compute::NEArithmeticAddition>();
        add_mask->configure(s_.get(), m_.get(), s_.get(), arm_compute::ConvertPolicy::WRAP);
        softmax = std::make_unique<arm_compute::NESoftmaxLayer>();
        softmax->configure(s_.get(), p_.get(), 1.0f, 0);
        pv = std::make_unique<arm_compute::NEMatMul>();
        pv->configure(p_.get(), v_.get(), o_.get(), pv_info, settings);
        auto scores_fn = std::make_unique<arm_compute::NEMatMul>();
        scores_fn->configure(q_.get(), k_.get(), s_.get(), qk_info, settings);
        for (Borrowed *t : {&q_, &k_, &v_, &o_, &s_, &p_, &m_}) t->expect_dense("attention");

        const size_t nh = B * A * S * d, ns = B * A * S * S;
        for (auto *buf : {&q, &k, &v, &heads_out}) buf->assign(nh, 0.0f);
        scores.assign(ns, 0.0f);
        probs.assign(ns, 0.0f);
        q_.bind(q.data());
        k_.bind(k.data());
        v_.bind(v.data());
        o_.bind(heads_out.data());
        s_.bind(scores.data());
        p_.bind(probs.data());
        qk = std::move(scores_fn);  // last: marks the op configured
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        const int S = seq, H = desc.hidden, A = desc.heads, d = H / A;
        const float scale = 1.0f / std::sqrt(float(d));
        const float *src = data_of<float>(qkv);
        float *dst = data_of<float>(out);
        // token row r = (b, s) -> head rows ((b * A + h) * S + s)
        common::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / S, s = r % S;
                const float *row = src + r * 3 * H;
                for (int h = 0; h < A; ++h) {
                    const size_t at = (size_t(b * A + h) * S + size_t(s)) * d;
                    for (int i = 0; i < d; ++i) q[at + i] = row[h * d + i] * scale;
                    std::memcpy(&k[at], row + H + h * d, sizeof(float) * d);
                    std::memcpy(&v[at], row + 2 * H + h * d, sizeof(float) * d);
                }
            }
        });
        {
            ActiveContext active(*ctx);
            configured(qk, "attention").run();
            if (mask) {
                m_.bind(mask->host());
                add_mask->run();
            }
            softmax->run();
            pv->run();
        }
        common::parallel_for(*ctx, rows(), [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / S, s = r % S;
                for (int h = 0; h < A; ++h)
                    std::memcpy(dst + r * H + h * d,
                                &heads_out[(size_t(b * A + h) * S + size_t(s)) * d],
                                sizeof(float) * d);
            }
        });
    }
};

}  // namespace

AttentionOp *new_attention(const armbert_attention_desc &d) { return new_op<AclAttention>(d); }

}  // namespace armbert::neon
