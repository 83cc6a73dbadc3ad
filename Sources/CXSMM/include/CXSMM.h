// A shim over libxsmm (Debian's libxsmm-dev 1.17) for the engine's single-precision products,
// in the engine's row-major terms. libxsmm's kernels are column-major and called through a
// variadic function pointer that Swift cannot call; this file translates both. A row-major
// C = A·B is the column-major Cᵀ = Bᵀ·Aᵀ, so every call swaps the operands.
#ifndef NCA_CXSMM_H
#define NCA_CXSMM_H

#ifdef __cplusplus
extern "C" {
#endif

/// A JIT-generated kernel for one shape, or NULL when libxsmm has none (the caller then uses BLAS).
typedef const void *nca_xsmm_kernel;

/// Initialises libxsmm once (idempotent, thread-safe; dispatch calls it too).
void nca_xsmm_init(void);

/// The kernel for C (m × n) [+]= A (m × k) · B (k × n), row-major with the given row strides;
/// accumulate non-zero adds to C.
nca_xsmm_kernel nca_xsmm_nn(long m, long n, long k, long lda, long ldb, long ldc, int accumulate);

/// The kernel for C (m × n) += Aᵀ · B with A stored k × m and B stored k × n (a sum over k rows).
nca_xsmm_kernel nca_xsmm_tn_acc(long m, long n, long k, long lda, long ldb, long ldc);

/// Runs a kernel from `nca_xsmm_nn` or `nca_xsmm_tn_acc` on row-major A, B, C.
void nca_xsmm_run(nca_xsmm_kernel kernel, const float *a, const float *b, float *c);

#ifdef __cplusplus
}
#endif

#endif
