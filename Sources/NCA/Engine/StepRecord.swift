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
