import Foundation

/// What a run folder's `config.json` holds: every setting, resolved, and where the data came from.
public struct RunConfiguration: Codable, Equatable, Sendable {
    public var training: TrainingConfiguration
    /// `gray-scott` when the run generated its own data, nil for `--data`.
    public var preset: String?
    /// Where the training data came from (a path, or a description of the generator call).
    public var dataSource: String
    /// (M+1) × R × S × S × O.
    public var dataShape: [Int]
    /// Where the test data came from, if any.
    public var testDataSource: String?
    /// The `nca` version that created the run.
    public var toolkitVersion: String

    public init(
        training: TrainingConfiguration, preset: String?, dataSource: String, dataShape: [Int], testDataSource: String?,
        toolkitVersion: String
    ) {
        self.training = training
        self.preset = preset
        self.dataSource = dataSource
        self.dataShape = dataShape
        self.testDataSource = testDataSource
        self.toolkitVersion = toolkitVersion
    }
}

/// Receives progress from a training run (the CLI prints it; the library prints nothing).
public protocol TrainingObserver: AnyObject {
    /// Called after every epoch with the running totals.
    func epochFinished(_ report: EpochReport, bestLoss: Double, elapsedSeconds: Double, totalEpochs: Int)
    /// Called after a checkpoint was written.
    func checkpointWritten(epoch: Int)
    /// Called when a diverged epoch was rolled back to the checkpoint of `epoch` with the
    /// learning rate scaled by `learningRateScale`.
    func rolledBack(_ error: DivergenceError, toEpoch epoch: Int, learningRateScale: Double)
}

/// A training run and its folder:
///
///     config.json        RunConfiguration (every setting, resolved)
///     data.npy           the training trajectory, (M+1) × R × S × S × O
///     test.npy           a test trajectory, when the run has one
///     metrics.csv        epoch,loss,gradient_norm,learning_rate,wall_time_s,range_penalty,
///                        validation_loss — appended per epoch (validation_loss empty when
///                        the epoch was not validated)
///     model.safetensors  the latest model (at each checkpoint and at the end)
///     average.safetensors  the moving average of the weights, with `weightAverage`
///     best.safetensors   the best model so far by the configured selection measure: the
///                        lowest validation (rollout) loss, or the lowest epoch loss
///     checkpoint.safetensors  everything needed to resume (see `Checkpoint`)
///     snapshots/epoch-NNNNNN.safetensors  the model after every k-th epoch (`snapshotEvery`)
///
/// Every file is written atomically; metrics lines are appended and synced one by one.
public final class TrainingRun {
    public let folder: String
    public let configuration: RunConfiguration
    public let trainer: Trainer
    public let testData: Tensor<Float>?
    private var elapsedBefore: Double
    private let started = Date()

    public static let metricsHeader = "epoch,loss,gradient_norm,learning_rate,wall_time_s,range_penalty,validation_loss"

    public var configPath: String { folder + "/config.json" }
    public var metricsPath: String { folder + "/metrics.csv" }
    public var modelPath: String { folder + "/model.safetensors" }
    public var bestPath: String { folder + "/best.safetensors" }
    public var averagePath: String { folder + "/average.safetensors" }
    public var checkpointPath: String { folder + "/checkpoint.safetensors" }
    public var dataPath: String { folder + "/data.npy" }
    public var testDataPath: String { folder + "/test.npy" }
    public var reportPath: String { folder + "/report.html" }

    /// Creates the folder (which must not already hold a run) and writes the configuration, data
    /// and an initial checkpoint (epoch 0).
    public init(newRunIn folder: String, configuration: RunConfiguration, data: Tensor<Float>, testData: Tensor<Float>?) throws {
        try configuration.training.validate()
        if FileManager.default.fileExists(atPath: folder + "/config.json") {
            throw FileError(
                path: folder, reason: "already holds a training run; resume it or choose another folder",
                category: .usage)
        }
        try AtomicFile.makeFolder(folder)
        self.folder = folder
        self.configuration = configuration
        self.testData = testData
        trainer = Trainer(configuration: configuration.training, data: data)
        elapsedBefore = 0
        try NPY.write(data, to: dataPath)
        if let testData { try NPY.write(testData, to: testDataPath) }
        try AtomicFile.write(Data((Self.metricsHeader + "\n").utf8), to: metricsPath)
        try writeCheckpoint()
        // config.json last: a folder holds a run (and can be resumed) only once everything a
        // resume needs is on disk; a start that was killed earlier can simply be repeated.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(configuration) + Data("\n".utf8), to: configPath)
    }

    /// Reopens a run folder at its last checkpoint. Metrics lines written after that
    /// checkpoint (by a run that was killed) are dropped, so the resumed run rewrites them.
    public init(resuming folder: String) throws {
        self.folder = folder
        let configData = try AtomicFile.read(folder + "/config.json")
        do {
            configuration = try JSONDecoder().decode(RunConfiguration.self, from: configData)
        } catch {
            throw FileError(
                path: folder + "/config.json",
                reason: "is not a run configuration (\(error)); was this folder made by nca train?", category: .inputData)
        }
        let data = try NPY.read(folder + "/data.npy").tensor(as: Float.self)
        testData =
            FileManager.default.fileExists(atPath: folder + "/test.npy")
            ? try NPY.read(folder + "/test.npy").tensor(as: Float.self) : nil
        let (state, elapsed) = try Checkpoint.read(folder + "/checkpoint.safetensors")
        guard state.model.configuration == configuration.training.model else {
            throw FileError(
                path: folder, reason: "checkpoint and config.json describe different models; the folder was edited by hand",
                category: .inputData)
        }
        guard
            state.workingStates.shape == [
                data.shape[0] - 1, data.shape[1], data.shape[2], data.shape[3], configuration.training.model.channels,
            ]
        else {
            throw FileError(path: folder, reason: "checkpoint working states do not match data.npy", category: .inputData)
        }
        guard (state.pool?.shape[0] ?? 0) == configuration.training.poolSize else {
            throw FileError(
                path: folder,
                reason:
                    "the checkpoint's pool of states does not match the pool size in config.json; the folder was edited by hand",
                category: .inputData)
        }
        trainer = Trainer(configuration: configuration.training, data: data, state: state)
        elapsedBefore = elapsed
        try truncateMetrics(after: state.epoch)
    }

    /// Wall time of the run so far, across resumes.
    public var elapsedSeconds: Double { elapsedBefore + Date().timeIntervalSince(started) }

    /// Trains until `configuration.training.epochs` epochs are done, or `shouldStop()` says so
    /// between epochs (a checkpoint is then written). Returns the reports of this session.
    @discardableResult
    public func train(observer: TrainingObserver? = nil, shouldStop: () -> Bool = { false }) throws -> [EpochReport] {
        let total = configuration.training.epochs
        var reports: [EpochReport] = []
        var metrics = try MetricsFile(path: metricsPath)
        defer { metrics.close() }
        var rollbacks = 0
        while trainer.state.epoch < total {
            let previousBest = trainer.state.bestLoss
            let epochReport: EpochReport
            do {
                epochReport = try trainer.runEpoch()
                rollbacks = 0
            } catch {
                // Nothing of the diverged epoch was written. Stop, or go back to the last
                // checkpoint with half the learning rate.
                guard configuration.training.onDivergence == .rollback, rollbacks < TrainingConfiguration.maxRollbacks else {
                    throw error
                }
                rollbacks += 1
                var (state, _) = try Checkpoint.read(checkpointPath)
                state.learningRateScale = trainer.state.learningRateScale / 2
                trainer.restore(state)
                try truncateMetrics(after: state.epoch)
                metrics.close()
                metrics = try MetricsFile(path: metricsPath)  // the truncated file is a new one
                try writeCheckpoint()
                observer?.rolledBack(error, toEpoch: state.epoch, learningRateScale: state.learningRateScale)
                continue
            }
            var report = epochReport
            let training = configuration.training
            if training.validates(afterEpoch: report.epoch) {
                let validation = trainer.validationLoss(of: trainer.state.selectableModel)
                report.validationLoss = validation
                if trainer.recordValidation(validation) { try ModelFile.write(trainer.state.selectableModel, to: bestPath) }
            } else if training.selection == .trainingLoss && report.loss < previousBest {
                try ModelFile.write(report.modelBeforeUpdate, to: bestPath)
            }
            if let k = training.snapshotEvery, report.epoch % k == 0 {
                try AtomicFile.makeFolder(folder + "/snapshots")
                try ModelFile.write(
                    trainer.state.selectableModel, to: folder + String(format: "/snapshots/epoch-%06d.safetensors", report.epoch))
            }
            reports.append(report)
            try metrics.append(
                "\(report.epoch),\(report.loss),\(report.gradientNorm),\(report.learningRate),\(String(format: "%.3f", elapsedSeconds)),"
                    + "\(report.rangePenalty),\(report.validationLoss.map { String($0) } ?? "")"
            )
            let stopping = shouldStop()
            if report.epoch % configuration.training.checkpointEvery == 0 || report.epoch == total || stopping {
                try writeCheckpoint()
                observer?.checkpointWritten(epoch: report.epoch)
            }
            observer?.epochFinished(report, bestLoss: trainer.state.bestLoss, elapsedSeconds: elapsedSeconds, totalEpochs: total)
            if stopping { break }
        }
        // No validated model stayed in range: keep the last one rather than none (the report
        // and the summary say so).
        if trainer.state.epoch == total && configuration.training.selection == .rollout && trainer.state.bestValidationEpoch == 0
        {
            try ModelFile.write(trainer.state.selectableModel, to: bestPath)
        }
        return reports
    }

    /// Writes `model.safetensors` and `checkpoint.safetensors` for the current state.
    public func writeCheckpoint() throws {
        try ModelFile.write(trainer.state.model, to: modelPath)
        if let average = trainer.state.averageModel { try ModelFile.write(average, to: averagePath) }
        try Checkpoint.write(trainer.state, elapsedSeconds: elapsedSeconds, to: checkpointPath)
    }

    /// The metrics rows so far: (epoch, loss).
    public func lossCurve() throws -> [(epoch: Int, loss: Double)] {
        let text = String(decoding: try AtomicFile.read(metricsPath), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: ",")
            guard fields.count >= 2, let epoch = Int(fields[0]), let loss = Double(fields[1]) else { return nil }
            return (epoch, loss)
        }
    }

    /// The validation losses so far: (epoch, loss) of every validated epoch.
    public func validationCurve() throws -> [(epoch: Int, loss: Double)] {
        let text = String(decoding: try AtomicFile.read(metricsPath), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 7, let epoch = Int(fields[0]), let loss = Double(fields[6]) else { return nil }
            return (epoch, loss)
        }
    }

    private func truncateMetrics(after epoch: Int) throws {
        let text =
            FileManager.default.fileExists(atPath: metricsPath)
            ? String(decoding: try AtomicFile.read(metricsPath), as: UTF8.self) : ""
        var lines = [Self.metricsHeader]
        for line in text.split(separator: "\n").dropFirst() {
            guard let first = line.split(separator: ",").first, let e = Int(first), e <= epoch else { continue }
            lines.append(String(line))
        }
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: metricsPath)
    }
}

/// An append-only text file whose every line is on disk (fsync) before `append` returns.
final class MetricsFile {
    private let descriptor: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw FileError(path: path, reason: "cannot open for appending: \(String(cString: strerror(errno)))")
        }
    }

    func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            let code = errno
            throw FileError(path: path, reason: "cannot append a metrics line: \(AtomicFile.errnoText())\(AtomicFile.hint(code))")
        }
    }

    func close() { Glibc.close(descriptor) }
}
