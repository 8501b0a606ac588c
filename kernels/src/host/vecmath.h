// The scalar math moved to common/vecmath.h; host code uses it unqualified.
#pragma once
#include "../common/vecmath.h"

namespace armbert::host {
using namespace common;
}  // namespace armbert::host
