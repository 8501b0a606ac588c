// The C ABI. Every exported function runs its body inside guard(), which
// turns any C++ exception into a status and a per-thread message: nothing
// thrown inside the library reaches the caller.
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "armbert.h"
#include "context.h"
#include "cpu_features.h"
#include "error.h"
#include "host/isa.h"
#include "op.h"
#include "tensor.h"
#include "topology.h"

using namespace armbert;

namespace {

thread_local std::string g_last_error;

template <typename F> armbert_status guard(const char *fn, F &&body) {
    try {
        g_last_error.clear();
        body();
        return ARMBERT_OK;
    } catch (const Error &e) {
        g_last_error = std::string(fn) + ": " + e.what();
        return e.status;
    } catch (const std::bad_alloc &) {
        g_last_error = std::string(fn) + ": out of memory";
        return ARMBERT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        // ACL throws std::runtime_error for its own failures.
        g_last_error = std::string(fn) + ": backend failure: " + e.what();
        return ARMBERT_ERR_BACKEND;
    } catch (...) {
        g_last_error = std::string(fn) + ": unknown C++ exception";
        return ARMBERT_ERR_INTERNAL;
    }
}

// An op's run, under its mutex (see armbert_op::mu), inside guard().
template <typename T, typename... Args>
armbert_status run(const char *fn, armbert_op *op, Args... args) {
    return guard(fn, [&] {
        T *t = op_cast<T>(op);
        std::lock_guard<std::mutex> lock(t->mu);
        t->run(args...);
    });
}

Backend &backend_of(armbert_context *ctx) {
    ARMBERT_REQUIRE(ctx != nullptr && ctx->impl != nullptr, ARMBERT_ERR_INVALID_ARGUMENT,
                    "context is NULL");
    return *ctx->impl;
}

// validate/create share this: the descriptor checks, then the backend's table
// entry for (op, precision) and its supports() answer.
template <typename Desc>
const OpEntry<Desc> &entry(armbert_context *ctx, const Desc *desc,
                           OpEntries<Desc> OpTable::*field, const char *component) {
    Backend &b = backend_of(ctx);
    ARMBERT_REQUIRE(desc != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "descriptor is NULL");
    check_desc(*desc);  // includes a known precision: the index below is in range
    const OpEntry<Desc> &e = (b.ops.*field)[size_t(desc->precision)];
    if (!e.make)
        fail(ARMBERT_ERR_UNSUPPORTED, std::string(component) + " in " +
                                          precision_name(desc->precision) +
                                          " is not implemented on the " +
                                          backend_name(ctx->backend) + " backend");
    if (e.supports) e.supports(*desc, component);
    return e;
}

template <typename Desc>
void create(armbert_context *ctx, const Desc *desc, armbert_op **out,
            OpEntries<Desc> OpTable::*field, const char *component) {
    const OpEntry<Desc> &e = entry(ctx, desc, field, component);
    ARMBERT_REQUIRE(out != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "out pointer is NULL");
    armbert_op *op = e.make(*desc);
    op->ctx = ctx;
    retain(ctx);
    *out = op;
}

}  // namespace

extern "C" {

uint32_t armbert_abi_version(void) { return ARMBERT_ABI_VERSION; }
const char *armbert_version_string(void) { return "armbert 0.1.0"; }

const char *armbert_status_string(armbert_status status) {
    switch (status) {
    case ARMBERT_OK: return "ok";
    case ARMBERT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case ARMBERT_ERR_SHAPE: return "shape mismatch";
    case ARMBERT_ERR_OUT_OF_RANGE: return "out of range";
    case ARMBERT_ERR_UNSUPPORTED: return "unsupported";
    case ARMBERT_ERR_OUT_OF_MEMORY: return "out of memory";
    case ARMBERT_ERR_BACKEND: return "backend failure";
    case ARMBERT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *armbert_last_error(void) { return g_last_error.c_str(); }
uint32_t armbert_backends_compiled(void) { return backends_compiled(); }
uint64_t armbert_cpu_features(void) { return cpu_features(); }

const char *armbert_host_isa_levels(void) {
    try {
        return host::supported_isa_list().c_str();
    } catch (...) {  // only bad_alloc building the string once: no exception crosses the ABI
        return "scalar";
    }
}

armbert_status armbert_context_create(armbert_backend backend,
                                      const armbert_context_options *options,
                                      armbert_context **out) {
    return guard("armbert_context_create", [&] {
        ARMBERT_REQUIRE(out != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "out pointer is NULL");
        auto ctx = std::make_unique<armbert_context>();
        ctx->backend = backend;
        if (options) {
            ARMBERT_REQUIRE(options->num_cores >= 0 && (options->num_cores == 0 || options->cores),
                            ARMBERT_ERR_INVALID_ARGUMENT, "cores is NULL but num_cores > 0");
            for (int32_t i = 0; i < options->num_cores; ++i) {
                int c = options->cores[i];
                ARMBERT_REQUIRE(c >= 0 && c < online_cpus(), ARMBERT_ERR_INVALID_ARGUMENT,
                                "core " + std::to_string(c) + " does not exist (this machine has " +
                                    std::to_string(online_cpus()) + " cores)");
                ctx->cores.push_back(c);
            }
            if (options->cache_dir) ctx->cache_dir = options->cache_dir;
        }
        int threads = options ? options->num_threads : 0;
        // Each thread gets scratch rows per op: an absurd count is refused, not allocated.
        ARMBERT_REQUIRE(threads <= kMaxThreadsPerCpu * online_cpus(), ARMBERT_ERR_INVALID_ARGUMENT,
                        "num_threads " + std::to_string(threads) + " is more than " +
                            std::to_string(kMaxThreadsPerCpu) + " per online core (" +
                            std::to_string(online_cpus()) + " cores)");
        if (threads <= 0) {
            // Nothing asked: one pinned thread per physical core of the fastest
            // cluster (core/topology.h); a core list alone: one thread per core.
            if (ctx->cores.empty()) ctx->cores = default_cores();
            threads = int(ctx->cores.size());
        }
        ctx->threads = threads;
        ctx->impl = make_backend(ctx.get());
        *out = ctx.release();
    });
}

void armbert_context_destroy(armbert_context *ctx) { release(ctx); }

armbert_status armbert_context_describe(const armbert_context *ctx, char *buffer, size_t size) {
    return guard("armbert_context_describe", [&] {
        ARMBERT_REQUIRE(ctx && buffer && size > 0, ARMBERT_ERR_INVALID_ARGUMENT,
                        "context and buffer must be non-NULL");
        std::string s = std::string(backend_name(ctx->backend)) + ": " + ctx->impl->describe() +
                        "; threads=" + std::to_string(ctx->threads);
        if (!ctx->cores.empty()) {
            s += "; cores=";
            for (size_t i = 0; i < ctx->cores.size(); ++i)
                s += (i ? "," : "") + std::to_string(ctx->cores[i]);
        }
        std::strncpy(buffer, s.c_str(), size - 1);
        buffer[size - 1] = '\0';
    });
}

armbert_status armbert_context_synchronize(armbert_context *ctx) {
    return guard("armbert_context_synchronize", [&] { backend_of(ctx).synchronize(); });
}

armbert_status armbert_tensor_create(armbert_context *ctx, armbert_dtype dtype, int32_t ndim,
                                     const int64_t *dims, armbert_tensor **out) {
    return guard("armbert_tensor_create", [&] {
        Backend &b = backend_of(ctx);
        ARMBERT_REQUIRE(ndim >= 1 && ndim <= 8 && dims != nullptr, ARMBERT_ERR_SHAPE,
                        "a tensor needs 1 to 8 dims");
        dtype_size(dtype);  // rejects unknown dtypes
        std::vector<int64_t> d(dims, dims + ndim);
        int64_t n = 1;
        for (int64_t v : d) {
            ARMBERT_REQUIRE(v > 0 && v < (int64_t(1) << 40) / n, ARMBERT_ERR_SHAPE,
                            "tensor dims must be > 0 and their product < 2^40");
            n *= v;
        }
        ARMBERT_REQUIRE(out != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "out pointer is NULL");
        *out = b.new_tensor(ctx, dtype, d);
        retain(ctx);
    });
}

void armbert_tensor_destroy(armbert_tensor *tensor) {
    if (!tensor) return;
    armbert_context *ctx = tensor->ctx;
    delete tensor;
    release(ctx);
}

armbert_status armbert_tensor_write(armbert_tensor *tensor, const void *src, size_t bytes) {
    return guard("armbert_tensor_write", [&] {
        ARMBERT_REQUIRE(tensor && src, ARMBERT_ERR_INVALID_ARGUMENT,
                        "tensor and src must be non-NULL");
        tensor->write(src, bytes);
    });
}

armbert_status armbert_tensor_read(const armbert_tensor *tensor, void *dst, size_t bytes) {
    return guard("armbert_tensor_read", [&] {
        ARMBERT_REQUIRE(tensor && dst, ARMBERT_ERR_INVALID_ARGUMENT,
                        "tensor and dst must be non-NULL");
        tensor->read(dst, bytes);
    });
}

void *armbert_tensor_data(armbert_tensor *tensor) { return tensor ? tensor->host() : nullptr; }

armbert_status armbert_op_reshape(armbert_op *op, int32_t batch, int32_t seq) {
    return guard("armbert_op_reshape", [&] {
        ARMBERT_REQUIRE(op != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, "op is NULL");
        std::lock_guard<std::mutex> lock(op->mu);
        op->reshape(batch, seq);
    });
}

void armbert_op_destroy(armbert_op *op) {
    if (!op) return;
    armbert_context *ctx = op->ctx;
    delete op;
    release(ctx);
}

// validate and create of one op: its table field in OpTable is its name.
#define ARMBERT_COMPONENT(name, Desc)                                                         \
    armbert_status armbert_##name##_validate(armbert_context *ctx, const Desc *desc) {        \
        return guard("armbert_" #name "_validate",                                            \
                     [&] { entry(ctx, desc, &OpTable::name, #name); });                        \
    }                                                                                          \
    armbert_status armbert_##name##_create(armbert_context *ctx, const Desc *desc,            \
                                           armbert_op **out) {                                 \
        return guard("armbert_" #name "_create",                                              \
                     [&] { create(ctx, desc, out, &OpTable::name, #name); });                  \
    }

ARMBERT_COMPONENT(embeddings, armbert_embeddings_desc)
ARMBERT_COMPONENT(linear, armbert_linear_desc)
ARMBERT_COMPONENT(softmax, armbert_softmax_desc)
ARMBERT_COMPONENT(attention, armbert_attention_desc)
ARMBERT_COMPONENT(layernorm, armbert_layernorm_desc)
ARMBERT_COMPONENT(gelu, armbert_eltwise_desc)
ARMBERT_COMPONENT(add, armbert_eltwise_desc)
ARMBERT_COMPONENT(pool, armbert_pool_desc)
#undef ARMBERT_COMPONENT

armbert_status armbert_embeddings_run(armbert_op *op, const armbert_tensor *ids,
                                      const armbert_tensor *type_ids, armbert_tensor *out) {
    return run<EmbeddingsOp>("armbert_embeddings_run", op, ids, type_ids, out);
}
armbert_status armbert_linear_run(armbert_op *op, const armbert_tensor *x, armbert_tensor *y) {
    return run<LinearOp>("armbert_linear_run", op, x, y);
}
armbert_status armbert_softmax_run(armbert_op *op, const armbert_tensor *x,
                                   const armbert_tensor *mask, armbert_tensor *y) {
    return run<SoftmaxOp>("armbert_softmax_run", op, x, mask, y);
}
armbert_status armbert_attention_run(armbert_op *op, const armbert_tensor *qkv,
                                     const armbert_tensor *mask, armbert_tensor *out) {
    return run<AttentionOp>("armbert_attention_run", op, qkv, mask, out);
}
armbert_status armbert_layernorm_run(armbert_op *op, const armbert_tensor *x,
                                     const armbert_tensor *residual, armbert_tensor *y) {
    return run<LayerNormOp>("armbert_layernorm_run", op, x, residual, y);
}
armbert_status armbert_gelu_run(armbert_op *op, const armbert_tensor *x, armbert_tensor *y) {
    return run<GeluOp>("armbert_gelu_run", op, x, y);
}
armbert_status armbert_add_run(armbert_op *op, const armbert_tensor *a, const armbert_tensor *b,
                               armbert_tensor *y) {
    return run<AddOp>("armbert_add_run", op, a, b, y);
}
armbert_status armbert_pool_run(armbert_op *op, const armbert_tensor *x,
                                const armbert_tensor *mask, armbert_tensor *y) {
    return run<PoolOp>("armbert_pool_run", op, x, mask, y);
}

}  // extern "C"
