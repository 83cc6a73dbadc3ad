#include "CKernels.h"

void nca_spin_pause(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

#if defined(__x86_64__)
// Plain loops: the compiler vectorises them for the baseline instruction set.
void nca_residual_pullback(
    const float *restrict g, const float *restrict sigma, float *restrict df, long cells, long channels, int perCell,
    float *restrict dv)
{
    for (long n = 0; n < cells; n++) {
        const float *gn = g + n * channels;
        float *dn = df + n * channels;
        if (perCell) {
            float s = sigma[n];
            for (long c = 0; c < channels; c++) dn[c] = s * gn[c];
        } else {
            const float *sn = sigma + n * channels;
            for (long c = 0; c < channels; c++) dn[c] = sn[c] * gn[c];
        }
        for (long c = 0; c < channels; c++) dv[c] += dn[c];
    }
}
#endif

// Compaction of a tile's cells by their mask (plain loops: any CPU, vectorised by the compiler).
long nca_active_cells(const float *sigma, long n, int *active)
{
    long count = 0;
    for (long i = 0; i < n; i++) {
        active[count] = (int)i;
        count += sigma[i] != 0.0f;
    }
    return count;
}

// One row of `width` floats; the common widths as fixed-size copies the compiler inlines.
static inline void copy_row(float *to, const float *from, long width)
{
    switch (width) {
    case 1: *to = *from; break;
    case 4: __builtin_memcpy(to, from, 4 * sizeof(float)); break;
    case 8: __builtin_memcpy(to, from, 8 * sizeof(float)); break;
    case 16: __builtin_memcpy(to, from, 16 * sizeof(float)); break;
    case 32: __builtin_memcpy(to, from, 32 * sizeof(float)); break;
    default: __builtin_memmove(to, from, (unsigned long)width * sizeof(float)); break;
    }
}

void nca_gather_rows(const float *src, long lds, const int *rows, long first, long count, long width, float *dst, long ldd)
{
    for (long j = 0; j < count; j++) {
        copy_row(dst + j * ldd, src + (rows[j] - first) * lds, width);
    }
}

void nca_scatter_rows(const float *src, long lds, const int *rows, long first, long count, long width, float *dst, long ldd)
{
    for (long j = 0; j < count; j++) copy_row(dst + (rows[j] - first) * ldd, src + j * lds, width);
}

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
#define STORE_HALVES(p, offset, v) \
    do { \
        _mm256_storeu_ps((p), _mm512_castps512_ps256(v)); \
        _mm256_storeu_ps((p) + (offset), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))); \
    } while (0)
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
#undef STORE_HALVES
#undef BCAST
#undef FMA
#undef ADD
#undef ZERO
#undef RELU
#undef POSMASK
#undef MR_NN
#undef MR_TN

// Narrow products (n ≤ 8 columns, one plain block, no epilogue or the residual update) waste
// half of every 16-lane FMA in the general kernel. Here each FMA covers two steps of the inner dimension instead: lanes (2j, 2j+1)
// accumulate column j over even and odd p, with A's pair (a[p], a[p+1]) broadcast as one
// 64-bit value and B interleaved to match; the pairs are summed at the end.
#define NARROW_MAX_K 512
static const int narrowMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline __attribute__((always_inline)) __attribute__((target("avx512f,avx2,fma"))) void narrow_block(
    int mr, long k, const float *a, long lda, const float *b2, float *c, long ldc, long n, int accumulate,
    __m256 bias, const float *sigma, long lds, const float *src)
{
    __m512 acc[8];
    for (int i = 0; i < mr; i++) acc[i] = _mm512_setzero_ps();
    long pairs = k / 2;
    for (long pp = 0; pp < pairs; pp++) {
        __m512 b = _mm512_loadu_ps(b2 + pp * 16);
        for (int i = 0; i < mr; i++) {
            double two;
            __builtin_memcpy(&two, a + i * lda + 2 * pp, sizeof two);
            acc[i] = _mm512_fmadd_ps(_mm512_castpd_ps(_mm512_set1_pd(two)), b, acc[i]);
        }
    }
    if (k & 1) {
        __m512 b = _mm512_loadu_ps(b2 + pairs * 16);  // odd lanes are zero
        for (int i = 0; i < mr; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * lda + k - 1]), b, acc[i]);
    }
    const __m512i swap = _mm512_set_epi32(14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
    int i = 0;
    // Full rows of 8, contiguous (C, x and σ per element 8 apart): two rows per vector, their
    // pairs summed by two permutes (the same additions as below, in the same order), read and
    // written 512 bits at a time.
    if (n == 8 && ldc == 8 && (!sigma || lds == 0 || lds == 8)) {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        const __m512 bias2 = _mm512_shuffle_f32x4(_mm512_castps256_ps512(bias), _mm512_castps256_ps512(bias), 0x44);
        for (; i + 1 < mr; i += 2) {
            __m512 sum = _mm512_add_ps(
                _mm512_permutex2var_ps(acc[i], even, acc[i + 1]), _mm512_permutex2var_ps(acc[i], odd, acc[i + 1]));
            sum = _mm512_add_ps(sum, bias2);
            if (sigma) {
                __m512 s = lds ? _mm512_loadu_ps(sigma + i * lds)
                               : _mm512_mask_mov_ps(_mm512_set1_ps(sigma[i]), 0xFF00, _mm512_set1_ps(sigma[i + 1]));
                sum = _mm512_fmadd_ps(s, sum, _mm512_loadu_ps(src + i * ldc));
            } else if (accumulate) {
                sum = _mm512_add_ps(sum, _mm512_loadu_ps(c + i * ldc));
            }
            _mm512_storeu_ps(c + i * ldc, sum);
        }
    }
    // Rows only 8 floats apart otherwise: 512-bit masked accesses here would overlap the next
    // row's and defeat store forwarding (2.4× slower), so C is read and written 256 bits at a time.
    const __m256i lanes = _mm256_loadu_si256((const __m256i *)(narrowMask + 8 - n));
    for (; i < mr; i++) {
        __m512 sum = _mm512_add_ps(acc[i], _mm512_permutexvar_ps(swap, acc[i]));
        __m256 packed = _mm256_add_ps(_mm512_castps512_ps256(_mm512_maskz_compress_ps(0x5555, sum)), bias);
        float *ci = c + i * ldc;
        const float *si = (sigma ? src : c) + i * ldc;
        __m256 before = _mm256_setzero_ps();
        if (sigma || accumulate) before = n == 8 ? _mm256_loadu_ps(si) : _mm256_maskload_ps(si, lanes);
        if (sigma) {
            __m256 s = lds ? (n == 8 ? _mm256_loadu_ps(sigma + i * lds) : _mm256_maskload_ps(sigma + i * lds, lanes))
                           : _mm256_set1_ps(sigma[i]);
            packed = _mm256_fmadd_ps(s, packed, before);
        } else if (accumulate) {
            packed = _mm256_add_ps(packed, before);
        }
        if (n == 8) _mm256_storeu_ps(ci, packed);
        else _mm256_maskstore_ps(ci, lanes, packed);
    }
}

__attribute__((target("avx512f,avx2,fma"))) static void nca_sgemm_narrow_avx512(
    long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int accumulate,
    const float *bias, const float *sigma, long lds, const float *src)
{
    float b2[(NARROW_MAX_K / 2 + 1) * 16];
    long pairs = (k + 1) / 2;
    for (long pp = 0; pp < pairs; pp++) {
        for (int j = 0; j < 8; j++) {
            for (int e = 0; e < 2; e++) {
                long p = 2 * pp + e;
                b2[pp * 16 + 2 * j + e] = (j < n && p < k) ? b[p * ldb + j] : 0.0f;
            }
        }
    }
    __m256 biasv = bias ? _mm256_maskload_ps(bias, _mm256_loadu_si256((const __m256i *)(narrowMask + 8 - n)))
                        : _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= m; i += 8) narrow_block(8, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc);
    switch (m - i) {
    case 1: narrow_block(1, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 2: narrow_block(2, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 3: narrow_block(3, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 4: narrow_block(4, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 5: narrow_block(5, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 6: narrow_block(6, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    case 7: narrow_block(7, k, a + i * lda, lda, b2, c + i * ldc, ldc, n, accumulate, biasv, sigma ? sigma + (lds ? i * lds : i) : sigma, lds, src ? src + i * ldc : c + i * ldc); break;
    default: break;
    }
}

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
#define STORE_HALVES(p, offset, v) \
    do { \
        _mm_storeu_ps((p), _mm256_castps256_ps128(v)); \
        _mm_storeu_ps((p) + (offset), _mm256_extractf128_ps((v), 1)); \
    } while (0)
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
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg, const float *bias,
    const float *src)
{
    int narrowEpilogue = epilogue == NCA_EPILOGUE_NONE || (epilogue == NCA_EPILOGUE_MASKED_ADD && !accumulate);
    if (level >= 2 && n <= 8 && blocks == 1 && k <= NARROW_MAX_K && narrowEpilogue && m >= 64)
        nca_sgemm_narrow_avx512(
            m, n, k, a, lda, b, ldb, c, ldc, accumulate, bias, epilogue == NCA_EPILOGUE_MASKED_ADD ? g : 0, ldg, src);
    else if (level >= 2)
        nca_sgemm_nn_avx512(m, n, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, accumulate, epilogue, g, ldg, bias, src, 0, 0);
    else if (level == 1)
        nca_sgemm_nn_avx2(m, n, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, accumulate, epilogue, g, ldg, bias, src, 0, 0);
}

int nca_sgemm_nn_split(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, long cblock,
    long cbstride)
{
    long vector = level >= 2 ? 16 : 8;
    if (level < 1 || cblock <= 0 || n % vector != 0 || ldc < cblock || (cblock % vector != 0 && 2 * cblock != vector)) return 0;
    if (level >= 2)
        nca_sgemm_nn_avx512(m, n, 1, k, a, lda, 0, b, ldb, 0, c, ldc, 0, NCA_EPILOGUE_NONE, 0, 0, 0, 0, cblock, cbstride);
    else
        nca_sgemm_nn_avx2(m, n, 1, k, a, lda, 0, b, ldb, 0, c, ldc, 0, NCA_EPILOGUE_NONE, 0, 0, 0, 0, cblock, cbstride);
    return 1;
}

void nca_sgemm_gather(
    int level, long m, long rows, long width, long k, const float *a, long lda, const float *base, const long *offsets,
    long bRowStride, float *c, long ldc, long cRowStride)
{
    if (level >= 2) nca_sgemm_gather_avx512(m, rows, width, k, a, lda, base, offsets, bRowStride, c, ldc, cRowStride);
    else if (level == 1) nca_sgemm_gather_avx2(m, rows, width, k, a, lda, base, offsets, bRowStride, c, ldc, cRowStride);
}

void nca_sgemm_gather_cells(
    int level, long m, long k, const float *a, long lda, const float *base, const long *offsets, const int *cells,
    long first, long count, long size, long paddedRow, long width, float *c, long ldc)
{
    // At most one row block of accumulators per call.
    long rows = level >= 2 ? 8 : 6;
    for (long r0 = 0; r0 < m; r0 += rows) {
        long mr = m - r0 < rows ? m - r0 : rows;
        if (level >= 2)
            nca_sgemm_gather_cells_avx512(
                mr, k, a + r0 * lda, lda, base, offsets, cells, first, count, size, paddedRow, width, c + r0 * ldc, ldc);
        else if (level == 1)
            nca_sgemm_gather_cells_avx2(
                mr, k, a + r0 * lda, lda, base, offsets, cells, first, count, size, paddedRow, width, c + r0 * ldc, ldc);
    }
}

void nca_sgemm_tn_acc(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc)
{
    // A narrow result (n at most one vector, m at least twice as wide) leaves lanes or the
    // second vector of a panel idle: accumulate its transpose Cᵀ += Bᵀ·A instead, with m across
    // the lanes, and add it back.
    long vector = level >= 2 ? 16 : 8;
    if (n <= vector && m >= 2 * n && m * n <= 4096) {
        float t[4096];
        for (long i = 0; i < m * n; i++) t[i] = 0.0f;
        if (level >= 2) nca_sgemm_tn_acc_avx512(n, m, k, b, ldb, a, lda, t, m);
        else if (level == 1) nca_sgemm_tn_acc_avx2(n, m, k, b, ldb, a, lda, t, m);
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] += t[j * m + i];
        return;
    }
    if (level >= 2) nca_sgemm_tn_acc_avx512(m, n, k, a, lda, b, ldb, c, ldc);
    else if (level == 1) nca_sgemm_tn_acc_avx2(m, n, k, a, lda, b, ldb, c, ldc);
}

#else

int nca_kernel_level(void) { return 0; }
void nca_residual_pullback(
    const float *g, const float *sigma, float *df, long cells, long channels, int perCell, float *dv) {}
void nca_sgemm_gather(
    int level, long m, long rows, long width, long k, const float *a, long lda, const float *base, const long *offsets,
    long bRowStride, float *c, long ldc, long cRowStride) {}
void nca_sgemm_nn(
    int level, long m, long n, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg, const float *bias,
    const float *src) {}
int nca_sgemm_nn_split(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, long cblock,
    long cbstride) { return 0; }
void nca_sgemm_gather_cells(
    int level, long m, long k, const float *a, long lda, const float *base, const long *offsets, const int *cells,
    long first, long count, long size, long paddedRow, long width, float *c, long ldc) {}
void nca_sgemm_tn_acc(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {}

#endif
