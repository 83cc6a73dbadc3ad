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
        #expect { try run.train() } throws: { "\($0)".contains("above --max-loss") }
    }

    @Test func refusesToOverwriteARun() throws {
        let folder = temporaryFolder() + "/run"
        _ = try tinyRun(folder, epochs: 1)
        #expect { try tinyRun(folder, epochs: 1) } throws: { "\($0)".contains("already holds a training run") }
    }
}
