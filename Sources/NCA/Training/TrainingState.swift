/// Everything that changes during training; a checkpoint saves exactly this.
public struct TrainingState: Equatable, Sendable {
    /// The current weights.
    public var model: NCAModel<Float>
    /// The optimiser's moments and step.
    public var optimizer: OptimizerState
    /// x of Algorithm 2: the start state of every transition, M × R × S × S × C. Entry (m, r)
    /// is the state at data frame m of trajectory r.
    public var workingStates: Tensor<Float>
    /// The random generator, so that a resumed run draws the same numbers.
    public var rng: RandomGenerator
    /// Epochs completed.
    public var epoch: Int
    /// Lowest epoch loss so far, and the epoch (1-based) that reached it (0: none yet).
    public var bestLoss: Double
    /// The epoch of `bestLoss`.
    public var bestEpoch: Int
    /// Factor on the configured learning rate; halved by every divergence rollback.
    public var learningRateScale: Double = 1
    /// Lowest validation loss so far (rollout selection), and the epoch whose model reached it
    /// (0: none yet).
    public var bestValidationLoss: Double = .infinity
    /// The epoch of `bestValidationLoss`.
    public var bestValidationEpoch: Int = 0
    /// The moving average of the weights (`TrainingConfiguration.weightAverage`), nil without one.
    public var averageModel: NCAModel<Float>? = nil
    /// The pool of states run on past the horizon (`TrainingConfiguration.pool`), P × S × S × C;
    /// nil without one.
    public var pool: Tensor<Float>? = nil

    /// The model that validation judges and best.safetensors keeps: the average when there is one.
    public var selectableModel: NCAModel<Float> { averageModel ?? model }

    /// A state; the optional parts start empty.
    public init(
        model: NCAModel<Float>, optimizer: OptimizerState, workingStates: Tensor<Float>, rng: RandomGenerator, epoch: Int,
        bestLoss: Double, bestEpoch: Int
    ) {
        self.model = model
        self.optimizer = optimizer
        self.workingStates = workingStates
        self.rng = rng
        self.epoch = epoch
        self.bestLoss = bestLoss
        self.bestEpoch = bestEpoch
    }
}

/// What one epoch did.
public struct EpochReport: Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean loss over all M·R transitions, computed with the weights the epoch started with
    /// (per-epoch updates) or the weights current at each mini-batch (per-mini-batch).
    public var loss: Double
    /// λ · P of the state-range penalty, averaged over the epoch's transitions like the loss
    /// (0 without a penalty). It is in the gradient, not in `loss`.
    public var rangePenalty: Double = 0
    /// L2 norm of the epoch's whole gradient (all tensors, before normalisation).
    public var gradientNorm: Double
    /// The learning rate of the epoch.
    public var learningRate: Double
    /// The weights the loss was measured with (per-epoch updates), for keeping the best model.
    public var modelBeforeUpdate: NCAModel<Float>
    /// The validation loss of the model after this epoch, when it was validated (see
    /// `TrainingConfiguration.validates(afterEpoch:)`; set by `TrainingRun`).
    public var validationLoss: Double? = nil
}

/// Training diverged; nothing was updated.
public struct DivergenceError: Error, Equatable, SettingError {
    /// The epoch that diverged.
    public var epoch: Int
    /// What was not finite or too large, in words.
    public var quantity: String
    public var category: ErrorCategory { .failure }

    /// Divergence in `epoch` of `quantity`.
    public init(epoch: Int, quantity: String) {
        self.epoch = epoch
        self.quantity = quantity
    }

    public func message(naming spell: (Setting) -> String) -> String {
        "training diverged in epoch \(epoch): \(quantity); the last checkpoint is intact. "
            + "Lower \(spell(.learningRate)), set \(spell(.onDivergence)) to rollback, or resume from the checkpoint"
    }
}
