import Foundation

/// The layout of a training run's folder, and the format of its metrics file: the one place
/// that knows the file names and the CSV columns.
///
///     config.json        RunConfiguration (every setting, resolved)
///     data.npy           the training trajectory, (M+1) × R × S × S × O
///     test.npy           a test trajectory, when the run has one
///     metrics.csv        one `MetricsRow` per epoch, appended (see `metricsHeader`)
///     model.safetensors  the latest model (at each checkpoint and at the end)
///     average.safetensors  the moving average of the weights, with `weightAverage`
///     best.safetensors   the best model so far by the configured selection measure
///     checkpoint.safetensors  everything needed to resume (see `Checkpoint`)
///     summary.json       the finished run's selected model measured (`RunSummary`)
///     report.html        pictures and numbers of the finished run (written by the tool)
///     snapshots/epoch-NNNNNN.safetensors  the model after every k-th epoch (`snapshotEvery`)
public struct RunFolder: Sendable {
    /// The folder.
    public let path: String

    /// The layout of the run folder at `path`.
    public init(_ path: String) { self.path = path }

    /// `config.json`: the run's `RunConfiguration`.
    public var config: String { path + "/config.json" }
    /// `metrics.csv`: one `MetricsRow` per epoch.
    public var metrics: String { path + "/metrics.csv" }
    /// `model.safetensors`: the latest model.
    public var model: String { path + "/model.safetensors" }
    /// `best.safetensors`: the selected model.
    public var best: String { path + "/best.safetensors" }
    /// `average.safetensors`: the weights' moving average.
    public var average: String { path + "/average.safetensors" }
    /// `checkpoint.safetensors`: everything needed to resume.
    public var checkpoint: String { path + "/checkpoint.safetensors" }
    /// `data.npy`: the training data.
    public var data: String { path + "/data.npy" }
    /// `test.npy`: the test data, when there is some.
    public var testData: String { path + "/test.npy" }
    /// `summary.json`: the finished run's `RunSummary`.
    public var summary: String { path + "/summary.json" }
    /// `report.html`: the finished run's report.
    public var report: String { path + "/report.html" }
    /// `snapshots/`: models kept every `snapshotEvery` epochs.
    public var snapshots: String { path + "/snapshots" }

    /// The snapshot of `epoch`.
    public func snapshot(epoch: Int) -> String { snapshots + String(format: "/epoch-%06d.safetensors", epoch) }

    /// The metrics file's first line.
    public static let metricsHeader = "epoch,loss,gradient_norm,learning_rate,wall_time_s,range_penalty,validation_loss"
}

/// One line of `metrics.csv`: an epoch's measurements (validation loss empty when the epoch was
/// not validated).
public struct MetricsRow: Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// The epoch's mean training loss.
    public var loss: Double
    /// L2 norm of the epoch's gradient.
    public var gradientNorm: Double
    /// The learning rate used.
    public var learningRate: Double
    /// Wall time since the run started, in seconds.
    public var wallTime: Double
    /// λ · P of the range penalty (0 without one).
    public var rangePenalty: Double
    /// The validation loss, when the epoch was validated.
    public var validationLoss: Double?

    /// The row of `report`, at `wallTime` seconds into the run.
    public init(_ report: EpochReport, wallTime: Double) {
        epoch = report.epoch
        loss = report.loss
        gradientNorm = report.gradientNorm
        learningRate = report.learningRate
        self.wallTime = wallTime
        rangePenalty = report.rangePenalty
        validationLoss = report.validationLoss
    }

    /// The CSV line (no newline). Numbers are written as Swift prints them (shortest exact),
    /// the wall time to the millisecond.
    public var line: String {
        "\(epoch),\(loss),\(gradientNorm),\(learningRate),\(String(format: "%.3f", wallTime)),"
            + "\(rangePenalty),\(validationLoss.map { String($0) } ?? "")"
    }

    /// Parses a line of `metrics.csv` (nil for the header or a damaged line). Lines of runs made
    /// before the last columns existed read as far as they go (missing values 0 or nil).
    public init?(line: Substring) {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count >= 2, let epoch = Int(fields[0]), let loss = Double(fields[1]) else { return nil }
        func number(_ i: Int) -> Double? { i < fields.count ? Double(fields[i]) : nil }
        self.epoch = epoch
        self.loss = loss
        gradientNorm = number(2) ?? .nan
        learningRate = number(3) ?? .nan
        wallTime = number(4) ?? 0
        rangePenalty = number(5) ?? 0
        validationLoss = number(6)
    }

    /// Every row of a metrics file's text, in order.
    public static func rows(of text: String) -> [MetricsRow] {
        text.split(separator: "\n").dropFirst().compactMap { MetricsRow(line: $0) }
    }
}
