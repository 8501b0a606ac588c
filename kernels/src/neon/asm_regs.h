// Clobber lists of the NEON assembly tiles (gemm_f32.cpp, gemm_s8_i8mm.cpp,
// gemm_fhm_fp16.cpp, attention_core.cpp): vector registers in groups of eight.
#pragma once

#define ARMBERT_V0_7 "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"
#define ARMBERT_V8_15 "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15"
#define ARMBERT_V16_23 "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23"
#define ARMBERT_V24_30 "v24", "v25", "v26", "v27", "v28", "v29", "v30"
