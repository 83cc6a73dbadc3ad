import Foundation
import Testing

@testable import NCA

/// Backpropagation through time against central differences, in Double.
@Suite("Gradients")
struct GradientTests {
    struct Case: CustomStringConvertible, Sendable {
        var activation: Activation = .tanh
        var boundary: Boundary = .periodic
        var kernels: [Kernel] = [.identity, .gradX, .laplacian]
        var steps = 8
        var p = 0.0
        var mask: MaskGranularity = .cell
        var loss: LossFunction = .euclidean
        var observableTargetOnly = true
        /// λ of the state-range penalty (0: none), and gradient checkpointing's k.
        var rangePenalty = 0.0
        var recomputeEvery = 1

        var description: String {
            "\(activation.rawValue) \(boundary.rawValue) t=\(steps) p=\(p) \(mask.rawValue) \(loss.rawValue)"
                + (rangePenalty > 0 ? " λ=\(rangePenalty) k=\(recomputeEvery)" : "")
        }
    }

    static let tolerance = 1e-6

    /// Every activation and every boundary (t = 8, p > 0 with a fixed mask), plus both losses,
    /// t = 1, p = 0, per-element masks, targets holding all channels.
    static let cases: [Case] =
        Activation.allCases.map { Case(activation: $0, p: 0.3) }
        + Boundary.allCases.map { Case(boundary: $0, p: 0.5) }
        + [
            Case(activation: .relu, steps: 1), Case(activation: .relu, steps: 9, loss: .mse),
            Case(steps: 1, loss: .mse), Case(steps: 8, p: 0.4, mask: .element, loss: .mse),
            Case(activation: .gelu, boundary: .zero, kernels: Kernel.allCases, steps: 8, p: 0.5, mask: .element),
            Case(activation: .swish, boundary: .reflect, steps: 12, observableTargetOnly: false),
            // The state-range penalty, on the full tape and on recomputed segments (states start
            // in [−1, 1], so many entries are outside [0, 1] at every step).
            Case(activation: .relu, steps: 7, p: 0.3, rangePenalty: 0.3),
            Case(steps: 8, rangePenalty: 0.05, recomputeEvery: 3),
            Case(
                activation: .swish, boundary: .zero, steps: 5, p: 0.4, mask: .element, loss: .mse, rangePenalty: 1,
                recomputeEvery: 2),
            // The distribution losses of §2.2.1.
            Case(steps: 6, loss: .hellinger), Case(activation: .relu, steps: 6, p: 0.3, loss: .bhattacharyya),
            Case(steps: 6, loss: .slicedWasserstein), Case(boundary: .zero, steps: 6, loss: .spectral),
            Case(activation: .swish, steps: 4, p: 0.4, mask: .element, loss: .hellinger),
        ]

    @Test("∂L/∂(W2, W1, v, x0) match central differences", arguments: cases)
    func gradientsMatchCentralDifferences(_ c: Case) throws {
        let cfg = ModelConfiguration(
            channels: 3, observableChannels: 2, kernels: c.kernels, activation: c.activation, hiddenSize: 5,
            boundary: c.boundary, skipProbability: c.p, mask: c.mask)
        let (batch, size) = (2, 5)
        let model: NCAModel<Double> = randomModel(cfg, seed: 31, scale: 0.4)
        let x0: Tensor<Double> = randomTensor([batch, size, size, 3], seed: 32, in: -1...1)
        let target: Tensor<Double> = randomTensor([batch, size, size, c.observableTargetOnly ? 2 : 3], seed: 33, in: -1...1)
        // Two workers, tiles of 11 cells: tiles cut lattice rows, so halos cross tiles.
        let engine = NCAEngine<Double>(configuration: cfg, batch: batch, size: size, threads: 2, tileCells: 11)
        engine.rangePenalty = c.rangePenalty
        engine.recomputeEvery = c.recomputeEvery

        // The penalty written out independently: λ · mean over steps of Σ relu(−x) + relu(x − 1),
        // from a plain step-by-step run.
        func penalty(_ m: NCAModel<Double>, _ x: Tensor<Double>) -> Double {
            guard c.rangePenalty > 0 else { return 0 }
            let plain = NCAEngine<Double>(configuration: cfg, batch: batch, size: size, threads: 1)
            var rng = RandomGenerator(seed: 77)
            var state = x
            var total = 0.0
            for _ in 0..<c.steps {
                plain.run(m, state: &state, steps: 1, rng: &rng)
                total += state.scalars.reduce(0.0) { $0 + max(0, -$1) + max(0, $1 - 1) }
            }
            return c.rangePenalty * total / Double(c.steps)
        }

        func loss(_ m: NCAModel<Double>, _ x: Tensor<Double>) -> Double {
            var rng = RandomGenerator(seed: 77)  // the same mask in every evaluation
            let prediction = engine.forward(m, from: x, steps: c.steps, rng: &rng)
            return c.loss.evaluate(prediction: prediction, target: target, observableChannels: 2).loss + penalty(m, x)
        }

        var rng = RandomGenerator(seed: 77)
        let prediction = engine.forward(model, from: x0, steps: c.steps, rng: &rng)
        let (_, dPrediction) = c.loss.evaluate(prediction: prediction, target: target, observableChannels: 2)
        if c.rangePenalty > 0 {
            #expect(
                engine.lastRangePenalty > 0.01
                    && abs(engine.lastRangePenalty - penalty(model, x0)) < 1e-12 * max(1, engine.lastRangePenalty))
        }
        let analytic = engine.backward(model, outputGradient: dPrediction)

        let h = 1e-6
        func numeric(_ count: Int, _ perturbed: (Int, Double) -> Double) -> [Double] {
            (0..<count).map { i in (perturbed(i, h) - perturbed(i, -h)) / (2 * h) }
        }
        let dW2 = numeric(model.w2.count) { i, e in
            var m = model
            m.w2.scalars[i] += e
            return loss(m, x0)
        }
        let dW1 = numeric(model.w1.count) { i, e in
            var m = model
            m.w1.scalars[i] += e
            return loss(m, x0)
        }
        let dv = numeric(model.v.count) { i, e in
            var m = model
            m.v.scalars[i] += e
            return loss(m, x0)
        }
        let dx0 = numeric(x0.count) { i, e in
            var x = x0
            x.scalars[i] += e
            return loss(model, x)
        }
        let errors = [
            ("W2", relativeError(analytic.w2.scalars, dW2)), ("W1", relativeError(analytic.w1.scalars, dW1)),
            ("v", relativeError(analytic.v.scalars, dv)), ("x0", relativeError(analytic.initialState.scalars, dx0)),
        ]
        for (name, error) in errors {
            #expect(error <= Self.tolerance, "\(c): ∂L/∂\(name) relative error \(error)")
        }
        // The gradients are not trivially zero (W1 ≠ 0, so W2 gets signal).
        #expect(analytic.w2.maxAbs > 1e-4 && analytic.w1.maxAbs > 1e-4 && analytic.initialState.maxAbs > 1e-4)
        if ProcessInfo.processInfo.environment["NCA_GRADIENT_REPORT"] != nil {
            print("gradient check \(c): " + errors.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
    }

    @Test("threads and tiles change only the summation order")
    func threadsAndTilesAgree() {
        let cfg = ModelConfiguration(
            channels: 3, observableChannels: 2, kernels: [.identity, .gradY, .laplacian], activation: .swish, hiddenSize: 5,
            boundary: .reflect, skipProbability: 0.3)
        let model: NCAModel<Double> = randomModel(cfg, seed: 51)
        let x: Tensor<Double> = randomTensor([3, 6, 6, 3], seed: 52)
        let g: Tensor<Double> = randomTensor([3, 6, 6, 3], seed: 53)
        var results: [Gradients<Double>] = []
        for (threads, tile) in [(1, 4096), (2, 5), (4, 13), (3, 1)] {
            let engine = NCAEngine<Double>(configuration: cfg, batch: 3, size: 6, threads: threads, tileCells: tile)
            var rng = RandomGenerator(seed: 54)
            _ = engine.forward(model, from: x, steps: 5, rng: &rng)
            results.append(engine.backward(model, outputGradient: g))
            // A second pass on the same engine gives identical bits (accumulators were reset).
            var rng2 = RandomGenerator(seed: 54)
            _ = engine.forward(model, from: x, steps: 5, rng: &rng2)
            #expect(engine.backward(model, outputGradient: g) == results.last!)
        }
        for r in results.dropFirst() {
            #expect(maxAbsDifference(r.w2.scalars, results[0].w2.scalars) < 1e-12)
            #expect(maxAbsDifference(r.w1.scalars, results[0].w1.scalars) < 1e-12)
            #expect(maxAbsDifference(r.v.scalars, results[0].v.scalars) < 1e-12)
            #expect(maxAbsDifference(r.initialState.scalars, results[0].initialState.scalars) < 1e-12)
        }
    }

    @Test("a second backward after a new forward does not reuse stale tape entries")
    func tapeReuse() {
        let cfg = ModelConfiguration(channels: 3, observableChannels: 2, activation: .tanh, hiddenSize: 4)
        let model: NCAModel<Double> = randomModel(cfg, seed: 41)
        let engine = NCAEngine<Double>(configuration: cfg, batch: 1, size: 4)
        let x: Tensor<Double> = randomTensor([1, 4, 4, 3], seed: 42)
        let g: Tensor<Double> = randomTensor([1, 4, 4, 3], seed: 43)
        var rng = RandomGenerator(seed: 0)
        _ = engine.forward(model, from: x, steps: 6, rng: &rng)
        let long = engine.backward(model, outputGradient: g)
        _ = engine.forward(model, from: x, steps: 2, rng: &rng)
        let short = engine.backward(model, outputGradient: g)
        let fresh = NCAEngine<Double>(configuration: cfg, batch: 1, size: 4)
        _ = fresh.forward(model, from: x, steps: 2, rng: &rng)
        #expect(fresh.backward(model, outputGradient: g) == short)
        #expect(long != short)
    }
}

@Suite("State-range penalty")
struct RangePenaltyTests {
    /// Scaling: backward(penaltyScale: s) adds s × the penalty's gradient; a penalty of 0
    /// changes nothing; states inside [0, 1] cost nothing.
    @Test func scaleAndInsideStates() {
        let cfg = ModelConfiguration(channels: 3, observableChannels: 2, activation: .tanh, hiddenSize: 4)
        let model: NCAModel<Float> = randomModel(cfg, seed: 2, scale: 0.4)
        let x: Tensor<Float> = randomTensor([2, 5, 5, 3], seed: 3, in: -1...2)
        let dy: Tensor<Float> = randomTensor([2, 5, 5, 3], seed: 4, in: -1...1)
        func gradients(_ lambda: Double, scale: Float, dy: Tensor<Float>) -> Gradients<Float> {
            let engine = NCAEngine<Float>(configuration: cfg, batch: 2, size: 5, threads: 2, tileCells: 7)
            engine.rangePenalty = lambda
            var rng = RandomGenerator(seed: 1)
            _ = engine.forward(model, from: x, steps: 4, rng: &rng)
            return engine.backward(model, outputGradient: dy, penaltyScale: scale)
        }
        let plain = gradients(0, scale: 1, dy: dy)
        let zero = Tensor<Float>(zeros: dy.shape)
        let penaltyOnly = gradients(0.5, scale: 1, dy: zero)
        let both = gradients(0.5, scale: 1, dy: dy)
        let half = gradients(0.5, scale: 0.5, dy: zero)
        #expect(penaltyOnly.w2.maxAbs > 1e-3)
        #expect(maxAbsDifference(both.w2.scalars, zip(plain.w2.scalars, penaltyOnly.w2.scalars).map { $0 + $1 }) < 1e-4)
        #expect(maxAbsDifference(half.w1.scalars, penaltyOnly.w1.scalars.map { $0 / 2 }) < 1e-5)
        // Inside [0, 1] with the identity model (W1 = v = 0): no penalty, no gradient.
        let identity = NCAModel<Float>(configuration: cfg, seed: 1)
        let inside: Tensor<Float> = randomTensor([2, 5, 5, 3], seed: 5, in: 0...1)
        let engine = NCAEngine<Float>(configuration: cfg, batch: 2, size: 5)
        engine.rangePenalty = 1
        var rng = RandomGenerator(seed: 1)
        _ = engine.forward(identity, from: inside, steps: 3, rng: &rng)
        #expect(engine.lastRangePenalty == 0)
        #expect(engine.backward(identity, outputGradient: zero).initialState.maxAbs == 0)
    }
}

@Suite("Gradient checkpointing")
struct CheckpointingTests {
    @Test(arguments: [0.0, 0.4])
    func recomputedGradientsEqualStoredOnes(p: Double) {
        let cfg = ModelConfiguration(
            channels: 4, observableChannels: 2, kernels: [.identity, .gradY, .laplacian], activation: .tanh, hiddenSize: 6,
            boundary: .reflect, skipProbability: p)
        let model: NCAModel<Float> = randomModel(cfg, seed: 3)
        let x0: Tensor<Float> = randomTensor([2, 7, 7, 4], seed: 4)
        let dy: Tensor<Float> = randomTensor([2, 7, 7, 4], seed: 5, in: -1...1)
        let steps = 7
        func run(_ k: Int) -> (Tensor<Float>, Gradients<Float>) {
            let engine = NCAEngine<Float>(configuration: cfg, batch: 2, size: 7, threads: 2, tileCells: 13)
            engine.recomputeEvery = k
            var rng = RandomGenerator(seed: 9)
            let y = engine.forward(model, from: x0, steps: steps, rng: &rng)
            let first = engine.backward(model, outputGradient: dy)
            // A second backward of the same forward gives the same answer (segments are recomputed).
            #expect(engine.backward(model, outputGradient: dy) == first)
            return (y, first)
        }
        let (reference, stored) = run(1)
        for k in [2, 3, 7, 10] {
            let (y, recomputed) = run(k)
            #expect(y == reference, "k = \(k): final state")
            #expect(recomputed == stored, "k = \(k): gradients differ")
        }
    }
}
