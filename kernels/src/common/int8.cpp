#include "int8.h"

namespace armbert::common {

std::vector<float> inverse_smoothing(const armbert_linear_desc &d) {
    if (!d.input_smooth && d.num_outliers <= 0) return {};
    std::vector<float> inv(size_t(d.in_features), 1.0f);
    if (d.input_smooth)
        for (int32_t k = 0; k < d.in_features; ++k) inv[size_t(k)] = 1.0f / d.input_smooth[k];
    for (int32_t j = 0; j < d.num_outliers; ++j) inv[size_t(d.outlier_channels[j])] = 0.0f;
    return inv;
}

armbert_linear_desc without_weights(const armbert_linear_desc &d) {
    armbert_linear_desc kept = d;
    kept.weight = nullptr;
    kept.weight_i8 = nullptr;
    kept.weight_scale = nullptr;
    kept.bias = nullptr;
    kept.input_smooth = nullptr;
    kept.outlier_channels = nullptr;
    kept.outlier_weight = nullptr;
    return kept;
}

}  // namespace armbert::common
