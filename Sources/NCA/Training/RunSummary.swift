import Foundation

/// How a finished run's selected model does, measured once when `nca train` ends and kept in the
/// run folder as `summary.json`, so that `nca sweep report` reads it instead of running every
/// model again. Every loss is a mean over the compared frames (`RolloutEvaluation`), and each has
/// the do-nothing model's loss on the same frames beside it, so ratios are one division away.
public struct RunSummary: Codable, Equatable, Sendable {
    /// The model run freely from the first training trajectory's initial state over the horizon
    /// T, in the run's loss.
    public var rolloutLoss: Double
    /// The do-nothing model's loss on those frames.
    public var rolloutDoNothingLoss: Double
    /// That rollout run on to `Extrapolation.reach` × T: the worst loss to the data's last frame
    /// after T divided by the loss at T (near 1 when the last frame is an attractor).
    public var holdRatio: Double
    /// The model run freely from the test trajectory's initial state, in the run's loss (nil
    /// without test data).
    public var testLoss: Double?
    /// The do-nothing model's loss on the test frames.
    public var testDoNothingLoss: Double?
    /// The test rollout in the Euclidean loss: one scale for runs trained with different losses.
    public var testEuclideanLoss: Double?
    /// The do-nothing model's Euclidean loss on the test frames.
    public var testEuclideanDoNothingLoss: Double?

    /// The measurements and the evaluations they came from (for pictures).
    public struct Measurement: Sendable {
        /// The numbers.
        public var summary: RunSummary
        /// The rollout from the first training trajectory.
        public var rollout: RolloutEvaluation
        /// That rollout run on past the horizon.
        public var extrapolation: Extrapolation
        /// The test rollout in the run's loss, with test data.
        public var test: RolloutEvaluation?
    }

    /// Runs `model` (the run's selected model) from the first training trajectory, on past the
    /// horizon, and from the test trajectory in the run's loss and the Euclidean one.
    public static func measure(_ model: NCAModel<Float>, run: TrainingRun) -> Measurement {
        let t = run.configuration.training
        let o = t.model.observableChannels
        let first = run.trainer.data.trajectoryEntry(0)
        let rollout = RolloutEvaluation.evaluate(model, data: first, timeSampling: t.timeSampling, loss: t.loss)
        let extrapolation = Extrapolation(model, evaluation: rollout, data: first, timeSampling: t.timeSampling, loss: t.loss)
        var summary = RunSummary(
            rolloutLoss: rollout.meanLoss,
            rolloutDoNothingLoss: RolloutEvaluation.doNothingLoss(data: first, observable: o, loss: t.loss),
            holdRatio: extrapolation.worst / extrapolation.atHorizon)
        var test: RolloutEvaluation?
        if let testData = run.testData {
            let entry = testData.trajectoryEntry(0)
            let evaluation = RolloutEvaluation.evaluate(model, data: entry, timeSampling: t.timeSampling, loss: t.loss)
            test = evaluation
            summary.testLoss = evaluation.meanLoss
            summary.testDoNothingLoss = RolloutEvaluation.doNothingLoss(data: entry, observable: o, loss: t.loss)
            if t.loss == .euclidean {
                summary.testEuclideanLoss = summary.testLoss
                summary.testEuclideanDoNothingLoss = summary.testDoNothingLoss
            } else {
                summary.testEuclideanLoss =
                    RolloutEvaluation.evaluate(model, data: entry, timeSampling: t.timeSampling, loss: .euclidean).meanLoss
                summary.testEuclideanDoNothingLoss = RolloutEvaluation.doNothingLoss(
                    data: entry, observable: o, loss: .euclidean)
            }
        }
        return Measurement(summary: summary, rollout: rollout, extrapolation: extrapolation, test: test)
    }

    /// `rolloutLoss` ÷ `rolloutDoNothingLoss`.
    public var rolloutRatio: Double { rolloutLoss / rolloutDoNothingLoss }
    /// `testLoss` ÷ `testDoNothingLoss`, with test data.
    public var testRatio: Double? { testLoss.flatMap { loss in testDoNothingLoss.map { loss / $0 } } }
    /// `testEuclideanLoss` ÷ `testEuclideanDoNothingLoss`, with test data.
    public var testEuclideanRatio: Double? {
        testEuclideanLoss.flatMap { loss in testEuclideanDoNothingLoss.map { loss / $0 } }
    }

    /// Writes `summary.json` atomically (non-finite numbers as the strings "nan", "inf", "-inf").
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(encoder.encode(self) + Data("\n".utf8), to: path)
    }

    /// Reads a `summary.json`; throws a `FileError` when it is missing or not a summary.
    public static func read(from path: String) throws -> RunSummary {
        let data = try AtomicFile.read(path)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(RunSummary.self, from: data)
        } catch {
            throw FileError(path: path, problem: "is not a run summary (\(error))", category: .inputData)
        }
    }
}
