// The NEON backend: host-memory tensors, ACL functions for FP32/INT8 and our
// own NEON kernels for FP16. FP16 dispatch happens here and only here.
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

bool is_fp16(armbert_precision p) { return p == ARMBERT_PRECISION_FP16; }

struct NeonBackend : Backend {
    // Kept under ~420 characters: callers' buffers (armbert/_native.py) are 512.
    std::string describe() const override {
        const uint64_t f = cpu_features();
        const bool hp = (f & ARMBERT_CPU_ASIMDHP) != 0;
        std::string s = "ACL " + neon::acl_version() + "; cpu:";
        s += hp ? " asimdhp" : " no-asimdhp";
        if (hp) s += neon::fp16_gemm_uses_fmlal() ? " fhm" : " no-fhm";
        if (f & ARMBERT_CPU_ASIMDDP) s += " dotprod";
        if (f & ARMBERT_CPU_I8MM) s += " i8mm";
        s += "; fp32/int8 on ACL: linear NEGEMM, int8 linear NEGEMMLowpMatrixMultiplyCore "
             "s8xs8->s32 + armbert epilogue, attention NEMatMul+NESoftmaxLayer, softmax "
             "NESoftmaxLayer, layernorm/embeddings NEMeanStdDevNormalizationLayer (+NEGather), "
             "gelu NEActivationLayer, add NEArithmeticAddition";
        if (hp)
            s += std::string("; fp16: armbert NEON kernels, linear ") +
                 (neon::fp16_gemm_uses_fmlal() ? "FMLAL" : "fp16->fp32 widening");
        else
            s += "; fp16: unsupported (no FP16 arithmetic)";
        return s;
    }
    armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                               const std::vector<int64_t> &dims) override {
        return new_host_tensor(ctx, dtype, dims);
    }
    void check_precision(armbert_precision p, const char *component) const override {
        if (is_fp16(p) && !has_feature(ARMBERT_CPU_ASIMDHP))
            fail(ARMBERT_ERR_UNSUPPORTED,
                 std::string("neon ") + component +
                     ": FP16 needs the Armv8.2 FP16 arithmetic extension (HWCAP asimdhp), "
                     "which this core lacks (e.g. Cortex-A53, Cortex-A73); Debian's ACL "
                     "has no F16 CPU kernels either. Use fp32 or int8 on this core");
    }
    EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) override {
        return is_fp16(d.precision) ? neon::new_embeddings_fp16(d) : neon::new_embeddings(d);
    }
    LinearOp *new_linear(const armbert_linear_desc &d) override {
        if (is_fp16(d.precision)) return neon::new_linear_fp16(d);
        if (d.precision == ARMBERT_PRECISION_INT8) return neon::new_linear_s8(d);
        return neon::new_linear_f32(d);
    }
    SoftmaxOp *new_softmax(const armbert_softmax_desc &d) override {
        return is_fp16(d.precision) ? neon::new_softmax_fp16(d) : neon::new_softmax(d);
    }
    AttentionOp *new_attention(const armbert_attention_desc &d) override {
        return is_fp16(d.precision) ? neon::new_attention_fp16(d) : neon::new_attention(d);
    }
    LayerNormOp *new_layernorm(const armbert_layernorm_desc &d) override {
        return is_fp16(d.precision) ? neon::new_layernorm_fp16(d) : neon::new_layernorm(d);
    }
    GeluOp *new_gelu(const armbert_eltwise_desc &d) override {
        return is_fp16(d.precision) ? neon::new_gelu_fp16(d) : neon::new_gelu(d);
    }
    AddOp *new_add(const armbert_eltwise_desc &d) override {
        return is_fp16(d.precision) ? neon::new_add_fp16(d) : neon::new_add(d);
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
