#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// ---- AVX-512F: 16 floats per vector, masks for the last columns.
#define SUFFIX avx512
#define TARGET __attribute__((target("avx512f")))
#define VL 16
#define VEC __m512
#define MASK __mmask16
#define MAKEMASK(w) ((__mmask16)((1u << (w)) - 1u))
#define LOADM(p, m) _mm512_maskz_loadu_ps((m), (p))
#define STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define BCAST(x) _mm512_set1_ps(x)
#define FMA(x, y, z) _mm512_fmadd_ps((x), (y), (z))
#define ADD(x, y) _mm512_add_ps((x), (y))
#define ZERO _mm512_setzero_ps()
#define RELU(v) _mm512_max_ps((v), _mm512_setzero_ps())
#define POSMASK(v, g) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((g), _mm512_setzero_ps(), _CMP_GT_OQ), (v))
#define MR_NN 8
#define MR_TN 8
#include "kernel_body.h"
#undef SUFFIX
#undef TARGET
#undef VL
#undef VEC
#undef MASK
#undef MAKEMASK
#undef LOADM
#undef STOREM
#undef BCAST
#undef FMA
#undef ADD
#undef ZERO
#undef RELU
#undef POSMASK
#undef MR_NN
#undef MR_TN

// ---- AVX2 + FMA: 8 floats per vector; masks are lanes of all-ones from a sliding table.
static const int maskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define SUFFIX avx2
#define TARGET __attribute__((target("avx2,fma")))
#define VL 8
#define VEC __m256
#define MASK __m256i
#define MAKEMASK(w) _mm256_loadu_si256((const __m256i *)(maskTable + 8 - (w)))
#define LOADM(p, m) _mm256_maskload_ps((p), (m))
#define STOREM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define BCAST(x) _mm256_set1_ps(x)
#define FMA(x, y, z) _mm256_fmadd_ps((x), (y), (z))
#define ADD(x, y) _mm256_add_ps((x), (y))
#define ZERO _mm256_setzero_ps()
#define RELU(v) _mm256_max_ps((v), _mm256_setzero_ps())
#define POSMASK(v, g) _mm256_and_ps((v), _mm256_cmp_ps((g), _mm256_setzero_ps(), _CMP_GT_OQ))
#define MR_NN 6
#define MR_TN 6
#include "kernel_body.h"

int nca_kernel_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

void nca_sgemm_nn(
    int level, long m, long n, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg)
{
    if (level >= 2)
        nca_sgemm_nn_avx512(m, n, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, accumulate, epilogue, g, ldg);
    else if (level == 1)
        nca_sgemm_nn_avx2(m, n, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, accumulate, epilogue, g, ldg);
}

void nca_sgemm_tn_acc(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc)
{
    if (level >= 2) nca_sgemm_tn_acc_avx512(m, n, k, a, lda, b, ldb, c, ldc);
    else if (level == 1) nca_sgemm_tn_acc_avx2(m, n, k, a, lda, b, ldb, c, ldc);
}

#else

int nca_kernel_level(void) { return 0; }
void nca_sgemm_nn(
    int level, long m, long n, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg) {}
void nca_sgemm_tn_acc(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {}

#endif
