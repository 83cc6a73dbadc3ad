/// What the workers do in one parallel phase of the engine.
enum EngineJob<T: BLASScalar> {
    case idle
    /// One step: each worker writes its rows of `output` from all of `input`.
    case forward(weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, sigma: UnsafeMutablePointer<T>)
    /// One step's pullback into each worker's own dx and weight-gradient accumulators.
    case backward(weights: Weights<T>, record: StepRecord<T>, gradient: UnsafeMutablePointer<T>)
    /// g = Σ_w dx_w over each worker's rows.
    case sum(gradient: UnsafeMutablePointer<T>)
    case rangeExcess(UnsafePointer<T>)
    case rangeGradient(UnsafePointer<T>, coefficient: T, gradient: UnsafeMutablePointer<T>)
}

/// One worker's tiles of one step, forward and backward. Every product goes through `backend`.
extension NCAEngine {
    // Reached through the `ParallelJob` witness, i.e. from unspecialised code: the
    // pre-specialisations route Float and Double to optimised bodies.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func perform(worker index: Int) {
        let worker = workers[index]
        let elements = (worker.cells.lowerBound * configuration.channels)..<(worker.cells.upperBound * configuration.channels)
        switch job {
        case .idle: break
        case .forward(let weights, let input, let output, let s):
            forwardTiles(worker, weights, input: input, output: output, sigma: s)
        case .backward(let weights, let record, let g):
            backwardTiles(worker, weights, record: record, gradient: g)
        case .sum(let g):
            sumGradients(worker, into: g)
        case .rangeExcess(let x):
            var total = 0.0
            for i in elements {
                let value = Double(x[i])
                if value < 0 { total -= value } else if value > 1 { total += value - 1 }
            }
            worker.rangeExcess = total
        case .rangeGradient(let x, let coefficient, let g):
            for i in elements {
                let value = x[i]
                if value < 0 { g[i] -= coefficient } else if value > 1 { g[i] += coefficient }
            }
        }
    }

    /// Where a tile's mask values start: σ is per cell or per (cell, channel).
    private func maskOffset(firstCell: Int) -> Int {
        configuration.mask == .cell ? firstCell : firstCell * configuration.channels
    }

    /// The cells of tile `range` that the step updates (σ ≠ 0), compacted: with a per-cell mask
    /// on a backend that `compacts`, their count (tile-relative indices in `worker.active`) when
    /// it is below the tile's; nil when every cell is updated or the tile is not compacted. A cell
    /// with σ = 0 keeps its state, so F, A and every gradient through them are needed only at the
    /// others: with p = 0.5 the dense products shrink by half. Results are those of the full tile
    /// (the skipped rows would only add exact zeros).
    private func activeCells(_ worker: EngineWorker<T>, sigma s: UnsafePointer<T>, cells range: Range<Int>) -> Int? {
        guard backend.compacts && configuration.mask == .cell && configuration.skipProbability > 0 else { return nil }
        let count = backend.activeCells(sigma: s + range.lowerBound, count: range.count, into: worker.active)
        return count < range.count ? count : nil
    }

    private func forwardTiles(
        _ worker: EngineWorker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
        sigma s: UnsafeMutablePointer<T>
    ) {
        let c = configuration.channels
        let backend = self.backend
        // (Index loop: an array iterator allocates per element in unoptimised builds.)
        for t in 0..<worker.tiles.count {
            let range = worker.tiles[t]
            let n = range.count
            let first = range.lowerBound
            let active = activeCells(worker, sigma: s, cells: range)
            if active == 0 {
                (output + first * c).update(from: input + first * c, count: n * c)
                continue
            }
            let hidden = hiddenLayer(worker, weights, input: input, cells: range, active: active)
            guard let active else {
                backend.residualUpdate(
                    cells: n, channels: c, hidden: configuration.hiddenSize, hiddenValues: hidden, w1: weights.w1, v: weights.v,
                    input: input + first * c, sigma: s + maskOffset(firstCell: first), granularity: configuration.mask,
                    output: output + first * c, scratch: worker.f.pointer)
                continue
            }
            // The updated cells' x and σ side by side, their x′, and every other cell's x′ = x.
            let rows = UnsafePointer(worker.active)
            backend.gatherRows(
                input + first * c, lds: c, rows: rows, first: 0, count: active, width: c, into: worker.compactState.pointer,
                ldd: c)
            backend.gatherRows(
                s + first, lds: 1, rows: rows, first: 0, count: active, width: 1, into: worker.compactSigma.pointer, ldd: 1)
            backend.residualUpdate(
                cells: active, channels: c, hidden: configuration.hiddenSize, hiddenValues: hidden, w1: weights.w1, v: weights.v,
                input: worker.compactState.pointer, sigma: worker.compactSigma.pointer, granularity: .cell,
                output: worker.compactOutput.pointer, scratch: worker.f.pointer)
            (output + first * c).update(from: input + first * c, count: n * c)
            backend.scatterRows(
                worker.compactOutput.pointer, lds: c, rows: rows, first: 0, count: active, width: c, into: output + first * c,
                ldd: c)
        }
    }

    /// Z = perception(x) into worker.z, A = Z·W2 into worker.a, and returns u(A): worker.a itself
    /// for relu (which keeps u(A) in place of A: u′(a) is 1 exactly where u(a) > 0), else
    /// worker.hidden. With `active` cells (see `activeCells`), perception runs for those cells
    /// only, into the first rows of Z's planes (planes stay n·C apart), and A, u(A) have only
    /// their rows.
    private func hiddenLayer(
        _ worker: EngineWorker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, cells range: Range<Int>, active: Int?
    ) -> UnsafeMutablePointer<T> {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let activation = configuration.activation
        let kernels = configuration.kernels.count
        let n = range.count
        if let active {
            perception.forwardCells(
                input, cells: range, active: worker.active, count: active, padded: worker.patches.pointer, into: worker.z.pointer,
                planeStride: n * c)
        } else {
            perception.forward(input, cells: range, patches: worker.patches.pointer, into: worker.z.pointer)
        }
        let m = active ?? n
        // A = Σ_k Z_k·W2_k: Z's K planes (m × C each) against W2's rows (c, k) for each k.
        backend.blockProduct(
            m: m, n: h, k: c, blocks: kernels, a: worker.z.pointer, lda: c, aBlockStride: n * c, b: weights.w2,
            ldb: kernels * h, bBlockStride: h, c: worker.a.pointer, ldc: h, relu: activation == .relu)
        if activation == .relu { return worker.a.pointer }
        activation.apply(worker.a.pointer, into: worker.hidden.pointer, count: m * h)
        return worker.hidden.pointer
    }

    private func backwardTiles(
        _ worker: EngineWorker<T>, _ weights: Weights<T>, record: StepRecord<T>, gradient g: UnsafeMutablePointer<T>
    ) {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
        let kernels = configuration.kernels.count
        // The perception pullback goes to the worker's own buffer: g must stay ∂L/∂x_{n+1}
        // until every tile has taken its dF from it.
        let dx = worker.dx.pointer
        let df = worker.f.pointer
        let da = worker.hidden.pointer
        // (Index loop: an array iterator allocates per element in unoptimised builds.)
        for t in 0..<worker.tiles.count {
            let range = worker.tiles[t]
            let n = range.count
            let active = activeCells(worker, sigma: record.sigma, cells: range)
            // No cell updated: dF = σ ⊙ g = 0, and nothing flows through F.
            if active == 0 { continue }
            let m = active ?? n
            // Recompute Z (in worker.z) and A from the recorded input: cheaper than storing A
            // for every step and reading it back from memory.
            let hidden = UnsafePointer(hiddenLayer(worker, weights, input: record.state, cells: range, active: active))
            // x' = x + σ ⊙ F: ∂L/∂x gets g directly (residual) and through F = u(A)·W1 + v.
            residualPullback(worker, record: record, gradient: g, cells: range, active: active)
            // dW1 += u(A)ᵀ·dF; dA = (dF·W1ᵀ) ⊙ u′(A), into the hidden buffer.
            backend.accumulateTransposed(
                m: h, n: c, k: m, a: hidden, lda: h, b: df, ldb: c, c: worker.dW1.pointer, ldc: c)
            backend.hiddenPullback(
                cells: m, hidden: h, channels: c, df: df, w1Transposed: w1Transposed.pointer,
                activation: configuration.activation, at: worker.a.pointer, into: da)
            // dW2 += Zᵀ·dA, plane by plane into W2's rows (c, k).
            for k in 0..<kernels {
                backend.accumulateTransposed(
                    m: c, n: h, k: m, a: worker.z.pointer + k * n * c, lda: c, b: da, ldb: h, c: worker.dW2.pointer + k * h,
                    ldc: kernels * h)
            }
            // dZ = dA·W2ᵀ and its perception pullback into dx: on a gathering backend dZ goes
            // straight into padded planes (compacted: the updated cells' rows, K·C wide, into
            // worker.z first), else plane by plane into the Z buffer.
            if backend.gathers && perception.wholeRows(range) {
                let source: Perception<T>.GradientSource
                if let active {
                    backend.product(
                        m: active, n: kc, k: h, a: da, lda: h, b: w2Transposed.pointer, ldb: kc, c: worker.z.pointer, ldc: kc)
                    source = .rows(worker.z.pointer, active: worker.active, count: active)
                } else {
                    source = .hidden(da, width: h, w2Transposed: w2Transposed.pointer)
                }
                perception.backwardPadded(
                    source, cells: range, planes: worker.gradientPlanes.pointer, maxRows: worker.tileRows,
                    sum: worker.gradientSum.pointer, offsets: worker.taps, accumulateInto: dx)
            } else {
                precondition(active == nil, "NCAEngine: compacted tiles need a gathering backend")
                for k in 0..<kernels {
                    backend.product(
                        m: n, n: c, k: h, a: da, lda: h, b: w2Transposed.pointer + k * c, ldb: kc,
                        c: worker.z.pointer + k * n * c,
                        ldc: c)
                }
                perception.backward(worker.z.pointer, cells: range, patches: worker.patches.pointer, accumulateInto: dx)
            }
        }
    }

    /// dF = σ ⊙ g into worker.f and dv += Σ dF for tile `range`: its updated cells' rows only
    /// when the tile is compacted (`active`).
    private func residualPullback(
        _ worker: EngineWorker<T>, record: StepRecord<T>, gradient g: UnsafePointer<T>, cells range: Range<Int>, active: Int?
    ) {
        let c = configuration.channels
        let first = range.lowerBound
        guard let active else {
            backend.residualPullback(
                g + first * c, sigma: record.sigma + maskOffset(firstCell: first), granularity: configuration.mask,
                cells: range.count, channels: c, into: worker.f.pointer, biasGradient: worker.dv.pointer)
            return
        }
        let rows = UnsafePointer(worker.active)
        backend.gatherRows(
            g + first * c, lds: c, rows: rows, first: 0, count: active, width: c, into: worker.compactState.pointer, ldd: c)
        backend.gatherRows(
            record.sigma + first, lds: 1, rows: rows, first: 0, count: active, width: 1, into: worker.compactSigma.pointer, ldd: 1
        )
        backend.residualPullback(
            worker.compactState.pointer, sigma: worker.compactSigma.pointer, granularity: .cell, cells: active, channels: c,
            into: worker.f.pointer, biasGradient: worker.dv.pointer)
    }

    /// g += Σ_w dx_w over this worker's rows, in worker order, zeroing the buffers for the next step.
    /// Perception's pullback stays within a lattice, so worker w's dx is zero outside the
    /// lattices its rows belong to, and only those parts are read.
    private func sumGradients(_ worker: EngineWorker<T>, into g: UnsafeMutablePointer<T>) {
        let c = configuration.channels
        var k = 0
        while k < workers.count {
            let dx = workers[k].dx.pointer
            let lattices = workers[k].lattices
            let first = max(worker.cells.lowerBound, lattices.lowerBound)
            let last = min(worker.cells.upperBound, lattices.upperBound)
            if first < last {
                for i in (first * c)..<(last * c) {
                    g[i] += dx[i]
                    dx[i] = 0
                }
            }
            k += 1
        }
    }
}

/// One worker's cells, scratch buffers and gradient accumulators.
final class EngineWorker<T: BLASScalar>: @unchecked Sendable {
    let cells: Range<Int>
    /// The cells of the lattices `cells` touch: where the perception pullback can write.
    let lattices: Range<Int>
    let tiles: [Range<Int>]
    let patches: Buffer<T>  // 9 planes of tile·C
    let z: Buffer<T>  // K planes of tile·C
    let a: Buffer<T>  // tile × H: A (u(A) for relu)
    let hidden: Buffer<T>  // tile × H
    let f: Buffer<T>  // tile × C
    /// A compacted tile (see `NCAEngine.activeCells`): its updated cells' tile-relative indices,
    /// and their x (or g), σ and x′.
    let active: UnsafeMutablePointer<Int32>
    let compactState: Buffer<T>
    let compactSigma: Buffer<T>
    let compactOutput: Buffer<T>
    let dW2: Buffer<T>
    let dW1: Buffer<T>
    let dv: Buffer<T>
    /// The worker's share of ∂L/∂x_n (whole state), zero between steps.
    let dx: Buffer<T>
    /// Lattice rows per tile, and the padded blocks of the perception pullback on a gathering
    /// backend (see `Perception.backwardPadded`; the gradient planes' borders stay zero).
    let tileRows: Int
    let gradientPlanes: Buffer<T>
    let gradientSum: Buffer<T>
    let taps: UnsafeMutablePointer<Int>
    /// This worker's share of the state-range excess of the last measured state.
    var rangeExcess = 0.0

    init(cells: Range<Int>, tileCells: Int, configuration: ModelConfiguration, stateCount: Int, size: Int) {
        self.cells = cells
        let lattice = size * size
        lattices = (cells.lowerBound / lattice * lattice)..<((cells.upperBound + lattice - 1) / lattice * lattice)
        tiles = stride(from: cells.lowerBound, to: cells.upperBound, by: tileCells).map {
            $0..<min($0 + tileCells, cells.upperBound)
        }
        let c = configuration.channels
        let h = configuration.hiddenSize
        patches = Buffer(capacity: tileCells * c * 9)
        z = Buffer(capacity: tileCells * configuration.perceptionSize)
        a = Buffer(capacity: tileCells * h)
        hidden = Buffer(capacity: tileCells * h)
        f = Buffer(capacity: tileCells * c)
        active = .allocate(capacity: tileCells)
        active.initialize(repeating: 0, count: tileCells)
        compactState = Buffer(capacity: tileCells * c)
        compactSigma = Buffer(capacity: tileCells)
        compactOutput = Buffer(capacity: tileCells * c)
        dW2 = Buffer(capacity: configuration.perceptionSize * h)
        dW1 = Buffer(capacity: h * c)
        dv = Buffer(capacity: c)
        dx = Buffer(capacity: stateCount)
        tileRows = max(1, tileCells / size)
        gradientPlanes = Buffer(capacity: configuration.kernels.count * (tileRows + 4) * (size + 4) * c)
        gradientSum = Buffer(capacity: (tileRows + 2) * (size + 2) * c)
        taps = .allocate(capacity: 9 * configuration.kernels.count)
        taps.initialize(repeating: 0, count: 9 * configuration.kernels.count)
    }

    deinit {
        taps.deallocate()
        active.deallocate()
    }

    func resetAccumulators() {
        dW2.fill(0, count: dW2.capacity)
        dW1.fill(0, count: dW1.capacity)
        dv.fill(0, count: dv.capacity)
    }
}
