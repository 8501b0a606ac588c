// The NEON backend: host-memory tensors, ACL functions for FP32/INT8 (but our
// fused attention) and our own NEON kernels for FP16. FP16 dispatch happens
// here and only here.
#include <asm/hwcap.h>
#include <cblas.h>
#include <sys/auxv.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../core/cpu_features.h"
#include "../core/error.h"
#include "../core/tensor.h"
#include "ops.h"
#include "scheduler.h"

namespace armbert {

namespace neon {
// FEAT_FHM is not one of armbert_cpu_features()'s bits (no ABI change for a
// NEON-internal choice), so this reads HWCAP itself.
bool fp16_gemm_uses_fmlal() {
    static const bool fhm = (getauxval(AT_HWCAP) & HWCAP_ASIMDFHM) != 0;
    return fhm;
}
}  // namespace neon

namespace {

// FP16 entries need the Armv8.2 FP16 arithmetic extension.
template <typename Desc> void needs_asimdhp(const Desc &, const char *component) {
    if (!has_feature(ARMBERT_CPU_ASIMDHP))
        fail(ARMBERT_ERR_UNSUPPORTED,
             std::string("neon ") + component +
                 ": FP16 needs the Armv8.2 FP16 arithmetic extension (HWCAP asimdhp), "
                 "which this core lacks (e.g. Cortex-A53, Cortex-A73); Debian's ACL "
                 "has no F16 CPU kernels either. Use fp32 or int8 on this core");
}

// ACL for FP32 and for INT8 (whose non-linear ops run on FP32 activations); our
// NEON kernels for FP16, where the core has the extension.
template <typename Desc, typename Acl, typename F16>
void register_ops(OpEntries<Desc> &e, Acl acl, F16 fp16) {
    e[ARMBERT_PRECISION_FP32] = {acl, {}};
    e[ARMBERT_PRECISION_INT8] = {acl, {}};
    e[ARMBERT_PRECISION_FP16] = {fp16, needs_asimdhp<Desc>};
}

struct NeonBackend : Backend {
    NeonBackend() {
        register_ops(ops.embeddings, neon::new_embeddings, neon::new_embeddings_fp16);
        register_ops(ops.linear, neon::new_linear_f32, neon::new_linear_fp16);
        ops.linear[ARMBERT_PRECISION_INT8] = {neon::new_linear_s8, {}};
        register_ops(ops.softmax, neon::new_softmax, neon::new_softmax_fp16);
        register_ops(ops.attention, neon::new_attention, neon::new_attention_fp16);
        register_ops(ops.layernorm, neon::new_layernorm, neon::new_layernorm_fp16);
        register_ops(ops.gelu, neon::new_gelu, neon::new_gelu_fp16);
        register_ops(ops.add, neon::new_add, neon::new_add_fp16);
        // no pool: the engine pools NEON segments' output on the host
    }
    // Kept under ~420 characters: callers' buffers (armbert/_native.py) are 512.
    std::string describe() const override {
        const uint64_t f = cpu_features();
        const bool hp = (f & ARMBERT_CPU_ASIMDHP) != 0;
        std::string s = "ACL " + neon::acl_version() + "; cpu:";
        s += hp ? " asimdhp" : " no-asimdhp";
        if (hp) s += neon::fp16_gemm_uses_fmlal() ? " fhm" : " no-fhm";
        if (f & ARMBERT_CPU_ASIMDDP) s += " dotprod";
        if (f & ARMBERT_CPU_I8MM) s += " i8mm";
        s += "; fp32/int8: linear armbert NEON GEMM 8x12, int8 linear ";
        s += (f & ARMBERT_CPU_I8MM) ? "armbert SMMLA 8x12" : "ACL NEGEMMLowpMatrixMultiplyCore";
        s += " s8xs8->s32 + armbert epilogue, attention armbert fused NEON, softmax "
             "NESoftmaxLayer, layernorm armbert fused NEON, embeddings "
             "NEMeanStdDevNormalizationLayer (+NEGather), "
             "gelu NEActivationLayer, add NEArithmeticAddition";
        if (hp)
            s += std::string("; fp16: armbert NEON kernels, linear ") +
                 (neon::fp16_gemm_uses_fmlal() ? "FMLAL 4x24" : "fp16->fp32 widening");
        else
            s += "; fp16: unsupported (no FP16 arithmetic)";
        return s;
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        return new_host_tensor(ctx, dtype, dims);
    }
};

}  // namespace

std::unique_ptr<Backend> make_neon_backend(armbert_context *) {
    neon::install_scheduler();
    // Outlier columns of INT8 linears use OpenBLAS inside our own teams.
    openblas_set_num_threads(1);
    return std::make_unique<NeonBackend>();
}

}  // namespace armbert
