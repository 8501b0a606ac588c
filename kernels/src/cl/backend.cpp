// The ACL OpenCL backend: process-wide OpenCL state, device tensors, and the
// Backend that builds this directory's ops.
//
// ACL keeps one CLScheduler (context, queue, tuner) per process, so it is set up
// once, by the first CL context: ARMBERT_CL_TUNER=none|rapid|normal|exhaustive
// picks ACL's CLTuner mode (default none), and ACL's compiled-program cache and
// the tuner's table are restored from, and saved to, <cache dir>/cl/, the cache dir
// being the context's cache_dir, else $ARMBERT_CACHE_DIR, else ~/.cache/armbert.
// Files are keyed by device, driver and ACL build, and saved when a context is
// destroyed and at exit whenever something new was compiled or tuned.
#include <arm_compute/core/CL/CLHelpers.h>
#include <arm_compute/core/CL/CLKernelLibrary.h>
#include <arm_compute/core/GPUTarget.h>
#include <arm_compute/core/Version.h>
#include <arm_compute/runtime/CL/CLScheduler.h>
#include <arm_compute/runtime/CL/CLTuner.h>
#include <arm_compute/runtime/CL/Utils.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <unistd.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../common/hash.h"
#include "../common/workspace.h"
#include "cl.h"

namespace armbert {
namespace opencl {
namespace {

namespace fs = std::filesystem;
using arm_compute::CLKernelLibrary;
using arm_compute::CLScheduler;

struct Runtime {
    std::mutex mu;
    bool ready = false;
    bool fp16 = false;
    std::string device;       // "Mali-G76 (ARM)"
    std::string description;  // describe()'s text
    std::string tuner_mode = "none";
    std::unique_ptr<arm_compute::CLTuner> tuner;
    std::string program_file, tuner_file;  // empty: not persisted
    size_t programs_saved = 0;
    size_t tunings_saved = 0;
};

// Never destroyed: the exit handler and late context destructors may use it.
Runtime &rt() {
    static Runtime *r = new Runtime();
    return *r;
}

std::string cache_root(const armbert_context &ctx) {
    if (!ctx.cache_dir.empty()) return ctx.cache_dir;
    if (const char *e = std::getenv("ARMBERT_CACHE_DIR"); e && *e) return e;
    if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/armbert";
    if (const char *h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/armbert";
    return "";
}

arm_compute::CLTunerMode parse_tuner(const std::string &mode) {
    if (mode == "rapid") return arm_compute::CLTunerMode::RAPID;
    if (mode == "normal") return arm_compute::CLTunerMode::NORMAL;
    if (mode == "exhaustive") return arm_compute::CLTunerMode::EXHAUSTIVE;
    fail(ARMBERT_ERR_INVALID_ARGUMENT,
         "ARMBERT_CL_TUNER=" + mode + ": choose none, rapid, normal or exhaustive");
}

// Writes through a temporary file so a reader never sees half a cache.
template <typename Save> void save_atomically(const std::string &path, Save save) {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    try {
        save(tmp);
        fs::rename(tmp, path);
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
    }
}

void save_caches() {
    Runtime &r = rt();
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.ready) return;
    const size_t programs = CLKernelLibrary::get().get_built_programs().size();
    if (!r.program_file.empty() && programs != r.programs_saved) {
        save_atomically(r.program_file,
                        [](const std::string &p) { arm_compute::save_program_cache_to_file(p); });
        r.programs_saved = programs;
    }
    if (r.tuner && !r.tuner_file.empty() && r.tuner->tuning_params_table().size() != r.tunings_saved) {
        save_atomically(r.tuner_file, [&](const std::string &p) { r.tuner->save_to_file(p); });
        r.tunings_saved = r.tuner->tuning_params_table().size();
    }
}

void at_exit() {
    try {
        save_caches();
    } catch (...) {
    }
}

std::string gpu_target_text(const std::string &device_name) {
    using namespace arm_compute;
    const GPUTarget target = CLScheduler::get().target();
    if (device_name.find("Mali") == std::string::npos)
        return "not a Mali GPU (ACL uses its " + string_from_target(target) + " defaults)";
    return "ACL target " + string_from_target(target) + " (" +
           string_from_target(get_arch_from_target(target)) + ")";
}

void init_locked(Runtime &r, const armbert_context &ctx) {
    if (!arm_compute::opencl_is_available())
        fail(ARMBERT_ERR_UNSUPPORTED,
             "cl: no OpenCL library could be loaded (libOpenCL.so); the CL backend needs the "
             "GPU's OpenCL driver");
    const char *mode = std::getenv("ARMBERT_CL_TUNER");
    r.tuner_mode = mode && *mode ? mode : "none";
    if (r.tuner_mode != "none") {
        arm_compute::CLTuningInfo info;
        info.tuner_mode = parse_tuner(r.tuner_mode);
        r.tuner = std::make_unique<arm_compute::CLTuner>(true, info);
    }
    try {
        if (!CLScheduler::get().is_initialised()) CLScheduler::get().default_init(r.tuner.get());
    } catch (const cl::Error &e) {
        fail(ARMBERT_ERR_UNSUPPORTED, std::string("cl: no usable OpenCL device (") + e.what() +
                                          ", error " + std::to_string(e.err()) + ")");
    } catch (const std::exception &e) {
        fail(ARMBERT_ERR_UNSUPPORTED, std::string("cl: no usable OpenCL device: ") + e.what());
    }
    const cl::Device &dev = CLKernelLibrary::get().get_device();
    const std::string name = dev.getInfo<CL_DEVICE_NAME>(), vendor = dev.getInfo<CL_DEVICE_VENDOR>(),
                      version = dev.getInfo<CL_DEVICE_VERSION>(),
                      driver = dev.getInfo<CL_DRIVER_VERSION>();
    r.fp16 = arm_compute::fp16_supported(dev);
    r.device = name + " (" + vendor + ")";

    const std::string root = cache_root(ctx);
    std::string cache_text = "no cache dir";
    double restore_s = 0;
    if (!root.empty()) {
        const std::string key =
            common::hex16(common::fnv1a(name + "|" + vendor + "|" + version + "|" + driver + "|" +
                      arm_compute::build_information()));
        std::error_code ec;
        fs::create_directories(fs::path(root) / "cl", ec);
        if (!ec) {
            r.program_file = (fs::path(root) / "cl" / ("programs-" + key + ".bin")).string();
            r.tuner_file = (fs::path(root) / "cl" / ("tuner-" + key + ".csv")).string();
            auto t0 = std::chrono::steady_clock::now();
            if (fs::exists(r.program_file)) {
                try {
                    arm_compute::restore_program_cache_from_file(r.program_file);
                } catch (...) {  // a cache from another driver build: drop it
                    CLKernelLibrary::get().clear_programs_cache();
                    fs::remove(r.program_file, ec);
                }
            }
            restore_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (r.tuner && fs::exists(r.tuner_file)) {
                try {
                    r.tuner->load_from_file(r.tuner_file);
                } catch (...) {
                    fs::remove(r.tuner_file, ec);
                }
                r.tunings_saved = r.tuner->tuning_params_table().size();
            }
            r.programs_saved = CLKernelLibrary::get().get_built_programs().size();
            char buf[64];
            std::snprintf(buf, sizeof buf, "%zu programs restored in %.1f s", r.programs_saved,
                          restore_s);
            cache_text = "cache " + (fs::path(root) / "cl").string() + " (" + buf + ")";
        } else {
            cache_text = "cache dir " + root + " not writable";
        }
    }
    r.description = "OpenCL " + r.device + ", " + version + ", driver " + driver + "; " +
                    gpu_target_text(name) + "; fp16 " +
                    (r.fp16 ? "yes (cl_khr_fp16)" : "no (no cl_khr_fp16)") + "; tuner " +
                    r.tuner_mode + "; " + cache_text;
    r.ready = true;
    std::atexit(at_exit);
}

// FP16 entries need cl_khr_fp16 on the device.
template <typename Desc> void needs_cl_fp16(const Desc &, const char *component) {
    if (!fp16_available())
        fail(ARMBERT_ERR_UNSUPPORTED,
             std::string("cl: ") + component +
                 " in fp16 needs the OpenCL extension cl_khr_fp16, which " + rt().device +
                 " does not report (use fp32 or int8 on this device)");
}

// One implementation per op serves every precision (F16 or F32 buffers).
template <typename Desc, typename Make> void register_ops(OpEntries<Desc> &e, Make make) {
    register_all(e, make);
    e[ARMBERT_PRECISION_FP16].supports = needs_cl_fp16<Desc>;
}

struct ClBackend : Backend {
    ClBackend() {
        register_ops(ops.embeddings, opencl::new_embeddings);
        register_ops(ops.linear, opencl::new_linear);
        register_ops(ops.softmax, opencl::new_softmax);
        register_ops(ops.attention, opencl::new_attention);
        register_ops(ops.layernorm, opencl::new_layernorm);
        register_ops(ops.gelu, opencl::new_gelu);
        register_ops(ops.add, opencl::new_add);
        // no pool: the engine reads the hidden state back and pools on the host
    }
    ~ClBackend() override {
        try {
            save_caches();
        } catch (...) {
        }
    }
    std::string describe() const override {
        Runtime &r = rt();
        std::lock_guard<std::mutex> lock(r.mu);
        return r.description;
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        if (dtype == ARMBERT_I32) return new_host_tensor(ctx, dtype, dims);  // token ids
        return new_cl_tensor(ctx, dtype, dims);
    }
    void synchronize() override {
        cl_int err = opencl::queue().finish();
        if (err != CL_SUCCESS)
            fail(ARMBERT_ERR_BACKEND, "cl: clFinish failed with error " + std::to_string(err));
    }
};

[[noreturn]] void rethrow_cl(const cl::Error &e, const std::string &what) {
    const cl_int c = e.err();
    if (c == CL_MEM_OBJECT_ALLOCATION_FAILURE || c == CL_OUT_OF_RESOURCES ||
        c == CL_OUT_OF_HOST_MEMORY || c == CL_INVALID_BUFFER_SIZE)
        fail(ARMBERT_ERR_OUT_OF_MEMORY, what + ": the OpenCL device is out of memory (error " +
                                            std::to_string(c) + ")");
    fail(ARMBERT_ERR_BACKEND, what + ": " + e.what() + " failed with OpenCL error " +
                                  std::to_string(c));
}

}  // namespace

void init_runtime(const armbert_context &ctx) {
    Runtime &r = rt();
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.ready) init_locked(r, ctx);
}

bool fp16_available() { return rt().fp16; }

cl::CommandQueue &queue() { return CLScheduler::get().queue(); }

double device_memory_bytes() {
    return double(CLKernelLibrary::get().get_device().getInfo<CL_DEVICE_GLOBAL_MEM_SIZE>());
}

double device_max_alloc_bytes() {
    return double(CLKernelLibrary::get().get_device().getInfo<CL_DEVICE_MAX_MEM_ALLOC_SIZE>());
}

void require_device_memory(const char *what, double largest_buffer, double total) {
    common::require_fits(what, largest_buffer, device_max_alloc_bytes(),
                         "the device's largest allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE)");
    common::require_fits(what, total, device_memory_bytes(),
                         "the device's memory (CL_DEVICE_GLOBAL_MEM_SIZE)");
}

// ---- tensors ----

ClTensor *new_cl_tensor(armbert_context *ctx, armbert_dtype dtype,
                        const std::vector<int64_t> &dims) {
    auto t = std::make_unique<ClTensor>();
    t->ctx = ctx;
    t->dtype = dtype;
    t->dims = dims;
    t->numel = 1;
    for (int64_t d : dims) t->numel *= d;
    try {
        t->buf = cl::Buffer(CLScheduler::get().context(), CL_MEM_READ_WRITE, t->bytes());
    } catch (const cl::Error &e) {
        rethrow_cl(e, "cl: allocating a " + t->shape_string() + " tensor");
    }
    return t.release();
}

void ClTensor::write(const void *src, size_t nbytes) {
    require_whole(nbytes, "tensor_write", "given");
    try {
        queue().enqueueWriteBuffer(buf, CL_TRUE, 0, nbytes, src);
    } catch (const cl::Error &e) {
        rethrow_cl(e, "tensor_write");
    }
}

void ClTensor::read(void *dst, size_t nbytes) const {
    require_whole(nbytes, "tensor_read", "asked");
    try {
        // Blocking, on the queue the ops were enqueued on: waits for them.
        queue().enqueueReadBuffer(buf, CL_TRUE, 0, nbytes, dst);
    } catch (const cl::Error &e) {
        rethrow_cl(e, "tensor_read");
    }
}

const cl::Buffer &buffer_of(const armbert_tensor *t) {
    auto *c = dynamic_cast<const ClTensor *>(t);
    ARMBERT_REQUIRE(c != nullptr, ARMBERT_ERR_INVALID_ARGUMENT,
                    "cl: tensor " + (t ? t->shape_string() : std::string("NULL")) +
                        " is not in GPU memory");
    return c->buf;
}

arm_compute::DataType acl_type(armbert_dtype dtype) {
    switch (dtype) {
    case ARMBERT_F32: return arm_compute::DataType::F32;
    case ARMBERT_F16: return arm_compute::DataType::F16;
    case ARMBERT_I8: return arm_compute::DataType::QASYMM8_SIGNED;
    case ARMBERT_I32: return arm_compute::DataType::S32;
    }
    fail(ARMBERT_ERR_INVALID_ARGUMENT, "cl: unknown dtype");
}

void View::init(const arm_compute::TensorShape &shape, arm_compute::DataType dt) {
    t.allocator()->init(arm_compute::TensorInfo(shape, 1, dt));
}

Binding::~Binding() {
    for (View *v : bound_) v->t.allocator()->free();
}

void Binding::bind(View &v, const cl::Buffer &b) {
    check(v.t.allocator()->import_memory(b), "cl: importing a buffer into an ACL tensor");
    bound_.push_back(&v);
}

void allocate(arm_compute::CLTensor &t, const arm_compute::TensorShape &shape,
              arm_compute::DataType dt, arm_compute::QuantizationInfo q) {
    t.allocator()->init(arm_compute::TensorInfo(shape, 1, dt, q));
    try {
        t.allocator()->allocate();
    } catch (const cl::Error &e) {
        rethrow_cl(e, "cl: allocating device memory");
    }
    ARMBERT_REQUIRE(t.cl_buffer().get() != nullptr, ARMBERT_ERR_OUT_OF_MEMORY,
                    "cl: allocating " + std::to_string(t.info()->total_size()) + " bytes failed");
}

void upload(arm_compute::CLTensor &t, const void *src, size_t nbytes) {
    ARMBERT_REQUIRE(nbytes <= t.info()->total_size(), ARMBERT_ERR_INTERNAL, "cl: upload overflows");
    try {
        queue().enqueueWriteBuffer(t.cl_buffer(), CL_TRUE, 0, nbytes, src);
    } catch (const cl::Error &e) {
        rethrow_cl(e, "cl: uploading weights");
    }
}

void allocate_gemm_rhs(arm_compute::CLTensor &t, int rows, int cols, arm_compute::DataType dt,
                       const void *src, arm_compute::QuantizationInfo q) {
    constexpr int kPad = 16;
    t.allocator()->init(arm_compute::TensorInfo(arm_compute::TensorShape(cols, rows), 1, dt, q));
    t.info()->extend_padding(arm_compute::PaddingSize(0, kPad, kPad, 0));
    try {
        t.allocator()->allocate();
    } catch (const cl::Error &e) {
        rethrow_cl(e, "cl: allocating weights");
    }
    const arm_compute::ITensorInfo &info = *t.info();
    const size_t elem = info.element_size(), stride = info.strides_in_bytes()[1];
    std::vector<uint8_t> image(info.total_size(), 0);
    for (int r = 0; r < rows; ++r)
        std::memcpy(image.data() + info.offset_first_element_in_bytes() + size_t(r) * stride,
                    static_cast<const uint8_t *>(src) + size_t(r) * cols * elem, cols * elem);
    upload(t, image.data(), image.size());
}

void require_dense(const arm_compute::ITensor &t, const char *what) {
    ARMBERT_REQUIRE(t.info()->padding().empty(), ARMBERT_ERR_INTERNAL,
                    std::string("cl: ACL padded ") + what +
                        ", which armbert's kernels index densely");
}

void check(const arm_compute::Status &s, const std::string &what) {
    if (!bool(s)) fail(ARMBERT_ERR_UNSUPPORTED, what + ": ACL: " + s.error_description());
}

}  // namespace opencl

std::unique_ptr<Backend> make_cl_backend(armbert_context *ctx) {
    opencl::init_runtime(*ctx);
    return std::make_unique<opencl::ClBackend>();
}

}  // namespace armbert
