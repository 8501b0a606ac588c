// armbert's activation as ACL's ActivationLayerInfo, for both ACL backends (NEON
// and CL). Only they include this header: it needs ARM Compute Library's.
// ACL's TANH is a * tanh(b * x), hence a = b = 1. (CL runs TANH by a kernel of its
// own, cl/linear.cpp: ACL's TANH kernel does not build on every OpenCL compiler.)
#pragma once
#include "arm_compute/core/Types.h"

#include "armbert.h"

namespace armbert::common {

inline arm_compute::ActivationLayerInfo acl_activation(armbert_activation act) {
    using AF = arm_compute::ActivationLayerInfo::ActivationFunction;
    if (act == ARMBERT_ACTIVATION_GELU) return arm_compute::ActivationLayerInfo(AF::GELU);
    if (act == ARMBERT_ACTIVATION_TANH)
        return arm_compute::ActivationLayerInfo(AF::TANH, 1.0f, 1.0f);
    return arm_compute::ActivationLayerInfo();
}

}  // namespace armbert::common
