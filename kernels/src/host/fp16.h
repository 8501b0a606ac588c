// The conversions are declared in common/fp16.h (fp16.cpp defines them).
#pragma once
#include "../common/fp16.h"
