/*
 * armbert.h: the only ABI of libarmbert.
 *
 * BERT components (embeddings, linear, attention, softmax, layernorm, GELU,
 * residual add, sentence pooling) in FP32, FP16 and INT8 on three backends
 * (portable host, ACL NEON, ACL OpenCL). Not every backend has every op:
 * armbert_X_validate answers ARMBERT_ERR_UNSUPPORTED, naming the op, the
 * precision and the backend, for one it lacks (pooling is host-only so far). Every function returns an armbert_status; on failure
 * armbert_last_error() holds a per-thread message. No C++ exception and no
 * abort() crosses this header.
 *
 * Lifecycle (XNNPACK/ACL style):
 *   armbert_X_validate(ctx, desc)  same arguments as create, no side effects
 *   armbert_X_create(ctx, desc, &op)  packs weights once
 *   armbert_op_reshape(op, batch, seq)  configures for a shape, sizes workspace
 *   armbert_X_run(op, tensors...)  hot path: no allocation
 *   armbert_op_destroy(op)
 *
 * Layout: activations are row-major [tokens, features] with tokens = batch*seq
 * (batch-major). Weights are [out_features, in_features] as in torch.
 * Activation tensors carry F32 (fp32 and int8 engines) or F16 (fp16 engine);
 * INT8 is a property of the linear op (int8 weights, int8 quantized inputs,
 * int32 accumulation, dequantized output).
 *
 * This file must stay parseable by cffi's cdef: no macros in declarations,
 * plain C types only. The lines between ARMBERT_CDEF_BEGIN/END are what cffi
 * reads.
 */
#ifndef ARMBERT_H
#define ARMBERT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define ARMBERT_API __declspec(dllexport)
#else
#define ARMBERT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ARMBERT_CDEF_BEGIN */

enum { ARMBERT_ABI_VERSION = 3 };

typedef enum armbert_status {
    ARMBERT_OK = 0,
    ARMBERT_ERR_INVALID_ARGUMENT = 1, /* a bad value: null pointer, eps <= 0, ... */
    ARMBERT_ERR_SHAPE = 2,            /* tensor shapes or dtypes do not fit the op */
    ARMBERT_ERR_OUT_OF_RANGE = 3,     /* token id outside the vocabulary, seq > positions */
    ARMBERT_ERR_UNSUPPORTED = 4,      /* backend, precision or CPU feature not available */
    ARMBERT_ERR_OUT_OF_MEMORY = 5,
    ARMBERT_ERR_BACKEND = 6,          /* ACL or OpenCL reported a failure */
    ARMBERT_ERR_INTERNAL = 7
} armbert_status;

typedef enum armbert_backend {
    ARMBERT_BACKEND_HOST = 0,
    ARMBERT_BACKEND_NEON = 1,
    ARMBERT_BACKEND_CL = 2
} armbert_backend;

typedef enum armbert_dtype {
    ARMBERT_F32 = 0,
    ARMBERT_F16 = 1,
    ARMBERT_I8 = 2,
    ARMBERT_I32 = 3
} armbert_dtype;

/* Precision of an op's arithmetic. */
typedef enum armbert_precision {
    ARMBERT_PRECISION_FP32 = 0,
    ARMBERT_PRECISION_FP16 = 1,
    ARMBERT_PRECISION_INT8 = 2
} armbert_precision;

typedef enum armbert_activation {
    ARMBERT_ACTIVATION_NONE = 0,
    ARMBERT_ACTIVATION_GELU = 1, /* erf form, as BERT uses */
    ARMBERT_ACTIVATION_TANH = 2  /* the pooler's */
} armbert_activation;

/* Bits of armbert_cpu_features(). */
enum {
    ARMBERT_CPU_AVX2 = 1,
    ARMBERT_CPU_AVX512_VNNI = 2,
    ARMBERT_CPU_F16C = 4,
    ARMBERT_CPU_AVX_VNNI = 8,    /* VEX-encoded 256-bit vpdpbusd (Alder Lake, Sapphire Rapids, Zen 5) */
    ARMBERT_CPU_NEON = 256,
    ARMBERT_CPU_ASIMDHP = 512,   /* armv8.2 fp16 arithmetic */
    ARMBERT_CPU_ASIMDDP = 1024,  /* sdot/udot */
    ARMBERT_CPU_I8MM = 2048
};

typedef struct armbert_context armbert_context;
typedef struct armbert_tensor armbert_tensor;
typedef struct armbert_op armbert_op;

/* ---- library ---- */
ARMBERT_API uint32_t armbert_abi_version(void);
ARMBERT_API const char *armbert_version_string(void);
ARMBERT_API const char *armbert_status_string(armbert_status status);
/* Message of the last failure on this thread ("" when none). */
ARMBERT_API const char *armbert_last_error(void);
/* Bit (1 << armbert_backend) for each backend compiled into this build. */
ARMBERT_API uint32_t armbert_backends_compiled(void);
ARMBERT_API uint64_t armbert_cpu_features(void);
/* The host backend's ISA levels this CPU can run, lowest first, comma-separated
 * ("scalar,avx2,avxvnni,avx512vnni" on x86_64, "scalar" on aarch64). A host context
 * uses the last one, or the level named by the environment variable ARMBERT_ISA
 * when it is set (read at each armbert_context_create; a level this CPU cannot run
 * is ARMBERT_ERR_UNSUPPORTED, an unknown name ARMBERT_ERR_INVALID_ARGUMENT). */
ARMBERT_API const char *armbert_host_isa_levels(void);

/* ---- context: a backend, its threads and the cores they run on ----
 * Neither num_threads nor cores given (options NULL, or num_threads <= 0 and
 * num_cores 0): one thread per physical core of the fastest cluster among the
 * CPUs the process may run on (the largest cpu_capacity, else cpuinfo_max_freq;
 * SMT siblings once), each pinned to its core. num_threads alone: that many
 * threads, not pinned. cores alone: one thread per core, pinned. The calling
 * thread's affinity is restored after each op. */
typedef struct armbert_context_options {
    int32_t num_threads;     /* <= 0: one per core in `cores` (see above) */
    const int32_t *cores;    /* may be NULL: see above */
    int32_t num_cores;
    const char *cache_dir;   /* may be NULL: where CL keeps program caches / tuner files */
} armbert_context_options;

ARMBERT_API armbert_status armbert_context_create(armbert_backend backend,
                                                  const armbert_context_options *options,
                                                  armbert_context **out);
ARMBERT_API void armbert_context_destroy(armbert_context *ctx);
/* A human-readable description of the device behind the context (NUL-terminated,
 * truncated to `size`: a result of size - 1 characters may have been cut, so call
 * again with a larger buffer). */
ARMBERT_API armbert_status armbert_context_describe(const armbert_context *ctx, char *buffer,
                                                    size_t size);
/* Returns when all work queued on the context's device has finished. Host and NEON
 * ops return when their work is done, so there it returns at once; CL ops are
 * enqueued on the device's in-order command queue and return before the GPU is
 * done, so there it is the queue's finish (clFinish). Reads of a CL tensor wait
 * for the queue too; this is for timing, or for handing a device's time to
 * another stage. */
ARMBERT_API armbert_status armbert_context_synchronize(armbert_context *ctx);

/* ---- tensors: memory owned by a context's backend ---- */
ARMBERT_API armbert_status armbert_tensor_create(armbert_context *ctx, armbert_dtype dtype,
                                                 int32_t ndim, const int64_t *dims,
                                                 armbert_tensor **out);
ARMBERT_API void armbert_tensor_destroy(armbert_tensor *tensor);
/* Copy between host memory and the tensor; `bytes` must equal the tensor size.
 * For the CL backend this is the CPU<->GPU transfer. */
ARMBERT_API armbert_status armbert_tensor_write(armbert_tensor *tensor, const void *src,
                                                size_t bytes);
ARMBERT_API armbert_status armbert_tensor_read(const armbert_tensor *tensor, void *dst,
                                               size_t bytes);
/* Host-visible pointer for host/NEON tensors (zero copy); NULL for CL tensors. */
ARMBERT_API void *armbert_tensor_data(armbert_tensor *tensor);

/* ---- ops: common part ---- */
/* Fixes batch and seq for the following runs: configures backend functions and
 * sizes the workspace. Calling it again with the same shape is free. The same on
 * every backend: a reshape refused by its argument checks (batch or seq <= 0,
 * more than 2^24 tokens) changes nothing; one that fails while configuring (out
 * of memory, a configuration the backend rejects) leaves the op unconfigured, so
 * a run fails with ARMBERT_ERR_INVALID_ARGUMENT ("the last reshape failed") until
 * a reshape, to any shape, succeeds. */
ARMBERT_API armbert_status armbert_op_reshape(armbert_op *op, int32_t batch, int32_t seq);
ARMBERT_API void armbert_op_destroy(armbert_op *op);

/* ---- embeddings: word + position + token type, then layernorm ----
 * run: ids, type_ids: I32 [batch, seq] (type_ids may be NULL = all 0);
 * out: [batch*seq, hidden] in the activation dtype of `precision`.
 * Positions are 0..seq-1. Ids are checked (ARMBERT_ERR_OUT_OF_RANGE). */
typedef struct armbert_embeddings_desc {
    int32_t vocab_size, max_positions, type_vocab_size, hidden;
    float eps;
    armbert_precision precision; /* INT8 runs like FP32: tables stay float */
    const float *word;     /* [vocab_size, hidden] */
    const float *position; /* [max_positions, hidden] */
    const float *token_type; /* [type_vocab_size, hidden] */
    const float *gamma, *beta; /* [hidden] */
} armbert_embeddings_desc;
ARMBERT_API armbert_status armbert_embeddings_validate(armbert_context *ctx,
                                                       const armbert_embeddings_desc *desc);
ARMBERT_API armbert_status armbert_embeddings_create(armbert_context *ctx,
                                                     const armbert_embeddings_desc *desc,
                                                     armbert_op **out);
ARMBERT_API armbert_status armbert_embeddings_run(armbert_op *op, const armbert_tensor *ids,
                                                  const armbert_tensor *type_ids,
                                                  armbert_tensor *out);

/* ---- linear: y = act(x W^T + b) ----
 * run: x [rows, in_features], y [rows, out_features], rows = batch*seq
 * (or batch, when reshaped with seq = 1, as the pooler is).
 * FP32/FP16: `weight` is float [out, in]; FP16 stores it as fp16, accumulates in fp32.
 * INT8: `weight_i8` [out, in] symmetric per-output-channel with `weight_scale` [out]
 *   (any int8 values; where every pair along K keeps |w[n][2i]| + |w[n][2i+1]| <= 128,
 *   as armbert's quantizer makes them, an AVX2-only CPU runs a faster kernel, with the
 *   same results);
 *   x (F32) is first divided per input channel by `input_smooth` [in] when
 *   given (SmoothQuant: the caller multiplied the weight columns by it before
 *   quantizing them): x'_k = x_k * (1 / smooth_k). x' is quantized to int8
 *   with `input_scale` (> 0, static per-tensor from calibration; at least FLT_MIN,
 *   1.18e-38) or, when input_scale <= 0, with a dynamic per-row scale
 *   max(max|x'_row| / 127, FLT_MIN) (1 for a row of zeros);
 *   q = clamp(rint(x' * (1/scale)), -127, 127); int32 accumulation;
 *   y = float(acc) * (scale_x * weight_scale[n]) + b[n].
 *   Outlier channels (LLM.int8() decomposition): input channels listed in
 *   `outlier_channels` are left out of x' (treated as 0, so they do not
 *   inflate the scale) and computed in fp32 from `outlier_weight`
 *   [out, num_outliers] (their weight_i8 columns must be 0):
 *   y = float(acc) * (scale_x * weight_scale[n]) + sum_j x[o_j] * ow[n, j] + b[n]. */
typedef struct armbert_linear_desc {
    int32_t in_features, out_features;
    armbert_precision precision;
    armbert_activation activation;
    const float *weight;        /* FP32/FP16 */
    const int8_t *weight_i8;    /* INT8 */
    const float *weight_scale;  /* INT8: [out_features] */
    float input_scale;          /* INT8: > 0 static, <= 0 dynamic per row */
    const float *bias;          /* [out_features], may be NULL */
    const float *input_smooth;  /* INT8: [in_features] or NULL */
    const int32_t *outlier_channels; /* INT8: may be NULL */
    int32_t num_outliers;
    const float *outlier_weight;     /* INT8: [out_features, num_outliers] */
} armbert_linear_desc;
ARMBERT_API armbert_status armbert_linear_validate(armbert_context *ctx,
                                                   const armbert_linear_desc *desc);
ARMBERT_API armbert_status armbert_linear_create(armbert_context *ctx,
                                                 const armbert_linear_desc *desc,
                                                 armbert_op **out);
ARMBERT_API armbert_status armbert_linear_run(armbert_op *op, const armbert_tensor *x,
                                              armbert_tensor *y);

/* ---- softmax with additive mask over the last axis ----
 * run: x, y [batch, rows, seq]; mask F32 [batch, seq] (may be NULL), added to
 * every row of its batch before softmax. Scale multiplies x first. */
typedef struct armbert_softmax_desc {
    armbert_precision precision;
    float scale;
} armbert_softmax_desc;
ARMBERT_API armbert_status armbert_softmax_validate(armbert_context *ctx,
                                                    const armbert_softmax_desc *desc);
ARMBERT_API armbert_status armbert_softmax_create(armbert_context *ctx,
                                                  const armbert_softmax_desc *desc,
                                                  armbert_op **out);
/* Reshape with batch and seq; `rows` is taken from x at run time. */
ARMBERT_API armbert_status armbert_softmax_run(armbert_op *op, const armbert_tensor *x,
                                               const armbert_tensor *mask, armbert_tensor *y);

/* ---- multi-head self-attention core ----
 * run: qkv [batch*seq, 3*hidden] (Q | K | V, heads contiguous inside each),
 * mask F32 [batch, seq] additive (0 keep, large negative drop; may be NULL),
 * out [batch*seq, hidden] = merge_heads(softmax(Q K^T / sqrt(d) + mask) V). */
typedef struct armbert_attention_desc {
    int32_t hidden, heads;
    armbert_precision precision; /* INT8 runs the attention products in FP32 */
} armbert_attention_desc;
ARMBERT_API armbert_status armbert_attention_validate(armbert_context *ctx,
                                                      const armbert_attention_desc *desc);
ARMBERT_API armbert_status armbert_attention_create(armbert_context *ctx,
                                                    const armbert_attention_desc *desc,
                                                    armbert_op **out);
ARMBERT_API armbert_status armbert_attention_run(armbert_op *op, const armbert_tensor *qkv,
                                                 const armbert_tensor *mask,
                                                 armbert_tensor *out);

/* ---- layernorm over the last axis, optionally of (x + residual) ----
 * run: x, y [rows, hidden]; residual may be NULL. Statistics in fp32. */
typedef struct armbert_layernorm_desc {
    int32_t hidden;
    float eps;
    armbert_precision precision;
    const float *gamma, *beta;
} armbert_layernorm_desc;
ARMBERT_API armbert_status armbert_layernorm_validate(armbert_context *ctx,
                                                      const armbert_layernorm_desc *desc);
ARMBERT_API armbert_status armbert_layernorm_create(armbert_context *ctx,
                                                    const armbert_layernorm_desc *desc,
                                                    armbert_op **out);
ARMBERT_API armbert_status armbert_layernorm_run(armbert_op *op, const armbert_tensor *x,
                                                 const armbert_tensor *residual,
                                                 armbert_tensor *y);

/* ---- elementwise: GELU (erf form) and residual add, any shape ---- */
typedef struct armbert_eltwise_desc {
    armbert_precision precision;
} armbert_eltwise_desc;
ARMBERT_API armbert_status armbert_gelu_validate(armbert_context *ctx,
                                                 const armbert_eltwise_desc *desc);
ARMBERT_API armbert_status armbert_gelu_create(armbert_context *ctx,
                                               const armbert_eltwise_desc *desc,
                                               armbert_op **out);
ARMBERT_API armbert_status armbert_gelu_run(armbert_op *op, const armbert_tensor *x,
                                            armbert_tensor *y);
ARMBERT_API armbert_status armbert_add_validate(armbert_context *ctx,
                                                const armbert_eltwise_desc *desc);
ARMBERT_API armbert_status armbert_add_create(armbert_context *ctx,
                                              const armbert_eltwise_desc *desc,
                                              armbert_op **out);
ARMBERT_API armbert_status armbert_add_run(armbert_op *op, const armbert_tensor *a,
                                           const armbert_tensor *b, armbert_tensor *y);

/* ---- pooling over the sequence: one vector per batch row ----
 * As sentence-transformers' Pooling (and Normalize when normalize != 0).
 * run: x [batch*seq, hidden]; mask F32 [batch, seq] additive as attention's
 * (0 keeps a token, a negative value drops it; NULL keeps every token);
 * y [batch, hidden]. x and y hold the precision's activation dtype.
 *   MEAN: sum of kept rows / max(count, 1e-9) (no kept token gives zeros)
 *   CLS: the first token's row
 *   MAX: elementwise max over the sequence, dropped tokens counting as -1e9
 *   MEAN_SQRT_LEN: sum of kept rows / sqrt(max(count, 1e-9))
 * normalize: then v / max(||v||_2, 1e-12). Accumulation in fp32.
 * Backends: host (NEON and CL answer UNSUPPORTED; the engine pools on the host). */
typedef enum armbert_pooling {
    ARMBERT_POOL_MEAN = 0,
    ARMBERT_POOL_CLS = 1,
    ARMBERT_POOL_MAX = 2,
    ARMBERT_POOL_MEAN_SQRT_LEN = 3
} armbert_pooling;
typedef struct armbert_pool_desc {
    int32_t hidden;
    armbert_pooling mode;
    int32_t normalize;
    armbert_precision precision;
} armbert_pool_desc;
ARMBERT_API armbert_status armbert_pool_validate(armbert_context *ctx,
                                                 const armbert_pool_desc *desc);
ARMBERT_API armbert_status armbert_pool_create(armbert_context *ctx,
                                               const armbert_pool_desc *desc,
                                               armbert_op **out);
ARMBERT_API armbert_status armbert_pool_run(armbert_op *op, const armbert_tensor *x,
                                            const armbert_tensor *mask, armbert_tensor *y);

/* ARMBERT_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* ARMBERT_H */
