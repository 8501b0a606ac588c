// FP32 GEMM on OpenBLAS, for every CPU backend (the host's linear and attention,
// NEON's fp32 outlier columns of the int8 linear). Single-threaded per call: the
// caller splits the work over its own pinned team (common/parallel.h).
#pragma once

namespace armbert::common {

// C[M, N] = alpha * A[M, K] * B[N, K]^T + beta * C (row-major, leading dims given).
void sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
// C[M, N] = A[M, K] * B[K, N]
void sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc);

}  // namespace armbert::common
