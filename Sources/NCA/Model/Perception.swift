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
    /// n counted from `cells.lowerBound`. Per cell the 9 source offsets are found once; cells
    /// with no zero read (all cells of a periodic or reflecting lattice) copy without a branch.
    /// Rows of P are written contiguously.
    func im2col(_ x: UnsafePointer<T>, cells: Range<Int>, into p: UnsafeMutablePointer<T>) {
        let c = channels
        forEachCell(cells) { rowBase, sources in
            var out = p + rowBase
            if sources[9] == 0 {
                let (s0, s1, s2) = (x + sources[0], x + sources[1], x + sources[2])
                let (s3, s4, s5) = (x + sources[3], x + sources[4], x + sources[5])
                let (s6, s7, s8) = (x + sources[6], x + sources[7], x + sources[8])
                for ch in 0..<c {
                    out[0] = s0[ch]
                    out[1] = s1[ch]
                    out[2] = s2[ch]
                    out[3] = s3[ch]
                    out[4] = s4[ch]
                    out[5] = s5[ch]
                    out[6] = s6[ch]
                    out[7] = s7[ch]
                    out[8] = s8[ch]
                    out += 9
                }
            } else {
                // A cell on a zero boundary.
                for ch in 0..<c {
                    for q in 0..<9 { out[q] = sources[q] < 0 ? 0 : x[sources[q] + ch] }
                    out += 9
                }
            }
        }
    }

    /// The transpose of `im2col`: dx at each neighbour += dP entry (zero reads drop out).
    func col2imAdd(_ p: UnsafePointer<T>, cells: Range<Int>, into dx: UnsafeMutablePointer<T>) {
        let c = channels
        forEachCell(cells) { rowBase, sources in
            var row = p + rowBase
            if sources[9] == 0 {
                let (d0, d1, d2) = (dx + sources[0], dx + sources[1], dx + sources[2])
                let (d3, d4, d5) = (dx + sources[3], dx + sources[4], dx + sources[5])
                let (d6, d7, d8) = (dx + sources[6], dx + sources[7], dx + sources[8])
                for ch in 0..<c {
                    d0[ch] += row[0]
                    d1[ch] += row[1]
                    d2[ch] += row[2]
                    d3[ch] += row[3]
                    d4[ch] += row[4]
                    d5[ch] += row[5]
                    d6[ch] += row[6]
                    d7[ch] += row[7]
                    d8[ch] += row[8]
                    row += 9
                }
            } else {
                for ch in 0..<c {
                    for q in 0..<9 where sources[q] >= 0 { dx[sources[q] + ch] += row[q] }
                    row += 9
                }
            }
        }
    }

    /// Calls `body(rowBase, sources)` for every cell n of `cells` in order, with
    /// rowBase = (n − cells.lowerBound)·C·9, sources[q] the offset of neighbour q's channel 0 in
    /// x (−1 for a zero read) and sources[9] = 1 when any read is a zero read, else 0. Walks
    /// the lattice row by row, so no division per cell.
    @inline(__always)
    private func forEachCell(_ cells: Range<Int>, _ body: (Int, UnsafeMutablePointer<Int>) -> Void) {
        guard !cells.isEmpty else { return }
        let s = size
        let c = channels
        neighbour.withUnsafeBufferPointer { nb in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { buffer in
                // sources[0..<9]: neighbour offsets, [9]: any zero read, [10..<13]: source row
                // bases of the current lattice row, [13..<16]: source columns of the current cell.
                let sources = buffer.baseAddress!
                var n = cells.lowerBound
                var j = n % s
                var i = (n / s) % s
                var lattice = n / (s * s)
                while n < cells.upperBound {
                    for d in 0..<3 {
                        let row = nb[d * s + i]
                        sources[10 + d] = row < 0 ? -1 : (lattice * s + row) * s
                    }
                    let rowEnd = min(cells.upperBound, n - j + s)
                    while n < rowEnd {
                        for e in 0..<3 { sources[13 + e] = nb[e * s + j] }
                        var outside = 0
                        for d in 0..<3 {
                            let base = sources[10 + d]
                            for e in 0..<3 {
                                let column = sources[13 + e]
                                if base < 0 || column < 0 {
                                    sources[d * 3 + e] = -1
                                    outside = 1
                                } else {
                                    sources[d * 3 + e] = (base + column) * c
                                }
                            }
                        }
                        sources[9] = outside
                        body((n - cells.lowerBound) * c * 9, sources)
                        n += 1
                        j += 1
                    }
                    j = 0
                    i += 1
                    if i == s {
                        i = 0
                        lattice += 1
                    }
                }
            }
        }
    }
}
