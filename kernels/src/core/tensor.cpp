#include "tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "context.h"
#include "error.h"

size_t armbert_tensor::bytes() const { return size_t(numel) * armbert::dtype_size(dtype); }

std::string armbert_tensor::shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "] " + armbert::dtype_name(dtype);
}

void armbert_tensor::require_whole(size_t nbytes, const char *what, const char *verb) const {
    ARMBERT_REQUIRE(nbytes == bytes(), ARMBERT_ERR_SHAPE,
                    std::string(what) + ": " + std::to_string(nbytes) + " bytes " + verb +
                        ", tensor " + shape_string() + " holds " + std::to_string(bytes()));
}

void armbert_tensor::write(const void *src, size_t nbytes) {
    require_whole(nbytes, "tensor_write", "given");
    std::memcpy(host(), src, nbytes);
}

void armbert_tensor::read(void *dst, size_t nbytes) const {
    require_whole(nbytes, "tensor_read", "asked");
    std::memcpy(dst, host(), nbytes);
}

namespace armbert {

size_t dtype_size(armbert_dtype dtype) {
    switch (dtype) {
    case ARMBERT_F32: return 4;
    case ARMBERT_F16: return 2;
    case ARMBERT_I8: return 1;
    case ARMBERT_I32: return 4;
    }
    fail(ARMBERT_ERR_INVALID_ARGUMENT, "unknown dtype " + std::to_string(int(dtype)));
}

const char *dtype_name(armbert_dtype dtype) {
    switch (dtype) {
    case ARMBERT_F32: return "f32";
    case ARMBERT_F16: return "f16";
    case ARMBERT_I8: return "i8";
    case ARMBERT_I32: return "i32";
    }
    return "?";
}

HostTensor::~HostTensor() { std::free(data); }

HostTensor *new_host_tensor(armbert_context *ctx, armbert_dtype dtype,
                            const std::vector<int64_t> &dims) {
    auto *t = new HostTensor();
    t->ctx = ctx;
    t->dtype = dtype;
    t->dims = dims;
    t->numel = 1;
    for (int64_t d : dims) t->numel *= d;
    size_t n = (t->bytes() + 63) / 64 * 64;  // 64-byte lines for SIMD loads
    t->data = std::aligned_alloc(64, n ? n : 64);
    if (!t->data) {
        delete t;
        throw std::bad_alloc();
    }
    return t;
}

void check_tensor(const armbert_tensor *t, const char *name, const armbert_context *ctx,
                  armbert_dtype dtype, int64_t rows, int64_t features) {
    ARMBERT_REQUIRE(t != nullptr, ARMBERT_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    ARMBERT_REQUIRE(t->ctx == ctx, ARMBERT_ERR_INVALID_ARGUMENT,
                    std::string(name) + " belongs to another context (backend " +
                        backend_name(t->ctx->backend) + ", op's is " + backend_name(ctx->backend) +
                        "): copy it across first");
    ARMBERT_REQUIRE(t->dtype == dtype, ARMBERT_ERR_SHAPE,
                    std::string(name) + " has dtype " + dtype_name(t->dtype) + ", expected " +
                        dtype_name(dtype));
    ARMBERT_REQUIRE(t->last_dim() == features && t->numel == rows * features, ARMBERT_ERR_SHAPE,
                    std::string(name) + " has shape " + t->shape_string() + ", expected " +
                        std::to_string(rows) + " rows of " + std::to_string(features));
}

}  // namespace armbert
