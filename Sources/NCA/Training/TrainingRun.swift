import Foundation

/// What a run folder's `config.json` holds: every setting, resolved, and where the data came from.
public struct RunConfiguration: Codable, Equatable, Sendable {
    /// Every training setting.
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

    /// A configuration; see the properties.
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

/// A training run and its folder (`RunFolder` says which file holds what). Every file is
/// written atomically; metrics lines are appended and synced one by one.
public final class TrainingRun {
    /// The run folder.
    public let folder: String
    /// What `config.json` holds.
    public let configuration: RunConfiguration
    /// The trainer whose state the run saves.
    public let trainer: Trainer
    /// The test data, when the run has some.
    public let testData: Tensor<Float>?
    /// Whether this process writes the run folder (metrics, models, checkpoints). In a
    /// data-parallel job only rank 0 does; the others train the same state in memory.
    public let writes: Bool
    private var elapsedBefore: Double
    private let started = Date()

    /// Where each file of the run lives.
    public var files: RunFolder { RunFolder(folder) }
    /// `config.json`.
    public var configPath: String { files.config }
    /// `metrics.csv`.
    public var metricsPath: String { files.metrics }
    /// `model.safetensors`.
    public var modelPath: String { files.model }
    /// `best.safetensors`.
    public var bestPath: String { files.best }
    /// `average.safetensors`.
    public var averagePath: String { files.average }
    /// `checkpoint.safetensors`.
    public var checkpointPath: String { files.checkpoint }
    /// `data.npy`.
    public var dataPath: String { files.data }
    /// `test.npy`.
    public var testDataPath: String { files.testData }
    /// `report.html`.
    public var reportPath: String { files.report }

    /// Creates the folder (which must not already hold a run) and writes the configuration, data
    /// and an initial checkpoint (epoch 0).
    public init(newRunIn folder: String, configuration: RunConfiguration, data: Tensor<Float>, testData: Tensor<Float>?) throws {
        try configuration.training.validate()
        if FileManager.default.fileExists(atPath: RunFolder(folder).config) {
            throw FileError(
                path: folder, problem: "already holds a training run; resume it or choose another folder",
                category: .usage)
        }
        try AtomicFile.makeFolder(folder)
        self.folder = folder
        self.configuration = configuration
        self.testData = testData
        writes = true
        trainer = Trainer(configuration: configuration.training, data: data)
        elapsedBefore = 0
        try NPY.write(data, to: dataPath)
        if let testData { try NPY.write(testData, to: testDataPath) }
        try AtomicFile.write(Data((RunFolder.metricsHeader + "\n").utf8), to: metricsPath)
        try writeCheckpoint()
        // config.json last: a folder holds a run (and can be resumed) only once everything a
        // resume needs is on disk; a start that was killed earlier can simply be repeated.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(configuration) + Data("\n".utf8), to: configPath)
    }

    /// Reopens a run folder at its last checkpoint. Metrics lines written after that
    /// checkpoint (by a run that was killed) are dropped, so the resumed run rewrites them.
    /// With `writes` false (the other ranks of a data-parallel job) nothing is written, ever.
    public init(resuming folder: String, writes: Bool = true) throws {
        self.folder = folder
        self.writes = writes
        let files = RunFolder(folder)
        let configData = try AtomicFile.read(files.config)
        do {
            configuration = try JSONDecoder().decode(RunConfiguration.self, from: configData)
        } catch {
            throw FileError(
                path: files.config,
                problem: "is not a run configuration (\(error)); was this folder made by nca train?", category: .inputData)
        }
        let data = try NPY.read(files.data).tensor(as: Float.self)
        testData =
            FileManager.default.fileExists(atPath: files.testData) ? try NPY.read(files.testData).tensor(as: Float.self) : nil
        let (state, elapsed) = try Checkpoint.read(files.checkpoint)
        guard state.model.configuration == configuration.training.model else {
            throw FileError(
                path: folder, problem: "checkpoint and config.json describe different models; the folder was edited by hand",
                category: .inputData)
        }
        guard
            state.workingStates.shape == [
                data.shape[0] - 1, data.shape[1], data.shape[2], data.shape[3], configuration.training.model.channels,
            ]
        else {
            throw FileError(path: folder, problem: "checkpoint working states do not match data.npy", category: .inputData)
        }
        guard (state.pool?.shape[0] ?? 0) == configuration.training.poolSize else {
            throw FileError(
                path: folder,
                problem:
                    "the checkpoint's pool of states does not match the pool size in config.json; the folder was edited by hand",
                category: .inputData)
        }
        trainer = Trainer(configuration: configuration.training, data: data, state: state)
        elapsedBefore = elapsed
        if writes { try truncateMetrics(after: state.epoch) }
    }

    /// Wall time of the run so far, across resumes.
    public var elapsedSeconds: Double { elapsedBefore + Date().timeIntervalSince(started) }

    /// Trains until `configuration.training.epochs` epochs are done, or `shouldStop()` says so
    /// between epochs (a checkpoint is then written). Returns the reports of this session.
    @discardableResult
    public func train(observer: TrainingObserver? = nil, shouldStop: () -> Bool = { false }) throws -> [EpochReport] {
        let total = configuration.training.epochs
        var reports: [EpochReport] = []
        var metrics = writes ? try AppendOnlyFile(path: metricsPath) : nil
        defer { metrics?.close() }
        var rollbacks = 0
        while trainer.state.epoch < total {
            let previousBest = trainer.state.bestLoss
            let epochReport: EpochReport
            do {
                epochReport = try trainer.runEpoch()
                rollbacks = 0
            } catch let error as DivergenceError {
                // Nothing of the diverged epoch was written. Stop, or go back to the last
                // checkpoint with half the learning rate.
                guard configuration.training.onDivergence == .rollback, rollbacks < TrainingConfiguration.maxRollbacks else {
                    throw error
                }
                rollbacks += 1
                var (state, _) = try Checkpoint.read(checkpointPath)
                state.learningRateScale = trainer.state.learningRateScale / 2
                trainer.restore(state)
                if writes {
                    try truncateMetrics(after: state.epoch)
                    metrics?.close()
                    metrics = try AppendOnlyFile(path: metricsPath)  // the truncated file is a new one
                    try writeCheckpoint()
                }
                observer?.rolledBack(error, toEpoch: state.epoch, learningRateScale: state.learningRateScale)
                continue
            }
            var report = epochReport
            let training = configuration.training
            if training.validates(afterEpoch: report.epoch) {
                let validation = trainer.validationLoss(of: trainer.state.selectableModel)
                report.validationLoss = validation
                if trainer.recordValidation(validation) && writes {
                    try ModelFile.write(trainer.state.selectableModel, to: bestPath)
                }
            } else if training.selection == .trainingLoss && report.loss < previousBest && writes {
                try ModelFile.write(report.modelBeforeUpdate, to: bestPath)
            }
            if let k = training.snapshotEvery, report.epoch % k == 0, writes {
                try AtomicFile.makeFolder(files.snapshots)
                try ModelFile.write(trainer.state.selectableModel, to: files.snapshot(epoch: report.epoch))
            }
            reports.append(report)
            try metrics?.append(MetricsRow(report, wallTime: elapsedSeconds).line)
            let stopping = shouldStop()
            if report.epoch % configuration.training.checkpointEvery == 0 || report.epoch == total || stopping, writes {
                try writeCheckpoint()
                observer?.checkpointWritten(epoch: report.epoch)
            }
            observer?.epochFinished(report, bestLoss: trainer.state.bestLoss, elapsedSeconds: elapsedSeconds, totalEpochs: total)
            if stopping { break }
        }
        // No validated model stayed in range: keep the last one rather than none (the report
        // and the summary say so).
        if trainer.state.epoch == total && configuration.training.selection == .rollout && trainer.state.bestValidationEpoch == 0
            && writes
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

    /// The metrics rows so far.
    public func metricsRows() throws -> [MetricsRow] {
        MetricsRow.rows(of: String(decoding: try AtomicFile.read(metricsPath), as: UTF8.self))
    }

    /// The metrics rows so far: (epoch, loss).
    public func lossCurve() throws -> [(epoch: Int, loss: Double)] { try metricsRows().map { ($0.epoch, $0.loss) } }

    /// The validation losses so far: (epoch, loss) of every validated epoch.
    public func validationCurve() throws -> [(epoch: Int, loss: Double)] {
        try metricsRows().compactMap { row in row.validationLoss.map { (row.epoch, $0) } }
    }

    /// Drops the metrics lines after `epoch` (written by a session that did not reach its next
    /// checkpoint), keeping the lines as they were written.
    private func truncateMetrics(after epoch: Int) throws {
        let text =
            FileManager.default.fileExists(atPath: metricsPath)
            ? String(decoding: try AtomicFile.read(metricsPath), as: UTF8.self) : ""
        var lines = [RunFolder.metricsHeader]
        for line in text.split(separator: "\n").dropFirst() {
            guard let row = MetricsRow(line: line), row.epoch <= epoch else { continue }
            lines.append(String(line))
        }
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: metricsPath)
    }
}
