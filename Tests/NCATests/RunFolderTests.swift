import Foundation
import Testing

@testable import NCA

@Suite("Run folders")
struct RunFolderTests {
    func tinyRun(
        _ folder: String, epochs: Int, checkpointEvery: Int = 2, adjust: (inout TrainingConfiguration) -> Void = { _ in }
    ) throws -> TrainingRun {
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(
                channels: 3, observableChannels: 2, kernels: [.identity, .laplacian], activation: .tanh, hiddenSize: 4,
                skipProbability: 0.2))
        cfg.timeSampling = 2
        cfg.epochs = epochs
        cfg.minibatchSize = 3
        cfg.checkpointEvery = checkpointEvery
        cfg.learningRate = 0.01
        adjust(&cfg)
        let data: Tensor<Float> = randomTensor([3, 2, 6, 6, 2], seed: 4)
        let run = RunConfiguration(
            training: cfg, preset: nil, dataSource: "test", dataShape: data.shape, testDataSource: nil, toolkitVersion: "test")
        return try TrainingRun(newRunIn: folder, configuration: run, data: data, testData: nil)
    }

    @Test func resumeContinuesBitForBit() throws {
        let whole = temporaryFolder() + "/whole"
        try tinyRun(whole, epochs: 9).train()
        let wholeCurve = try TrainingRun(resuming: whole).lossCurve()
        #expect(wholeCurve.count == 9)

        // Stop after epoch 5 (checkpoint at the stop), then resume to the end.
        let split = temporaryFolder() + "/split"
        var epochs = 0
        try tinyRun(split, epochs: 9).train(shouldStop: {
            epochs += 1
            return epochs == 5
        })
        let resumed = try TrainingRun(resuming: split)
        #expect(resumed.trainer.state.epoch == 5)
        try resumed.train()
        let splitCurve = try resumed.lossCurve()
        #expect(splitCurve.map(\.epoch) == Array(1...9))
        #expect(splitCurve.map(\.loss) == wholeCurve.map(\.loss))
        let a: NCAModel<Float> = try ModelFile.read(whole + "/model.safetensors")
        let b: NCAModel<Float> = try ModelFile.read(split + "/model.safetensors")
        #expect(a == b)
        #expect(
            try ModelFile.read(whole + "/best.safetensors", as: Float.self)
                == ModelFile.read(split + "/best.safetensors", as: Float.self))
    }

    /// Rollout selection: validated every k epochs after the first 5 % and at the end; best is
    /// the validated model with the lowest validation loss (never the untrained one), recorded
    /// in metrics.csv and the checkpoint, and a resumed run picks the same.
    @Test func rolloutSelectionKeepsTheBestValidatedModel() throws {
        func rollout(_ cfg: inout TrainingConfiguration) {
            cfg.selectBy = .rollout
            cfg.validateEvery = 3
            cfg.rangePenalty = 0.1
        }
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 10, adjust: rollout)
        let reports = try run.train()
        let validated = reports.compactMap { r in r.validationLoss.map { (r.epoch, $0) } }
        #expect(validated.map(\.0) == [3, 6, 9, 10])
        let best = validated.min { $0.1 < $1.1 }!
        #expect(run.trainer.state.bestValidationEpoch == best.0 && run.trainer.state.bestValidationLoss == best.1)
        // best.safetensors is that epoch's model: its validation loss is the recorded one.
        let model: NCAModel<Float> = try ModelFile.read(folder + "/best.safetensors")
        #expect(run.trainer.validationLoss(of: model) == best.1)
        #expect(model != NCAModel<Float>(configuration: run.configuration.training.model, seed: 0))
        // metrics.csv: the penalty on every line, the validation loss on validated ones.
        #expect(try run.validationCurve().map(\.epoch) == [3, 6, 9, 10])
        let lines = try String(contentsOfFile: folder + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines[0] == "epoch,loss,gradient_norm,learning_rate,wall_time_s,range_penalty,validation_loss")
        var penalties: [Double] = []
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields.count == 7)
            penalties.append(Double(fields[5]) ?? -1)
            #expect(fields[6].isEmpty == ![3, 6, 9, 10].contains(Int(fields[0])!))
        }
        // 0 while the states are in [0, 1]: at first (W1 = v = 0) and once the penalty has
        // pushed them back.
        #expect(penalties.allSatisfy { $0 >= 0 } && penalties.contains { $0 > 0 }, "\(penalties)")
        let (saved, _) = try Checkpoint.read(folder + "/checkpoint.safetensors")
        #expect(saved.bestValidationEpoch == best.0 && saved.bestValidationLoss == best.1)
        // Stopped after epoch 4 and resumed: the same choice and the same file.
        let split = temporaryFolder() + "/split"
        var epochs = 0
        try tinyRun(split, epochs: 10, adjust: rollout).train(shouldStop: {
            epochs += 1
            return epochs == 4
        })
        try TrainingRun(resuming: split).train()
        #expect(try ModelFile.read(split + "/best.safetensors", as: Float.self) == model)
        // Few epochs: 5 % of 3 is nothing, so every multiple of k and the last epoch count.
        let short = try tinyRun(temporaryFolder() + "/short", epochs: 3, adjust: rollout).train()
        #expect(short.compactMap { $0.validationLoss == nil ? nil : $0.epoch } == [3])
        var cfg = TrainingConfiguration(model: ModelConfiguration())
        cfg.selectBy = .rollout
        cfg.epochs = 400
        #expect((1...400).filter { cfg.validates(afterEpoch: $0) } == Array(stride(from: 30, through: 400, by: 10)))
    }

    /// A model that fits the horizon and drifts out of range after it is rejected when the
    /// validation reaches past the horizon, and accepted when it stops there.
    @Test func validationRejectsModelsThatLeaveTheRangeBeyondTheHorizon() throws {
        func run(reach: Int) throws -> TrainingRun {
            try tinyRun(temporaryFolder() + "/run", epochs: 1) { c in
                c.model.skipProbability = 0
                c.validateReach = reach
                c.selectBy = .rollout
            }
        }
        // Data in [0, 1): the allowed range is about [−0.5, 1.5]. Horizon: 2 intervals × 2 steps.
        let short = try run(reach: 1)
        let cfg = short.configuration.training.model
        var drift = NCAModel<Float>(configuration: cfg, seed: 0)
        drift.v.scalars = [0.1, 0.1, 0]  // +0.1 per step on the observable channels: +0.4 by the horizon
        #expect(short.trainer.validationLoss(of: drift).isFinite)
        #expect(try run(reach: 2).trainer.validationLoss(of: drift) == .infinity)  // +0.8 by twice the horizon
        #expect(try run(reach: 3).trainer.validationLoss(of: NCAModel<Float>(configuration: cfg, seed: 0)).isFinite)
        var nan = drift
        nan.v.scalars[2] = .nan
        #expect(short.trainer.validationLoss(of: nan) == .infinity)
    }

    /// With the last frame held: the validation loss of a model that keeps its start state is
    /// the mean of its losses to frames 1 and 2 over the horizon and, at steps 6 and 8 (reach 2,
    /// t = 2), to the last frame, computed here from the data alone.
    @Test func validationWithTheLastFrameHeldCountsTheStepsPastTheHorizon() throws {
        let run = try tinyRun(temporaryFolder() + "/run", epochs: 1) { c in
            c.model.skipProbability = 0
            c.selectBy = .rollout
            c.validateReach = 2
            c.validateHold = true
        }
        var still = NCAModel<Float>(configuration: run.configuration.training.model, seed: 0)
        for i in still.w1.scalars.indices { still.w1.scalars[i] = 0 }
        for i in still.v.scalars.indices { still.v.scalars[i] = 0 }
        let data = run.trainer.data  // 3 × 2 × 6 × 6 × 2
        let lattice = 2 * 6 * 6 * 2
        func frame(_ k: Int) -> Tensor<Float> {
            Tensor(shape: [2, 6, 6, 2], scalars: Array(data.scalars[(k * lattice)..<((k + 1) * lattice)]))
        }
        func loss(_ k: Int) -> Double {
            LossFunction.euclidean.evaluate(prediction: frame(0), target: frame(k), observableChannels: 2).loss
        }
        let expected = (loss(1) + loss(2) + 2 * loss(2)) / 4
        #expect(abs(run.trainer.validationLoss(of: still) - expected) < 1e-6 * expected)
        var plain = run.configuration.training
        plain.validateHold = nil
        #expect(
            abs(Trainer(configuration: plain, data: data).validationLoss(of: still) - (loss(1) + loss(2)) / 2) < 1e-6 * expected)
    }

    /// The moving average: the formula step by step, kept in the checkpoint, resumed bit for
    /// bit, and what validation and best.safetensors use.
    @Test func weightAverageFollowsTheFormulaAndResumes() throws {
        func averaged(_ cfg: inout TrainingConfiguration) {
            cfg.weightAverage = 0.5
            cfg.update = .perMinibatch
            cfg.selectBy = .rollout
            cfg.validateEvery = 2
        }
        // Averaging leaves the raw weights alone.
        let folder = temporaryFolder() + "/whole"
        let run = try tinyRun(folder, epochs: 1, adjust: averaged)
        var cfg = run.configuration.training
        cfg.weightAverage = nil
        let plain = Trainer(configuration: cfg, data: run.trainer.data)
        _ = try plain.runEpoch()
        _ = try run.trainer.runEpoch()
        #expect(run.trainer.state.model == plain.state.model)
        #expect(run.trainer.state.optimizer.step == 2)  // 4 transitions in mini-batches of 3 and 1
        #expect(run.trainer.state.averageModel != nil && run.trainer.state.averageModel != run.trainer.state.model)
        // Resume: the average survives a checkpoint and training continues bit for bit.
        let a = temporaryFolder() + "/a"
        try tinyRun(a, epochs: 6, adjust: averaged).train()
        let b = temporaryFolder() + "/b"
        var count = 0
        try tinyRun(b, epochs: 6, adjust: averaged).train(shouldStop: {
            count += 1
            return count == 3
        })
        let (saved, _) = try Checkpoint.read(b + "/checkpoint.safetensors")
        #expect(saved.averageModel != nil && saved.averageModel != saved.model)
        try TrainingRun(resuming: b).train()
        for file in ["model", "best", "average"] {
            #expect(
                try ModelFile.read(a + "/\(file).safetensors", as: Float.self)
                    == ModelFile.read(b + "/\(file).safetensors", as: Float.self),
                "\(file)")
        }
        let done = try TrainingRun(resuming: a)
        let best: NCAModel<Float> = try ModelFile.read(a + "/best.safetensors")
        #expect(done.trainer.validationLoss(of: best) == done.trainer.state.bestValidationLoss)
    }

    /// β_n = min(β, (1 + n)/(10 + n)) by hand on a run of per-epoch updates, one per epoch.
    @Test func weightAverageMatchesTheRecurrence() throws {
        var cfg: TrainingConfiguration? = nil
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 4) { c in
            c.weightAverage = 0.3
            cfg = c
        }
        var plainConfig = cfg!
        plainConfig.weightAverage = nil
        let plain = Trainer(configuration: plainConfig, data: run.trainer.data)
        var expected: [Double]? = nil
        for n in 1...4 {
            _ = try run.trainer.runEpoch()
            _ = try plain.runEpoch()
            let w = plain.state.model.w2.scalars.map(Double.init)
            if let e = expected {
                let beta = min(0.3, Double(1 + n) / Double(10 + n))
                expected = zip(e, w).map { beta * $0 + (1 - beta) * $1 }
            } else {
                expected = w
            }
            #expect(run.trainer.state.model == plain.state.model)
            let average = run.trainer.state.averageModel!.w2.scalars.map(Double.init)
            #expect(maxAbsDifference(average, expected!) < 1e-6, "update \(n)")
        }
    }

    @Test func metricsWrittenAfterTheLastCheckpointAreDropped() throws {
        let folder = temporaryFolder() + "/run"
        try tinyRun(folder, epochs: 5, checkpointEvery: 2).train()
        // Pretend the process died after epoch 5's metrics line but before its checkpoint:
        // restore the epoch-4 checkpoint.
        let run = try TrainingRun(resuming: folder)
        #expect(run.trainer.state.epoch == 5)
        let earlier = temporaryFolder() + "/earlier"
        let four = try tinyRun(earlier, epochs: 4, checkpointEvery: 2)
        try four.train()
        try FileManager.default.removeItem(atPath: folder + "/checkpoint.safetensors")
        try FileManager.default.copyItem(atPath: earlier + "/checkpoint.safetensors", toPath: folder + "/checkpoint.safetensors")
        let resumed = try TrainingRun(resuming: folder)
        #expect(try resumed.lossCurve().map(\.epoch) == [1, 2, 3, 4])
    }

    @Test func checkpointRoundTripsAndRefusesDamage() throws {
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 3)
        try run.train()
        let (state, elapsed) = try Checkpoint.read(folder + "/checkpoint.safetensors")
        #expect(state == run.trainer.state)
        #expect(elapsed > 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/checkpoint.safetensors"))
        bytes[bytes.count - 5] ^= 0x40  // flip a bit in the tensor data
        try bytes.write(to: URL(fileURLWithPath: folder + "/damaged.safetensors"))
        #expect { try Checkpoint.read(folder + "/damaged.safetensors") } throws: { "\($0)".contains("checksum mismatch") }
        #expect { try Checkpoint.read(folder + "/model.safetensors") } throws: { "\($0)".contains("not an NCA checkpoint") }
    }

    @Test func summaryMeasuresTheModelAndRoundTrips() throws {
        let folder = temporaryFolder() + "/run"
        var cfg = TrainingConfiguration(
            model: ModelConfiguration(channels: 3, observableChannels: 2, kernels: [.identity, .laplacian], hiddenSize: 4))
        cfg.timeSampling = 2
        cfg.loss = .hellinger
        let data: Tensor<Float> = randomTensor([3, 2, 6, 6, 2], seed: 4)
        let test: Tensor<Float> = randomTensor([4, 1, 6, 6, 2], seed: 5)
        let run = try TrainingRun(
            newRunIn: folder,
            configuration: RunConfiguration(
                training: cfg, preset: nil, dataSource: "test", dataShape: data.shape, testDataSource: "t",
                toolkitVersion: "test"),
            data: data, testData: test)
        let model: NCAModel<Float> = randomModel(cfg.model, seed: 3)
        let measured = RunSummary.measure(model, run: run)
        let s = measured.summary
        // The test numbers, in the run's loss and in the Euclidean one, by hand.
        let entry = test.trajectoryEntry(0)
        for (loss, value, baseline) in [
            (LossFunction.hellinger, s.testLoss, s.testDoNothingLoss),
            (.euclidean, s.testEuclideanLoss, s.testEuclideanDoNothingLoss),
        ] {
            let e = RolloutEvaluation.evaluate(model, data: entry, timeSampling: 2, loss: loss)
            #expect(value == e.meanLoss && baseline == RolloutEvaluation.doNothingLoss(data: entry, observable: 2, loss: loss))
        }
        #expect(s.testEuclideanLoss != s.testLoss && s.testRatio! > 0 && s.rolloutRatio > 0 && s.holdRatio > 0)
        #expect(s.rolloutLoss == measured.rollout.meanLoss && measured.test?.meanLoss == s.testLoss)
        // Round trip, non-finite numbers included; damage is refused with the file's name.
        var odd = s
        odd.holdRatio = .nan
        odd.testLoss = .infinity
        try odd.write(to: folder + "/summary.json")
        let back = try RunSummary.read(from: folder + "/summary.json")
        #expect(back.holdRatio.isNaN && back.testLoss == .infinity && back.rolloutLoss == s.rolloutLoss)
        #expect(back.testEuclideanDoNothingLoss == s.testEuclideanDoNothingLoss)
        try Data("{\"rolloutLoss\": 1}".utf8).write(to: URL(fileURLWithPath: folder + "/bad.json"))
        #expect { try RunSummary.read(from: folder + "/bad.json") } throws: { "\($0)".contains("is not a run summary") }
        #expect { try RunSummary.read(from: folder + "/none.json") } throws: { "\($0)".contains("none.json") }
    }

    /// SGD with a huge learning rate on a linear model: epoch 1 is measured with the initial
    /// weights, its update blows the weights up, and epoch 2 overflows.
    func explosive(_ cfg: inout TrainingConfiguration) {
        cfg.model.activation = .linear
        cfg.optimizer = .sgd
        cfg.learningRate = 1e8
    }

    @Test func divergenceStopsAndKeepsTheCheckpoint() throws {
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 4, checkpointEvery: 100, adjust: explosive)
        #expect { try run.train() } throws: { error in
            guard let divergence = error as? DivergenceError else { return false }
            return divergence.epoch >= 2 && divergence.description.contains("training diverged in epoch \(divergence.epoch)")
        }
        let (state, _) = try Checkpoint.read(folder + "/checkpoint.safetensors")
        #expect(state.epoch == 0)
        // best.safetensors holds finite weights of an epoch that did not diverge.
        let best: NCAModel<Float> = try ModelFile.read(folder + "/best.safetensors")
        #expect(best.w1.scalars.allSatisfy { $0.isFinite })
        #expect(try TrainingRun(resuming: folder).lossCurve().isEmpty)
    }

    @Test func divergenceRollsBackWithHalvedLearningRate() throws {
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 4, checkpointEvery: 100) { cfg in
            explosive(&cfg)
            cfg.onDivergence = .rollback
        }
        try run.train()
        #expect(run.trainer.state.epoch == 4)
        #expect(run.trainer.state.learningRateScale < 1)
        #expect(run.trainer.state.model.w2.scalars.allSatisfy { $0.isFinite })
        let curve = try run.lossCurve()
        #expect(curve.map(\.epoch) == [1, 2, 3, 4] && curve.allSatisfy { $0.loss.isFinite })
        let (state, _) = try Checkpoint.read(folder + "/checkpoint.safetensors")
        #expect(state.learningRateScale == run.trainer.state.learningRateScale)
    }

    @Test func lossAboveTheBoundCountsAsDivergence() throws {
        let folder = temporaryFolder() + "/run"
        let run = try tinyRun(folder, epochs: 2) { $0.maxLoss = 1e-6 }
        #expect { try run.train() } throws: { "\($0)".contains("above the divergence bound") }
    }

    @Test func refusesToOverwriteARun() throws {
        let folder = temporaryFolder() + "/run"
        _ = try tinyRun(folder, epochs: 1)
        #expect { try tinyRun(folder, epochs: 1) } throws: { "\($0)".contains("already holds a training run") }
    }
}
