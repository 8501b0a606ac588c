// oneDNN's linear (matmul with fused bias), the peer of benchmarks/gemm_vs_onednn.py.
// Built by that script against the oneDNN of the PyPI packages onednn-cpu-gomp and
// onednn-devel-cpu-gomp; not part of armbert.
//
// fp32: y = x W^T + b, weights reordered once into the format the primitive picks.
// int8: the same computation armbert's int8 linear does with a static input scale:
//   q = saturate(round(x / input_scale)) (a reorder f32 -> s8 with a destination scale),
//   y = (q . w) * input_scale * weight_scale[n] + b[n] (s8 x s8 matmul, f32 output,
//   scales and bias fused), weights s8 per output channel, reordered once.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <oneapi/dnnl/dnnl.hpp>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

struct Linear {
    engine eng{engine::kind::cpu, 0};
    stream strm{eng};
    bool int8 = false;
    matmul mm;
    reorder quant;
    memory x, q, w, b, y, x_scale, w_scale;
    std::string impl;
};

char g_error[512];

}  // namespace

extern "C" {

const char *odnn_error() { return g_error; }

// w_f32 [N, K] (fp32) or w_s8 [N, K] + w_scale [N] (int8); bias [N].
void *odnn_linear_create(int int8, int m, int k, int n, const float *w_f32, const int8_t *w_s8,
                         const float *w_scale, const float *bias, float input_scale,
                         int threads) {
    try {
        omp_set_num_threads(threads);
        auto *l = new Linear();
        l->int8 = int8 != 0;
        const memory::dims xd{m, k}, wd{k, n}, bd{1, n}, yd{m, n};
        const dt wt = l->int8 ? dt::s8 : dt::f32;
        memory::desc src_md(xd, l->int8 ? dt::s8 : dt::f32, tag::ab);
        memory::desc w_any(wd, wt, tag::any), w_user(wd, wt, tag::ba);  // ba: [N][K]
        memory::desc b_md(bd, dt::f32, tag::ab), y_md(yd, dt::f32, tag::ab);
        primitive_attr attr;
        if (l->int8) {
            attr.set_scales_mask(DNNL_ARG_SRC, 0);
            attr.set_scales_mask(DNNL_ARG_WEIGHTS, 1 << 1);
        }
        matmul::primitive_desc pd(l->eng, src_md, w_any, b_md, y_md, attr);
        l->mm = matmul(pd);
        l->impl = pd.impl_info_str();
        memory wu(w_user, l->eng,
                  const_cast<void *>(l->int8 ? static_cast<const void *>(w_s8)
                                             : static_cast<const void *>(w_f32)));
        l->w = memory(pd.weights_desc(), l->eng);
        reorder(wu, l->w).execute(l->strm, wu, l->w);
        l->b = memory(b_md, l->eng);
        std::copy(bias, bias + n, static_cast<float *>(l->b.get_data_handle()));
        l->x = memory(memory::desc(xd, dt::f32, tag::ab), l->eng, DNNL_MEMORY_NONE);
        l->y = memory(y_md, l->eng, DNNL_MEMORY_NONE);
        if (l->int8) {
            l->q = memory(src_md, l->eng);
            l->x_scale = memory(memory::desc({1}, dt::f32, tag::a), l->eng);
            *static_cast<float *>(l->x_scale.get_data_handle()) = input_scale;
            l->w_scale = memory(memory::desc({n}, dt::f32, tag::a), l->eng);
            std::copy(w_scale, w_scale + n, static_cast<float *>(l->w_scale.get_data_handle()));
            primitive_attr qa;
            qa.set_scales_mask(DNNL_ARG_DST, 0);  // dst = src / scale
            l->quant = reorder(reorder::primitive_desc(l->eng, l->x.get_desc(), l->eng, src_md, qa));
        }
        l->strm.wait();
        return l;
    } catch (const std::exception &e) {
        std::snprintf(g_error, sizeof g_error, "%s", e.what());
        return nullptr;
    }
}

int odnn_linear_run(void *handle, const float *x, float *y) {
    try {
        auto *l = static_cast<Linear *>(handle);
        l->x.set_data_handle(const_cast<float *>(x));
        l->y.set_data_handle(y);
        if (l->int8) {
            l->quant.execute(l->strm, {{DNNL_ARG_FROM, l->x}, {DNNL_ARG_TO, l->q},
                                       {DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, l->x_scale}});
            l->mm.execute(l->strm, {{DNNL_ARG_SRC, l->q}, {DNNL_ARG_WEIGHTS, l->w},
                                    {DNNL_ARG_BIAS, l->b}, {DNNL_ARG_DST, l->y},
                                    {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, l->x_scale},
                                    {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, l->w_scale}});
        } else {
            l->mm.execute(l->strm, {{DNNL_ARG_SRC, l->x}, {DNNL_ARG_WEIGHTS, l->w},
                                    {DNNL_ARG_BIAS, l->b}, {DNNL_ARG_DST, l->y}});
        }
        l->strm.wait();
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(g_error, sizeof g_error, "%s", e.what());
        return 1;
    }
}

// The implementation oneDNN chose for the matmul (e.g. "brg:avx512_core_vnni").
const char *odnn_linear_impl(void *handle) { return static_cast<Linear *>(handle)->impl.c_str(); }

void odnn_linear_destroy(void *handle) { delete static_cast<Linear *>(handle); }

}  // extern "C"
