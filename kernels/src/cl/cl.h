// The ACL OpenCL backend: what its component files share.
//
// Memory: a CL context's F32/F16/I8 tensors are OpenCL buffers (ClTensor, no host
// view; write/read are the CPU<->GPU copies). I32 tensors are host memory: the
// ABI's only I32 tensors are token ids, which core checks on the host and the
// embeddings gather reads there.
//
// ACL functions bind ITensor pointers at configure time while armbert hands ops
// new tensors on every run, so each op configures its ACL functions on Views
// (CLTensors with the configured shape and no memory of their own) and imports
// the caller's buffers into them for the duration of one run (Binding).
//
// Glue that ACL has no function for (per-row int8 quantization, the int8
// dequantizing epilogue, head split/merge, scale+mask, F16<->F32 conversion,
// the fp16-storage/fp32-accumulation GEMM) is OpenCL C of our own, in one
// program (kernels_source.h) built through ACL's CLCompileContext so that it
// shares ACL's program cache.
#pragma once
#include <arm_compute/core/CL/OpenCL.h>
#include <arm_compute/core/Error.h>
#include <arm_compute/runtime/CL/CLTensor.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/op.h"
#include "../core/tensor.h"

namespace armbert::opencl {

// ---- process-wide OpenCL state (backend.cpp) ----
// Initialises ACL's CLScheduler once per process (tuner from ARMBERT_CL_TUNER,
// program cache restored from the cache dir); throws Unsupported without OpenCL.
void init_runtime(const armbert_context &ctx);
bool fp16_available();
// The device's CL_DEVICE_GLOBAL_MEM_SIZE and CL_DEVICE_MAX_MEM_ALLOC_SIZE.
double device_memory_bytes();
double device_max_alloc_bytes();
// Fails with OutOfMemory before an op configures for a shape whose largest
// buffer or whole workspace cannot be allocated on the device (common/workspace.h).
void require_device_memory(const char *what, double largest_buffer, double total);
cl::CommandQueue &queue();

// ---- tensors ----
struct ClTensor : armbert_tensor {
    cl::Buffer buf;
    void *host() override { return nullptr; }
    void write(const void *src, size_t nbytes) override;
    void read(void *dst, size_t nbytes) const override;
};
ClTensor *new_cl_tensor(armbert_context *ctx, armbert_dtype dtype,
                        const std::vector<int64_t> &dims);
// The buffer behind an op argument (core has checked context and dtype).
const cl::Buffer &buffer_of(const armbert_tensor *t);

arm_compute::DataType acl_type(armbert_dtype dtype);

// An ACL tensor without memory of its own: ACL functions are configured on it,
// a Binding imports the caller's buffer into it for one run.
struct View {
    arm_compute::CLTensor t;
    View() = default;
    View(const arm_compute::TensorShape &shape, arm_compute::DataType dt) { init(shape, dt); }
    void init(const arm_compute::TensorShape &shape, arm_compute::DataType dt);
};

// Imports buffers into views; releases them when it goes out of scope.
class Binding {
  public:
    Binding() = default;
    Binding(const Binding &) = delete;
    Binding &operator=(const Binding &) = delete;
    ~Binding();
    void bind(View &v, const cl::Buffer &b);
    void bind(View &v, const armbert_tensor *t) { bind(v, buffer_of(t)); }

  private:
    std::vector<View *> bound_;
};

// A device buffer owned by an op (weights, workspace): allocated at once.
void allocate(arm_compute::CLTensor &t, const arm_compute::TensorShape &shape,
              arm_compute::DataType dt,
              arm_compute::QuantizationInfo q = arm_compute::QuantizationInfo());
void upload(arm_compute::CLTensor &t, const void *src, size_t nbytes);
// A GEMM's B matrix [rows, cols] (TensorShape(cols, rows)) with 16 zero elements
// of padding right and below: some of ACL's GEMM kernels read whole blocks of up
// to 16 x 16 from B, and B's padding must exist before it is filled, whatever
// configuration a later reshape picks.
void allocate_gemm_rhs(arm_compute::CLTensor &t, int rows, int cols, arm_compute::DataType dt,
                       const void *src,
                       arm_compute::QuantizationInfo q = arm_compute::QuantizationInfo());
// Throws Internal when ACL padded a tensor that our kernels index densely.
void require_dense(const arm_compute::ITensor &t, const char *what);

// ACL Status -> armbert error (Unsupported: ACL cannot run this configuration).
void check(const arm_compute::Status &s, const std::string &what);

// An op's configuration, made by on_reshape. Ops drop it first there, so a failed
// reshape leaves none, and running then is an error, not a null dereference (core
// refuses that run first: armbert_op::reshape_failed; this is the backend's own
// guard, as NEON's configured() in neon/acl.h).
template <typename C> C &configured(const std::unique_ptr<C> &cfg, const char *op) {
    if (!cfg)
        fail(ARMBERT_ERR_INVALID_ARGUMENT,
             std::string(op) + ": the last reshape failed; reshape again before run");
    return *cfg;
}

// ---- our OpenCL C kernels (kernels.cpp) ----
// A kernel object of our program, owned by one op (argument setting is not
// thread-safe, so ops do not share them).
struct Kernel {
    cl::Kernel k;
    explicit Kernel(const char *name = nullptr);
    template <typename... A> void operator()(const cl::NDRange &global, const A &...args) {
        set_args(0, args...);
        enqueue(global, cl::NullRange);
    }
    template <typename... A>
    void local(const cl::NDRange &global, const cl::NDRange &lws, const A &...args) {
        set_args(0, args...);
        enqueue(global, lws);
    }
    size_t max_work_group_size() const;

  private:
    void set_args(cl_uint) {}
    template <typename T, typename... A> void set_args(cl_uint i, const T &a, const A &...rest) {
        k.setArg(i, a);
        set_args(i + 1, rest...);
    }
    void enqueue(const cl::NDRange &global, const cl::NDRange &lws);
};
// A 16-byte buffer passed where an optional argument is absent.
const cl::Buffer &dummy_buffer();
// Local size of the quantization kernel's row reduction (kernels_source.h).
constexpr int kQuantizeGroup = 64;

enum Act : cl_int { kActNone = 0, kActGelu = 1, kActTanh = 2 };
inline cl_int act_code(armbert_activation a) {
    return a == ARMBERT_ACTIVATION_GELU ? kActGelu : a == ARMBERT_ACTIVATION_TANH ? kActTanh : kActNone;
}

// ---- layer normalization of F32 rows (layernorm.cpp; embeddings use it too) ----
// dst = normalize(src) * gamma + beta, rows x hidden, with ACL's
// CLMeanStdDevNormalizationLayer, CLPixelWiseMultiplication and
// CLArithmeticAddition (broadcast over rows). src and dst are F32 views.
class RowNorm {
  public:
    RowNorm(const float *gamma, const float *beta, int hidden, float eps);
    ~RowNorm();
    RowNorm(const RowNorm &) = delete;
    RowNorm &operator=(const RowNorm &) = delete;
    // Configures for `rows`; src/dst are views the caller binds before run().
    void configure(View &src, View &dst, int64_t rows);
    void run();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- components ----
EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d);
LinearOp *new_linear(const armbert_linear_desc &d);
SoftmaxOp *new_softmax(const armbert_softmax_desc &d);
AttentionOp *new_attention(const armbert_attention_desc &d);
LayerNormOp *new_layernorm(const armbert_layernorm_desc &d);
GeluOp *new_gelu(const armbert_eltwise_desc &d);
AddOp *new_add(const armbert_eltwise_desc &d);

}  // namespace armbert::opencl
