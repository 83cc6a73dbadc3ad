/// A model configuration, batch geometry and bounded weights to time, shared by `nca bench`
/// and the benchmark suite so both measure the same thing.
public struct Workload: Sendable {
    public var name: String
    public var configuration: ModelConfiguration
    public var batch: Int
    public var size: Int
    public var steps: Int

    /// The paper's Gray-Scott setting: S 64, C 8, identity+laplacian, H 32, relu, R 16, t 32, p 0.
    public static let head = Workload(
        name: "HEAD",
        configuration: ModelConfiguration(channels: 8, observableChannels: 2, kernels: [.identity, .laplacian], hiddenSize: 32),
        batch: 16, size: 64, steps: 32)

    /// Cells × steps of one pass.
    public var cellSteps: Int { batch * size * size * steps }

    /// Weights that keep the state bounded over long rollouts: W2 Glorot, W1 small, so the
    /// update is a gentle, diffusion-like nudge rather than an exploding map.
    public func model() -> NCAModel<Float> {
        var model = NCAModel<Float>(configuration: configuration, seed: 1)
        var rng = RandomGenerator(seed: 2)
        model.w1.scalars = model.w1.scalars.map { _ in Float(rng.nextUniform(-0.01, 0.01)) }
        return model
    }

    /// A uniform-random initial state, R × S × S × C.
    public func state() -> Tensor<Float> { uniform([batch, size, size, configuration.channels], seed: 3) }

    /// A uniform-random target for the observable channels, R × S × S × O.
    public func target() -> Tensor<Float> { uniform([batch, size, size, configuration.observableChannels], seed: 4) }

    private func uniform(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        var rng = RandomGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<Tensor<Float>.elementCount(shape)).map { _ in Float(rng.nextUnit()) })
    }
}
