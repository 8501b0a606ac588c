// FP32 GEMM on OpenBLAS for the host backend (fp32 and fp16 linears, the int8
// linear's fp32 outlier columns), on every machine it is built for. Single-threaded
// per call: the caller splits the work over its own pinned team (common/parallel.h).
#pragma once

namespace armbert::common {

// C[M, N] = alpha * A[M, K] * B[N, K]^T + beta * C (row-major, leading dims given).
void sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
// The kernel family OpenBLAS chose for this CPU at load time (e.g. "SkylakeX"; a
// CPU newer than the OpenBLAS build gets "Prescott", see armbert/_native.py).
const char *blas_core();

}  // namespace armbert::common
