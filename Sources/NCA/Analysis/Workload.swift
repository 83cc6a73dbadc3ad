/// A model configuration, batch geometry and bounded weights to time, shared by `nca bench`
/// and the benchmark suite so both measure the same thing.
public struct Workload: Sendable {
    /// The workload's name (HEAD, BIG).
    public var name: String
    /// The model it times.
    public var configuration: ModelConfiguration
    /// R, lattices per batch.
    public var batch: Int
    /// S, the lattice side.
    public var size: Int
    /// t, steps per training step.
    public var steps: Int

    /// The paper's Gray-Scott setting: S 64, C 8, identity+laplacian, H 32, relu, R 16, t 32, p 0.
    public static let head = Workload(
        name: "HEAD",
        configuration: ModelConfiguration(channels: 8, observableChannels: 2, kernels: [.identity, .laplacian], hiddenSize: 32),
        batch: 16, size: 64, steps: 32)

    /// The image task's larger setting: S 64, C 16, identity+grad-x+grad-y+laplacian, H 64, relu,
    /// R 8, t 32, p 0.5.
    public static let big = Workload(
        name: "BIG",
        configuration: ModelConfiguration(
            channels: 16, observableChannels: 4, kernels: [.identity, .gradX, .gradY, .laplacian], hiddenSize: 64,
            skipProbability: 0.5),
        batch: 8, size: 64, steps: 32)

    /// The same model and cells per step on an S × S lattice: R scaled by 64² / S² (at least 1),
    /// so that cost per cell-step can be compared across lattice sizes.
    public func resized(to size: Int) -> Workload {
        var workload = self
        workload.batch = max(1, batch * self.size * self.size / (size * size))
        workload.size = size
        return workload
    }

    /// Cells × steps of one pass.
    public var cellSteps: Int { batch * size * size * steps }

    /// Floating-point operations per cell and step of the forward pass: perception 18·K·C (im2col
    /// against the 9 × K kernels), the dense layers 2·K·C·H + 2·H·C, and 6·C for activation, mask
    /// and residual (HEAD: 1 872).
    public var forwardFLOPs: Int {
        let (c, k, h) = (configuration.channels, configuration.kernels.count, configuration.hiddenSize)
        return 18 * k * c + 2 * k * c * h + 2 * h * c + 6 * c
    }

    /// The same for forward and backward: perception twice, the dense GEMMs three times
    /// (forward, input gradient, weight gradient), 12·C elementwise (HEAD: 5 280).
    public var forwardBackwardFLOPs: Int {
        let (c, k, h) = (configuration.channels, configuration.kernels.count, configuration.hiddenSize)
        return 36 * k * c + 3 * (2 * k * c * h + 2 * h * c) + 12 * c
    }

    /// One training step as Algorithm 2 takes it on one mini-batch: forward through `steps`
    /// steps, Euclidean loss, backward, per-tensor gradient normalisation and a Nadam update.
    /// Returns the loss.
    public func trainingStep(
        engine: NCAEngine<Float>, model: inout NCAModel<Float>, optimizer: inout OptimizerState, state: Tensor<Float>,
        target: Tensor<Float>, learningRate: Double = 1e-3
    ) -> Double {
        var rng = RandomGenerator(seed: 0)
        let prediction = engine.forward(model, from: state, steps: steps, rng: &rng)
        let (loss, dPrediction) = LossFunction.euclidean.evaluate(
            prediction: prediction, target: target, observableChannels: configuration.observableChannels)
        let g = engine.backward(model, outputGradient: dPrediction)
        model.update(with: WeightGradients(g), optimizer: &optimizer, learningRate: learningRate, normalise: true)
        return loss
    }

    /// A trainer for one epoch of `nca train` on this workload: data of two frames (one
    /// transition) for each of R trajectories, uniform random, one mini-batch of all R transitions
    /// of t steps each, Nadam with gradient normalisation, every other option at its default. An
    /// epoch of it is a training step plus what the trainer does around it (gathering the
    /// mini-batch, the loss per transition, propagating the working states).
    public func trainer() -> Trainer {
        var training = TrainingConfiguration(model: configuration)
        training.timeSampling = steps
        training.minibatchSize = batch
        let o = configuration.observableChannels
        let data = uniform([2, batch, size, size, o], seed: 5)
        return Trainer(configuration: training, data: data, state: Trainer.initialState(training, data: data, model: model()))
    }

    /// A fresh Nadam state for `model`.
    public func optimizer(for model: NCAModel<Float>) -> OptimizerState {
        OptimizerState(kind: .nadam, parameterCounts: [model.w2.count, model.w1.count, model.v.count])
    }

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
