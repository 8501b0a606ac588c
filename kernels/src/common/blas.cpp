#include <cblas.h>

#include "blas.h"

namespace armbert::common {

void sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f,
                C, ldc);
}

}  // namespace armbert::common
