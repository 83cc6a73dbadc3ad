#include "CXSMM.h"
#include <libxsmm.h>

void nca_xsmm_init(void) { libxsmm_init(); }

nca_xsmm_kernel nca_xsmm_nn(long m, long n, long k, long lda, long ldb, long ldc, int accumulate)
{
    // Column-major Cᵀ (n × m) = Bᵀ (n × k) · Aᵀ (k × m): libxsmm's A is our B and the reverse.
    const libxsmm_blasint xm = n, xn = m, xk = k, xlda = ldb, xldb = lda, xldc = ldc;
    const float alpha = 1, beta = accumulate ? 1 : 0;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_PREFETCH_NONE;
    return (nca_xsmm_kernel)libxsmm_smmdispatch(xm, xn, xk, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
}

nca_xsmm_kernel nca_xsmm_tn_acc(long m, long n, long k, long lda, long ldb, long ldc)
{
    // Column-major Cᵀ (n × m) += Bᵀ (n × k) · A (k × m); A stored k × m row-major is the
    // column-major m × k matrix, hence libxsmm's transposed B.
    const libxsmm_blasint xm = n, xn = m, xk = k, xlda = ldb, xldb = lda, xldc = ldc;
    const float alpha = 1, beta = 1;
    const int flags = LIBXSMM_GEMM_FLAG_TRANS_B, prefetch = LIBXSMM_PREFETCH_NONE;
    return (nca_xsmm_kernel)libxsmm_smmdispatch(xm, xn, xk, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
}

void nca_xsmm_run(nca_xsmm_kernel kernel, const float *a, const float *b, float *c)
{
    ((libxsmm_smmfunction)kernel)(b, a, c);
}
