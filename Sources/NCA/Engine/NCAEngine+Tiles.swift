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

    private func forwardTiles(
        _ worker: EngineWorker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
        sigma s: UnsafeMutablePointer<T>
    ) {
        let c = configuration.channels
        let backend = self.backend
        // (Index loop: an array iterator allocates per element in unoptimised builds.)
        for t in 0..<worker.tiles.count {
            let range = worker.tiles[t]
            let first = range.lowerBound
            let hidden = hiddenLayer(worker, weights, input: input, cells: range)
            backend.residualUpdate(
                cells: range.count, channels: c, hidden: configuration.hiddenSize, hiddenValues: hidden, w1: weights.w1,
                v: weights.v, input: input + first * c, sigma: s + maskOffset(firstCell: first), granularity: configuration.mask,
                output: output + first * c, scratch: worker.f.pointer)
        }
    }

    /// Z = perception(x) into worker.z, A = Z·W2 into worker.a, and returns u(A): worker.a itself
    /// for relu (which keeps u(A) in place of A: u′(a) is 1 exactly where u(a) > 0), else
    /// worker.hidden.
    private func hiddenLayer(_ worker: EngineWorker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, cells range: Range<Int>)
        -> UnsafeMutablePointer<T>
    {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let activation = configuration.activation
        let kernels = configuration.kernels.count
        let n = range.count
        perception.forward(input, cells: range, patches: worker.patches.pointer, into: worker.z.pointer)
        // A = Σ_k Z_k·W2_k: Z's K planes (n × C each) against W2's rows (c, k) for each k.
        backend.blockProduct(
            m: n, n: h, k: c, blocks: kernels, a: worker.z.pointer, lda: c, aBlockStride: n * c, b: weights.w2,
            ldb: kernels * h, bBlockStride: h, c: worker.a.pointer, ldc: h, relu: activation == .relu)
        if activation == .relu { return worker.a.pointer }
        activation.apply(worker.a.pointer, into: worker.hidden.pointer, count: n * h)
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
            let first = range.lowerBound
            // Recompute Z (in worker.z) and A from the recorded input: cheaper than storing A
            // for every step and reading it back from memory.
            let hidden = UnsafePointer(hiddenLayer(worker, weights, input: record.state, cells: range))
            // x' = x + σ ⊙ F: ∂L/∂x gets g directly (residual) and through F = u(A)·W1 + v.
            backend.residualPullback(
                g + first * c, sigma: record.sigma + maskOffset(firstCell: first), granularity: configuration.mask, cells: n,
                channels: c, into: df, biasGradient: worker.dv.pointer)
            // dW1 += u(A)ᵀ·dF; dA = (dF·W1ᵀ) ⊙ u′(A), into the hidden buffer.
            backend.accumulateTransposed(
                m: h, n: c, k: n, a: hidden, lda: h, b: df, ldb: c, c: worker.dW1.pointer, ldc: c)
            backend.hiddenPullback(
                cells: n, hidden: h, channels: c, df: df, w1Transposed: w1Transposed.pointer,
                activation: configuration.activation, at: worker.a.pointer, into: da)
            // dW2 += Zᵀ·dA, plane by plane into W2's rows (c, k); dZ = dA·W2ᵀ plane by plane,
            // into the Z buffer.
            for k in 0..<kernels {
                let plane = worker.z.pointer + k * n * c
                backend.accumulateTransposed(
                    m: c, n: h, k: n, a: plane, lda: c, b: da, ldb: h, c: worker.dW2.pointer + k * h, ldc: kernels * h)
                backend.product(m: n, n: c, k: h, a: da, lda: h, b: w2Transposed.pointer + k * c, ldb: kc, c: plane, ldc: c)
            }
            if backend.gathers && perception.wholeRows(range) {
                perception.backwardPadded(
                    worker.z.pointer, cells: range, planes: worker.gradientPlanes.pointer, maxRows: worker.tileRows,
                    sum: worker.gradientSum.pointer, offsets: worker.taps, accumulateInto: dx)
            } else {
                perception.backward(worker.z.pointer, cells: range, patches: worker.patches.pointer, accumulateInto: dx)
            }
        }
    }

    /// g += Σ_w dx_w over this worker's rows, in worker order, zeroing the buffers for the next step.
    private func sumGradients(_ worker: EngineWorker<T>, into g: UnsafeMutablePointer<T>) {
        let c = configuration.channels
        var k = 0
        while k < workers.count {
            let dx = workers[k].dx.pointer
            for i in (worker.cells.lowerBound * c)..<(worker.cells.upperBound * c) {
                g[i] += dx[i]
                dx[i] = 0
            }
            k += 1
        }
    }
}

/// One worker's cells, scratch buffers and gradient accumulators.
final class EngineWorker<T: BLASScalar>: @unchecked Sendable {
    let cells: Range<Int>
    let tiles: [Range<Int>]
    let patches: Buffer<T>  // 9 planes of tile·C
    let z: Buffer<T>  // K planes of tile·C
    let a: Buffer<T>  // tile × H: A (u(A) for relu)
    let hidden: Buffer<T>  // tile × H
    let f: Buffer<T>  // tile × C
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

    deinit { taps.deallocate() }

    func resetAccumulators() {
        dW2.fill(0, count: dW2.capacity)
        dW1.fill(0, count: dW1.capacity)
        dv.fill(0, count: dv.capacity)
    }
}
