// Our OpenCL C program (kernels_source.h): built once per process through ACL's
// CLCompileContext, so ACL's program cache (saved by backend.cpp) holds it too.
// The program name carries a hash of the source: an edited source never meets a
// stale cached binary.
#include <arm_compute/core/CL/CLKernelLibrary.h>

#include <cstring>
#include <mutex>

#include "../common/hash.h"
#include "cl.h"
#include "kernels_source.h"

namespace armbert::opencl {
namespace {

std::string program_name() {
    const uint64_t h = common::fnv1a(kKernelsSource, std::strlen(kKernelsSource));
    return "armbert_kernels_" + common::hex16(h) + ".cl";
}

std::mutex g_mu;

}  // namespace

Kernel::Kernel(const char *name) {
    if (!name) return;
    std::lock_guard<std::mutex> lock(g_mu);
    static const std::string program = program_name();
    try {
        k = static_cast<cl::Kernel>(
            arm_compute::CLKernelLibrary::get().get_compile_context().create_kernel(
                name, program, kKernelsSource, "", {}, false));
    } catch (const cl::Error &e) {
        fail(ARMBERT_ERR_BACKEND, std::string("cl: building armbert's OpenCL kernel ") + name +
                                      " failed (" + e.what() + ", error " +
                                      std::to_string(e.err()) + "); see the build log above");
    }
}

size_t Kernel::max_work_group_size() const {
    return k.getWorkGroupInfo<CL_KERNEL_WORK_GROUP_SIZE>(
        arm_compute::CLKernelLibrary::get().get_device());
}

void Kernel::enqueue(const cl::NDRange &global, const cl::NDRange &lws) {
    queue().enqueueNDRangeKernel(k, cl::NullRange, global, lws);
}

const cl::Buffer &dummy_buffer() {
    static cl::Buffer *b = new cl::Buffer(arm_compute::CLKernelLibrary::get().context(),
                                          CL_MEM_READ_WRITE, 16);
    return *b;
}

}  // namespace armbert::opencl
