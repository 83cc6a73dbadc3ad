/// Runs an NCA on a batch of lattices, forward and backward through time.
///
/// One step (eq. 3–5) over all N = R·S·S cells is a handful of BLAS calls and tight passes over
/// buffers allocated once per engine:
///
///     Z  = perception(x)                 im2col + GEMM, N × K·C
///     A  = Z · W2                        GEMM, N × H (saved on the tape)
///     F  = u(A) · W1 + 1·vᵀ              GEMM, N × C
///     x' = x + σ ⊙ F                     σ drawn once and saved on the tape
///
/// The tape keeps, per step, the input state, A and σ; the backward pass recomputes Z and u(A)
/// from them (cheap next to the GEMMs) instead of storing them. Gradients accumulate with `+=`
/// (BLAS β = 1) over steps, so a weight used by every step gets the sum of its contributions.
public final class NCAEngine<T: BLASScalar> {
    public let configuration: ModelConfiguration
    /// R, the number of lattices (batch entries).
    public let batch: Int
    /// S, the lattice side.
    public let size: Int

    let perception: Perception<T>
    let cells: Int
    let maskCount: Int

    // Scratch, sized once.
    private let patches: Buffer<T>  // N·C × 9 (im2col, and its pullback)
    private let z: Buffer<T>  // N × K·C
    private let hidden: Buffer<T>  // N × H: u(A), then dL/d u(A)
    private let preActivation: Buffer<T>  // N × H, when not recording
    private let sigma: Buffer<T>  // mask, when not recording
    private let f: Buffer<T>  // N × C: update, then dL/dF
    private let ones: Buffer<T>  // N ones, for column sums by GEMV

    private var tape = Tape<StepRecord<T>>()
    private var finalState: Tensor<T>?

    /// An engine for `batch` lattices of `size` × `size` cells.
    public init(configuration: ModelConfiguration, batch: Int, size: Int) {
        precondition(batch >= 1 && size >= 1, "NCAEngine: batch \(batch) and size \(size) must be positive")
        self.configuration = configuration
        self.batch = batch
        self.size = size
        let c = configuration.channels
        let h = configuration.hiddenSize
        let n = batch * size * size
        cells = n
        maskCount = StochasticMask.count(cells: n, channels: c, granularity: configuration.mask)
        perception = Perception(
            kernels: configuration.kernels, boundary: configuration.boundary, batch: batch, size: size,
            channels: c)
        patches = Buffer(capacity: n * c * 9)
        z = Buffer(capacity: n * configuration.perceptionSize)
        hidden = Buffer(capacity: n * h)
        preActivation = Buffer(capacity: n * h)
        sigma = Buffer(capacity: maskCount)
        f = Buffer(capacity: n * c)
        ones = Buffer(capacity: n)
        ones.fill(1, count: n)
    }

    /// The state shape this engine runs: [R, S, S, C].
    public var stateShape: [Int] { [batch, size, size, configuration.channels] }

    /// Runs `steps` steps on `state` in place, recording nothing.
    public func run(_ model: NCAModel<T>, state: inout Tensor<T>, steps: Int, rng: inout RandomGenerator) {
        checkModel(model)
        precondition(state.shape == stateShape, "NCAEngine.run: state \(state.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.run: negative step count \(steps)")
        state.scalars.withUnsafeMutableBufferPointer { x in
            for _ in 0..<steps {
                step(model, x.baseAddress!, preActivation: preActivation.pointer, sigma: sigma.pointer, rng: &rng)
            }
        }
    }

    /// Runs `steps` steps from `initial`, recording them on the tape for `backward`, and returns
    /// the final state.
    public func forward(_ model: NCAModel<T>, from initial: Tensor<T>, steps: Int, rng: inout RandomGenerator)
        -> Tensor<T>
    {
        checkModel(model)
        precondition(initial.shape == stateShape, "NCAEngine.forward: state \(initial.shape) ≠ \(stateShape)")
        precondition(steps >= 0, "NCAEngine.forward: negative step count \(steps)")
        tape.reset()
        var x = initial
        let n = cells * configuration.channels
        let hn = cells * configuration.hiddenSize
        x.scalars.withUnsafeMutableBufferPointer { xp in
            let x = xp.baseAddress!
            for _ in 0..<steps {
                let record = tape.append { StepRecord(stateCount: n, preActivationCount: hn, maskCount: maskCount) }
                record.state.update(from: x, count: n)
                step(model, x, preActivation: record.preActivation, sigma: record.sigma, rng: &rng)
            }
        }
        finalState = x
        return x
    }

    /// Backpropagates `outputGradient` = ∂L/∂x_t through the steps recorded by the last
    /// `forward`, returning ∂L/∂(W2, W1, v, x_0).
    public func backward(_ model: NCAModel<T>, outputGradient: Tensor<T>) -> Gradients<T> {
        checkModel(model)
        precondition(outputGradient.shape == stateShape, "NCAEngine.backward: gradient \(outputGradient.shape) ≠ \(stateShape)")
        precondition(finalState != nil, "NCAEngine.backward: call forward first")
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
        var gradients = Gradients<T>(
            w2: Tensor(zeros: [kc, h]), w1: Tensor(zeros: [h, c]), v: Tensor(zeros: [c]),
            initialState: outputGradient)
        let n = cells
        let activation = configuration.activation
        model.w2.scalars.withUnsafeBufferPointer { w2 in
            model.w1.scalars.withUnsafeBufferPointer { w1 in
                gradients.w2.scalars.withUnsafeMutableBufferPointer { dW2 in
                    gradients.w1.scalars.withUnsafeMutableBufferPointer { dW1 in
                        gradients.v.scalars.withUnsafeMutableBufferPointer { dv in
                            gradients.initialState.scalars.withUnsafeMutableBufferPointer { g in
                                let g = g.baseAddress!
                                tape.forEachReversed { record in
                                    // x' = x + σ ⊙ F: ∂L/∂x gets g directly (residual) …
                                    StochasticMask.pullback(
                                        g, sigma: record.sigma, into: f.pointer, cells: n, channels: c,
                                        granularity: configuration.mask)
                                    // … and through F = u(A)·W1 + v.
                                    LinearAlgebra.gemv(
                                        .transposed, m: n, n: c, a: f.pointer, lda: c, x: ones.pointer, beta: 1,
                                        y: dv.baseAddress!)
                                    activation.apply(record.preActivation, into: hidden.pointer, count: n * h)
                                    LinearAlgebra.gemm(
                                        .transposed, .none, m: h, n: c, k: n, a: hidden.pointer, lda: h,
                                        b: f.pointer, ldb: c, beta: 1, c: dW1.baseAddress!, ldc: c)
                                    LinearAlgebra.gemm(
                                        .none, .transposed, m: n, n: h, k: c, a: f.pointer, lda: c,
                                        b: w1.baseAddress!, ldb: c, c: hidden.pointer, ldc: h)
                                    activation.multiplyByDerivative(hidden.pointer, at: record.preActivation, count: n * h)
                                    // A = Z · W2.
                                    perception.forward(record.state, patches: patches.pointer, into: z.pointer)
                                    LinearAlgebra.gemm(
                                        .transposed, .none, m: kc, n: h, k: n, a: z.pointer, lda: kc,
                                        b: hidden.pointer, ldb: h, beta: 1, c: dW2.baseAddress!, ldc: h)
                                    LinearAlgebra.gemm(
                                        .none, .transposed, m: n, n: kc, k: h, a: hidden.pointer, lda: h,
                                        b: w2.baseAddress!, ldb: h, c: z.pointer, ldc: kc)
                                    // Z = perception(x).
                                    perception.backward(z.pointer, patches: patches.pointer, accumulateInto: g)
                                }
                            }
                        }
                    }
                }
            }
        }
        return gradients
    }

    /// One step in place on x (N × C), writing A and σ where given.
    private func step(
        _ model: NCAModel<T>, _ x: UnsafeMutablePointer<T>, preActivation a: UnsafeMutablePointer<T>,
        sigma s: UnsafeMutablePointer<T>, rng: inout RandomGenerator
    ) {
        let n = cells
        let c = configuration.channels
        let h = configuration.hiddenSize
        let kc = configuration.perceptionSize
        perception.forward(x, patches: patches.pointer, into: z.pointer)
        model.w2.scalars.withUnsafeBufferPointer { w2 in
            LinearAlgebra.gemm(.none, .none, m: n, n: h, k: kc, a: z.pointer, lda: kc, b: w2.baseAddress!, ldb: h, c: a, ldc: h)
        }
        configuration.activation.apply(a, into: hidden.pointer, count: n * h)
        model.v.scalars.withUnsafeBufferPointer { v in
            for cell in 0..<n { (f.pointer + cell * c).update(from: v.baseAddress!, count: c) }
        }
        model.w1.scalars.withUnsafeBufferPointer { w1 in
            LinearAlgebra.gemm(
                .none, .none, m: n, n: c, k: h, a: hidden.pointer, lda: h, b: w1.baseAddress!, ldb: c, beta: 1,
                c: f.pointer, ldc: c)
        }
        StochasticMask.draw(into: s, count: maskCount, skipProbability: configuration.skipProbability, rng: &rng)
        StochasticMask.applyResidual(f.pointer, sigma: s, to: x, cells: n, channels: c, granularity: configuration.mask)
    }

    private func checkModel(_ model: NCAModel<T>) {
        precondition(
            model.configuration == configuration,
            "NCAEngine: model configuration differs from the engine's; make a new engine for it")
    }
}

/// What one step leaves on the tape for its pullback.
final class StepRecord<T: BLASScalar> {
    let stateBuffer: Buffer<T>
    let preActivationBuffer: Buffer<T>
    let sigmaBuffer: Buffer<T>

    init(stateCount: Int, preActivationCount: Int, maskCount: Int) {
        stateBuffer = Buffer(capacity: stateCount)
        preActivationBuffer = Buffer(capacity: preActivationCount)
        sigmaBuffer = Buffer(capacity: maskCount)
    }

    /// x_n, the step's input.
    var state: UnsafeMutablePointer<T> { stateBuffer.pointer }
    /// A = Z · W2.
    var preActivation: UnsafeMutablePointer<T> { preActivationBuffer.pointer }
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
