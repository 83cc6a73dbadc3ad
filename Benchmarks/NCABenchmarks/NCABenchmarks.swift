import Benchmark
import NCA

/// A model configuration and batch geometry to time.
struct Workload {
    var name: String
    var configuration: ModelConfiguration
    var batch: Int
    var size: Int
    var steps: Int

    /// The paper's Gray-Scott setting: S 64, C 8, identity+laplacian, H 32, relu, R 16, t 32.
    static let head = Workload(
        name: "HEAD",
        configuration: ModelConfiguration(channels: 8, observableChannels: 2, kernels: [.identity, .laplacian], hiddenSize: 32),
        batch: 16, size: 64, steps: 32)

    var cellSteps: Int { batch * size * size * steps }

    /// Weights that keep the state bounded over long rollouts: W2 Glorot, W1 small, so the
    /// update is a gentle, diffusion-like nudge rather than an exploding map.
    func model() -> NCAModel<Float> {
        var model = NCAModel<Float>(configuration: configuration, seed: 1)
        var rng = RandomGenerator(seed: 2)
        model.w1.scalars = model.w1.scalars.map { _ in Float(rng.nextUniform(-0.01, 0.01)) }
        return model
    }

    func state() -> Tensor<Float> {
        var rng = RandomGenerator(seed: 3)
        let shape = [batch, size, size, configuration.channels]
        return Tensor(shape: shape, scalars: (0..<Tensor<Float>.elementCount(shape)).map { _ in Float(rng.nextUnit()) })
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident], timeUnits: .milliseconds,
        maxDuration: .seconds(20), maxIterations: 50)

    let head = Workload.head
    Benchmark("\(head.name) forward+backward, t=\(head.steps)") { benchmark in
        let model = head.model()
        let x0 = head.state()
        let target = x0
        let engine = NCAEngine<Float>(configuration: head.configuration, batch: head.batch, size: head.size)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var rng = RandomGenerator(seed: 0)
            let prediction = engine.forward(model, from: x0, steps: head.steps, rng: &rng)
            let (_, dPrediction) = LossFunction.euclidean.evaluate(prediction: prediction, target: target, observableChannels: 2)
            blackHole(engine.backward(model, outputGradient: dPrediction))
        }
    }

    Benchmark("\(head.name) forward only, t=\(head.steps)") { benchmark in
        let model = head.model()
        let x0 = head.state()
        let engine = NCAEngine<Float>(configuration: head.configuration, batch: head.batch, size: head.size)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var x = x0
            var rng = RandomGenerator(seed: 0)
            engine.run(model, state: &x, steps: head.steps, rng: &rng)
            blackHole(x)
        }
    }
}
