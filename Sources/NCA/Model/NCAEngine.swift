import Foundation

/// Runs an NCA on a batch of lattices, forward and backward through time.
///
/// One step (eq. 3–5) over all N = R·S·S cells is a handful of products and tight passes over
/// buffers allocated once per engine:
///
///     Z  = perception(x)                 im2col + GEMM: K planes of n × C per tile
///     A  = Z · W2                        GEMM, n × H (relu applied in the product)
///     x' = x + σ ⊙ (u(A) · W1 + 1·vᵀ)     GEMM, n × C, the residual in the product's epilogue
///
/// σ is drawn once per step and saved on the tape with the step's input x; nothing else is
/// stored: the backward pass recomputes Z and A a tile at a time. For Float on a CPU with
/// AVX-512 or AVX2 (`kernelLevel` > 0) the products run on the small-GEMM kernels of
/// `LinearAlgebra` and perception reads shifted views of a padded copy of each lattice's rows;
/// otherwise on OpenBLAS with separate element-wise passes.
///
/// Parallelism: each worker thread owns whole lattice rows and walks them in tiles of about
/// `tileCells` cells, single-threaded, with its own scratch buffers and gradient accumulators.
/// Workers read the step's input state and write disjoint rows of its output (a different
/// buffer), so results do not depend on scheduling; gradients from the workers are summed in a
/// fixed order, so a run is reproducible bit for bit for a given thread count and kernel level.
public final class NCAEngine<T: BLASScalar>: ParallelJob, @unchecked Sendable {
    public let configuration: ModelConfiguration
    /// R, the number of lattices (batch entries).
    public let batch: Int
    /// S, the lattice side.
    public let size: Int
    /// Worker threads used by a step.
    public let threads: Int
    /// Largest number of cells one GEMM covers: whole lattice rows, about the `tileCells` asked
    /// for (at least one row).
    public let tileCells: Int
    /// Small-GEMM kernels for the dense layers (Float only; see `LinearAlgebra.kernelLevel`):
    /// 2 AVX-512, 1 AVX2, 0 BLAS with separate element-wise passes (always 0 for Double).
    public let kernelLevel: Int

    let perception: Perception<T>
    let cells: Int
    let maskCount: Int
    private let workers: [Worker<T>]
    private let pool: WorkerPool
    private let inputCopy: Buffer<T>  // N × C: the step's input during `run`
    private let sigma: Buffer<T>  // mask, when not recording
    private let ones: Buffer<T>  // tileCells ones, for column sums by GEMV
    private let w1Transposed: Buffer<T>  // C × H, filled by `backward`
    private let w2Transposed: Buffer<T>  // H × K·C, filled by `backward`

    private var tape = Tape<StepRecord<T>>()
    private var recorded = false

    /// Gradient checkpointing: with k > 1, `forward` keeps only every k-th step's input (and the
    /// generator state there) instead of a full record per step, and `backward` recomputes each
    /// segment of k steps from its checkpoint before walking it back. Memory for t steps drops
    /// from t records (state, pre-activation, mask) to ⌈t/k⌉ states plus k records, for one
    /// extra forward pass. Gradients are identical (the recomputation repeats the same
    /// operations with the same mask draws). 1 (default) records every step.
    public var recomputeEvery = 1 {
        didSet { precondition(recomputeEvery >= 1, "NCAEngine: recomputeEvery must be at least 1") }
    }
    private var checkpoints = Tape<SegmentStart<T>>()
    private var checkpointedSteps = 0

    /// λ of the state-range penalty λ · P with P = (1/t) Σ_{n=1…t} Σ_{cells, channels}
    /// relu(−x_n) + relu(x_n − 1) (every channel, hidden ones too): the authors' way of keeping
    /// states in [0, 1]. With λ > 0, `forward` measures λ · P into `lastRangePenalty` and
    /// `backward` adds its gradient (times its `penaltyScale`). 0 (default): neither.
    public var rangePenalty: Double = 0 {
        didSet { precondition(rangePenalty >= 0 && rangePenalty.isFinite, "NCAEngine: rangePenalty must be ≥ 0") }
    }
    /// λ · P of the last `forward` (0 when `rangePenalty` is 0).
    public private(set) var lastRangePenalty: Double = 0
    /// The last `forward`'s final state, kept for the penalty's gradient there.
    private var finalState: Buffer<T>?
    private var recordedSteps = 0
    private var recordedPenalty = 0.0

    /// Default worker count: `NCA_THREADS` from the environment, else the active processor count.
    public static var defaultThreads: Int {
        if let text = ProcessInfo.processInfo.environment["NCA_THREADS"], let n = Int(text), n >= 1 { return min(n, 256) }
        return max(1, min(ProcessInfo.processInfo.activeProcessorCount, 256))
    }

    /// An engine for `batch` lattices of `size` × `size` cells. Sets OpenBLAS to one thread per
    /// call: the engine parallelises over tiles itself. `kernelLevel` (default: the best this CPU
    /// has, unless `NCA_KERNELS` says otherwise) picks the dense layers' kernels for Float.
    public init(
        configuration: ModelConfiguration, batch: Int, size: Int, threads: Int = NCAEngine.defaultThreads, tileCells: Int = 2048,
        kernelLevel: Int = LinearAlgebra.kernelLevel
    ) {
        precondition(batch >= 1 && size >= 1, "NCAEngine: batch \(batch) and size \(size) must be positive")
        precondition(threads >= 1 && tileCells >= 1, "NCAEngine: threads \(threads) and tileCells \(tileCells) must be positive")
        self.configuration = configuration
        self.batch = batch
        self.size = size
        precondition(
            kernelLevel >= 0 && kernelLevel <= LinearAlgebra.kernelLevelOfCPU,
            "NCAEngine: kernel level \(kernelLevel) is not available on this CPU")
        self.kernelLevel = T.self == Float.self ? kernelLevel : 0
        let c = configuration.channels
        let h = configuration.hiddenSize
        let n = batch * size * size
        cells = n
        maskCount = StochasticMask.count(cells: n, channels: c, granularity: configuration.mask)
        perception = Perception(
            kernels: configuration.kernels, boundary: configuration.boundary, batch: batch, size: size, channels: c)
        // Workers and tiles cover whole lattice rows, so that perception can read each row's
        // neighbours from one padded copy (see `Perception`).
        let rows = batch * size
        let workerCount = min(threads, rows)
        self.threads = workerCount
        let rowsPerTile = max(1, min(tileCells / size, (rows + workerCount - 1) / workerCount))
        let tile = rowsPerTile * size
        self.tileCells = tile
        workers = (0..<workerCount).map { w in
            Worker(
                cells: (rows * w / workerCount * size)..<(rows * (w + 1) / workerCount * size), tileCells: tile,
                configuration: configuration, stateCount: n * c, size: size)
        }
        pool = WorkerPool(count: workerCount)
        inputCopy = Buffer(capacity: n * c)
        sigma = Buffer(capacity: maskCount)
        ones = Buffer(capacity: tile)
        ones.fill(1, count: tile)
        w1Transposed = Buffer(capacity: h * c)
        w2Transposed = Buffer(capacity: configuration.perceptionSize * h)
        LinearAlgebra.threadCount = 1
    }

    /// The state shape this engine runs: [R, S, S, C].
    public var stateShape: [Int] { [batch, size, size, configuration.channels] }

    /// Runs `steps` steps on `state` in place, recording nothing.
    public func run(_ model: NCAModel<T>, state: inout Tensor<T>, steps: Int, rng: inout RandomGenerator) {
        checkModel(model)
        precondition(state.shape == stateShape, "NCAEngine.run: state \(state.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.run: negative step count \(steps)")
        let count = cells * configuration.channels
        withWeights(model) { weights in
            state.scalars.withUnsafeMutableBufferPointer { x in
                // Steps alternate between the state and inputCopy; one copy at the end at most.
                var current = x.baseAddress!
                var other = inputCopy.pointer
                for _ in 0..<steps {
                    step(weights, input: current, output: other, sigma: sigma.pointer, rng: &rng)
                    swap(&current, &other)
                }
                if current != x.baseAddress! { x.baseAddress!.update(from: current, count: count) }
            }
        }
    }

    /// Runs `steps` steps from `state`, recording nothing, and keeps the state after every
    /// `every` steps and at the end: frames × R × S × S × C with frame 0 the start, and the step
    /// of each frame. `progress` hears the steps done after each chunk.
    public func trajectory(
        _ model: NCAModel<T>, from state: Tensor<T>, steps: Int, every: Int, rng: inout RandomGenerator,
        progress: ((Int) -> Void)? = nil
    ) -> (frames: Tensor<T>, steps: [Int]) {
        precondition(every >= 1, "NCAEngine.trajectory: every must be at least 1")
        var x = state
        var frames = x.scalars
        var saved = [0]
        var done = 0
        while done < steps {
            let chunk = min(every, steps - done)
            run(model, state: &x, steps: chunk, rng: &rng)
            done += chunk
            frames += x.scalars
            saved.append(done)
            progress?(done)
        }
        return (Tensor(shape: [saved.count] + stateShape, scalars: frames), saved)
    }

    /// Runs `steps` steps from `initial`, recording them on the tape for `backward`, and returns
    /// the final state.
    public func forward(_ model: NCAModel<T>, from initial: Tensor<T>, steps: Int, rng: inout RandomGenerator) -> Tensor<T> {
        checkModel(model)
        precondition(initial.shape == stateShape, "NCAEngine.forward: state \(initial.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.forward: negative step count \(steps)")
        tape.reset()
        checkpoints.reset()
        var x = initial
        let count = cells * configuration.channels
        var penalty = 0.0
        if recomputeEvery > 1 {
            let k = recomputeEvery
            withWeights(model) { weights in
                x.scalars.withUnsafeMutableBufferPointer { xp in
                    var current = xp.baseAddress!
                    var other = inputCopy.pointer
                    for n in 0..<steps {
                        if n % k == 0 {
                            let start = checkpoints.append { SegmentStart(stateCount: count) }
                            start.stateBuffer.pointer.update(from: current, count: count)
                            start.rng = rng
                        }
                        step(weights, input: current, output: other, sigma: sigma.pointer, rng: &rng)
                        penalty += rangeExcess(other, count: count)
                        swap(&current, &other)
                    }
                    if current != xp.baseAddress! { xp.baseAddress!.update(from: current, count: count) }
                }
            }
            checkpointedSteps = steps
            finishForward(x, steps: steps, penalty: penalty)
            return x
        }
        checkpointedSteps = 0
        withWeights(model) { weights in
            x.scalars.withUnsafeMutableBufferPointer { xp in
                // Each step writes its output into the next record's state (the last into x), so
                // the tape costs no copy but the first.
                guard steps > 0 else { return }
                var record = tape.append { StepRecord(stateCount: count, maskCount: maskCount) }
                record.state.update(from: xp.baseAddress!, count: count)
                for n in 0..<steps {
                    let next = n + 1 < steps ? tape.append { StepRecord(stateCount: count, maskCount: maskCount) } : nil
                    let output = next?.state ?? xp.baseAddress!
                    step(weights, input: record.state, output: output, sigma: record.sigma, rng: &rng)
                    penalty += rangeExcess(output, count: count)
                    if let next { record = next }
                }
            }
        }
        finishForward(x, steps: steps, penalty: penalty)
        return x
    }

    private func finishForward(_ x: Tensor<T>, steps: Int, penalty: Double) {
        recorded = true
        recordedSteps = steps
        recordedPenalty = rangePenalty
        lastRangePenalty = rangePenalty > 0 && steps > 0 ? rangePenalty * penalty / Double(steps) : 0
        guard rangePenalty > 0 else { return }
        let count = cells * configuration.channels
        if finalState == nil { finalState = Buffer(capacity: count) }
        x.scalars.withUnsafeBufferPointer { finalState!.pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// Σ relu(−x) + relu(x − 1) over the whole state `x` (0 without a range penalty): each
    /// worker sums its own rows, and the sums are added in worker order.
    private func rangeExcess(_ x: UnsafePointer<T>, count: Int) -> Double {
        guard rangePenalty > 0 else { return 0 }
        job = .rangeExcess(x)
        pool.run(self)
        job = .idle
        var total = 0.0
        for worker in workers { total += worker.rangeExcess }
        return total
    }

    /// g += coefficient · ∂/∂x [relu(−x) + relu(x − 1)] at the step output `x`, each worker on
    /// its own rows.
    private func addRangeGradient(at x: UnsafePointer<T>, coefficient: T, into g: UnsafeMutablePointer<T>) {
        job = .rangeGradient(x, coefficient: coefficient, gradient: g)
        pool.run(self)
        job = .idle
    }

    /// Backpropagates `outputGradient` = ∂L/∂x_t through the steps recorded by the last
    /// `forward`, returning ∂L/∂(W2, W1, v, x_0). With a `rangePenalty` λ, the gradient of
    /// `penaltyScale` · λ · P joins at every step's output.
    public func backward(_ model: NCAModel<T>, outputGradient: Tensor<T>, penaltyScale: T = 1) -> Gradients<T> {
        checkModel(model)
        precondition(outputGradient.shape == stateShape, "NCAEngine.backward: gradient \(outputGradient.shape) ≠ \(stateShape)")
        precondition(recorded, "NCAEngine.backward: call forward first")
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
        for worker in workers { worker.resetAccumulators() }
        var gradients = Gradients<T>(
            w2: Tensor(zeros: [kc, h]), w1: Tensor(zeros: [h, c]), v: Tensor(zeros: [c]), initialState: outputGradient)
        // W1ᵀ (C × H) and W2ᵀ (H × K·C, columns kernel-major: (k, c) at k·C + c), row-major, for
        // the products dH = dF·W1ᵀ and dZ_k = dA·W2_kᵀ.
        let kernels = configuration.kernels.count
        for i in 0..<h {
            for j in 0..<c { w1Transposed.pointer[j * h + i] = model.w1.scalars[i * c + j] }
        }
        for channel in 0..<c {
            for k in 0..<kernels {
                let row = channel * kernels + k
                for j in 0..<h { w2Transposed.pointer[j * kc + k * c + channel] = model.w2.scalars[row * h + j] }
            }
        }
        // The penalty the forward pass measured (its final state is kept only then).
        let coefficient = recordedPenalty > 0 && recordedSteps > 0 ? penaltyScale * T(recordedPenalty / Double(recordedSteps)) : 0
        withWeights(model) { weights in
            gradients.initialState.scalars.withUnsafeMutableBufferPointer { g in
                let g = g.baseAddress!
                if checkpointedSteps > 0 {
                    backwardBySegments(weights, gradient: g, penaltyCoefficient: coefficient)
                } else {
                    // Record i holds x_i; its step's output is record i + 1's state (the last:
                    // the final state).
                    var i = tape.count - 1
                    while i >= 0 {
                        if coefficient != 0 {
                            addRangeGradient(
                                at: i + 1 < tape.count ? tape[i + 1].state : finalState!.pointer, coefficient: coefficient, into: g)
                        }
                        stepBackward(weights, record: tape[i], gradient: g)
                        i -= 1
                    }
                }
            }
        }
        // Sum the workers' weight gradients in worker order.
        for worker in workers {
            for i in 0..<(kc * h) { gradients.w2.scalars[i] += worker.dW2.pointer[i] }
            for i in 0..<(h * c) { gradients.w1.scalars[i] += worker.dW1.pointer[i] }
            for i in 0..<c { gradients.v.scalars[i] += worker.dv.pointer[i] }
        }
        return gradients
    }

    /// The backward pass of a checkpointed forward: for each segment, last first, recompute its
    /// steps from the segment's start state and generator state into the tape, then walk them
    /// back.
    private func backwardBySegments(_ weights: Weights<T>, gradient g: UnsafeMutablePointer<T>, penaltyCoefficient: T) {
        let count = cells * configuration.channels
        let k = recomputeEvery
        var segment = checkpoints.count - 1
        while segment >= 0 {
            let start = checkpoints[segment]
            let length = min(k, checkpointedSteps - segment * k)
            var rng = start.rng
            tape.reset()
            var record = tape.append { StepRecord(stateCount: count, maskCount: maskCount) }
            record.state.update(from: start.stateBuffer.pointer, count: count)
            for n in 0..<length {
                // The segment's last output is not needed: inputCopy (free now) takes it.
                let next = n + 1 < length ? tape.append { StepRecord(stateCount: count, maskCount: maskCount) } : nil
                step(weights, input: record.state, output: next?.state ?? inputCopy.pointer, sigma: record.sigma, rng: &rng)
                if let next { record = next }
            }
            // The segment's last output is the next segment's start (the last: the final state).
            let end = segment + 1 < checkpoints.count ? checkpoints[segment + 1].stateBuffer.pointer : finalState?.pointer
            var i = tape.count - 1
            while i >= 0 {
                if penaltyCoefficient != 0 {
                    addRangeGradient(at: i + 1 < tape.count ? tape[i + 1].state : end!, coefficient: penaltyCoefficient, into: g)
                }
                stepBackward(weights, record: tape[i], gradient: g)
                i -= 1
            }
            segment -= 1
        }
    }

    /// One step: output = input + σ ⊙ F(input), drawing σ. `output` must not overlap `input`:
    /// workers read all of `input` (neighbours) and write their own rows of `output`.
    private func step(
        _ weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, sigma s: UnsafeMutablePointer<T>,
        rng: inout RandomGenerator
    ) {
        StochasticMask.draw(into: s, count: maskCount, skipProbability: configuration.skipProbability, rng: &rng)
        job = .forward(weights: weights, input: input, output: output, sigma: s)
        pool.run(self)
        job = .idle
    }

    /// The pullback of one recorded step: g ← ∂L/∂x_n from g = ∂L/∂x_{n+1}, accumulating the
    /// weight gradients in the workers.
    private func stepBackward(_ weights: Weights<T>, record: StepRecord<T>, gradient g: UnsafeMutablePointer<T>) {
        job = .backward(weights: weights, record: record, gradient: g)
        pool.run(self)
        job = .sum(gradient: g)
        pool.run(self)
        job = .idle
    }

    /// What the workers do in the current parallel phase.
    private enum Job {
        case idle
        case forward(
            weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, sigma: UnsafeMutablePointer<T>)
        case backward(weights: Weights<T>, record: StepRecord<T>, gradient: UnsafeMutablePointer<T>)
        case sum(gradient: UnsafeMutablePointer<T>)
        case rangeExcess(UnsafePointer<T>)
        case rangeGradient(UnsafePointer<T>, coefficient: T, gradient: UnsafeMutablePointer<T>)
    }

    private var job = Job.idle

    // Reached through the `ParallelJob` witness, i.e. from unspecialised code: the
    // pre-specialisations route Float and Double to optimised bodies.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func perform(worker index: Int) {
        let worker = workers[index]
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
            for i in (worker.cells.lowerBound * configuration.channels)..<(worker.cells.upperBound * configuration.channels) {
                let value = Double(x[i])
                if value < 0 { total -= value } else if value > 1 { total += value - 1 }
            }
            worker.rangeExcess = total
        case .rangeGradient(let x, let coefficient, let g):
            for i in (worker.cells.lowerBound * configuration.channels)..<(worker.cells.upperBound * configuration.channels) {
                let value = x[i]
                if value < 0 { g[i] -= coefficient } else if value > 1 { g[i] += coefficient }
            }
        }
    }

    private func forwardTiles(
        _ worker: Worker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
        sigma s: UnsafeMutablePointer<T>
    ) {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let granularity = configuration.mask
        let level = kernelLevel
        // (Index loop: an array iterator allocates per element in unoptimised builds.)
        for t in 0..<worker.tiles.count {
            let range = worker.tiles[t]
            let n = range.count
            let rows = range.lowerBound
            let hidden = hiddenLayer(worker, weights, input: input, cells: range)
            // F = u(A)·W1 + v.
            let maskOffset = granularity == .cell ? rows : rows * c
            if level > 0 {
                // x' = x + σ ⊙ F in the product's epilogue: F never goes to memory.
                LinearAlgebra.productNN(
                    level: level, m: n, n: c, k: h, a: floats(hidden), lda: h, b: floats(weights.w1), ldb: c,
                    c: mutableFloats(output + rows * c), ldc: c, accumulate: false, bias: floats(weights.v),
                    epilogue: .addMasked(
                        floats(s + maskOffset), ldg: granularity == .cell ? 0 : c, source: floats(input + rows * c)))
            } else {
                for cell in 0..<n { (worker.f.pointer + cell * c).update(from: weights.v, count: c) }
                LinearAlgebra.gemm(
                    .none, .none, m: n, n: c, k: h, a: hidden, lda: h, b: weights.w1, ldb: c, beta: 1,
                    c: worker.f.pointer, ldc: c)
                (output + rows * c).update(from: input + rows * c, count: n * c)
                StochasticMask.applyResidual(
                    worker.f.pointer, sigma: s + maskOffset, to: output + rows * c, cells: n, channels: c,
                    granularity: granularity)
            }
        }
    }

    /// Z = perception(x) into worker.z, A = Z·W2 into worker.a, and returns u(A): worker.a itself
    /// for relu (which keeps u(A) in place of A: u′(a) is 1 exactly where u(a) > 0), else
    /// worker.hidden.
    private func hiddenLayer(_ worker: Worker<T>, _ weights: Weights<T>, input: UnsafePointer<T>, cells range: Range<Int>)
        -> UnsafeMutablePointer<T>
    {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let activation = configuration.activation
        let relu = activation == .relu
        let level = kernelLevel
        let kernels = configuration.kernels.count
        let n = range.count
        let a = worker.a.pointer
        perception.forward(input, cells: range, patches: worker.patches.pointer, into: worker.z.pointer, level: level)
        // A = Z·W2, reading Z's K planes (n × C each) against W2's rows (c, k) for each k.
        if level > 0 {
            LinearAlgebra.productNN(
                level: level, m: n, n: h, k: c, blocks: kernels, a: floats(worker.z.pointer), lda: c, aBlockStride: n * c,
                b: floats(weights.w2), ldb: kernels * h, bBlockStride: h, c: mutableFloats(a), ldc: h, accumulate: false,
                epilogue: relu ? .relu : .none)
        } else {
            for k in 0..<kernels {
                LinearAlgebra.gemm(
                    .none, .none, m: n, n: h, k: c, a: worker.z.pointer + k * n * c, lda: c, b: weights.w2 + k * h,
                    ldb: kernels * h, beta: k == 0 ? 0 : 1, c: a, ldc: h)
            }
            if relu { activation.apply(a, into: a, count: n * h) }
        }
        if relu { return a }
        activation.apply(a, into: worker.hidden.pointer, count: n * h)
        return worker.hidden.pointer
    }

    private func backwardTiles(
        _ worker: Worker<T>, _ weights: Weights<T>, record: StepRecord<T>, gradient g: UnsafeMutablePointer<T>
    ) {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
        let activation = configuration.activation
        let relu = activation == .relu
        let granularity = configuration.mask
        let level = kernelLevel
        let kernels = configuration.kernels.count
        // The perception pullback goes to the worker's own buffer: g must stay ∂L/∂x_{n+1}
        // until every tile has taken its dF from it.
        let dx = worker.dx.pointer
        // (Index loop: an array iterator allocates per element in unoptimised builds.)
        for t in 0..<worker.tiles.count {
            let range = worker.tiles[t]
            let n = range.count
            let rows = range.lowerBound
            // Recompute Z (in worker.z) and A from the recorded input: cheaper than storing A
            // for every step and reading it back from memory.
            let hidden = UnsafePointer(hiddenLayer(worker, weights, input: record.state, cells: range))
            let a = UnsafePointer(worker.a.pointer)
            let maskOffset = granularity == .cell ? rows : rows * c
            // x' = x + σ ⊙ F: ∂L/∂x gets g directly (residual) and through F = u(A)·W1 + v.
            if level > 0 {
                LinearAlgebra.residualPullback(
                    floats(g + rows * c), sigma: floats(record.sigma + maskOffset), into: mutableFloats(worker.f.pointer),
                    cells: n, channels: c, perCell: granularity == .cell, biasGradient: mutableFloats(worker.dv.pointer))
            } else {
                StochasticMask.pullback(
                    g + rows * c, sigma: record.sigma + maskOffset, into: worker.f.pointer, cells: n, channels: c,
                    granularity: granularity)
                LinearAlgebra.gemv(
                    .transposed, m: n, n: c, a: worker.f.pointer, lda: c, x: ones.pointer, beta: 1, y: worker.dv.pointer)
            }
            // dW1 += u(A)ᵀ·dF; dA = (dF·W1ᵀ) ⊙ u′(A), into the hidden buffer.
            if level > 0 {
                LinearAlgebra.productTNAccumulate(
                    level: level, m: h, n: c, k: n, a: floats(hidden), lda: h, b: floats(worker.f.pointer), ldb: c,
                    c: mutableFloats(worker.dW1.pointer), ldc: c)
                LinearAlgebra.productNN(
                    level: level, m: n, n: h, k: c, a: floats(worker.f.pointer), lda: c, b: floats(w1Transposed.pointer),
                    ldb: h, c: mutableFloats(worker.hidden.pointer), ldc: h, accumulate: false,
                    epilogue: relu ? .keepWherePositive(floats(a), ldg: h) : .none)
                if !relu { activation.multiplyByDerivative(worker.hidden.pointer, at: a, count: n * h) }
            } else {
                LinearAlgebra.gemm(
                    .transposed, .none, m: h, n: c, k: n, a: hidden, lda: h, b: worker.f.pointer, ldb: c, beta: 1,
                    c: worker.dW1.pointer, ldc: c)
                LinearAlgebra.gemm(
                    .none, .none, m: n, n: h, k: c, a: worker.f.pointer, lda: c, b: w1Transposed.pointer, ldb: h,
                    c: worker.hidden.pointer, ldc: h)
                activation.multiplyByDerivative(worker.hidden.pointer, at: a, count: n * h)
            }
            // dW2 += Zᵀ·dA, plane by plane into W2's rows (c, k); dZ = dA·W2ᵀ plane by plane,
            // into the Z buffer.
            for k in 0..<kernels {
                let plane = worker.z.pointer + k * n * c
                if level > 0 {
                    LinearAlgebra.productTNAccumulate(
                        level: level, m: c, n: h, k: n, a: floats(plane), lda: c, b: floats(worker.hidden.pointer), ldb: h,
                        c: mutableFloats(worker.dW2.pointer + k * h), ldc: kernels * h)
                    LinearAlgebra.productNN(
                        level: level, m: n, n: c, k: h, a: floats(worker.hidden.pointer), lda: h,
                        b: floats(w2Transposed.pointer + k * c), ldb: kc, c: mutableFloats(plane), ldc: c, accumulate: false)
                } else {
                    LinearAlgebra.gemm(
                        .transposed, .none, m: c, n: h, k: n, a: plane, lda: c, b: worker.hidden.pointer, ldb: h, beta: 1,
                        c: worker.dW2.pointer + k * h, ldc: kernels * h)
                    LinearAlgebra.gemm(
                        .none, .none, m: n, n: c, k: h, a: worker.hidden.pointer, lda: h, b: w2Transposed.pointer + k * c,
                        ldb: kc, c: plane, ldc: c)
                }
            }
            if level > 0 && rows % size == 0 && range.upperBound % size == 0 {
                perception.backwardPadded(
                    worker.z.pointer, cells: range, planes: worker.gradientPlanes.pointer, maxRows: worker.tileRows,
                    sum: worker.gradientSum.pointer, offsets: worker.taps, accumulateInto: dx, level: level)
            } else {
                perception.backward(
                    worker.z.pointer, cells: range, patches: worker.patches.pointer, accumulateInto: dx, level: level)
            }
        }
    }

    /// g += Σ_w dx_w over this worker's rows, in worker order, zeroing the buffers for the next step.
    private func sumGradients(_ worker: Worker<T>, into g: UnsafeMutablePointer<T>) {
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

    /// The same memory as Float: only called when `kernelLevel` > 0, i.e. T is Float.
    @inline(__always) private func floats(_ p: UnsafePointer<T>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) private func mutableFloats(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    private func withWeights<R>(_ model: NCAModel<T>, _ body: (Weights<T>) -> R) -> R {
        model.w2.scalars.withUnsafeBufferPointer { w2 in
            model.w1.scalars.withUnsafeBufferPointer { w1 in
                model.v.scalars.withUnsafeBufferPointer { v in
                    body(Weights(w2: w2.baseAddress!, w1: w1.baseAddress!, v: v.baseAddress!))
                }
            }
        }
    }

    private func checkModel(_ model: NCAModel<T>) {
        precondition(
            model.configuration == configuration,
            "NCAEngine: model configuration differs from the engine's; make a new engine for it")
    }
}

/// Read-only pointers to a model's weights for the duration of a pass.
struct Weights<T: BLASScalar>: @unchecked Sendable {
    let w2: UnsafePointer<T>
    let w1: UnsafePointer<T>
    let v: UnsafePointer<T>
}

/// One worker's cells, scratch buffers and gradient accumulators.
final class Worker<T: BLASScalar>: @unchecked Sendable {
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
    /// Lattice rows per tile, and the padded blocks of the perception pullback on the kernels
    /// (see `Perception.backwardPadded`; the gradient planes' borders stay zero).
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

/// Where a checkpointed segment starts: its input state and the generator state for its masks.
final class SegmentStart<T: BLASScalar> {
    let stateBuffer: Buffer<T>
    var rng = RandomGenerator(seed: 0)

    init(stateCount: Int) { stateBuffer = Buffer(capacity: stateCount) }
}

/// What one step leaves on the tape for its pullback: its input and its mask. Everything else
/// (Z, A, u(A)) is recomputed from them a tile at a time.
final class StepRecord<T: BLASScalar> {
    let stateBuffer: Buffer<T>
    let sigmaBuffer: Buffer<T>

    init(stateCount: Int, maskCount: Int) {
        stateBuffer = Buffer(capacity: stateCount)
        sigmaBuffer = Buffer(capacity: maskCount)
    }

    /// x_n, the step's input.
    var state: UnsafeMutablePointer<T> { stateBuffer.pointer }
    /// σ.
    var sigma: UnsafeMutablePointer<T> { sigmaBuffer.pointer }
}

/// ∂L/∂θ and ∂L/∂x_0.
public struct Gradients<T: BLASScalar>: Equatable, Sendable {
    public var w2: Tensor<T>
    public var w1: Tensor<T>
    public var v: Tensor<T>
    public var initialState: Tensor<T>
}
