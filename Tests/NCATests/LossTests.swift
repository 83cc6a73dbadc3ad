import Dispatch
import Foundation
import Testing

@testable import NCA

/// The losses of §2.2.1 on their own: gradients against central differences in Double, the
/// properties that define them, and values against an independent numpy implementation.
@Suite("Losses")
struct LossTests {
    static let shape = [2, 6, 6, 3]

    /// A prediction with values in [−0.3, 1] kept at least 0.01 away from 0 (the clipping kink of
    /// the probability masses), and a target of two observable channels.
    static func sample(seed: UInt64) -> (Tensor<Double>, Tensor<Double>) {
        var x: Tensor<Double> = randomTensor(shape, seed: seed, in: -0.3...1)
        for i in x.scalars.indices where abs(x.scalars[i]) < 0.01 { x.scalars[i] += 0.02 }
        let y: Tensor<Double> = randomTensor([2, 6, 6, 2], seed: seed + 1, in: 0...1)
        return (x, y)
    }

    @Test("∂loss/∂prediction matches central differences", arguments: LossFunction.allCases)
    func gradientMatchesCentralDifferences(loss: LossFunction) {
        let (x, y) = Self.sample(seed: 40)
        let (_, analytic) = loss.evaluate(prediction: x, target: y, observableChannels: 2, projectionSeed: 9)
        let h = 1e-6
        var worst = 0.0
        let scale = analytic.scalars.map(abs).max()!
        for i in x.scalars.indices {
            var plus = x
            var minus = x
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric =
                (loss.evaluate(prediction: plus, target: y, observableChannels: 2, projectionSeed: 9).loss
                    - loss.evaluate(prediction: minus, target: y, observableChannels: 2, projectionSeed: 9).loss) / (2 * h)
            worst = max(worst, abs(numeric - analytic.scalars[i]))
        }
        #expect(scale > 0 && worst <= 1e-6 * max(1, scale), "\(loss): worst difference \(worst), largest gradient \(scale)")
        // Hidden channels get no gradient.
        for cell in 0..<(2 * 36) { #expect(analytic.scalars[cell * 3 + 2] == 0) }
    }

    @Test("each distance is 0 between identical states and positive otherwise", arguments: LossFunction.allCases)
    func zeroOnlyForIdenticalStates(loss: LossFunction) {
        let (x, y) = Self.sample(seed: 50)
        var same = x
        for cell in 0..<(2 * 36) {
            for ch in 0..<2 { same.scalars[cell * 3 + ch] = y.scalars[cell * 2 + ch] }
        }
        let zero = loss.evaluate(prediction: same, target: y, observableChannels: 2).loss
        #expect(abs(zero) < 1e-7, "\(loss) of identical states: \(zero)")
        #expect(loss.evaluate(prediction: x, target: y, observableChannels: 2).loss > 1e-4)
    }

    @Test("the distribution losses compare distributions: invariant to moving cells around")
    func distributionLossesIgnoreWhereCellsAre() {
        let (x, y) = Self.sample(seed: 60)
        // The same lattice with its cells in reverse order, per entry.
        var shuffled = x
        for r in 0..<2 {
            for cell in 0..<36 {
                for ch in 0..<3 { shuffled.scalars[(r * 36 + cell) * 3 + ch] = x.scalars[(r * 36 + 35 - cell) * 3 + ch] }
            }
        }
        for loss in [LossFunction.hellinger, .bhattacharyya, .slicedWasserstein] {
            let a = loss.evaluate(prediction: x, target: y, observableChannels: 2).loss
            let b = loss.evaluate(prediction: shuffled, target: y, observableChannels: 2).loss
            if loss == .slicedWasserstein {
                #expect(abs(a - b) < 1e-12 * a, "\(loss): \(a) vs \(b)")
            } else {
                // The masses move with their cells; against a target moved the same way the value is unchanged.
                var yShuffled = y
                for r in 0..<2 {
                    for cell in 0..<36 {
                        for ch in 0..<2 { yShuffled.scalars[(r * 36 + cell) * 2 + ch] = y.scalars[(r * 36 + 35 - cell) * 2 + ch] }
                    }
                }
                let c = loss.evaluate(prediction: shuffled, target: yShuffled, observableChannels: 2).loss
                #expect(abs(a - c) < 1e-12 * a, "\(loss): \(a) vs \(c)")
            }
        }
        // Hellinger is bounded by 1; an empty channel is the uniform mass, not NaN.
        var empty = x
        for i in empty.scalars.indices { empty.scalars[i] = -1 }
        for loss in [LossFunction.hellinger, .bhattacharyya] {
            let value = loss.evaluate(prediction: empty, target: y, observableChannels: 2)
            #expect(value.loss.isFinite && value.gradient.scalars.allSatisfy { $0 == 0 }, "\(loss) of an empty state")
        }
        #expect(LossFunction.hellinger.evaluate(prediction: x, target: y, observableChannels: 2).loss <= 1)
    }

    @Test("training with each loss lowers it", arguments: LossFunction.allCases)
    func everyLossTrains(loss: LossFunction) throws {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(
                channels: 3, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 6))
        cfg.timeSampling = 2
        cfg.minibatchSize = 4
        cfg.update = .perMinibatch
        cfg.learningRate = 0.01
        cfg.seed = 5
        cfg.loss = loss
        // Learnable data: a teacher NCA's own trajectory, positive so that every loss sees mass.
        let teacherConfig = ModelConfiguration(
            channels: 2, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 4)
        let teacher: NCAModel<Float> = randomModel(teacherConfig, seed: 40, scale: 0.5)
        let engine = NCAEngine<Float>(configuration: teacherConfig, batch: 2, size: 8)
        var x: Tensor<Float> = randomTensor([2, 8, 8, 2], seed: 41, in: 0.2...1)
        var frames = x.scalars
        var rng = RandomGenerator(seed: 0)
        for _ in 0..<2 {
            engine.run(teacher, state: &x, steps: 2, rng: &rng)
            frames += x.scalars
        }
        let trainer = Trainer(configuration: cfg, data: Tensor(shape: [3, 2, 8, 8, 2], scalars: frames))
        let curve = try (0..<60).map { _ in try trainer.runEpoch().loss }
        #expect(curve.allSatisfy(\.isFinite) && curve.last! < 0.8 * curve.first!, "\(loss): \(curve.first!) → \(curve.last!)")
        guard loss == .slicedWasserstein else { return }
        // The trainer kept its targets' orders; without them it trains to the same bits.
        #expect(trainer.slicedOrders?.orders(of: 2) != nil && trainer.slicedOrders?.orders(of: 0) == nil)
        let unkept = Trainer(configuration: cfg, data: Tensor(shape: [3, 2, 8, 8, 2], scalars: frames))
        unkept.slicedOrders = nil
        let unkeptCurve = try (0..<60).map { _ in try unkept.runEpoch().loss }
        #expect(unkeptCurve.map(\.bitPattern) == curve.map(\.bitPattern))
        #expect(unkept.state.model.w2.scalars.map(\.bitPattern) == trainer.state.model.w2.scalars.map(\.bitPattern))
        // Validation (directions of seed 0, on to 2 × the horizon by default) keeps its own orders: the same
        // loss when they are filled, read, or not kept.
        let filled = trainer.validationLoss(of: trainer.state.model)
        let read = trainer.validationLoss(of: trainer.state.model)
        unkept.validationOrders = nil
        let plain = unkept.validationLoss(of: unkept.state.model)
        #expect(filled.bitPattern == plain.bitPattern && read.bitPattern == plain.bitPattern, "\(filled) \(read) \(plain)")
        #expect(trainer.validationOrders?.orders(of: 2) != nil && trainer.validationOrders?.orders(of: 5) != nil)
    }

    @Test("kept target orders give the sliced Wasserstein loss and gradient bit for bit, within their budget or beyond it")
    func keptTargetOrders() throws {
        var (x, y) = Self.sample(seed: 63)
        // Ties (a flat patch) and a −0 among the targets.
        for i in 0..<20 { y.scalars[i] = 0.5 }
        y.scalars[31] = -0.0
        let sliced = LossFunction.slicedWasserstein
        let plain = sliced.evaluate(prediction: x, target: y, observableChannels: 2, projectionSeed: 4)
        let frameBytes = LossFunction.projectionCount * 36 * 2
        for budget in [SlicedTargetOrders.defaultBudget, frameBytes, 0] {
            let orders = try #require(SlicedTargetOrders(frames: 3, cells: 36, observables: 2, seed: 4, budget: budget))
            // Entries 0 and 1 are frames 2 and 0: the first call keeps what the budget allows, the second reads it.
            for _ in 0..<2 {
                let kept = sliced.evaluate(
                    prediction: x, target: y, observableChannels: 2, projectionSeed: 4, targetOrders: orders,
                    targetFrames: [2, 0])
                #expect(kept.loss.bitPattern == plain.loss.bitPattern, "budget \(budget)")
                #expect(kept.gradient.scalars.map(\.bitPattern) == plain.gradient.scalars.map(\.bitPattern), "budget \(budget)")
            }
            let keptFrames = [0, 1, 2].filter { orders.orders(of: $0) != nil }
            // (With room for one frame, whichever entry came first on its thread kept its frame.)
            #expect(
                budget == frameBytes ? keptFrames.count == 1 : keptFrames == (budget == 0 ? [] : [0, 2]), "budget \(budget)")
        }
        // The orders are really read: the frames swapped, each target is paired with the other's order.
        let orders = try #require(SlicedTargetOrders(frames: 3, cells: 36, observables: 2, seed: 4))
        _ = sliced.evaluate(
            prediction: x, target: y, observableChannels: 2, projectionSeed: 4, targetOrders: orders, targetFrames: [2, 0])
        let swapped = sliced.evaluate(
            prediction: x, target: y, observableChannels: 2, projectionSeed: 4, targetOrders: orders, targetFrames: [0, 2])
        #expect(swapped.loss != plain.loss)
        #expect(SlicedTargetOrders(frames: 1, cells: 1 << 17, observables: 2, seed: 0) == nil)
    }

    @Test("the radix argsort orders like the comparison sort, ties by index; the values-only sort agrees")
    func radixOrderMatchesComparisonSort() {
        var rng = RandomGenerator(seed: 5)
        let ranks = RankOrder(capacity: 3000)
        let special: [Double] = [
            0, -0.0, 1, -1, 1e-300, -1e-300, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity,
        ]
        for n in [0, 1, 2, 17, 3000] {
            // Few distinct values (many exact ties); values of every sign and magnitude; values
            // that differ only in their last bits (only the lowest digits split them); clusters
            // of values that differ in their last bits, few and many per cluster, with exact
            // ties among them.
            for kind in ["coarse", "spread", "near", "short clusters", "long clusters"] {
                let centres = kind == "short clusters" ? 400 : 20
                var v = (0..<n).map { _ in
                    switch kind {
                    case "coarse": Double(rng.nextIndex(below: 5)) - 2
                    case "spread": (rng.nextUnit() - 0.5) * pow(10, rng.nextUniform(-20, 20))
                    case "near": 0.25 + (rng.nextUnit() - 0.5) * 1e-12
                    default:
                        Double(Float(rng.nextIndex(below: centres)) * 0.37 - 3)
                            + Double(rng.nextIndex(below: 4)) * 1e-13
                    }
                }
                for (i, s) in special.enumerated() where i < n { v[i * 7 % n] = s }
                let expected = (0..<n).sorted { v[$0] < v[$1] || (v[$0] == v[$1] && $0 < $1) }
                var order = [Int32](repeating: -1, count: n)
                v.withUnsafeBufferPointer { p in order.withUnsafeMutableBufferPointer { ranks.argsort(p, into: $0) } }
                #expect(order.map(Int.init) == expected, "n \(n), \(kind)")
                // The values-only sort: the same values in the same order, bit for bit (−0 as +0).
                var sorted = v
                sorted.withUnsafeMutableBufferPointer { ranks.sort($0) }
                #expect(sorted.map(\.bitPattern) == expected.map { (v[$0] + 0).bitPattern }, "sort: n \(n), \(kind)")
            }
        }
    }

    @Test("sliced Wasserstein gives the same loss and gradient on every call (its buffers are reused)")
    func slicedRepeats() {
        let (x, y) = Self.sample(seed: 61)
        let first = LossFunction.slicedWasserstein.evaluate(prediction: x, target: y, observableChannels: 2)
        // Another lattice size in between, then the same call again, on several threads at once.
        let small: Tensor<Double> = randomTensor([3, 4, 4, 3], seed: 62, in: -1...1)
        _ = LossFunction.slicedWasserstein.evaluate(prediction: small, target: small, observableChannels: 2)
        let again = UnsafeMutableBufferPointer<(loss: Double, gradient: Tensor<Double>)?>.allocate(capacity: 4)
        defer { again.deallocate() }
        again.initialize(repeating: nil)
        let shared = SendablePointer(value: again)
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            shared.value[i] = LossFunction.slicedWasserstein.evaluate(prediction: x, target: y, observableChannels: 2)
        }
        for value in again {
            #expect(value?.loss.bitPattern == first.loss.bitPattern)
            #expect(value?.gradient.scalars.map(\.bitPattern) == first.gradient.scalars.map(\.bitPattern))
        }
    }

    @Test("sliced Wasserstein's directions come from the seed")
    func directionsFromTheSeed() {
        let a = LossFunction.directions(dimension: 3, seed: 1)
        #expect(a.count == LossFunction.projectionCount)
        #expect(a.allSatisfy { abs($0.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12 })
        #expect(a == LossFunction.directions(dimension: 3, seed: 1) && a != LossFunction.directions(dimension: 3, seed: 2))
    }

    /// The values against numpy written from the formulas in Sources/NCA/NCA.docc/TrainAGrayScottModel.md (needs python3 with
    /// numpy; `.ci/run` sets NCA_PYTHON_INTEROP=1).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["NCA_PYTHON_INTEROP"] != nil))
    func valuesMatchNumpy() throws {
        let dir = temporaryFolder()
        let (x, y) = Self.sample(seed: 70)
        try NPY.write(x, to: dir + "/x.npy")
        try NPY.write(y, to: dir + "/y.npy")
        let directions = LossFunction.directions(dimension: 2, seed: 11)
        try NPY.write(Tensor(shape: [directions.count, 2], scalars: directions.flatMap { $0 }), to: dir + "/theta.npy")
        let script = """
            import sys, numpy as np
            d = sys.argv[1]
            x = np.load(d + "/x.npy")[..., :2]; y = np.load(d + "/y.npy"); theta = np.load(d + "/theta.npy")
            R = x.shape[0]
            def mass(v):  # per entry and channel, over the lattice
                u = np.maximum(v, 0) + 1e-8
                return u / u.sum(axis=(1, 2), keepdims=True)
            bc = np.sqrt(mass(x) * mass(y)).sum(axis=(1, 2))          # R x O
            hellinger = np.sqrt(np.maximum(0, 1 - bc)).mean()
            bhattacharyya = (-np.log(bc)).mean()
            px = x.reshape(R, -1, 2) @ theta.T; py = y.reshape(R, -1, 2) @ theta.T   # R x N x K
            sw = ((np.sort(px, axis=1) - np.sort(py, axis=1)) ** 2).mean(axis=1).mean(axis=1).mean()
            euclidean = np.sqrt(((x - y) ** 2).sum(axis=(1, 2, 3))).mean()
            mse = ((x - y) ** 2).mean()
            fx = np.abs(np.fft.rfft2(x, axes=(1, 2))); fy = np.abs(np.fft.rfft2(y, axes=(1, 2)))
            spectral = np.sqrt(((fx - fy) ** 2).sum(axis=(1, 2))).mean()
            for v in (euclidean, mse, hellinger, bhattacharyya, sw, spectral): print(float(v).hex())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let values = output.split(separator: "\n").compactMap { Double(String($0)) }
        try #require(values.count == 6)
        let losses: [LossFunction] = [.euclidean, .mse, .hellinger, .bhattacharyya, .slicedWasserstein, .spectral]
        for (loss, expected) in zip(losses, values) {
            let ours = loss.evaluate(prediction: x, target: y, observableChannels: 2, projectionSeed: 11).loss
            #expect(abs(ours - expected) <= 1e-12 * max(1, abs(expected)), "\(loss): nca \(ours), numpy \(expected)")
        }
    }
}

/// A buffer handed to concurrent iterations that write disjoint elements.
private struct SendablePointer<Value>: @unchecked Sendable {
    let value: Value
}
