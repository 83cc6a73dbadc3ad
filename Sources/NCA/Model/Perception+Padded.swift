/// Perception on whole lattice rows of a backend that `gathers`: padded blocks of rows read as
/// shifted views (im2col by indirection), forward for a tile or for some of its cells, and the
/// transpose.
extension Perception {
    /// `forward` for whole lattice rows with a gathered product: per lattice, the rows and
    /// one neighbour row above and below are copied once into a padded block (the boundary
    /// decides the padding), and the product reads the nine neighbour planes as shifted views
    /// of it — im2col by indirection, no nine-fold copy. An identity kernel's plane is the rows
    /// themselves, copied (the product would add eight zero taps to the same values). `padded`
    /// needs (rows + 2)·(S + 2)·C elements, at most 9·n·C.
    func forwardPadded(
        _ x: UnsafePointer<T>, cells: Range<Int>, padded pad: UnsafeMutablePointer<T>, into z: UnsafeMutablePointer<T>
    ) {
        let s = size
        let c = channels
        let width = cells.count * c
        kernelMatrixTransposed.withUnsafeBufferPointer { gt in
            paddedOffsets.withUnsafeBufferPointer { offsets in
                forEachLatticeBlock(cells) { lattice, i0, i1, row in
                    let count = i1 - i0
                    let out = z + (row * s - cells.lowerBound) * c
                    for index in 0..<identityKernels.count {
                        (out + identityKernels[index] * width).update(from: x + (lattice * s + i0) * s * c, count: count * s * c)
                    }
                    guard !gatheredRuns.isEmpty else { return }
                    fillPadded(x, lattice: lattice, rows: i0..<i1, into: pad)
                    for index in 0..<gatheredRuns.count {
                        let kernels = gatheredRuns[index]
                        backend.productGathered(
                            m: kernels.count, rows: count, width: s * c, k: 9, a: gt.baseAddress! + kernels.lowerBound * 9,
                            lda: 9,
                            base: pad, offsets: offsets.baseAddress!, bRowStride: (s + 2) * c,
                            c: out + kernels.lowerBound * width, ldc: width, cRowStride: s * c)
                    }
                }
            }
        }
    }

    /// Perception for `count` cells of whole lattice rows `cells` only (a tile compacted to the
    /// cells a step updates; on a backend that `compacts`): their tile-relative indices are
    /// `active` (ascending), and row j of plane k (at z + k·planeStride, rows C apart) is cell
    /// active[j]'s response to kernel k. `padded` as for `forward`.
    func forwardCells(
        _ x: UnsafePointer<T>, cells: Range<Int>, active: UnsafePointer<Int32>, count total: Int,
        padded pad: UnsafeMutablePointer<T>, into z: UnsafeMutablePointer<T>, planeStride: Int
    ) {
        precondition(backend.gathers && backend.compacts && wholeRows(cells), "Perception.forwardCells: not on this backend")
        let s = size
        let c = channels
        var cursor = 0  // the first active cell not yet done
        kernelMatrixTransposed.withUnsafeBufferPointer { gt in
            paddedOffsets.withUnsafeBufferPointer { offsets in
                forEachLatticeBlock(cells) { lattice, i0, i1, row in
                    let blockFirst = row * s - cells.lowerBound
                    var end = cursor
                    while end < total && Int(active[end]) < blockFirst + (i1 - i0) * s { end += 1 }
                    guard end > cursor else { return }
                    for index in 0..<identityKernels.count {
                        backend.gatherRows(
                            x + (lattice * s + i0) * s * c, lds: c, rows: active + cursor, first: blockFirst, count: end - cursor,
                            width: c, into: z + identityKernels[index] * planeStride + cursor * c, ldd: c)
                    }
                    if !gatheredRuns.isEmpty {
                        fillPadded(x, lattice: lattice, rows: i0..<i1, into: pad)
                        for index in 0..<gatheredRuns.count {
                            let kernels = gatheredRuns[index]
                            backend.productGatheredCells(
                                m: kernels.count, k: 9, a: gt.baseAddress! + kernels.lowerBound * 9, lda: 9, base: pad,
                                offsets: offsets.baseAddress!, cells: active + cursor, first: blockFirst, count: end - cursor,
                                size: s,
                                paddedRow: (s + 2) * c, width: c, c: z + kernels.lowerBound * planeStride + cursor * c,
                                ldc: planeStride)
                        }
                    }
                    cursor = end
                }
            }
        }
    }

    /// Copies rows `rows` of lattice `lattice`, with one neighbour row above and below and one
    /// neighbour cell left and right (the boundary's: wrapped, mirrored or zero), into the padded
    /// block `pad` ((rows + 2) × (S + 2) × C).
    @inline(__always)
    private func fillPadded(_ x: UnsafePointer<T>, lattice: Int, rows: Range<Int>, into pad: UnsafeMutablePointer<T>) {
        let s = size
        let c = channels
        let paddedRow = (s + 2) * c
        let (left, right) = paddedColumns
        for t in 0..<(rows.count + 2) {
            let source = paddedSource(t, rows.lowerBound, rows.upperBound)
            let target = pad + t * paddedRow
            if source < 0 {
                target.update(repeating: 0, count: paddedRow)
                continue
            }
            let sourceRow = x + (lattice * s + source) * s * c
            (target + c).update(from: sourceRow, count: s * c)
            if left < 0 {
                target.update(repeating: 0, count: c)
            } else {
                target.update(from: sourceRow + left * c, count: c)
            }
            if right < 0 {
                (target + (s + 1) * c).update(repeating: 0, count: c)
            } else {
                (target + (s + 1) * c).update(from: sourceRow + right * c, count: c)
            }
        }
    }

    /// Where `backwardPadded` takes the perception planes' gradient dZ from.
    enum GradientSource {
        /// dZ = dA·W2ᵀ, from dA (n × `width`) and W2ᵀ (`width` × K·C, columns kernel-major).
        case hidden(UnsafePointer<T>, width: Int, w2Transposed: UnsafePointer<T>)
        /// dZ's rows (K·C wide, kernel-major) for `count` cells with tile-relative indices
        /// `active` (ascending); every other cell's dZ is zero.
        case rows(UnsafePointer<T>, active: UnsafePointer<Int32>, count: Int)
    }

    /// `backward` for whole lattice rows on a backend that `gathers`, as the transpose of
    /// `forwardPadded`. dZ (from `source`) is written lattice row by lattice row straight into
    /// blocks padded by two zero cells, one block per kernel (`planes`: K ·
    /// paddedPlaneStride(rows: maxRows) elements, zero on allocation, borders never written): from
    /// dA as one product for all K planes, no copy of dZ. One gathered product then sums, for
    /// every cell of a padded block ((rows + 2) × (S + 2), into `sum`), each non-zero G[q, k] times
    /// kernel k's gradient at the cell that read it as neighbour q; then each padded cell's sum
    /// goes to the cell it was copied from (the boundary's fold: wrapped, mirrored or dropped).
    /// `offsets` is scratch for the taps' offsets (at least 9·K entries).
    func backwardPadded(
        _ source: GradientSource, cells: Range<Int>, planes: UnsafeMutablePointer<T>, maxRows: Int,
        sum: UnsafeMutablePointer<T>, offsets: UnsafeMutablePointer<Int>, accumulateInto dx: UnsafeMutablePointer<T>
    ) {
        let s = size
        let c = channels
        let kc = kernelCount * c
        let planeStride = paddedPlaneStride(rows: maxRows)
        let paddedRow = (s + 4) * c
        let sumRow = (s + 2) * c
        let (left, right) = paddedColumns
        var cursor = 0  // .rows: the first active cell not yet placed
        transposeWeights.withUnsafeBufferPointer { weights in
            forEachLatticeBlock(cells) { lattice, i0, i1, row in
                let count = i1 - i0
                precondition(count <= maxRows, "Perception.backwardPadded: \(count) rows > \(maxRows)")
                let first = row * s - cells.lowerBound
                for t in 0..<count {
                    let target = planes + (t + 2) * paddedRow + 2 * c
                    switch source {
                    case .hidden(let da, let h, let w2Transposed):
                        backend.productIntoBlocks(
                            m: s, n: kc, k: h, a: da + (first + t * s) * h, lda: h, b: w2Transposed, ldb: kc, c: target, ldc: c,
                            blockWidth: c, blockStride: planeStride)
                    case .rows(let dz, let active, let total):
                        let rowStart = first + t * s
                        var end = cursor
                        while end < total && Int(active[end]) < rowStart + s { end += 1 }
                        for k in 0..<kernelCount {
                            (target + k * planeStride).update(repeating: 0, count: s * c)
                            backend.scatterRows(
                                dz + cursor * kc + k * c, lds: kc, rows: active + cursor, first: rowStart, count: end - cursor,
                                width: c, into: target + k * planeStride, ldd: c)
                        }
                        cursor = end
                    }
                }
                for k in 0..<kernelCount {
                    // Rows below this block's last row may hold an earlier, taller block.
                    (planes + k * planeStride + (count + 2) * paddedRow).update(repeating: 0, count: 2 * paddedRow)
                }
                // (Index loop: an iterator allocates per element in unoptimised builds.)
                for tap in 0..<transposeTaps.count {
                    offsets[tap] = transposeTaps[tap].kernel * planeStride + transposeTaps[tap].offset
                }
                backend.productGathered(
                    m: 1, rows: count + 2, width: sumRow, k: weights.count, a: weights.baseAddress!, lda: weights.count,
                    base: planes, offsets: offsets, bRowStride: paddedRow, c: sum, ldc: sumRow, cRowStride: sumRow)
                // Fold: padded cell (t, j) was a copy of (source row, source column).
                for t in 0..<(count + 2) {
                    let source = paddedSource(t, i0, i1)
                    if source < 0 { continue }
                    let target = dx + (lattice * s + source) * s * c
                    let padded = UnsafePointer(sum + t * sumRow)
                    LinearAlgebra.add(padded + c, into: target, count: s * c)
                    if left >= 0 { LinearAlgebra.add(padded, into: target + left * c, count: c) }
                    if right >= 0 { LinearAlgebra.add(padded + (s + 1) * c, into: target + right * c, count: c) }
                }
            }
        }
    }
}
