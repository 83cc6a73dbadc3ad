/// Perception (eq. 1) as im2col + GEMM: the 3×3 kernels applied depthwise to every channel of
/// every cell at once.
///
/// For N = R·S·S cells and C channels, im2col gathers each (cell, channel)'s 3×3 neighbourhood
/// into a row of P ((N·C) × 9, neighbour q = 3·(Δi+1) + (Δj+1)), honouring the boundary; then
/// Z = P · G with G the 9 × K kernel matrix. Read row-major, Z ((N·C) × K) is exactly the
/// N × (K·C) perception matrix in channel-major order (c0,k0), (c0,k1), …, (c1,k0), …
/// The pullback is dP = dZ · Gᵀ followed by col2im, the scatter-add transpose of the gather.
struct Perception<T: BLASScalar> {
    let batch: Int
    let size: Int
    let channels: Int
    let kernelCount: Int
    /// G, 9 × K row-major.
    let kernelMatrix: [T]
    /// For offset d ∈ {−1, 0, 1} and coordinate i, `neighbour[(d + 1) * size + i]` is the
    /// coordinate read, or −1 for a zero read.
    let neighbour: [Int]

    init(kernels: [Kernel], boundary: Boundary, batch: Int, size: Int, channels: Int) {
        self.batch = batch
        self.size = size
        self.channels = channels
        kernelCount = kernels.count
        var g = [T](repeating: 0, count: 9 * kernels.count)
        for (k, kernel) in kernels.enumerated() {
            for q in 0..<9 { g[q * kernels.count + k] = T(kernel.weights[q]) }
        }
        kernelMatrix = g
        var table = [Int](repeating: -1, count: 3 * size)
        for d in -1...1 {
            for i in 0..<size { table[(d + 1) * size + i] = boundary.source(i, offset: d, size: size) ?? -1 }
        }
        neighbour = table
    }

    /// z (n × K·C) for the cells in `cells` (n of them) from the whole state x (N × C);
    /// `patches` needs n·C·9 elements. Row 0 of z is cell `cells.lowerBound`.
    func forward(_ x: UnsafePointer<T>, cells: Range<Int>, patches: UnsafeMutablePointer<T>, into z: UnsafeMutablePointer<T>) {
        im2col(x, cells: cells, into: patches)
        kernelMatrix.withUnsafeBufferPointer { g in
            LinearAlgebra.gemm(
                .none, .none, m: cells.count * channels, n: kernelCount, k: 9, a: patches, lda: 9,
                b: g.baseAddress!, ldb: kernelCount, c: z, ldc: kernelCount)
        }
    }

    /// dx += (∂z/∂x)ᵀ · dz for the cells in `cells` (dz holds their rows); dx is the whole state's
    /// gradient (neighbours outside the range receive their share). `patches` is scratch of
    /// n·C·9 elements.
    func backward(
        _ dz: UnsafePointer<T>, cells: Range<Int>, patches: UnsafeMutablePointer<T>, accumulateInto dx: UnsafeMutablePointer<T>
    ) {
        kernelMatrix.withUnsafeBufferPointer { g in
            LinearAlgebra.gemm(
                .none, .transposed, m: cells.count * channels, n: 9, k: kernelCount, a: dz,
                lda: kernelCount, b: g.baseAddress!, ldb: kernelCount, c: patches, ldc: 9)
        }
        col2imAdd(patches, cells: cells, into: dx)
    }

    /// The gather: P[(n·C + c)·9 + q] = x at neighbour q of cell n, channel c (0 outside), with
    /// n counted from `cells.lowerBound`. Per cell, the 9 source offsets are found once; rows of
    /// P are then written contiguously.
    func im2col(_ x: UnsafePointer<T>, cells: Range<Int>, into p: UnsafeMutablePointer<T>) {
        let c = channels
        forEachCell(cells) { rowBase, sources in
            for ch in 0..<c {
                let row = rowBase + ch * 9
                for q in 0..<9 {
                    let o = sources[q]
                    p[row + q] = o < 0 ? 0 : x[o + ch]
                }
            }
        }
    }

    /// The transpose of `im2col`: dx at each neighbour += dP entry (zero reads drop out).
    func col2imAdd(_ p: UnsafePointer<T>, cells: Range<Int>, into dx: UnsafeMutablePointer<T>) {
        let c = channels
        forEachCell(cells) { rowBase, sources in
            for ch in 0..<c {
                let row = rowBase + ch * 9
                for q in 0..<9 {
                    let o = sources[q]
                    if o >= 0 { dx[o + ch] += p[row + q] }
                }
            }
        }
    }

    /// Calls `body(rowBase, sources)` for every cell n of `cells` in order, with
    /// rowBase = (n − cells.lowerBound)·C·9 and sources[q] the offset of neighbour q's channel 0
    /// in x (−1 for a zero read).
    @inline(__always)
    private func forEachCell(_ cells: Range<Int>, _ body: (Int, UnsafeMutablePointer<Int>) -> Void) {
        let s = size
        let c = channels
        neighbour.withUnsafeBufferPointer { nb in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { buffer in
                let sources = buffer.baseAddress!
                for n in cells {
                    let j = n % s
                    let i = (n / s) % s
                    let lattice = n / (s * s)
                    for di in 0..<3 {
                        let si = nb[di * s + i]
                        for dj in 0..<3 {
                            let sj = nb[dj * s + j]
                            sources[di * 3 + dj] = si < 0 || sj < 0 ? -1 : ((lattice * s + si) * s + sj) * c
                        }
                    }
                    body((n - cells.lowerBound) * c * 9, sources)
                }
            }
        }
    }
}
