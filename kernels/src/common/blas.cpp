#include <cblas.h>

#include "blas.h"

namespace armbert::common {

void sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

const char *blas_core() { return openblas_get_corename(); }

}  // namespace armbert::common
