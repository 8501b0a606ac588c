// What every ACL-backed op shares: ACL tensors that borrow armbert's host
// memory (configured once per shape, re-pointed before each run), and ACL
// Status turned into armbert errors so no ACL failure escapes as an abort.
#pragma once
#include <memory>
#include <string>

#include "arm_compute/core/Error.h"
#include "arm_compute/core/TensorInfo.h"
#include "arm_compute/core/Types.h"
#include "arm_compute/runtime/Tensor.h"

#include "../core/error.h"

namespace armbert::neon {

// validate() before every configure(): an unsupported configuration becomes
// ARMBERT_ERR_UNSUPPORTED with ACL's reason instead of an ACL assert.
inline void check_valid(const arm_compute::Status &s, const std::string &what) {
    if (!bool(s))
        fail(ARMBERT_ERR_UNSUPPORTED, "ACL " + what + " rejects this configuration: " +
                                          s.error_description());
}

// Row-major [rows, cols] is ACL's TensorShape(cols, rows): dimension 0 is
// the contiguous one.
inline arm_compute::TensorInfo info_2d(int64_t rows, int64_t cols,
                                       arm_compute::DataType dt = arm_compute::DataType::F32,
                                       arm_compute::QuantizationInfo q = {}) {
    return arm_compute::TensorInfo(arm_compute::TensorShape(size_t(cols), size_t(rows)), 1, dt,
                                   q);
}

// An ACL tensor over memory that armbert owns. init() describes it (before
// configure); bind() points it at this run's buffer. Imported memory has no
// padding, so configure must not ask for any (checked by expect_dense).
struct Borrowed {
    arm_compute::Tensor t;
    void init(const arm_compute::TensorInfo &info) {
        t.allocator()->free();
        t.allocator()->init(info);
    }
    void bind(const void *p) {
        arm_compute::Status s = t.allocator()->import_memory(const_cast<void *>(p));
        if (!bool(s)) fail(ARMBERT_ERR_BACKEND, "ACL import_memory: " + s.error_description());
    }
    void expect_dense(const char *what) const {
        if (!t.info()->padding().empty())
            fail(ARMBERT_ERR_BACKEND,
                 std::string("ACL asked for padding on ") + what +
                     ", which borrowed armbert memory cannot have");
    }
    arm_compute::Tensor *operator->() { return &t; }
    arm_compute::Tensor *get() { return &t; }
    const arm_compute::ITensorInfo *info() const { return t.info(); }
};

// An ACL function of an op, configured by on_reshape. A failed reshape leaves
// it empty (ops reset their functions first), and running it then is an
// error rather than a run with half-updated tensor infos.
template <typename F> F &configured(const std::unique_ptr<F> &fn, const char *op) {
    if (!fn)
        fail(ARMBERT_ERR_INVALID_ARGUMENT,
             std::string(op) + ": the last reshape failed; reshape again before run");
    return *fn;
}

}  // namespace armbert::neon
