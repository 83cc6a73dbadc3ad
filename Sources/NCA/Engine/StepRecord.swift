/// Read-only pointers to a model's weights for the duration of a pass.
struct Weights<T: BLASScalar>: @unchecked Sendable {
    let w2: UnsafePointer<T>
    let w1: UnsafePointer<T>
    let v: UnsafePointer<T>
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

/// Where a checkpointed segment starts: its input state and the generator state for its masks.
final class SegmentStart<T: BLASScalar> {
    let stateBuffer: Buffer<T>
    var rng = RandomGenerator(seed: 0)

    init(stateCount: Int) { stateBuffer = Buffer(capacity: stateCount) }
}

/// ∂L/∂θ and ∂L/∂x_0.
public struct Gradients<T: BLASScalar>: Equatable, Sendable {
    /// ∂L/∂W2 (K·C × H).
    public var w2: Tensor<T>
    /// ∂L/∂W1 (H × C).
    public var w1: Tensor<T>
    /// ∂L/∂v (C).
    public var v: Tensor<T>
    /// ∂L/∂x0, the gradient with respect to the initial state (R × S × S × C).
    public var initialState: Tensor<T>
}

extension NCAEngine {
    /// Runs `body` with pointers to the model's W2, W1 and v.
    func withWeights<R>(_ model: NCAModel<T>, _ body: (Weights<T>) -> R) -> R {
        model.w2.scalars.withUnsafeBufferPointer { w2 in
            model.w1.scalars.withUnsafeBufferPointer { w1 in
                model.v.scalars.withUnsafeBufferPointer { v in
                    body(Weights(w2: w2.baseAddress!, w1: w1.baseAddress!, v: v.baseAddress!))
                }
            }
        }
    }

    /// Stops with a clear message when `model` is not of this engine's configuration.
    func checkModel(_ model: NCAModel<T>) {
        precondition(
            model.configuration == configuration,
            "NCAEngine: model configuration differs from the engine's; make a new engine for it")
    }
}
