// Backend: what a context's backend provides. Its ops are a table, one entry
// per (op, precision): a factory, and optionally a supports() check that
// throws Unsupported with the reason this context cannot run the entry (a CPU
// or device feature). An empty entry means the backend has no such op yet:
// validate/create answer ARMBERT_ERR_UNSUPPORTED naming the op, the precision
// and the backend, and the engine places the op elsewhere (armbert/placement.py).
// So an op may exist on one backend first: its factory goes into that
// backend's table (kernels/src/<backend>/backend.cpp) and nowhere else.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "armbert.h"

namespace armbert {

template <typename Desc> struct OpEntry {
    std::function<armbert_op *(const Desc &)> make;  // empty: not on this backend
    // Throws Error(ARMBERT_ERR_UNSUPPORTED) when this context cannot run the entry;
    // `component` names the op in the message. Empty: always runs.
    std::function<void(const Desc &, const char *component)> supports;
};

// One entry per precision, indexed by armbert_precision (fp32, fp16, int8).
template <typename Desc> using OpEntries = std::array<OpEntry<Desc>, 3>;

struct OpTable {
    OpEntries<armbert_embeddings_desc> embeddings;
    OpEntries<armbert_linear_desc> linear;
    OpEntries<armbert_softmax_desc> softmax;
    OpEntries<armbert_attention_desc> attention;
    OpEntries<armbert_layernorm_desc> layernorm;
    OpEntries<armbert_eltwise_desc> gelu;
    OpEntries<armbert_eltwise_desc> add;
    OpEntries<armbert_pool_desc> pool;
};

// The same factory (and check) for every precision.
template <typename Desc, typename Make>
void register_all(OpEntries<Desc> &entries, Make make,
                  std::function<void(const Desc &, const char *)> supports = {}) {
    for (OpEntry<Desc> &e : entries) e = {make, supports};
}

struct Backend {
    virtual ~Backend() = default;
    virtual std::string describe() const = 0;
    virtual armbert_tensor *new_tensor(armbert_context *ctx, armbert_dtype dtype,
                                       const std::vector<int64_t> &dims) = 0;
    // Waits for the work queued on the device (armbert_context_synchronize); the
    // default is for backends whose ops return when done.
    virtual void synchronize() {}

    OpTable ops;  // filled by the backend's constructor
};

// Factories, defined in each backend's directory; registry.cpp picks one.
std::unique_ptr<Backend> make_backend(armbert_context *ctx);
uint32_t backends_compiled();

}  // namespace armbert
