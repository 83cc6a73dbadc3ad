// One instruction set's kernels; included by kernels.c once per level with these macros set:
// SUFFIX, TARGET, VL (floats per vector), VEC, MASK, MAKEMASK(w), LOADM(p, m), STOREM(p, m, v),
// STORE_HALVES(p, offset, v) (lower half at p, upper at p + offset), BCAST(x), FMA(a, b, c) = a·b + c, ADD, ZERO, RELU(v), POSMASK(v, g), MR_NN, MR_TN.

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

// Rows [0, mr) × columns j0 + [0, NV·VL) of the NN product; NV ∈ {1, 2} vectors per row.
// A is split into `blocks` column blocks of k columns each, block q starting q·astride
// elements after a (rows lda apart); B into the matching row blocks, q·bstride after b.
// The second vector of a row is stored c1 elements after the first (VL: contiguous); with
// split ≠ 0 (a plain product, full vectors), each vector's upper half goes split elements
// after its lower half.
static inline __attribute__((always_inline)) TARGET void CAT(nn_block, SUFFIX)(
    int mr, int nv, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, long c1, long split, MASK m0, MASK m1, int accumulate, int epilogue,
    const float *g, long ldg, const float *bias, const float *src)
{
    VEC acc0[MR_NN], acc1[MR_NN];
    VEC bias0 = bias ? LOADM(bias, m0) : ZERO;
    VEC bias1 = (bias && nv > 1) ? LOADM(bias + VL, m1) : ZERO;
    for (int i = 0; i < mr; i++) {
        acc0[i] = accumulate ? ADD(LOADM(c + i * ldc, m0), bias0) : bias0;
        acc1[i] = (nv > 1 && accumulate) ? ADD(LOADM(c + i * ldc + VL, m1), bias1) : bias1;
    }
    for (long q = 0; q < blocks; q++) {
        const float *aq = a + q * astride;
        const float *bq = b + q * bstride;
        for (long p = 0; p < k; p++) {
            VEC b0 = LOADM(bq + p * ldb, m0);
            if (nv > 1) {
                VEC b1 = LOADM(bq + p * ldb + VL, m1);
                for (int i = 0; i < mr; i++) {
                    VEC x = BCAST(aq[i * lda + p]);
                    acc0[i] = FMA(x, b0, acc0[i]);
                    acc1[i] = FMA(x, b1, acc1[i]);
                }
            } else {
                for (int i = 0; i < mr; i++) acc0[i] = FMA(BCAST(aq[i * lda + p]), b0, acc0[i]);
            }
        }
    }
    for (int i = 0; i < mr; i++) {
        VEC v0 = acc0[i], v1 = acc1[i];
        if (epilogue == NCA_EPILOGUE_RELU) {
            v0 = RELU(v0);
            v1 = RELU(v1);
        } else if (epilogue == NCA_EPILOGUE_POSITIVE_OF_G) {
            v0 = POSMASK(v0, LOADM(g + i * ldg, m0));
            if (nv > 1) v1 = POSMASK(v1, LOADM(g + i * ldg + VL, m1));
        } else if (epilogue == NCA_EPILOGUE_MASKED_ADD) {
            VEC s0 = ldg ? LOADM(g + i * ldg, m0) : BCAST(g[i]);
            v0 = FMA(s0, v0, LOADM(src + i * ldc, m0));
            if (nv > 1) {
                VEC s1 = ldg ? LOADM(g + i * ldg + VL, m1) : s0;
                v1 = FMA(s1, v1, LOADM(src + i * ldc + VL, m1));
            }
        }
        if (split) {
            STORE_HALVES(c + i * ldc, split, v0);
            if (nv > 1) STORE_HALVES(c + i * ldc + c1, split, v1);
        } else {
            STOREM(c + i * ldc, m0, v0);
            if (nv > 1) STOREM(c + i * ldc + c1, m1, v1);
        }
    }
}

// The last rows (fewer than MR_NN) with the row count as a constant, so that the
// accumulators stay in registers.
static inline __attribute__((always_inline)) TARGET void CAT(nn_rest, SUFFIX)(
    int mr, int nv, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, long c1, long split, MASK m0, MASK m1, int accumulate, int epilogue,
    const float *g, long ldg, const float *bias, const float *src)
{
#define NN_REST(R) \
    case R: \
        if (nv > 1) \
            CAT(nn_block, SUFFIX)(R, 2, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, c1, split, m0, m1, \
                accumulate, epilogue, g, ldg, bias, src); \
        else \
            CAT(nn_block, SUFFIX)(R, 1, blocks, k, a, lda, astride, b, ldb, bstride, c, ldc, c1, split, m0, m1, \
                accumulate, epilogue, g, ldg, bias, src); \
        break;
    switch (mr) {
        NN_REST(1)
        NN_REST(2)
        NN_REST(3)
        NN_REST(4)
        NN_REST(5)
#if MR_NN > 6
        NN_REST(6)
        NN_REST(7)
#endif
    default: break;
    }
#undef NN_REST
}

// Column j of C lies at c + (j / cblock)·cbstride + j mod cblock (cblock = 0: at c + j). With
// column blocks, cblock is a multiple of VL or VL / 2 and n a multiple of VL (checked by the caller).
TARGET void CAT(nca_sgemm_nn_, SUFFIX)(
    long m, long n, long blocks, long k, const float *a, long lda, long astride, const float *b, long ldb,
    long bstride, float *c, long ldc, int accumulate, int epilogue, const float *g, long ldg, const float *bias,
    const float *src, long cblock, long cbstride)
{
    if (!src) src = c;
    for (long j0 = 0; j0 < n; j0 += 2 * VL) {
        long w = n - j0 < 2 * VL ? n - j0 : 2 * VL;
        int nv = w > VL ? 2 : 1;
        MASK m0 = MAKEMASK(w > VL ? VL : w);
        MASK m1 = MAKEMASK(w > VL ? w - VL : 0);
        const float *gj = g ? (ldg ? g + j0 : g) : g;
        const float *biasj = bias ? bias + j0 : bias;
        float *cj = c + j0;
        long c1 = VL, split = 0;
        if (cblock) {
            cj = c + (j0 / cblock) * cbstride + j0 % cblock;
            c1 = ((j0 + VL) / cblock) * cbstride + (j0 + VL) % cblock - (cj - c);
            if (2 * cblock == VL) split = cbstride;
        }
        long i = 0;
        if (nv == 2) {
            for (; i + MR_NN <= m; i += MR_NN)
                CAT(nn_block, SUFFIX)(MR_NN, 2, blocks, k, a + i * lda, lda, astride, b + j0, ldb, bstride,
                    cj + i * ldc, ldc, c1, split, m0, m1, accumulate, epilogue, gj ? gj + (ldg ? i * ldg : i) : gj, ldg, biasj, src + i * ldc + j0);
        } else {
            for (; i + MR_NN <= m; i += MR_NN)
                CAT(nn_block, SUFFIX)(MR_NN, 1, blocks, k, a + i * lda, lda, astride, b + j0, ldb, bstride,
                    cj + i * ldc, ldc, c1, split, m0, m1, accumulate, epilogue, gj ? gj + (ldg ? i * ldg : i) : gj, ldg, biasj, src + i * ldc + j0);
        }
        if (i < m)
            CAT(nn_rest, SUFFIX)((int)(m - i), nv, blocks, k, a + i * lda, lda, astride, b + j0, ldb, bstride,
                cj + i * ldc, ldc, c1, split, m0, m1, accumulate, epilogue, gj ? gj + (ldg ? i * ldg : i) : gj, ldg, biasj, src + i * ldc + j0);
    }
}

// Rows [0, mr) of C (columns j0 + [0, NV·VL)) += Σ_p A[p, i]·B[p, j].
static inline __attribute__((always_inline)) TARGET void CAT(tn_block, SUFFIX)(
    int mr, int nv, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc, MASK m0, MASK m1)
{
    VEC acc0[MR_TN], acc1[MR_TN];
    for (int i = 0; i < mr; i++) {
        acc0[i] = ZERO;
        acc1[i] = ZERO;
    }
    for (long p = 0; p < k; p++) {
        VEC b0 = LOADM(b + p * ldb, m0);
        if (nv > 1) {
            VEC b1 = LOADM(b + p * ldb + VL, m1);
            for (int i = 0; i < mr; i++) {
                VEC x = BCAST(a[p * lda + i]);
                acc0[i] = FMA(x, b0, acc0[i]);
                acc1[i] = FMA(x, b1, acc1[i]);
            }
        } else {
            for (int i = 0; i < mr; i++) acc0[i] = FMA(BCAST(a[p * lda + i]), b0, acc0[i]);
        }
    }
    for (int i = 0; i < mr; i++) {
        STOREM(c + i * ldc, m0, ADD(LOADM(c + i * ldc, m0), acc0[i]));
        if (nv > 1) STOREM(c + i * ldc + VL, m1, ADD(LOADM(c + i * ldc + VL, m1), acc1[i]));
    }
}

TARGET void CAT(nca_sgemm_tn_acc_, SUFFIX)(
    long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc)
{
    for (long j0 = 0; j0 < n; j0 += 2 * VL) {
        long w = n - j0 < 2 * VL ? n - j0 : 2 * VL;
        int nv = w > VL ? 2 : 1;
        MASK m0 = MAKEMASK(w > VL ? VL : w);
        MASK m1 = MAKEMASK(w > VL ? w - VL : 0);
        long i = 0;
        if (nv == 2) {
            for (; i + MR_TN <= m; i += MR_TN)
                CAT(tn_block, SUFFIX)(MR_TN, 2, k, a + i, lda, b + j0, ldb, c + i * ldc + j0, ldc, m0, m1);
        } else {
            for (; i + MR_TN <= m; i += MR_TN)
                CAT(tn_block, SUFFIX)(MR_TN, 1, k, a + i, lda, b + j0, ldb, c + i * ldc + j0, ldc, m0, m1);
        }
        if (i < m) {
            int mr = (int)(m - i);
            const float *ai = a + i;
            float *ci = c + i * ldc + j0;
#define TN_REST(R) \
    case R: \
        if (nv > 1) CAT(tn_block, SUFFIX)(R, 2, k, ai, lda, b + j0, ldb, ci, ldc, m0, m1); \
        else CAT(tn_block, SUFFIX)(R, 1, k, ai, lda, b + j0, ldb, ci, ldc, m0, m1); \
        break;
            switch (mr) {
                TN_REST(1)
                TN_REST(2)
                TN_REST(3)
                TN_REST(4)
                TN_REST(5)
#if MR_TN > 6
                TN_REST(6)
                TN_REST(7)
#endif
            default: break;
            }
#undef TN_REST
        }
    }
}

// Rows [0, mr) × columns [0, NV·VL) of the gathered product: B row p is base + offsets[p].
static inline __attribute__((always_inline)) TARGET void CAT(gather_block, SUFFIX)(
    int mr, int nv, long k, const float *a, long lda, const float *base, const long *offsets, float *c, long ldc, MASK m0,
    MASK m1)
{
    VEC acc0[MR_NN], acc1[MR_NN];
    for (int i = 0; i < mr; i++) {
        acc0[i] = ZERO;
        acc1[i] = ZERO;
    }
    for (long p = 0; p < k; p++) {
        const float *bp = base + offsets[p];
        VEC b0 = LOADM(bp, m0);
        if (nv > 1) {
            VEC b1 = LOADM(bp + VL, m1);
            for (int i = 0; i < mr; i++) {
                VEC x = BCAST(a[i * lda + p]);
                acc0[i] = FMA(x, b0, acc0[i]);
                acc1[i] = FMA(x, b1, acc1[i]);
            }
        } else {
            for (int i = 0; i < mr; i++) acc0[i] = FMA(BCAST(a[i * lda + p]), b0, acc0[i]);
        }
    }
    for (int i = 0; i < mr; i++) {
        STOREM(c + i * ldc, m0, acc0[i]);
        if (nv > 1) STOREM(c + i * ldc + VL, m1, acc1[i]);
    }
}

TARGET void CAT(nca_sgemm_gather_, SUFFIX)(
    long m, long rows, long width, long k, const float *a, long lda, const float *base, const long *offsets,
    long bRowStride, float *c, long ldc, long cRowStride)
{
    for (long r = 0; r < rows; r++) {
        const float *br = base + r * bRowStride;
        float *cr = c + r * cRowStride;
        for (long j0 = 0; j0 < width; j0 += 2 * VL) {
            long w = width - j0 < 2 * VL ? width - j0 : 2 * VL;
            int nv = w > VL ? 2 : 1;
            MASK m0 = MAKEMASK(w > VL ? VL : w);
            MASK m1 = MAKEMASK(w > VL ? w - VL : 0);
            for (long i = 0; i < m; i += MR_NN) {
                int mr = m - i < MR_NN ? (int)(m - i) : MR_NN;
                const float *ai = a + i * lda;
                float *ci = cr + i * ldc + j0;
#define GATHER(R) \
    case R: \
        if (nv > 1) CAT(gather_block, SUFFIX)(R, 2, k, ai, lda, br + j0, offsets, ci, ldc, m0, m1); \
        else CAT(gather_block, SUFFIX)(R, 1, k, ai, lda, br + j0, offsets, ci, ldc, m0, m1); \
        break;
                switch (mr) {
                    GATHER(1)
                    GATHER(2)
                    GATHER(3)
                    GATHER(4)
                    GATHER(5)
                    GATHER(6)
#if MR_NN > 6
                    GATHER(7)
                    GATHER(8)
#endif
                default: break;
                }
#undef GATHER
            }
        }
    }
}

// The gathered product for single cells (perception for a compacted tile): for j < count, the
// cell i = cells[j] − first of a block of rows `size` cells long, whose neighbour p lies at
// base + (i / size)·paddedRow + (i mod size)·width + offsets[p]: C[r·ldc + j·width + e] =
// Σ_p A[r, p] · neighbour p's element e, for r < m (at most MR_NN), e < width. The row count
// is a constant in each instance, so the accumulators stay in registers.
static inline __attribute__((always_inline)) TARGET void CAT(gather_cells_block, SUFFIX)(
    int m, long k, const float *a, long lda, const float *base, const long *offsets, const int *cells, long first,
    long count, long size, long paddedRow, long width, float *c, long ldc)
{
    for (long j = 0; j < count; j++) {
        long i = cells[j] - first;
        const float *cb = base + (i / size) * paddedRow + (i % size) * width;
        float *cj = c + j * width;
        for (long e = 0; e < width; e += VL) {
            MASK lanes = MAKEMASK(width - e < VL ? width - e : VL);
            VEC acc[MR_NN];
            for (int r = 0; r < m; r++) acc[r] = ZERO;
            for (long p = 0; p < k; p++) {
                VEC b = LOADM(cb + offsets[p] + e, lanes);
                for (int r = 0; r < m; r++) acc[r] = FMA(BCAST(a[r * lda + p]), b, acc[r]);
            }
            for (int r = 0; r < m; r++) STOREM(cj + r * ldc + e, lanes, acc[r]);
        }
    }
}

TARGET void CAT(nca_sgemm_gather_cells_, SUFFIX)(
    long m, long k, const float *a, long lda, const float *base, const long *offsets, const int *cells, long first,
    long count, long size, long paddedRow, long width, float *c, long ldc)
{
    switch (m) {
#define GATHER_CELLS(R) \
    case R: \
        CAT(gather_cells_block, SUFFIX)(R, k, a, lda, base, offsets, cells, first, count, size, paddedRow, width, c, ldc); \
        break;
        GATHER_CELLS(1)
        GATHER_CELLS(2)
        GATHER_CELLS(3)
        GATHER_CELLS(4)
        GATHER_CELLS(5)
        GATHER_CELLS(6)
#if MR_NN > 6
        GATHER_CELLS(7)
        GATHER_CELLS(8)
#endif
#undef GATHER_CELLS
    default: break;
    }
}
