// Small-GEMM kernels for the NCA engine's single-precision hot path.
//
// The engine's products are "tall and narrow": millions of cells by a few dozen features.
// General BLAS packs both operands and zeroes the output before each call, which costs as
// much as the arithmetic at these shapes; these kernels read the operands where they lie,
// keep a block of rows × one or two vector widths of the output in registers, and apply the
// engine's element-wise step (relu, relu's derivative) before storing. They are selected at
// run time for the CPU (AVX-512F, or AVX2 with FMA); level 0 means neither is available and
// the caller must use BLAS. All matrices are row-major with leading dimension = row stride.
#ifndef NCA_CKERNELS_H
#define NCA_CKERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// 2: AVX-512F, 1: AVX2 + FMA, 0: neither (use BLAS).
int nca_kernel_level(void);

/// What the NN kernel does to each output element before storing it.
enum {
    NCA_EPILOGUE_NONE = 0,
    /// c ← max(c, 0).
    NCA_EPILOGUE_RELU = 1,
    /// c ← c where g > 0, else 0 (relu's pullback given u(A) in g).
    NCA_EPILOGUE_POSITIVE_OF_G = 2,
    /// c ← src + σ ⊙ c: the residual update x' = x + σ ⊙ F, with σ per row (g[i], ldg = 0) or per
    /// element (g: m × n, leading dimension ldg) and x in src (m × n, leading dimension ldc; NULL:
    /// C itself). Use with accumulate = 0.
    NCA_EPILOGUE_MASKED_ADD = 3,
};

/// C (m × n) ← [C +] A · B [+ 1·biasᵀ], then the epilogue (g: m × n, leading dimension ldg, read only by
/// NCA_EPILOGUE_POSITIVE_OF_G). A (m × blocks·k) is `blocks` column blocks of k columns, block q
/// at a + q·astride with rows lda apart; B (blocks·k × n) the matching row blocks, block q at
/// b + q·bstride with rows ldb apart (blocks = 1: an ordinary product). `accumulate` non-zero
/// adds to C; `bias` (n values, or NULL) is added to every row; `src` is read by
/// NCA_EPILOGUE_MASKED_ADD only. Requires level ≥ 1.
void nca_sgemm_nn(
    int level, long m, long n, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg, const float *bias,
    const float *src);

/// C = A · B (A m × k, B k × n) with C's columns in blocks of `cblock`: column j at
/// c + (j / cblock)·cbstride + (j mod cblock), rows ldc apart (e.g. K planes of C columns each, the
/// product's columns kernel-major). Returns 0, doing nothing, when the kernels have no such
/// store for the shape (n not a multiple of the vector length, or cblock neither a multiple of
/// it nor half of it), else 1. Requires level ≥ 1.
int nca_sgemm_nn_split(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, long cblock,
    long cbstride);

/// C (m × n) += Aᵀ · B with A stored k × m and B stored k × n (a sum over k rows, e.g. cells).
/// Requires level ≥ 1.
void nca_sgemm_tn_acc(
    int level, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc);

/// The product with B's rows gathered: for r < rows, i < m, j < width,
/// C[i·ldc + r·cRowStride + j] = Σ_p A[i, p] · base[offsets[p] + r·bRowStride + j], p < k. im2col
/// by indirection: with B row p pointing at the p-th shifted view of a padded state, this is
/// perception without copying the nine neighbour planes. Requires level ≥ 1.
void nca_sgemm_gather(
    int level, long m, long rows, long width, long k, const float *a, long lda, const float *base, const long *offsets,
    long bRowStride, float *c, long ldc, long cRowStride);

/// The cells a step updates: writes the indices i < n with sigma[i] ≠ 0 to `active`, ascending,
/// and returns their count. Any CPU.
long nca_active_cells(const float *sigma, long n, int *active);

/// dst row j (ldd apart) ← src row rows[j] − first (lds apart), `width` floats, j < count; dst
/// and src do not overlap.
void nca_gather_rows(const float *src, long lds, const int *rows, long first, long count, long width, float *dst, long ldd);

/// dst row rows[j] − first (ldd apart) ← src row j (lds apart), `width` floats, j < count.
void nca_scatter_rows(const float *src, long lds, const int *rows, long first, long count, long width, float *dst, long ldd);

/// The gathered product for single cells (perception for a tile compacted to some cells): for
/// j < count, cell i = cells[j] − first of a block of rows `size` cells long, whose neighbour p
/// lies at base + (i / size)·paddedRow + (i mod size)·width + offsets[p]:
/// C[r·ldc + j·width + e] = Σ_p A[r, p] · (neighbour p)[e] for r < m, e < width, p < k.
/// Requires level ≥ 1.
void nca_sgemm_gather_cells(
    int level, long m, long k, const float *a, long lda, const float *base, const long *offsets, const int *cells,
    long first, long count, long size, long paddedRow, long width, float *c, long ldc);

/// A hint to the CPU that this thread is spin-waiting (x86 `pause`).
void nca_spin_pause(void);

/// The pullback of x ← x + σ ⊙ F for F: df = σ ⊙ g over cells × channels (σ per cell when
/// perCell, else per element), and dv += Σ_cells df. Any level.
void nca_residual_pullback(
    const float *g, const float *sigma, float *df, long cells, long channels, int perCell, float *dv);

/// The smooth activations the engine applies over whole buffers (Activation in Swift).
enum {
    NCA_ACTIVATION_TANH = 0,
    NCA_ACTIVATION_SIGMOID = 1,
    /// x · sigmoid(x).
    NCA_ACTIVATION_SWISH = 2,
};

/// out[i] = u(a[i]) for the activation `kind` (NCA_ACTIVATION_*), n elements; out may be a.
/// Vectorised for the CPU (AVX-512F, AVX2 + FMA, or the baseline); within 4e-7 relative (tanh:
/// absolute) of the exact value. Any CPU.
void nca_activation_forward(int kind, const float *a, float *out, long n);

/// g[i] *= u′(a[i]) for the activation `kind`, n elements. Any CPU.
void nca_activation_pullback(int kind, float *g, const float *a, long n);

#ifdef __cplusplus
}
#endif

#endif
