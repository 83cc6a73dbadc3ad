import RealModule

/// When the optimiser steps.
public enum UpdateSchedule: String, CaseIterable, Codable, Sendable {
    /// Accumulate the gradient over every mini-batch of the epoch, then take one step
    /// (Algorithm 2, lines 18–21).
    case perEpoch = "per-epoch"
    /// One step after each mini-batch (what the authors' TensorFlow code did).
    case perMinibatch = "per-minibatch"
}

/// What to do when an epoch diverges (NaN or infinite loss, gradient or weights, or a loss
/// above `maxLoss`).
public enum DivergencePolicy: String, CaseIterable, Codable, Sendable {
    /// Stop with an error; the last checkpoint stays intact.
    case stop
    /// Restore the last checkpoint, halve the learning rate and carry on (at most
    /// `TrainingConfiguration.maxRollbacks` times in a row).
    case rollback
}

/// Every setting of a training run, as written to the run's `config.json`.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    public var model: ModelConfiguration
    /// t, NCA steps per data interval.
    public var timeSampling: Int = 32
    public var epochs: Int = 4000
    /// Transitions per mini-batch (the paper used 64); the last mini-batch may be smaller.
    public var minibatchSize: Int = 64
    public var optimizer: OptimizerKind = .nadam
    public var learningRate: Double = 1e-3
    /// The learning rate of epoch e (0-based) is learningRate · learningRateDecay^e.
    public var learningRateDecay: Double = 1
    public var loss: LossFunction = .euclidean
    /// Divide each parameter tensor's gradient by its L2 norm (+1e-8) before the step.
    public var gradientNormalisation: Bool = true
    public var update: UpdateSchedule = .perEpoch
    /// Seeds the model initialisation, mini-batch shuffles and masks.
    public var seed: UInt64 = 0
    /// Write a resumable checkpoint every this many epochs (and at the end).
    public var checkpointEvery: Int = 10
    /// An epoch whose loss exceeds this counts as diverged (nil: only NaN/infinity do).
    public var maxLoss: Double? = nil
    public var onDivergence: DivergencePolicy = .stop
    /// Consecutive rollbacks allowed before giving up.
    public static let maxRollbacks = 20

    public init(model: ModelConfiguration) { self.model = model }

    /// The learning rate used in epoch `epoch` (0-based).
    public func learningRate(epoch: Int) -> Double {
        learningRateDecay == 1 ? learningRate : learningRate * Double.pow(learningRateDecay, Double(epoch))
    }

    public func validate() throws(ConfigurationError) {
        try model.validate()
        guard timeSampling >= 1 && timeSampling <= 100_000 else {
            throw .training("--time-sampling must be at least 1 (got \(timeSampling))")
        }
        guard epochs >= 1 else { throw .training("--epochs must be at least 1 (got \(epochs))") }
        guard minibatchSize >= 1 else { throw .training("--minibatch-size must be at least 1 (got \(minibatchSize))") }
        guard learningRate.isFinite && learningRate > 0 else {
            throw .training("--lr must be a positive number (got \(learningRate))")
        }
        guard learningRateDecay.isFinite && learningRateDecay > 0 && learningRateDecay <= 1 else {
            throw .training("--lr-decay must be in (0, 1] (got \(learningRateDecay)); 1 means no decay")
        }
        guard checkpointEvery >= 1 else { throw .training("--checkpoint-every must be at least 1 (got \(checkpointEvery))") }
        if let maxLoss, !(maxLoss.isFinite && maxLoss > 0) {
            throw .training("--max-loss must be a positive number (got \(maxLoss))")
        }
    }
}
