// Multi-head self-attention core on the GPU, in fp32 whatever the precision
// (INT8 runs the attention products in fp32 by armbert.h; FP16 widens Q/K/V, as
// the host does, and the products are ~3% of a BERT layer's FLOPs at S = 128):
//   our armbert_split_heads   qkv [B*S, 3H] -> Q, K, V [B*heads, S, d]
//   ACL CLMatMul              scores = Q K^T (adj_rhs), batched over B*heads
//   our armbert_scale_mask    scores * 1/sqrt(d) + mask[b], in place
//   ACL CLSoftmaxLayer        over the last axis
//   ACL CLMatMul              ctx = P V
//   our armbert_merge_heads   ctx -> out [B*S, H] (F32 or F16)
#include <arm_compute/runtime/CL/functions/CLMatMul.h>
#include <arm_compute/runtime/CL/functions/CLSoftmaxLayer.h>

#include <cmath>
#include <memory>

#include "cl.h"

namespace armbert::opencl {
namespace {

using arm_compute::CLTensor;
using arm_compute::DataType;
using arm_compute::MatMulInfo;
using arm_compute::TensorShape;

struct ClAttention : AttentionOp {
    Kernel split{"armbert_split_heads"}, scale_mask{"armbert_scale_mask"},
        merge{"armbert_merge_heads"};
    struct Config {
        CLTensor q, k, v, scores, probs, ctx;
        arm_compute::CLMatMul qk, pv;
        arm_compute::CLSoftmaxLayer softmax;
    };
    std::unique_ptr<Config> cfg;

    void on_reshape() override {
        cfg.reset();
        const int A = desc.heads, d = desc.hidden / A, S = seq, BA = batch * A;
        const double head_bytes = 4.0 * BA * double(S) * d, score_bytes = 4.0 * BA * double(S) * S;
        require_device_memory("cl attention: workspace", score_bytes,
                              4 * head_bytes + 2 * score_bytes);
        auto c = std::make_unique<Config>();
        auto init = [](CLTensor &t, const TensorShape &s) {
            t.allocator()->init(arm_compute::TensorInfo(s, 1, DataType::F32));
        };
        init(c->q, TensorShape(d, S, BA));
        init(c->k, TensorShape(d, S, BA));
        init(c->v, TensorShape(d, S, BA));
        init(c->scores, TensorShape(S, S, BA));
        init(c->probs, TensorShape(S, S, BA));
        init(c->ctx, TensorShape(d, S, BA));
        const MatMulInfo qk_info = MatMulInfo().adj_rhs(true);
        check(arm_compute::CLMatMul::validate(c->q.info(), c->k.info(), c->scores.info(), qk_info),
              "cl attention: CLMatMul (Q K^T)");
        check(arm_compute::CLSoftmaxLayer::validate(c->scores.info(), c->probs.info(), 1.0f, 0),
              "cl attention: CLSoftmaxLayer");
        check(arm_compute::CLMatMul::validate(c->probs.info(), c->v.info(), c->ctx.info(),
                                              MatMulInfo()),
              "cl attention: CLMatMul (P V)");
        c->qk.configure(&c->q, &c->k, &c->scores, qk_info);
        c->softmax.configure(&c->scores, &c->probs, 1.0f, 0);
        c->pv.configure(&c->probs, &c->v, &c->ctx, MatMulInfo());
        for (CLTensor *t : {&c->q, &c->k, &c->v, &c->scores, &c->probs, &c->ctx}) {
            t->allocator()->allocate();
            require_dense(*t, "an attention workspace");
        }
        cfg = std::move(c);
    }

    void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                 armbert_tensor *out) override {
        Config &c = configured(cfg, "attention");
        const cl_int A = desc.heads, H = desc.hidden, S = seq, d = H / A;
        const cl::NDRange heads(size_t(d), size_t(S), size_t(batch) * A);
        split(heads, buffer_of(qkv), cl_int(qkv->dtype == ARMBERT_F16), c.q.cl_buffer(),
              c.k.cl_buffer(), c.v.cl_buffer(), S, H, A);
        c.qk.run();
        const float scale = 1.0f / std::sqrt(float(d));
        scale_mask(cl::NDRange(size_t(S), size_t(batch) * A * S), c.scores.cl_buffer(), cl_int(0),
                   c.scores.cl_buffer(), mask ? buffer_of(mask) : dummy_buffer(),
                   cl_int(mask != nullptr), scale, S, cl_int(A * S));
        c.softmax.run();
        c.pv.run();
        merge(heads, c.ctx.cl_buffer(), buffer_of(out), cl_int(out->dtype == ARMBERT_F16), S, H,
              A);
    }
};

}  // namespace

AttentionOp *new_attention(const armbert_attention_desc &d) { return new_op<ClAttention>(d); }

}  // namespace armbert::opencl
