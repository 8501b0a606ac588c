// Embeddings on the GPU: the gather of word + position + token-type rows runs on
// the host, where core has already checked the ids (they are host tensors), into
// one staging buffer that is written to the GPU; RowNorm (layernorm.cpp: ACL
// CLMeanStdDevNormalizationLayer + gamma/beta) normalizes it there, and FP16 output
// is narrowed by our armbert_convert_add. The tables stay in host memory once: on
// a Mali SoC that is the same DRAM, and the write is rows x hidden floats, what
// a GPU gather would write too.
#include <memory>

#include "../common/workspace.h"
#include "cl.h"

namespace armbert::opencl {
namespace {

using arm_compute::CLTensor;
using arm_compute::DataType;
using arm_compute::TensorShape;

struct ClEmbeddings : EmbeddingsOp {
    std::unique_ptr<RowNorm> norm;
    Kernel narrow{"armbert_convert_add"};
    struct Config {
        std::vector<float> staging;
        CLTensor summed, out32;  // F32 [rows, hidden]; out32 only for FP16 output
        View summed_view, out;   // out: the caller's tensor, or out32 for FP16
    };
    std::unique_ptr<Config> cfg;

    void on_reshape() override {
        cfg.reset();
        const TensorShape shape(desc.hidden, rows());
        const double bytes = 4.0 * double(rows()) * desc.hidden;
        common::require_host_memory("cl embeddings: staging buffer", bytes);
        require_device_memory("cl embeddings: workspace", bytes,
                              desc.precision == ARMBERT_PRECISION_FP16 ? 2 * bytes : bytes);
        auto c = std::make_unique<Config>();
        c->staging.assign(size_t(rows()) * desc.hidden, 0.0f);
        allocate(c->summed, shape, DataType::F32);
        c->summed_view.init(shape, DataType::F32);
        c->out.init(shape, DataType::F32);
        if (desc.precision == ARMBERT_PRECISION_FP16) allocate(c->out32, shape, DataType::F32);
        norm->configure(c->summed_view, c->out, rows());
        cfg = std::move(c);
    }

    void compute(const int32_t *ids, const int32_t *type_ids, armbert_tensor *out) override {
        Config &c = configured(cfg, "embeddings");
        const int H = desc.hidden;
        for (int64_t r = 0; r < rows(); ++r) {
            const float *w = word.data() + size_t(ids[r]) * H;
            const float *p = position.data() + size_t(r % seq) * H;
            const float *t = token_type.data() + size_t(type_ids ? type_ids[r] : 0) * H;
            float *dst = c.staging.data() + size_t(r) * H;
            for (int i = 0; i < H; ++i) dst[i] = w[i] + p[i] + t[i];
        }
        upload(c.summed, c.staging.data(), c.staging.size() * sizeof(float));
        Binding bind;
        bind.bind(c.summed_view, c.summed.cl_buffer());
        const bool f16 = desc.precision == ARMBERT_PRECISION_FP16;
        bind.bind(c.out, f16 ? c.out32.cl_buffer() : buffer_of(out));
        norm->run();
        if (f16)
            narrow(cl::NDRange(size_t(out->numel)), c.out32.cl_buffer(), dummy_buffer(), cl_int(0),
                   cl_int(0), buffer_of(out), cl_int(1));
    }
};

}  // namespace

EmbeddingsOp *new_embeddings(const armbert_embeddings_desc &d) {
    auto op = std::make_unique<ClEmbeddings>();
    op->keep(d);
    op->norm = std::make_unique<RowNorm>(op->gamma.data(), op->beta.data(), d.hidden, d.eps);
    return op.release();
}

}  // namespace armbert::opencl
