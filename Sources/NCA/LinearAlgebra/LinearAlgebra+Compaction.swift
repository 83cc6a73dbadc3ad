import CKernels

/// The kernels behind a compacted tile (the cells a step updates): which cells, their rows
/// gathered and scattered, and perception for single cells.
extension LinearAlgebra {
    /// The gathered product for single cells (perception for a tile compacted to some cells):
    /// for j < count, cell i = cells[j] − first of a block of rows `size` cells long, whose
    /// neighbour p lies at `base + (i / size)·paddedRow + (i mod size)·width + offsets[p]`:
    /// `C[r·ldc + j·width + e] = Σ_p A[r, p] · (neighbour p)[e]` for r < m, e < width, p < k.
    public static func productGatheredCells(
        level: KernelLevel, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, base: UnsafePointer<Float>,
        offsets: UnsafePointer<Int>, cells: UnsafePointer<Int32>, first: Int, count: Int, size: Int, paddedRow: Int,
        width: Int, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(level.isOwnKernels && level.isAvailable, "productGatheredCells: kernel level \(level) is not available here")
        precondition(m >= 0 && k >= 0 && lda >= k && count >= 0 && size >= 1 && width >= 1, "productGatheredCells: bad sizes")
        if m == 0 || count == 0 { return }
        nca_sgemm_gather_cells(
            Int32(level.rawValue), m, k, a, lda, base, offsets, cells, first, count, size, paddedRow, width, c, ldc)
    }

    /// The cells a step updates: writes the indices i < n with σ[i] ≠ 0 to `active`
    /// (capacity n), ascending, and returns their count.
    public static func activeCells(sigma: UnsafePointer<Float>, count n: Int, into active: UnsafeMutablePointer<Int32>) -> Int {
        precondition(n >= 0 && n <= Int(Int32.max), "activeCells: bad count \(n)")
        return nca_active_cells(sigma, n, active)
    }

    /// dst row j (`ldd` apart) ← src row rows[j] − first (`lds` apart), `width` elements, j < count
    /// (dst and src do not overlap).
    public static func gatherRows(
        _ src: UnsafePointer<Float>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>, ldd: Int
    ) {
        precondition(count >= 0 && width >= 0 && lds >= width && ldd >= width, "gatherRows: bad sizes")
        nca_gather_rows(src, lds, rows, first, count, width, dst, ldd)
    }

    /// dst row rows[j] − first (`ldd` apart) ← src row j (`lds` apart), `width` elements, j < count.
    public static func scatterRows(
        _ src: UnsafePointer<Float>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>, ldd: Int
    ) {
        precondition(count >= 0 && width >= 0 && lds >= width && ldd >= width, "scatterRows: bad sizes")
        nca_scatter_rows(src, lds, rows, first, count, width, dst, ldd)
    }
}
