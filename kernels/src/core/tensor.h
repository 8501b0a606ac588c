// armbert_tensor: dtype + dims + storage owned by one context's backend.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "armbert.h"

struct armbert_tensor {
    armbert_context *ctx = nullptr;
    armbert_dtype dtype = ARMBERT_F32;
    std::vector<int64_t> dims;
    int64_t numel = 0;

    virtual ~armbert_tensor() = default;
    size_t bytes() const;
    // Host-visible memory, or nullptr when the tensor lives on a device.
    virtual void *host() = 0;
    const void *host() const { return const_cast<armbert_tensor *>(this)->host(); }
    virtual void write(const void *src, size_t nbytes);
    virtual void read(void *dst, size_t nbytes) const;

    int64_t last_dim() const { return dims.empty() ? 1 : dims.back(); }
    std::string shape_string() const;
    // write/read copy the whole tensor: throws ARMBERT_ERR_SHAPE unless nbytes is
    // its size ("tensor_write: 12 bytes given, tensor [2, 3] f32 holds 24").
    void require_whole(size_t nbytes, const char *what, const char *verb) const;
};

namespace armbert {

size_t dtype_size(armbert_dtype dtype);
const char *dtype_name(armbert_dtype dtype);

// A tensor in plain host memory (host and NEON backends).
struct HostTensor : armbert_tensor {
    void *data = nullptr;
    ~HostTensor() override;
    void *host() override { return data; }
};
HostTensor *new_host_tensor(armbert_context *ctx, armbert_dtype dtype,
                            const std::vector<int64_t> &dims);

// Checks an op argument: right context and dtype, last dim == features and
// numel == rows * features. `name` appears in the error message.
void check_tensor(const armbert_tensor *t, const char *name, const armbert_context *ctx,
                  armbert_dtype dtype, int64_t rows, int64_t features);

template <typename T> T *data_of(armbert_tensor *t) { return static_cast<T *>(t->host()); }
template <typename T> const T *data_of(const armbert_tensor *t) {
    return static_cast<const T *>(t->host());
}

}  // namespace armbert
