/// Perception (eq. 1) as im2col + GEMM: the 3×3 kernels applied depthwise to every channel of
/// every cell at once.
///
/// For n cells and C channels, im2col writes nine planes: plane q (neighbour q = 3·(Δi+1) +
/// (Δj+1)) holds, for every (cell, channel) in order, the value that neighbour reads, honouring
/// the boundary — for cells along a lattice row that is a shifted copy of the state's row, so
/// the gather is a few contiguous copies per row. P is then 9 × (n·C) and the perception planes
/// are Z = Gᵀ · P ((K × 9)·(9 × n·C), G the 9 × K kernel matrix): plane k of Z is kernel k's
/// response for every (cell, channel). The dense layer reads the K planes in place (SPEC's
/// channel-major (c, k) rows of W2 are read with a stride). The pullback is dP = G · dZ
/// followed by col2im, the shifted adds that transpose the gather. The products run on
/// `backend`; one that `gathers` reads whole lattice rows as shifted views of a padded block.
struct Perception<T: BLASScalar> {
    let backend: any DenseBackend<T>
    let batch: Int
    let size: Int
    let channels: Int
    let kernelCount: Int
    /// G, 9 × K row-major.
    let kernelMatrix: [T]
    /// Gᵀ, K × 9 row-major.
    let kernelMatrixTransposed: [T]
    /// For offset d ∈ {−1, 0, 1} and coordinate i, `neighbour[(d + 1) * size + i]` is the
    /// coordinate read, or −1 for a zero read.
    let neighbour: [Int]
    /// For each column offset d ∈ {−1, 0, 1}, the runs of a full lattice row: triples (first
    /// column j, length, column read by j or −1 for zeros) at `runs[runStart[d + 1] ..<
    /// runStart[d + 2]]`, consecutive columns reading consecutive columns within a run.
    let runs: [Int]
    let runStart: [Int]
    /// Where neighbour q of a cell lies in a padded block of rows ((S + 2) × C per row),
    /// relative to the cell's top-left neighbour: (Δi+1)·(S+2)·C + (Δj+1)·C.
    let paddedOffsets: [Int]
    /// The transpose on padded blocks: for every non-zero G[q, k], its value and where kernel k's
    /// gradient plane is read for neighbour q, relative to a padded cell, in planes padded by
    /// two cells ((S + 4) × C per row, `paddedPlaneStride(rows:)` apart).
    let transposeWeights: [T]
    let transposeTaps: [(kernel: Int, offset: Int)]
    /// The kernels that are the identity (their plane of Z is the state itself, copied), and
    /// the maximal runs of consecutive other kernels, which `forwardPadded` gathers.
    let identityKernels: [Int]
    let gatheredRuns: [Range<Int>]

    init(kernels: [Kernel], boundary: Boundary, batch: Int, size: Int, channels: Int, backend: any DenseBackend<T>) {
        self.backend = backend
        self.batch = batch
        self.size = size
        self.channels = channels
        kernelCount = kernels.count
        var g = [T](repeating: 0, count: 9 * kernels.count)
        var gt = [T](repeating: 0, count: 9 * kernels.count)
        for (k, kernel) in kernels.enumerated() {
            for q in 0..<9 {
                g[q * kernels.count + k] = T(kernel.weights[q])
                gt[k * 9 + q] = T(kernel.weights[q])
            }
        }
        kernelMatrix = g
        kernelMatrixTransposed = gt
        var table = [Int](repeating: -1, count: 3 * size)
        for d in -1...1 {
            for i in 0..<size { table[(d + 1) * size + i] = boundary.source(i, offset: d, size: size) ?? -1 }
        }
        neighbour = table
        var runs: [Int] = []
        var runStart = [0]
        for d in 0..<3 {
            var j = 0
            while j < size {
                let column = table[d * size + j]
                var e = j + 1
                if column >= 0 && column == j + d - 1 {
                    while e < size && table[d * size + e] == e + d - 1 { e += 1 }
                }
                runs += [j, e - j, column]
                j = e
            }
            runStart.append(runs.count)
        }
        self.runs = runs
        self.runStart = runStart
        paddedOffsets = (0..<9).map { q in ((q / 3) * (size + 2) + q % 3) * channels }
        var weights: [T] = []
        var taps: [(kernel: Int, offset: Int)] = []
        for q in 0..<9 {
            for k in 0..<kernels.count where g[q * kernels.count + k] != 0 {
                weights.append(g[q * kernels.count + k])
                taps.append((k, ((2 - q / 3) * (size + 4) + (2 - q % 3)) * channels))
            }
        }
        transposeWeights = weights
        transposeTaps = taps
        identityKernels = kernels.indices.filter { kernels[$0] == .identity }
        var gathered: [Range<Int>] = []
        for k in kernels.indices where kernels[k] != .identity {
            if let last = gathered.last, last.upperBound == k {
                gathered[gathered.count - 1] = last.lowerBound..<(k + 1)
            } else {
                gathered.append(k..<(k + 1))
            }
        }
        gatheredRuns = gathered
    }

    /// Elements between the K gradient planes of `backwardPadded` for tiles of up to `rows`
    /// lattice rows: (rows + 4) × (S + 4) × C.
    func paddedPlaneStride(rows: Int) -> Int { (rows + 4) * (size + 4) * channels }

    /// Cells per im2col chunk: the nine planes of a chunk (about 36 KB) stay in the L1 cache
    /// between the gather and the product that reads them.
    var chunkCells: Int { max(1, 1024 / channels) }

    /// The perception planes z (K × n·C: plane k, then cell, then channel) for the n cells in
    /// `cells`, from the whole state x (N × C); `patches` needs 9·n·C elements. Whole lattice
    /// rows on a backend that `gathers` go through `forwardPadded`; otherwise the range is worked
    /// through in chunks of `chunkCells`: im2col of the chunk, then its columns of Z = Gᵀ·P.
    func forward(
        _ x: UnsafePointer<T>, cells: Range<Int>, patches: UnsafeMutablePointer<T>, into z: UnsafeMutablePointer<T>
    ) {
        let width = cells.count * channels
        if backend.gathers && wholeRows(cells) {
            forwardPadded(x, cells: cells, padded: patches, into: z)
            return
        }
        kernelMatrixTransposed.withUnsafeBufferPointer { gt in
            var start = cells.lowerBound
            while start < cells.upperBound {
                let chunk = start..<min(start + chunkCells, cells.upperBound)
                let chunkWidth = chunk.count * channels
                let out = z + (start - cells.lowerBound) * channels
                im2col(x, cells: chunk, into: patches)
                backend.product(
                    m: kernelCount, n: chunkWidth, k: 9, a: gt.baseAddress!, lda: 9, b: patches, ldb: chunkWidth, c: out,
                    ldc: width)
                start = chunk.upperBound
            }
        }
    }

    /// Whether `cells` covers whole lattice rows.
    func wholeRows(_ cells: Range<Int>) -> Bool { cells.lowerBound % size == 0 && cells.upperBound % size == 0 }

    /// Calls `body(lattice, i0, i1, row)` for each lattice's rows i0 ..< i1 in a range of whole
    /// lattice rows, `row` being the global index of row i0.
    @inline(__always)
    func forEachLatticeBlock(_ cells: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        var row = cells.lowerBound / size
        let lastRow = cells.upperBound / size
        while row < lastRow {
            let i0 = row % size
            let i1 = min(size, i0 + (lastRow - row))
            body(row / size, i0, i1, row)
            row += i1 - i0
        }
    }

    /// The lattice row that row t of a padded block for rows i0 ..< i1 copies: the boundary's
    /// row above i0 for t = 0, below i1 − 1 for the last, −1 for zeros.
    @inline(__always)
    func paddedSource(_ t: Int, _ i0: Int, _ i1: Int) -> Int {
        t == 0 ? neighbour[i0] : t == i1 - i0 + 1 ? neighbour[2 * size + i1 - 1] : i0 + t - 1
    }

    /// The column copied into a padded row's first and last cell (−1: zeros).
    var paddedColumns: (left: Int, right: Int) { (neighbour[0], neighbour[3 * size - 1]) }

    /// dx += (∂z/∂x)ᵀ · dz for the cells in `cells`, dz in the plane layout of `forward`; dx is
    /// the whole state's gradient (neighbours outside the range receive their share).
    /// `patches` is scratch of 9·n·C elements (9 planes of a chunk are used). Chunk by chunk: dP = G·dZ, then col2im.
    func backward(
        _ dz: UnsafePointer<T>, cells: Range<Int>, patches: UnsafeMutablePointer<T>, accumulateInto dx: UnsafeMutablePointer<T>
    ) {
        let width = cells.count * channels
        kernelMatrix.withUnsafeBufferPointer { g in
            var start = cells.lowerBound
            while start < cells.upperBound {
                let chunk = start..<min(start + chunkCells, cells.upperBound)
                let chunkWidth = chunk.count * channels
                let source = dz + (start - cells.lowerBound) * channels
                backend.product(
                    m: 9, n: chunkWidth, k: kernelCount, a: g.baseAddress!, lda: kernelCount, b: source, ldb: width,
                    c: patches, ldc: chunkWidth)
                col2imAdd(patches, cells: chunk, into: dx)
                start = chunk.upperBound
            }
        }
    }

    /// The gather: plane q of P at (n·C + c) = x at neighbour q of cell n, channel c (0 outside),
    /// with n counted from `cells.lowerBound`.
    func im2col(_ x: UnsafePointer<T>, cells: Range<Int>, into p: UnsafeMutablePointer<T>) {
        let c = channels
        let width = cells.count * c
        forEachRun(cells) { plane, out, source, length in
            let target = p + plane * width + out * c
            if source < 0 {
                target.update(repeating: 0, count: length * c)
            } else {
                target.update(from: x + source * c, count: length * c)
            }
        }
    }

    /// The transpose of `im2col`: dx at each neighbour += its entry of dP (zero reads drop out).
    func col2imAdd(_ p: UnsafePointer<T>, cells: Range<Int>, into dx: UnsafeMutablePointer<T>) {
        let c = channels
        let width = cells.count * c
        forEachRun(cells) { plane, out, source, length in
            if source >= 0 { LinearAlgebra.add(p + plane * width + out * c, into: dx + source * c, count: length * c) }
        }
    }

    /// Calls `body(q, out, source, length)` for runs of cells that read neighbour q from
    /// consecutive cells: cells out ..< out + length (counted from `cells.lowerBound`) read cells
    /// source ..< source + length of the state, or zeros when source is −1. Walks the range
    /// lattice row by lattice row, clipping the precomputed runs of a full row to the range.
    @inline(__always)
    private func forEachRun(_ cells: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        guard !cells.isEmpty else { return }
        let s = size
        neighbour.withUnsafeBufferPointer { nb in
            runs.withUnsafeBufferPointer { runs in
                runStart.withUnsafeBufferPointer { runStart in
                    var n = cells.lowerBound
                    while n < cells.upperBound {
                        let lattice = n / (s * s)
                        let i = (n / s) % s
                        let j0 = n % s
                        let j1 = min(s, j0 + (cells.upperBound - n))
                        let out0 = n - cells.lowerBound
                        for di in 0..<3 {
                            let row = nb[di * s + i]
                            let rowBase = (lattice * s + row) * s
                            for dj in 0..<3 {
                                let plane = di * 3 + dj
                                if row < 0 {
                                    body(plane, out0, -1, j1 - j0)
                                    continue
                                }
                                var r = runStart[dj]
                                while r < runStart[dj + 1] {
                                    let start = runs[r]
                                    let end = start + runs[r + 1]
                                    let column = runs[r + 2]
                                    r += 3
                                    if end <= j0 || start >= j1 { continue }
                                    let first = max(start, j0)
                                    let source = column < 0 ? -1 : rowBase + column + (first - start)
                                    body(plane, out0 + first - j0, source, min(end, j1) - first)
                                }
                            }
                        }
                        n += j1 - j0
                    }
                }
            }
        }
    }
}
