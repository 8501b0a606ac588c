#include "op.h"

#include <cfloat>
#include <cmath>

#include "error.h"

void armbert_op::reshape(int b, int s) {
    using namespace armbert;
    ARMBERT_REQUIRE(b > 0 && s > 0, ARMBERT_ERR_SHAPE,
                    std::string(op_kind_name(kind())) +
                        ": reshape needs batch > 0 and seq > 0, got " + std::to_string(b) +
                        " x " + std::to_string(s));
    // Workspaces are indexed with int rows: batch * seq must fit one.
    ARMBERT_REQUIRE(int64_t(b) * s <= (int64_t(1) << 24), ARMBERT_ERR_SHAPE,
                    std::string(op_kind_name(kind())) + ": batch x seq = " +
                        std::to_string(int64_t(b) * s) + " tokens is more than 2^24");
    if (b == batch && s == seq) return;
    batch = b;
    seq = s;
    try {
        on_reshape();
        reshape_failed = false;
    } catch (...) {
        // Backends may have released or half-resized what the old shape used:
        // nothing of it may run. (Restoring the old batch and seq here once let a
        // reshape to that shape return early and run a half-configured op.)
        batch = seq = 0;
        reshape_failed = true;
        throw;
    }
}

namespace armbert {

const char *op_kind_name(OpKind kind) {
    switch (kind) {
    case OpKind::Embeddings: return "embeddings";
    case OpKind::Linear: return "linear";
    case OpKind::Softmax: return "softmax";
    case OpKind::Attention: return "attention";
    case OpKind::LayerNorm: return "layernorm";
    case OpKind::Gelu: return "gelu";
    case OpKind::Add: return "add";
    case OpKind::Pool: return "pool";
    }
    return "?";
}

static void require_reshaped(const armbert_op *op) {
    ARMBERT_REQUIRE(!op->reshape_failed, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(op_kind_name(op->kind())) +
                        ": the last reshape failed; reshape again before run");
    ARMBERT_REQUIRE(op->batch > 0, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(op_kind_name(op->kind())) + ": call armbert_op_reshape before run");
}

void EmbeddingsOp::keep(const armbert_embeddings_desc &d) {
    const size_t H = size_t(d.hidden);
    word.assign(d.word, d.word + size_t(d.vocab_size) * H);
    position.assign(d.position, d.position + size_t(d.max_positions) * H);
    token_type.assign(d.token_type, d.token_type + size_t(d.type_vocab_size) * H);
    gamma.assign(d.gamma, d.gamma + H);
    beta.assign(d.beta, d.beta + H);
    desc = d;
    desc.word = desc.position = desc.token_type = nullptr;
    desc.gamma = desc.beta = nullptr;
}

void EmbeddingsOp::run(const armbert_tensor *ids, const armbert_tensor *type_ids,
                       armbert_tensor *out) {
    require_reshaped(this);
    // Ids are read on the host: the lookup is a gather that every backend
    // starts from host memory.
    ARMBERT_REQUIRE(ids && ids->host(), ARMBERT_ERR_INVALID_ARGUMENT,
                    "embeddings: ids must be a host I32 tensor");
    ARMBERT_REQUIRE(ids->dtype == ARMBERT_I32 && ids->numel == rows(), ARMBERT_ERR_SHAPE,
                    "embeddings: ids has shape " + ids->shape_string() + ", expected [" +
                        std::to_string(batch) + ", " + std::to_string(seq) + "] i32");
    if (type_ids) {
        ARMBERT_REQUIRE(type_ids->host() != nullptr, ARMBERT_ERR_INVALID_ARGUMENT,
                        "embeddings: type_ids must be a host I32 tensor");
        ARMBERT_REQUIRE(type_ids->dtype == ARMBERT_I32 && type_ids->numel == rows(),
                        ARMBERT_ERR_SHAPE,
                        "embeddings: type_ids has shape " + type_ids->shape_string() +
                            ", expected [" + std::to_string(batch) + ", " + std::to_string(seq) +
                            "] i32");
    }
    ARMBERT_REQUIRE(seq <= desc.max_positions, ARMBERT_ERR_OUT_OF_RANGE,
                    "embeddings: sequence length " + std::to_string(seq) +
                        " is longer than the model's " + std::to_string(desc.max_positions) +
                        " positions");
    check_tensor(out, "embeddings output", ctx, activation_dtype(desc.precision), rows(),
                 desc.hidden);
    const int32_t *id = data_of<int32_t>(ids);
    const int32_t *tt = type_ids ? data_of<int32_t>(type_ids) : nullptr;
    for (int64_t i = 0; i < rows(); ++i) {
        if (id[i] < 0 || id[i] >= desc.vocab_size)
            fail(ARMBERT_ERR_OUT_OF_RANGE,
                 "embeddings: token id " + std::to_string(id[i]) + " at position " +
                     std::to_string(i % seq) + " of sequence " + std::to_string(i / seq) +
                     " is outside the vocabulary [0, " + std::to_string(desc.vocab_size) + ")");
        if (tt && (tt[i] < 0 || tt[i] >= desc.type_vocab_size))
            fail(ARMBERT_ERR_OUT_OF_RANGE,
                 "embeddings: token type id " + std::to_string(tt[i]) + " is outside [0, " +
                     std::to_string(desc.type_vocab_size) + ")");
    }
    compute(id, tt, out);
}

void LinearOp::run(const armbert_tensor *x, armbert_tensor *y) {
    require_reshaped(this);
    armbert_dtype dt = activation_dtype(desc.precision);
    check_tensor(x, "linear input", ctx, dt, rows(), desc.in_features);
    check_tensor(y, "linear output", ctx, dt, rows(), desc.out_features);
    ARMBERT_REQUIRE(x != y, ARMBERT_ERR_INVALID_ARGUMENT, "linear: input and output must differ");
    compute(x, y);
}

static void check_mask(const armbert_op *op, const armbert_tensor *mask) {
    if (mask) check_tensor(mask, "mask", op->ctx, ARMBERT_F32, op->batch, op->seq);
}

void SoftmaxOp::run(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y) {
    require_reshaped(this);
    armbert_dtype dt = activation_dtype(desc.precision);
    ARMBERT_REQUIRE(x && x->numel % (rows()) == 0, ARMBERT_ERR_SHAPE,
                    std::string("softmax: input ") + (x ? x->shape_string() : "NULL") +
                        " is not [batch, rows, seq] for batch " + std::to_string(batch) + ", seq " +
                        std::to_string(seq));
    int64_t rows_per_batch = x->numel / rows();
    check_tensor(x, "softmax input", ctx, dt, batch * rows_per_batch, seq);
    check_tensor(y, "softmax output", ctx, dt, batch * rows_per_batch, seq);
    check_mask(this, mask);
    compute(x, mask, y, rows_per_batch);
}

void AttentionOp::run(const armbert_tensor *qkv, const armbert_tensor *mask,
                      armbert_tensor *out) {
    require_reshaped(this);
    armbert_dtype dt = activation_dtype(desc.precision);
    check_tensor(qkv, "attention qkv", ctx, dt, rows(), 3 * int64_t(desc.hidden));
    check_tensor(out, "attention output", ctx, dt, rows(), desc.hidden);
    check_mask(this, mask);
    ARMBERT_REQUIRE(qkv != out, ARMBERT_ERR_INVALID_ARGUMENT,
                    "attention: qkv and output must differ");
    compute(qkv, mask, out);
}

void LayerNormOp::run(const armbert_tensor *x, const armbert_tensor *residual,
                      armbert_tensor *y) {
    require_reshaped(this);
    armbert_dtype dt = activation_dtype(desc.precision);
    check_tensor(x, "layernorm input", ctx, dt, rows(), desc.hidden);
    if (residual) check_tensor(residual, "layernorm residual", ctx, dt, rows(), desc.hidden);
    check_tensor(y, "layernorm output", ctx, dt, rows(), desc.hidden);
    compute(x, residual, y);
}

static void check_same(const armbert_op *op, const armbert_tensor *t, const char *name,
                       armbert_precision p, const armbert_tensor *like) {
    ARMBERT_REQUIRE(t != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    ARMBERT_REQUIRE(t->ctx == op->ctx, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(name) + " belongs to another context");
    ARMBERT_REQUIRE(t->dtype == activation_dtype(p), ARMBERT_ERR_SHAPE,
                    std::string(name) + " has dtype " + dtype_name(t->dtype) + ", expected " +
                        dtype_name(activation_dtype(p)));
    ARMBERT_REQUIRE(t->numel == like->numel, ARMBERT_ERR_SHAPE,
                    std::string(name) + " has shape " + t->shape_string() + ", expected " +
                        std::to_string(like->numel) + " elements like " + like->shape_string());
}

void GeluOp::run(const armbert_tensor *x, armbert_tensor *y) {
    ARMBERT_REQUIRE(x != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "gelu: input is NULL");
    check_same(this, x, "gelu input", desc.precision, x);
    check_same(this, y, "gelu output", desc.precision, x);
    compute(x, y);
}

void AddOp::run(const armbert_tensor *a, const armbert_tensor *b, armbert_tensor *y) {
    ARMBERT_REQUIRE(a != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "add: first input is NULL");
    check_same(this, a, "add input a", desc.precision, a);
    check_same(this, b, "add input b", desc.precision, a);
    check_same(this, y, "add output", desc.precision, a);
    compute(a, b, y);
}

void PoolOp::run(const armbert_tensor *x, const armbert_tensor *mask, armbert_tensor *y) {
    require_reshaped(this);
    armbert_dtype dt = activation_dtype(desc.precision);
    check_tensor(x, "pool input", ctx, dt, rows(), desc.hidden);
    check_tensor(y, "pool output", ctx, dt, batch, desc.hidden);
    check_mask(this, mask);
    ARMBERT_REQUIRE(x != y, ARMBERT_ERR_INVALID_ARGUMENT, "pool: input and output must differ");
    compute(x, mask, y);
}

static void check_precision_value(armbert_precision p, const char *who) {
    ARMBERT_REQUIRE(p == ARMBERT_PRECISION_FP32 || p == ARMBERT_PRECISION_FP16 ||
                        p == ARMBERT_PRECISION_INT8,
                    ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(who) + ": unknown precision " + std::to_string(int(p)));
}

static void positive(int64_t v, const char *what) {
    ARMBERT_REQUIRE(v > 0, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(what) + " must be > 0, got " + std::to_string(v));
}

static void non_null(const void *p, const char *what) {
    ARMBERT_REQUIRE(p != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

// The normalization every layernorm-like descriptor carries: eps, gamma, beta.
static void norm_ok(float eps, const float *gamma, const float *beta, const std::string &who) {
    ARMBERT_REQUIRE(std::isfinite(eps) && eps > 0, ARMBERT_ERR_INVALID_ARGUMENT,
                    who + ": eps must be finite and > 0");
    non_null(gamma, (who + ": gamma").c_str());
    non_null(beta, (who + ": beta").c_str());
}

void check_desc(const armbert_embeddings_desc &d) {
    check_precision_value(d.precision, "embeddings");
    positive(d.vocab_size, "embeddings: vocab_size");
    positive(d.max_positions, "embeddings: max_positions");
    positive(d.type_vocab_size, "embeddings: type_vocab_size");
    positive(d.hidden, "embeddings: hidden");
    norm_ok(d.eps, d.gamma, d.beta, "embeddings");
    non_null(d.word, "embeddings: word table");
    non_null(d.position, "embeddings: position table");
    non_null(d.token_type, "embeddings: token type table");
}

void check_desc(const armbert_linear_desc &d) {
    check_precision_value(d.precision, "linear");
    positive(d.in_features, "linear: in_features");
    positive(d.out_features, "linear: out_features");
    ARMBERT_REQUIRE(d.activation == ARMBERT_ACTIVATION_NONE ||
                        d.activation == ARMBERT_ACTIVATION_GELU ||
                        d.activation == ARMBERT_ACTIVATION_TANH,
                    ARMBERT_ERR_INVALID_ARGUMENT,
                    "linear: unknown activation " + std::to_string(int(d.activation)));
    if (d.precision == ARMBERT_PRECISION_INT8) {
        non_null(d.weight_i8, "linear (int8): weight_i8");
        non_null(d.weight_scale, "linear (int8): weight_scale");
        for (int32_t n = 0; n < d.out_features; ++n)
            ARMBERT_REQUIRE(std::isfinite(d.weight_scale[n]) && d.weight_scale[n] > 0,
                            ARMBERT_ERR_INVALID_ARGUMENT,
                            "linear (int8): weight_scale[" + std::to_string(n) +
                                "] must be finite and > 0");
        ARMBERT_REQUIRE(std::isfinite(d.input_scale), ARMBERT_ERR_INVALID_ARGUMENT,
                        "linear (int8): input_scale is not finite");
        // A subnormal static scale has an inverse of inf (common/int8.h scale_from_absmax).
        ARMBERT_REQUIRE(!(d.input_scale > 0) || d.input_scale >= FLT_MIN,
                        ARMBERT_ERR_INVALID_ARGUMENT,
                        "linear (int8): input_scale is below float32's smallest normal "
                        "(1.18e-38)");
        if (d.input_smooth)
            for (int32_t k = 0; k < d.in_features; ++k)
                ARMBERT_REQUIRE(std::isfinite(d.input_smooth[k]) && d.input_smooth[k] > 0,
                                ARMBERT_ERR_INVALID_ARGUMENT,
                                "linear (int8): input_smooth[" + std::to_string(k) +
                                    "] must be finite and > 0");
        ARMBERT_REQUIRE(d.num_outliers >= 0 && d.num_outliers <= d.in_features,
                        ARMBERT_ERR_INVALID_ARGUMENT, "linear (int8): num_outliers out of range");
        if (d.num_outliers > 0) {
            non_null(d.outlier_channels, "linear (int8): outlier_channels");
            non_null(d.outlier_weight, "linear (int8): outlier_weight");
            for (int32_t j = 0; j < d.num_outliers; ++j)
                ARMBERT_REQUIRE(d.outlier_channels[j] >= 0 && d.outlier_channels[j] < d.in_features,
                                ARMBERT_ERR_OUT_OF_RANGE,
                                "linear (int8): outlier channel " +
                                    std::to_string(d.outlier_channels[j]) +
                                    " is not an input channel");
        }
    } else {
        non_null(d.weight, "linear: weight");
    }
}

void check_desc(const armbert_softmax_desc &d) {
    check_precision_value(d.precision, "softmax");
    ARMBERT_REQUIRE(std::isfinite(d.scale) && d.scale > 0, ARMBERT_ERR_INVALID_ARGUMENT,
                    "softmax: scale must be finite and > 0");
}

void check_desc(const armbert_attention_desc &d) {
    check_precision_value(d.precision, "attention");
    positive(d.hidden, "attention: hidden");
    positive(d.heads, "attention: heads");
    ARMBERT_REQUIRE(d.hidden % d.heads == 0, ARMBERT_ERR_INVALID_ARGUMENT,
                    "attention: hidden " + std::to_string(d.hidden) +
                        " is not a multiple of heads " + std::to_string(d.heads));
}

void check_desc(const armbert_layernorm_desc &d) {
    check_precision_value(d.precision, "layernorm");
    positive(d.hidden, "layernorm: hidden");
    norm_ok(d.eps, d.gamma, d.beta, "layernorm");
}

void check_desc(const armbert_eltwise_desc &d) { check_precision_value(d.precision, "eltwise"); }

void check_desc(const armbert_pool_desc &d) {
    check_precision_value(d.precision, "pool");
    positive(d.hidden, "pool: hidden");
    ARMBERT_REQUIRE(d.mode >= ARMBERT_POOL_MEAN && d.mode <= ARMBERT_POOL_MEAN_SQRT_LEN,
                    ARMBERT_ERR_INVALID_ARGUMENT,
                    "pool: unknown mode " + std::to_string(int(d.mode)));
    ARMBERT_REQUIRE(d.normalize == 0 || d.normalize == 1, ARMBERT_ERR_INVALID_ARGUMENT,
                    "pool: normalize must be 0 or 1, got " + std::to_string(d.normalize));
}

template <typename T> T *op_cast(armbert_op *op) {
    ARMBERT_REQUIRE(op != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "op is NULL");
    T *t = dynamic_cast<T *>(op);
    ARMBERT_REQUIRE(t != nullptr, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string("op is a ") + op_kind_name(op->kind()) +
                        " op, not the kind called");
    return t;
}

template EmbeddingsOp *op_cast<EmbeddingsOp>(armbert_op *);
template LinearOp *op_cast<LinearOp>(armbert_op *);
template SoftmaxOp *op_cast<SoftmaxOp>(armbert_op *);
template AttentionOp *op_cast<AttentionOp>(armbert_op *);
template LayerNormOp *op_cast<LayerNormOp>(armbert_op *);
template GeluOp *op_cast<GeluOp>(armbert_op *);
template AddOp *op_cast<AddOp>(armbert_op *);
template PoolOp *op_cast<PoolOp>(armbert_op *);

}  // namespace armbert
