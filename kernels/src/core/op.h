// Op interfaces. armbert_op holds what every component shares (shape state);
// one abstract class per component declares its run(); each backend
// implements them in kernels/src/<backend>/<component>.cpp. Argument checks
// that do not depend on the backend live here, so backends only compute.
#pragma once
#include <mutex>
#include <vector>

#include "armbert.h"
#include "context.h"
#include "tensor.h"

enum class OpKind { Embeddings, Linear, Softmax, Attention, LayerNorm, Gelu, Add, Pool };

struct armbert_op {
    armbert_context *ctx = nullptr;  // holds a reference (see armbert_context)
    int batch = 0, seq = 0;
    // A reshape whose backend hook threw leaves the op unconfigured (batch = seq = 0)
    // on every backend: run then fails with "the last reshape failed", and the next
    // reshape, to any shape (the previous one too), configures it again. A reshape
    // refused by its argument checks changes nothing.
    bool reshape_failed = false;
    // reshape and run of one op are serialized (abi.cpp): its workspace is sized by
    // reshape and written by run, so two threads on one op would overwrite each other.
    std::mutex mu;

    virtual ~armbert_op() = default;
    virtual OpKind kind() const = 0;
    void reshape(int b, int s);
    int64_t rows() const { return int64_t(batch) * seq; }

  protected:
    // Backend hook: size workspaces, configure backend functions.
    virtual void on_reshape() {}
};

namespace armbert {

const char *op_kind_name(OpKind kind);
// Casts an op handle to the component the caller expects, with a clear error.
template <typename T> T *op_cast(armbert_op *op);

struct EmbeddingsOp : armbert_op {
    armbert_embeddings_desc desc{};  // weight pointers are not kept
    // The op's own copies of the caller's tables, fp32 in every precision (each row
    // is read once per token); backends may pack them further.
    std::vector<float> word, position, token_type, gamma, beta;
    // Copies the tables of d and keeps d without its pointers: every backend's factory.
    void keep(const armbert_embeddings_desc &d);
    OpKind kind() const override { return OpKind::Embeddings; }
    void run(const armbert_tensor *ids, const armbert_tensor *type_ids, armbert_tensor *out);
    virtual void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) = 0;
};

struct LinearOp : armbert_op {
    armbert_linear_desc desc{};
    OpKind kind() const override { return OpKind::Linear; }
    void run(const armbert_tensor *x, armbert_tensor *y);
    virtual void compute(const armbert_tensor *x, armbert_tensor *y) = 0;
};

struct SoftmaxOp : armbert_op {
    armbert_softmax_desc desc{};
    OpKind kind() const override { return OpKind::Softmax; }
    void run(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y);
    // x, y: [batch, rows_per_batch, seq]
    virtual void compute(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y,
                         int64_t rows_per_batch) = 0;
};

struct AttentionOp : armbert_op {
    armbert_attention_desc desc{};
    OpKind kind() const override { return OpKind::Attention; }
    void run(const armbert_tensor *qkv, const armbert_tensor *mask, armbert_tensor *out);
    virtual void compute(const armbert_tensor *qkv, const armbert_tensor *mask,
                         armbert_tensor *out) = 0;
};

struct LayerNormOp : armbert_op {
    armbert_layernorm_desc desc{};
    OpKind kind() const override { return OpKind::LayerNorm; }
    void run(const armbert_tensor *x, const armbert_tensor *residual, armbert_tensor *y);
    virtual void compute(const armbert_tensor *x, const armbert_tensor *residual,
                         armbert_tensor *y) = 0;
};

// Elementwise ops work on any shape: run checks that the tensors match.
struct GeluOp : armbert_op {
    armbert_eltwise_desc desc{};
    OpKind kind() const override { return OpKind::Gelu; }
    void run(const armbert_tensor *x, armbert_tensor *y);
    virtual void compute(const armbert_tensor *x, armbert_tensor *y) = 0;
};

struct AddOp : armbert_op {
    armbert_eltwise_desc desc{};
    OpKind kind() const override { return OpKind::Add; }
    void run(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y);
    virtual void compute(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y) = 0;
};

struct PoolOp : armbert_op {
    armbert_pool_desc desc{};
    OpKind kind() const override { return OpKind::Pool; }
    void run(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y);
    // x [batch*seq, hidden], y [batch, hidden]
    virtual void compute(const armbert_tensor *x, const armbert_tensor *mask,
                         armbert_tensor *y) = 0;
};

// The factory of an op whose descriptor keeps no pointer to the caller's memory
// (softmax, attention, eltwise): a new T with its descriptor.
template <typename T, typename Desc> T *new_op(const Desc &d) {
    auto *op = new T();
    op->desc = d;
    return op;
}

// Descriptor checks shared by every backend (InvalidArgument on failure).
void check_desc(const armbert_embeddings_desc &d);
void check_desc(const armbert_linear_desc &d);
void check_desc(const armbert_softmax_desc &d);
void check_desc(const armbert_attention_desc &d);
void check_desc(const armbert_layernorm_desc &d);
void check_desc(const armbert_eltwise_desc &d);
void check_desc(const armbert_pool_desc &d);

}  // namespace armbert
