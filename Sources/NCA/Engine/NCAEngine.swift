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
/// stored: the backward pass recomputes Z and A a tile at a time. The products run on a
/// `DenseBackend` chosen by `kernelLevel`: nca's AVX-512/AVX2 kernels for Float, with the
/// element-wise work in their epilogues, or OpenBLAS with separate passes. On the kernels, a
/// step with a per-cell mask and p > 0 runs the dense products only on the cells it updates
/// (the others keep their state; see `NCAEngine+Tiles.swift`).
///
/// This file holds the public API and the walks over steps; `NCAEngine+Tiles.swift` what each
/// worker does to its tiles in one step; `StepRecord.swift` what the tape holds.
///
/// Parallelism: each worker thread owns whole lattice rows and walks them in tiles of about
/// `tileCells` cells, single-threaded, with its own scratch buffers and gradient accumulators.
/// Workers read the step's input state and write disjoint rows of its output (a different
/// buffer), so results do not depend on scheduling; gradients from the workers are summed in a
/// fixed order, so a run is reproducible bit for bit for a given thread count and kernel level.
public final class NCAEngine<T: BLASScalar>: ParallelJob, @unchecked Sendable {
    /// The model shape this engine runs.
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
    /// What runs the dense products (always `.blas` for Double).
    public let kernelLevel: KernelLevel

    let backend: any DenseBackend<T>
    let perception: Perception<T>
    let cells: Int
    let maskCount: Int
    let workers: [EngineWorker<T>]
    private let pool: WorkerPool
    private let inputCopy: Buffer<T>  // N × C: the other half of in-place stepping, and a segment's last output
    private let sigma: Buffer<T>  // the mask, when not recording
    let w1Transposed: Buffer<T>  // C × H, filled by `backward`
    let w2Transposed: Buffer<T>  // H × K·C, filled by `backward`

    private var tape = Tape<StepRecord<T>>()
    private var recorded = false

    /// Gradient checkpointing: with k > 1, `forward` keeps only every k-th step's input (and the
    /// generator state there) instead of a full record per step, and `backward` recomputes each
    /// segment of k steps from its checkpoint before walking it back. Memory for t steps drops
    /// from t records (state, mask) to ⌈t/k⌉ states plus k records, for one extra forward pass.
    /// Gradients are identical (the recomputation repeats the same operations with the same mask
    /// draws). 1 (default) records every step.
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

    /// Data-parallel training: this engine's batch is entries `first` ..< `first + batch` of a
    /// mini-batch of `entries`. Each step then draws σ for all `entries` (the random stream a
    /// single process would draw) and uses its own entries' part, so that the ranks of a job
    /// together make the draws of one process. nil (default): the batch is the whole mini-batch.
    public var maskShare: (first: Int, entries: Int)? {
        didSet {
            guard let share = maskShare else { return }
            precondition(share.first >= 0 && share.first + batch <= share.entries, "NCAEngine: maskShare outside the mini-batch")
        }
    }
    /// The last `forward`'s final state, kept for the penalty's gradient there.
    private var finalState: Buffer<T>?
    private var recordedSteps = 0
    private var recordedPenalty = 0.0

    /// What the workers do in the current parallel phase (see `perform(worker:)`).
    var job = EngineJob<T>.idle

    /// Default worker count: `NCA_THREADS` from the environment, else the active processor count.
    public static var defaultThreads: Int {
        if let text = ProcessInfo.processInfo.environment["NCA_THREADS"], let n = Int(text), n >= 1 { return min(n, 256) }
        return max(1, min(ProcessInfo.processInfo.activeProcessorCount, 256))
    }

    /// An engine for `batch` lattices of `size` × `size` cells. Sets OpenBLAS to one thread per
    /// call: the engine parallelises over tiles itself. `kernelLevel` (default: the best this CPU
    /// has, unless `NCA_KERNELS` says otherwise) picks the dense products' backend for Float.
    public init(
        configuration: ModelConfiguration, batch: Int, size: Int, threads: Int = NCAEngine.defaultThreads, tileCells: Int = 2048,
        kernelLevel: KernelLevel = .configured
    ) {
        precondition(batch >= 1 && size >= 1, "NCAEngine: batch \(batch) and size \(size) must be positive")
        precondition(threads >= 1 && tileCells >= 1, "NCAEngine: threads \(threads) and tileCells \(tileCells) must be positive")
        precondition(kernelLevel.isAvailable, "NCAEngine: \(kernelLevel.name) kernels are not available on this CPU")
        self.configuration = configuration
        self.batch = batch
        self.size = size
        let c = configuration.channels
        let n = batch * size * size
        cells = n
        maskCount = StochasticMask.count(cells: n, channels: c, granularity: configuration.mask)
        // Workers and tiles cover whole lattice rows, so that perception can read each row's
        // neighbours from one padded copy (see `Perception`).
        let rows = batch * size
        let workerCount = min(threads, rows)
        self.threads = workerCount
        let rowsPerTile = max(1, min(tileCells / size, (rows + workerCount - 1) / workerCount))
        let tile = rowsPerTile * size
        self.tileCells = tile
        backend = makeDenseBackend(kernelLevel, scalar: T.self, maxCells: tile)
        self.kernelLevel = backend.level
        perception = Perception(
            kernels: configuration.kernels, boundary: configuration.boundary, batch: batch, size: size, channels: c,
            backend: backend)
        workers = (0..<workerCount).map { w in
            EngineWorker(
                cells: (rows * w / workerCount * size)..<(rows * (w + 1) / workerCount * size), tileCells: tile,
                configuration: configuration, stateCount: n * c, size: size)
        }
        pool = WorkerPool(count: workerCount)
        inputCopy = Buffer(capacity: n * c)
        sigma = Buffer(capacity: maskCount)
        w1Transposed = Buffer(capacity: configuration.hiddenSize * c)
        w2Transposed = Buffer(capacity: configuration.perceptionSize * configuration.hiddenSize)
        LinearAlgebra.threadCount = 1
    }

    /// The state shape this engine runs: [R, S, S, C].
    public var stateShape: [Int] { [batch, size, size, configuration.channels] }

    private var stateCount: Int { cells * configuration.channels }

    /// Runs `steps` steps on `state` in place, recording nothing.
    public func run(_ model: NCAModel<T>, state: inout Tensor<T>, steps: Int, rng: inout RandomGenerator) {
        checkModel(model)
        precondition(state.shape == stateShape, "NCAEngine.run: state \(state.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.run: negative step count \(steps)")
        withWeights(model) { weights in
            state.scalars.withUnsafeMutableBufferPointer { x in
                _ = walk(weights, steps: steps, from: x.baseAddress!, to: x.baseAddress!, recording: false, rng: &rng)
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

    /// Runs `steps` steps from `initial`, recording them for `backward` (every step on the tape,
    /// or with `recomputeEvery` k > 1 every k-th input as a checkpoint), and returns the final state.
    public func forward(_ model: NCAModel<T>, from initial: Tensor<T>, steps: Int, rng: inout RandomGenerator) -> Tensor<T> {
        checkModel(model)
        precondition(initial.shape == stateShape, "NCAEngine.forward: state \(initial.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.forward: negative step count \(steps)")
        tape.reset()
        checkpoints.reset()
        let k = recomputeEvery
        checkpointedSteps = k > 1 ? steps : 0
        var x = initial
        let count = stateCount
        let penalty = withWeights(model) { weights in
            x.scalars.withUnsafeMutableBufferPointer { xp in
                walk(
                    weights, steps: steps, from: xp.baseAddress!, to: xp.baseAddress!, recording: k == 1, measure: true,
                    rng: &rng
                ) { n, input, rng in
                    guard k > 1 && n % k == 0 else { return }
                    let start = checkpoints.append { SegmentStart(stateCount: count) }
                    start.stateBuffer.pointer.update(from: input, count: count)
                    start.rng = rng
                }
            }
        }
        recorded = true
        recordedSteps = steps
        recordedPenalty = rangePenalty
        lastRangePenalty = rangePenalty > 0 && steps > 0 ? rangePenalty * penalty / Double(steps) : 0
        if rangePenalty > 0 {
            if finalState == nil { finalState = Buffer(capacity: count) }
            x.scalars.withUnsafeBufferPointer { finalState!.pointer.update(from: $0.baseAddress!, count: count) }
        }
        return x
    }

    /// Backpropagates `outputGradient` = ∂L/∂x_t through the steps recorded by the last
    /// `forward`, returning ∂L/∂(W2, W1, v, x_0). With a `rangePenalty` λ, the gradient of
    /// `penaltyScale` · λ · P joins at every step's output.
    public func backward(_ model: NCAModel<T>, outputGradient: Tensor<T>, penaltyScale: T = 1) -> Gradients<T> {
        checkModel(model)
        precondition(outputGradient.shape == stateShape, "NCAEngine.backward: gradient \(outputGradient.shape) ≠ \(stateShape)")
        precondition(recorded, "NCAEngine.backward: call forward first")
        for worker in workers { worker.resetAccumulators() }
        var gradients = Gradients<T>(
            w2: Tensor(zeros: model.w2.shape), w1: Tensor(zeros: model.w1.shape), v: Tensor(zeros: model.v.shape),
            initialState: outputGradient)
        transposeWeights(model)
        // The penalty the forward pass measured (its final state is kept only then).
        let coefficient = recordedPenalty > 0 && recordedSteps > 0 ? penaltyScale * T(recordedPenalty / Double(recordedSteps)) : 0
        withWeights(model) { weights in
            gradients.initialState.scalars.withUnsafeMutableBufferPointer { g in
                if checkpointedSteps > 0 {
                    backwardBySegments(weights, gradient: g.baseAddress!, penaltyCoefficient: coefficient)
                } else {
                    pullBackTape(
                        weights, gradient: g.baseAddress!, penaltyCoefficient: coefficient, lastOutput: finalState?.pointer)
                }
            }
        }
        // Sum the workers' weight gradients in worker order.
        for worker in workers {
            for i in 0..<gradients.w2.count { gradients.w2.scalars[i] += worker.dW2.pointer[i] }
            for i in 0..<gradients.w1.count { gradients.w1.scalars[i] += worker.dW1.pointer[i] }
            for i in 0..<gradients.v.count { gradients.v.scalars[i] += worker.dv.pointer[i] }
        }
        return gradients
    }

    /// W1ᵀ (C × H) and W2ᵀ (H × K·C, columns kernel-major: (k, c) at k·C + c), row-major, for the
    /// products dH = dF·W1ᵀ and dZ_k = dA·W2_kᵀ.
    private func transposeWeights(_ model: NCAModel<T>) {
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
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
    }

    /// The one step loop: runs `steps` steps from the state at `start` and leaves the last
    /// output at `end`. Recording: the tape is reset and each step's input and mask go on it,
    /// each output straight into the next record (the last into `end`). Not recording: in place
    /// (`start` must be `end`), alternating with `inputCopy`. `beforeStep(n, input, rng)` sees
    /// each step's input and generator; with `measure`, returns Σ of the outputs' range excess.
    private func walk(
        _ weights: Weights<T>, steps: Int, from start: UnsafeMutablePointer<T>, to end: UnsafeMutablePointer<T>,
        recording: Bool, measure: Bool = false, rng: inout RandomGenerator,
        beforeStep: (Int, UnsafePointer<T>, RandomGenerator) -> Void = { _, _, _ in }
    ) -> Double {
        let count = stateCount
        var penalty = 0.0
        guard steps > 0 else { return 0 }
        if recording {
            tape.reset()
            var record = tape.append { StepRecord(stateCount: count, maskCount: maskCount) }
            record.state.update(from: start, count: count)
            for n in 0..<steps {
                beforeStep(n, record.state, rng)
                let next = n + 1 < steps ? tape.append { StepRecord(stateCount: count, maskCount: maskCount) } : nil
                let output = next?.state ?? end
                step(weights, input: record.state, output: output, sigma: record.sigma, rng: &rng)
                if measure { penalty += rangeExcess(output) }
                if let next { record = next }
            }
            return penalty
        }
        precondition(start == end, "NCAEngine.walk: stepping in place needs start == end")
        var current = start
        var other = inputCopy.pointer
        for n in 0..<steps {
            beforeStep(n, current, rng)
            step(weights, input: current, output: other, sigma: sigma.pointer, rng: &rng)
            if measure { penalty += rangeExcess(other) }
            swap(&current, &other)
        }
        if current != end { end.update(from: current, count: count) }
        return penalty
    }

    /// Walks the tape back, last step first: g ← ∂L/∂x_n from ∂L/∂x_{n+1}, adding the range
    /// penalty's gradient at each step's output (record i + 1's input; the last: `lastOutput`).
    private func pullBackTape(
        _ weights: Weights<T>, gradient g: UnsafeMutablePointer<T>, penaltyCoefficient: T, lastOutput: UnsafePointer<T>?
    ) {
        var i = tape.count - 1
        while i >= 0 {
            if penaltyCoefficient != 0 {
                addRangeGradient(
                    at: i + 1 < tape.count ? UnsafePointer(tape[i + 1].state) : lastOutput!, coefficient: penaltyCoefficient,
                    into: g)
            }
            stepBackward(weights, record: tape[i], gradient: g)
            i -= 1
        }
    }

    /// The backward pass of a checkpointed forward: for each segment, last first, recompute its
    /// steps from the segment's start state and generator state onto the tape, then walk them
    /// back.
    private func backwardBySegments(_ weights: Weights<T>, gradient g: UnsafeMutablePointer<T>, penaltyCoefficient: T) {
        let k = recomputeEvery
        var segment = checkpoints.count - 1
        while segment >= 0 {
            let start = checkpoints[segment]
            var rng = start.rng
            // The segment's last output is not needed (it is the next segment's start, or the
            // final state): inputCopy, free now, takes it.
            _ = walk(
                weights, steps: min(k, checkpointedSteps - segment * k), from: start.stateBuffer.pointer, to: inputCopy.pointer,
                recording: true, rng: &rng)
            let end = segment + 1 < checkpoints.count ? checkpoints[segment + 1].stateBuffer.pointer : finalState?.pointer
            pullBackTape(weights, gradient: g, penaltyCoefficient: penaltyCoefficient, lastOutput: end)
            segment -= 1
        }
    }

    /// One step: output = input + σ ⊙ F(input), drawing σ. `output` must not overlap `input`:
    /// workers read all of `input` (neighbours) and write their own rows of `output`.
    private func step(
        _ weights: Weights<T>, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, sigma s: UnsafeMutablePointer<T>,
        rng: inout RandomGenerator
    ) {
        let perEntry = maskCount / batch
        let skipping = maskShare.map { (before: $0.first * perEntry, after: ($0.entries - $0.first - batch) * perEntry) }
        StochasticMask.draw(
            into: s, count: maskCount, skipProbability: configuration.skipProbability, skipping: skipping ?? (0, 0), rng: &rng)
        runJob(.forward(weights: weights, input: input, output: output, sigma: s))
    }

    /// The pullback of one recorded step: g ← ∂L/∂x_n from g = ∂L/∂x_{n+1}, accumulating the
    /// weight gradients in the workers.
    private func stepBackward(_ weights: Weights<T>, record: StepRecord<T>, gradient g: UnsafeMutablePointer<T>) {
        runJob(.backward(weights: weights, record: record, gradient: g))
        runJob(.sum(gradient: g))
    }

    /// Σ relu(−x) + relu(x − 1) over the whole state `x` (0 without a range penalty): each
    /// worker sums its own rows, and the sums are added in worker order.
    private func rangeExcess(_ x: UnsafePointer<T>) -> Double {
        guard rangePenalty > 0 else { return 0 }
        runJob(.rangeExcess(x))
        var total = 0.0
        for worker in workers { total += worker.rangeExcess }
        return total
    }

    /// g += coefficient · ∂/∂x [relu(−x) + relu(x − 1)] at the step output `x`, each worker on
    /// its own rows.
    private func addRangeGradient(at x: UnsafePointer<T>, coefficient: T, into g: UnsafeMutablePointer<T>) {
        runJob(.rangeGradient(x, coefficient: coefficient, gradient: g))
    }

    /// Runs one parallel phase on every worker and waits for it.
    private func runJob(_ phase: EngineJob<T>) {
        job = phase
        pool.run(self)
        job = .idle
    }
}
