import Foundation
import RealModule
import Testing

@testable import NCA

@Suite("Training")
struct TrainingTests {
    @Test func optimizersFirstSteps() {
        let g = Tensor<Float>(shape: [3], scalars: [0.5, -2, 0])
        let theta = Tensor<Float>(shape: [3], scalars: [1, 1, 1])
        let lr = 0.01
        // SGD: θ − η g.
        var sgd = OptimizerState(kind: .sgd, parameterCounts: [3])
        var p = [theta]
        sgd.update(&p, gradients: [g], learningRate: lr)
        #expect(p[0].scalars == [Float(1 - 0.005), Float(1 + 0.02), 1])
        // Adam, first step: m̂ = g, v̂ = g², so θ − η g / (|g| + ε).
        var adam = OptimizerState(kind: .adam, parameterCounts: [3])
        p = [theta]
        adam.update(&p, gradients: [g], learningRate: lr)
        for i in 0..<3 {
            let gi = Double(g.scalars[i])
            #expect(abs(Double(p[0].scalars[i]) - (1 - lr * gi / (abs(gi) + 1e-7))) < 1e-7)
        }
        // Nadam (Keras), two steps with the same gradient, written out from the formulas.
        var nadam = OptimizerState(kind: .nadam, parameterCounts: [3])
        p = [theta]
        nadam.update(&p, gradients: [g], learningRate: lr)
        nadam.update(&p, gradients: [g], learningRate: lr)
        let mu = { (t: Double) in 0.9 * (1 - 0.5 * Double.pow(0.96, 0.004 * t)) }
        for i in 0..<3 {
            let gi = Double(g.scalars[i])
            var x = 1.0
            var (m, v, product) = (0.0, 0.0, 1.0)
            for t in 1...2 {
                let (mt, mn) = (mu(Double(t)), mu(Double(t + 1)))
                product *= mt
                m = 0.9 * m + 0.1 * gi
                v = 0.999 * v + 0.001 * gi * gi
                let mBar = (1 - mt) * gi / (1 - product) + mn * m / (1 - product * mn)
                x -= lr * mBar / ((v / (1 - Double.pow(0.999, Double(t)))).squareRoot() + 1e-7)
            }
            #expect(abs(Double(p[0].scalars[i]) - x) < 1e-6, "element \(i): \(p[0].scalars[i]) vs \(x)")
        }
        #expect(nadam.step == 2)
    }

    /// A tiny problem: S 8, M 2, R 2, t 2, C 3, O 2, tanh so every weight gets gradient.
    func tinyProblem(update: UpdateSchedule = .perEpoch) -> (TrainingConfiguration, Tensor<Float>) {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(
                channels: 3, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 6))
        cfg.timeSampling = 2
        cfg.minibatchSize = 3  // 4 transitions: mini-batches of 3 and 1
        cfg.update = update
        cfg.seed = 5
        cfg.learningRate = 0.01
        let data: Tensor<Float> = randomTensor([3, 2, 8, 8, 2], seed: 6)
        return (cfg, data)
    }

    @Test func oneEpochMatchesAlgorithmTwoByHand() throws {
        let (cfg, data) = tinyProblem()
        var model = NCAModel<Float>(configuration: cfg.model, seed: cfg.seed)
        // Start from non-zero W1 so W2 gets gradient too (the trainer takes the model it is given).
        model = randomModel(cfg.model, seed: 12, scale: 0.3)
        let trainer = Trainer(configuration: cfg, data: data, state: Trainer.initialState(cfg, data: data, model: model))
        let report = try trainer.runEpoch()

        // By hand: every transition alone, in Double.
        let dm = NCAModel<Double>(converting: model)
        let engine = NCAEngine<Double>(configuration: cfg.model, batch: 1, size: 8)
        var lossSum = 0.0
        var g2 = Tensor<Double>(zeros: model.w2.shape), g1 = Tensor<Double>(zeros: model.w1.shape),
            gv = Tensor<Double>(zeros: model.v.shape)
        var predictions: [[Double]] = []
        let cell = 8 * 8
        for f in 0..<2 {
            for r in 0..<2 {
                var x0 = Tensor<Double>(zeros: [1, 8, 8, 3])
                var y = Tensor<Double>(zeros: [1, 8, 8, 2])
                for k in 0..<cell {
                    for ch in 0..<2 {
                        x0.scalars[k * 3 + ch] = Double(data.scalars[((f * 2 + r) * cell + k) * 2 + ch])
                        y.scalars[k * 2 + ch] = Double(data.scalars[(((f + 1) * 2 + r) * cell + k) * 2 + ch])
                    }
                }
                var rng = RandomGenerator(seed: 0)
                let prediction = engine.forward(dm, from: x0, steps: 2, rng: &rng)
                predictions.append(prediction.scalars)
                let (loss, dp) = LossFunction.euclidean.evaluate(prediction: prediction, target: y, observableChannels: 2)
                lossSum += loss
                let g = engine.backward(dm, outputGradient: dp)
                for i in g2.scalars.indices { g2.scalars[i] += g.w2.scalars[i] / 4 }
                for i in g1.scalars.indices { g1.scalars[i] += g.w1.scalars[i] / 4 }
                for i in gv.scalars.indices { gv.scalars[i] += g.v.scalars[i] / 4 }
            }
        }
        #expect(abs(report.loss - lossSum / 4) < 1e-5)
        let norm = [g2, g1, gv].reduce(0.0) { $0 + $1.scalars.reduce(0.0) { $0 + $1 * $1 } }.squareRoot()
        #expect(abs(report.gradientNorm - norm) < 1e-5 * norm)
        // One Nadam step on the normalised gradients.
        var expected = [model.w2, model.w1, model.v]
        var optimizer = OptimizerState(kind: .nadam, parameterCounts: expected.map(\.count))
        let normalised = [g2, g1, gv].map { t -> Tensor<Float> in
            let n = t.scalars.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            return Tensor(shape: t.shape, scalars: t.scalars.map { Float($0 / (n + 1e-8)) })
        }
        optimizer.update(&expected, gradients: normalised, learningRate: 0.01)
        #expect(maxAbsDifference(trainer.state.model.w2.scalars, expected[0].scalars) < 1e-5)
        #expect(maxAbsDifference(trainer.state.model.w1.scalars, expected[1].scalars) < 1e-5)
        #expect(maxAbsDifference(trainer.state.model.v.scalars, expected[2].scalars) < 1e-5)
        #expect(trainer.state.model != model)

        // Bookkeeping: trajectory 1 (r = 0) keeps data states, hidden 0; trajectory 2's frame 1
        // is now the prediction from its frame 0, hidden channels included; frame 0 is data.
        let w = trainer.state.workingStates
        let stateCount = cell * 3
        func working(_ f: Int, _ r: Int) -> [Double] {
            w.scalars[((f * 2 + r) * stateCount)..<((f * 2 + r + 1) * stateCount)].map(Double.init)
        }
        let initial = Trainer.initialState(cfg, data: data, model: model).workingStates
        func initialState(_ f: Int, _ r: Int) -> [Float] {
            Array(initial.scalars[((f * 2 + r) * stateCount)..<((f * 2 + r + 1) * stateCount)])
        }
        #expect(working(0, 0) == initialState(0, 0).map(Double.init))
        #expect(working(1, 0) == initialState(1, 0).map(Double.init))
        #expect(working(0, 1) == initialState(0, 1).map(Double.init))
        #expect(maxAbsDifference(working(1, 1), predictions[1]) < 1e-5)  // transition (f 0, r 1)
        #expect(working(1, 1)[2] != 0, "hidden channels propagate")
        #expect(initialState(1, 0)[2] == 0)
    }

    /// The pool: P extra transitions per epoch from pool states to the last frame, by hand;
    /// their predictions stay in the pool; a state whose life ends is re-seeded from the last
    /// transition's start state.
    @Test func poolTransitionsByHand() throws {
        var (cfg, data) = tinyProblem()
        cfg.pool = 3
        cfg.poolReach = 2  // M = 2: each state lives (2 − 1)·2 + 1 = 3 epochs; state 2 ends after epoch 1
        #expect(cfg.poolLifetime(transitions: 2) == 3)
        let model: NCAModel<Float> = randomModel(cfg.model, seed: 12, scale: 0.3)
        let initial = Trainer.initialState(cfg, data: data, model: model)
        let cell = 8 * 8
        let stateCount = cell * 3
        // Seeded from frame M − 1 = 1 of trajectory i mod 2: data, hidden channels 0.
        let pool = try #require(initial.pool)
        #expect(pool.shape == [3, 8, 8, 3])
        for i in 0..<3 {
            let expected = initial.workingStates.scalars[((1 * 2 + i % 2) * stateCount)..<((1 * 2 + i % 2 + 1) * stateCount)]
            #expect(Array(pool.scalars[(i * stateCount)..<((i + 1) * stateCount)]) == Array(expected))
        }
        let trainer = Trainer(configuration: cfg, data: data, state: initial)
        let report = try trainer.runEpoch()

        let dm = NCAModel<Double>(converting: model)
        let engine = NCAEngine<Double>(configuration: cfg.model, batch: 1, size: 8)
        func transition(from start: ArraySlice<Float>, frame: Int, trajectory r: Int) -> (Double, [Double]) {
            let x0 = Tensor<Double>(shape: [1, 8, 8, 3], scalars: start.map(Double.init))
            var y = Tensor<Double>(zeros: [1, 8, 8, 2])
            for k in 0..<cell {
                for ch in 0..<2 { y.scalars[k * 2 + ch] = Double(data.scalars[((frame * 2 + r) * cell + k) * 2 + ch]) }
            }
            var rng = RandomGenerator(seed: 0)
            let prediction = engine.forward(dm, from: x0, steps: 2, rng: &rng)
            return (
                LossFunction.euclidean.evaluate(prediction: prediction, target: y, observableChannels: 2).loss, prediction.scalars
            )
        }
        var lossSum = 0.0
        for f in 0..<2 {
            for r in 0..<2 {
                let k = f * 2 + r
                lossSum +=
                    transition(
                        from: initial.workingStates.scalars[(k * stateCount)..<((k + 1) * stateCount)], frame: f + 1,
                        trajectory: r
                    ).0
            }
        }
        var poolPredictions: [[Double]] = []
        for i in 0..<3 {
            let (loss, prediction) = transition(
                from: pool.scalars[(i * stateCount)..<((i + 1) * stateCount)], frame: 2, trajectory: i % 2)
            lossSum += loss
            poolPredictions.append(prediction)
        }
        #expect(abs(report.loss - lossSum / 7) < 1e-5, "\(report.loss) vs \(lossSum / 7)")
        let after = try #require(trainer.state.pool)
        for i in 0..<2 {
            #expect(
                maxAbsDifference(after.scalars[(i * stateCount)..<((i + 1) * stateCount)].map(Double.init), poolPredictions[i])
                    < 1e-5)
        }
        // State 2 (trajectory 0) ended its life: the working state of frame 1, trajectory 0.
        let w = trainer.state.workingStates
        #expect(
            Array(after.scalars[(2 * stateCount)..<(3 * stateCount)]) == Array(w.scalars[(2 * stateCount)..<(3 * stateCount)]))

        // A state that leaves the data range is re-seeded at once: v pushes every observable
        // value up by 1 per step, far outside the range within t = 2 steps.
        var pushing = model
        pushing.v.scalars = [1, 1, 0]
        var cfgLong = cfg
        cfgLong.poolReach = 100
        let outOfRange = Trainer(
            configuration: cfgLong, data: data, state: Trainer.initialState(cfgLong, data: data, model: pushing))
        _ = try outOfRange.runEpoch()
        let seeded = try #require(outOfRange.state.pool)
        let frame1 = outOfRange.state.workingStates
        for i in 0..<3 {
            let source = (2 + i % 2) * stateCount
            #expect(
                Array(seeded.scalars[(i * stateCount)..<((i + 1) * stateCount)])
                    == Array(frame1.scalars[source..<(source + stateCount)]))
        }
    }

    /// Damage zeroes every channel in exactly the cells of the disc, clipped to the lattice,
    /// in one batch entry.
    @Test func damageIsADiscOfZeros() {
        var x = Tensor<Float>(shape: [2, 7, 7, 3], scalars: (0..<(2 * 49 * 3)).map { Float($0 % 11) + 1 })
        let before = x
        Trainer.damage(&x, entry: 1, disc: (row: 1, column: 5, radius: 2))
        for e in 0..<2 {
            for i in 0..<7 {
                for j in 0..<7 {
                    let inside = e == 1 && (i - 1) * (i - 1) + (j - 5) * (j - 5) <= 4
                    for ch in 0..<3 {
                        let k = ((e * 7 + i) * 7 + j) * 3 + ch
                        #expect(x.scalars[k] == (inside ? 0 : before.scalars[k]), "entry \(e) cell (\(i), \(j))")
                    }
                }
            }
        }
    }

    @Test func perMinibatchUpdatesStepPerMinibatch() throws {
        let (cfg, data) = tinyProblem(update: .perMinibatch)
        let trainer = Trainer(configuration: cfg, data: data)
        _ = try trainer.runEpoch()
        #expect(trainer.state.optimizer.step == 2)  // 4 transitions in mini-batches of 3 and 1
        let (cfg2, _) = tinyProblem(update: .perEpoch)
        let perEpoch = Trainer(configuration: cfg2, data: data)
        _ = try perEpoch.runEpoch()
        #expect(perEpoch.state.optimizer.step == 1)
    }

    /// `trainOutputBias = false` holds v at zero (even when the given model has one) while W1 and
    /// W2 still learn, so a zero neighbourhood gets a zero update: an all-zero state stays exactly
    /// zero under the trained model, which it does not with a trained bias.
    @Test func heldOutputBiasMakesTheZeroStateAFixedPoint() throws {
        var (cfg, data) = tinyProblem(update: .perMinibatch)
        let start: NCAModel<Float> = randomModel(cfg.model, seed: 12, scale: 0.3)
        #expect(start.v.scalars.contains { $0 != 0 })
        func trained(_ bias: Bool?) throws -> NCAModel<Float> {
            cfg.trainOutputBias = bias
            let trainer = Trainer(configuration: cfg, data: data, state: Trainer.initialState(cfg, data: data, model: start))
            for _ in 0..<3 { _ = try trainer.runEpoch() }
            return trainer.state.model
        }
        let held = try trained(false)
        #expect(held.v.scalars.allSatisfy { $0 == 0 })
        #expect(held.w1 != start.w1 && held.w2 != start.w2)
        let free = try trained(nil)
        #expect(free.v.scalars.contains { $0 != 0 })
        let engine = NCAEngine<Float>(configuration: cfg.model, batch: 1, size: 8)
        func afterTenSteps(_ model: NCAModel<Float>) -> Tensor<Float> {
            var x = Tensor<Float>(zeros: [1, 8, 8, cfg.model.channels])
            var rng = RandomGenerator(seed: 1)
            engine.run(model, state: &x, steps: 10, rng: &rng)
            return x
        }
        #expect(afterTenSteps(held).scalars.allSatisfy { $0 == 0 })
        #expect(afterTenSteps(free).scalars.contains { abs($0) > 1e-3 })
    }

    @Test func sameSeedSameCurveAndTrainingLowersTheLoss() throws {
        var (cfg, _) = tinyProblem()
        cfg.model.skipProbability = 0.3  // masks consume the generator too
        cfg.learningRate = 0.02
        // Learnable data: a teacher NCA's own trajectory (observable channels only).
        let teacherConfig = ModelConfiguration(
            channels: 2, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 4)
        let teacher: NCAModel<Float> = randomModel(teacherConfig, seed: 40, scale: 0.5)
        let engine = NCAEngine<Float>(configuration: teacherConfig, batch: 2, size: 8)
        var x: Tensor<Float> = randomTensor([2, 8, 8, 2], seed: 41)
        var frames = x.scalars
        var teacherRNG = RandomGenerator(seed: 0)
        for _ in 0..<2 {
            engine.run(teacher, state: &x, steps: 2, rng: &teacherRNG)
            frames += x.scalars
        }
        let data = Tensor<Float>(shape: [3, 2, 8, 8, 2], scalars: frames)
        func curve(_ epochs: Int) throws -> [Double] {
            let trainer = Trainer(configuration: cfg, data: data)
            return try (0..<epochs).map { _ in try trainer.runEpoch().loss }
        }
        let a = try curve(30)
        #expect(a == (try curve(30)))
        #expect(a.last! < 0.7 * a.first!, "loss \(a.first!) → \(a.last!)")
        // Resuming from a mid-run state gives the same curve, bit for bit.
        let first = Trainer(configuration: cfg, data: data)
        for _ in 0..<12 { _ = try first.runEpoch() }
        let resumed = Trainer(configuration: cfg, data: data, state: first.state)
        let rest = try (12..<30).map { _ in try resumed.runEpoch().loss }
        #expect(rest == Array(a[12...]))
    }
}
