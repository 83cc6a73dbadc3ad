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

/// Data augmentation for the image task (paper §3.2; the authors' code did all of these).
/// Batch entry 0 is never augmented: it stays the reference.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Amplitude a: every transition's start state (entries r ≥ 1) gets U(−a, a) noise on its
    /// observable channels, fresh each mini-batch. The paper needed a little of it for the
    /// final, stable transition.
    public var noise: Double = 0
    /// Re-draw the geometric augmentation every this many epochs (working states of the
    /// augmented entries restart from the re-drawn data then).
    public var every: Int = 10
    /// Random shifts that keep the content inside the lattice.
    public var shift: Bool = false
    /// Random rotations by any angle (bilinear, about the lattice centre).
    public var rotate: Bool = false
    /// Random left–right flips.
    public var flip: Bool = false

    /// Augmentation with the given settings (none by default).
    public init(noise: Double = 0, every: Int = 10, shift: Bool = false, rotate: Bool = false, flip: Bool = false) {
        self.noise = noise
        self.every = every
        self.shift = shift
        self.rotate = rotate
        self.flip = flip
    }

    /// Whether any geometric augmentation (shift, rotate, flip) is on.
    public var isGeometric: Bool { shift || rotate || flip }
}

/// How `best.safetensors` is chosen.
public enum SelectionMeasure: String, CaseIterable, Codable, Sendable {
    /// The lowest validation loss: every `validateEvery` epochs the current model runs freely
    /// from each training trajectory's initial state (hidden channels 0) over the data's whole
    /// horizon M·t, and its mean loss against every data frame is the measure. It tracks how
    /// the model does from a start state alone, as it will be used. Checked only after the
    /// first 5 % of the epochs (and at the last epoch), so never the untrained model.
    case rollout
    /// The lowest epoch (training) loss, measured with propagated start states. Early epochs
    /// win this often (the propagated states have not drifted yet).
    case trainingLoss = "training-loss"
}

/// Every setting of a training run, as written to the run's `config.json`.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// The model's shape.
    public var model: ModelConfiguration
    /// t, NCA steps per data interval.
    public var timeSampling: Int = 32
    /// Epochs to train.
    public var epochs: Int = 4000
    /// Transitions per mini-batch (the paper used 64); the last mini-batch may be smaller.
    public var minibatchSize: Int = 64
    /// The optimiser.
    public var optimizer: OptimizerKind = .nadam
    /// η, the learning rate of the first epoch.
    public var learningRate: Double = 1e-3
    /// The learning rate of epoch e (0-based) is learningRate · learningRateDecay^e.
    public var learningRateDecay: Double = 1
    /// The loss between the rollout and the data.
    public var loss: LossFunction = .euclidean
    /// Divide each parameter tensor's gradient by its L2 norm (+1e-8) before the step.
    public var gradientNormalisation: Bool = true
    /// Whether the parameters change once per epoch (the paper's Algorithm 2) or after every mini-batch.
    public var update: UpdateSchedule = .perEpoch
    /// Seeds the model initialisation, mini-batch shuffles and masks.
    public var seed: UInt64 = 0
    /// Write a resumable checkpoint every this many epochs (and at the end).
    public var checkpointEvery: Int = 10
    /// An epoch whose loss exceeds this counts as diverged (nil: only NaN/infinity do).
    public var maxLoss: Double? = nil
    /// What to do when an epoch diverges.
    public var onDivergence: DivergencePolicy = .stop
    /// Data augmentation (nil: none; runs written before it existed have none).
    public var augmentation: Augmentation? = nil
    /// Gradient checkpointing: keep every k-th state of a transition and recompute the steps in
    /// between during the backward pass (nil or 1: keep every step). Same gradients, less memory.
    public var recomputeEvery: Int? = nil
    /// How W2 is drawn (nil: Glorot-uniform, runs written before the option existed).
    public var weightInitialisation: WeightInitialisation? = nil
    /// λ of the state-range penalty (see `NCAEngine.rangePenalty`); it enters the gradient
    /// only: the logged loss and model selection use the plain loss. nil or 0: none.
    public var rangePenalty: Double? = nil
    /// How `best.safetensors` is chosen (nil: training loss, runs written before it existed).
    public var selectBy: SelectionMeasure? = nil
    /// Epochs between validation rollouts with `selectBy` = rollout (nil: 10).
    public var validateEvery: Int? = nil
    /// How far validation rollouts run, in multiples of the data's horizon: beyond the horizon
    /// only the range is checked (see `Trainer.validationLoss(of:)`). nil: 2.
    public var validateReach: Int? = nil
    /// The reach in force.
    public var validationReach: Int { validateReach ?? 2 }
    /// For data whose last frame must stay put (the image task): the validation loss also
    /// counts, every t steps from the horizon to `validationReach` × T, the loss to the last
    /// frame, so the chosen model is the one that reaches the last frame and stays there
    /// (nil: off).
    public var validateHold: Bool? = nil
    /// Whether the output bias v is trained (nil: yes). With false, v stays at its initial zero,
    /// so a cell whose whole neighbourhood is zero gets a zero update: the all-zero state (a
    /// transparent background) is then an exact fixed point, and hidden channels cannot drift
    /// there long after the horizon.
    public var trainOutputBias: Bool? = nil
    /// β of an exponential moving average of the weights, updated after every optimiser step
    /// with β_n = min(β, (1 + n) / (10 + n)) at step n (so early steps are not swamped by the
    /// initial weights). Validation, best.safetensors and average.safetensors use the average;
    /// model.safetensors stays the raw weights. nil or 0: no average.
    public var weightAverage: Double? = nil
    /// P, the size of a pool of states the model itself ran on past the horizon (nil or 0: none).
    /// Every epoch adds P transitions to the M·R of the data: pool state i (of trajectory
    /// i mod R) runs t steps towards the data's last frame, and its prediction replaces it, so
    /// a pool state keeps running on from epoch to epoch, like the pool of the Growing NCA
    /// work (Mordvintsev et al. 2020). States are re-seeded from the last transition's start
    /// state when their lifetime ends (staggered over the pool, see `poolReach`) or when an
    /// observable value leaves the data range widened by half its span. It teaches the model to
    /// stay at (return to) the last frame long after the horizon: an attractor.
    public var pool: Int? = nil
    /// How far pool states run, in multiples of the horizon T = M·t: a state lives
    /// (reach − 1)·M + 1 epochs (nil: 8).
    public var poolReach: Int? = nil
    /// With a pool: the fraction of pool transitions per epoch whose start state is damaged
    /// first (every channel set to 0 in a random disc of radius S/8 to S/4 inside the lattice),
    /// so the model also learns to regrow the last frame (nil or 0: none).
    public var poolDamage: Double? = nil
    /// The pool size in force.
    public var poolSize: Int { max(0, pool ?? 0) }
    /// Epochs a pool state lives before it is re-seeded, for data of `transitions` = M intervals.
    public func poolLifetime(transitions m: Int) -> Int { ((poolReach ?? 8) - 1) * m + 1 }
    /// Keep the model of every this many epochs as `snapshots/epoch-NNNNNN.safetensors` (nil:
    /// none), to study how a run's models differ.
    public var snapshotEvery: Int? = nil
    /// Consecutive rollbacks allowed before giving up.
    public static let maxRollbacks = 20

    /// The paper's defaults around `model`.
    public init(model: ModelConfiguration) { self.model = model }

    /// The selection measure in force.
    public var selection: SelectionMeasure { selectBy ?? .trainingLoss }

    /// Whether the model after epoch `epoch` (1-based) is validated: with rollout selection,
    /// every `validateEvery` epochs once the first 5 % of the epochs are done, and at the last.
    public func validates(afterEpoch epoch: Int) -> Bool {
        guard selection == .rollout else { return false }
        if epoch == epochs { return true }
        return epoch % (validateEvery ?? 10) == 0 && epoch * 20 > epochs
    }

    /// The learning rate used in epoch `epoch` (0-based).
    public func learningRate(epoch: Int) -> Double {
        learningRateDecay == 1 ? learningRate : learningRate * Double.pow(learningRateDecay, Double(epoch))
    }

    /// Throws the first impossible setting, with its fix.
    public func validate() throws(ConfigurationError) {
        try model.validate()
        guard timeSampling >= 1 && timeSampling <= 100_000 else {
            throw .outOfRange(.timeSampling, requirement: "at least 1", value: "\(timeSampling)")
        }
        guard epochs >= 1 else { throw .outOfRange(.epochs, requirement: "at least 1", value: "\(epochs)") }
        guard minibatchSize >= 1 else { throw .outOfRange(.minibatchSize, requirement: "at least 1", value: "\(minibatchSize)") }
        guard learningRate.isFinite && learningRate > 0 else {
            throw .outOfRange(.learningRate, requirement: "a positive number", value: "\(learningRate)")
        }
        guard learningRateDecay.isFinite && learningRateDecay > 0 && learningRateDecay <= 1 else {
            throw .outOfRange(
                .learningRateDecay, requirement: "in (0, 1]", value: "\(learningRateDecay)", hint: "1 means no decay")
        }
        guard checkpointEvery >= 1 else {
            throw .outOfRange(.checkpointEvery, requirement: "at least 1", value: "\(checkpointEvery)")
        }
        if let maxLoss, !(maxLoss.isFinite && maxLoss > 0) {
            throw .outOfRange(.maxLoss, requirement: "a positive number", value: "\(maxLoss)")
        }
        if let rangePenalty, !(rangePenalty.isFinite && rangePenalty >= 0) {
            throw .outOfRange(.rangePenalty, requirement: "a non-negative number", value: "\(rangePenalty)")
        }
        if let weightAverage, !(weightAverage >= 0 && weightAverage < 1) {
            throw .outOfRange(
                .weightAverage, requirement: "in [0, 1)", value: "\(weightAverage)",
                hint: "0 means none, 0.99 averages over about 100 updates")
        }
        if let snapshotEvery, snapshotEvery < 1 {
            throw .outOfRange(.snapshotEvery, requirement: "at least 1 epoch", value: "\(snapshotEvery)")
        }
        if let validateReach, validateReach < 1 || validateReach > 64 {
            throw .outOfRange(.validateReach, requirement: "between 1 and 64 horizons", value: "\(validateReach)")
        }
        if let validateEvery, validateEvery < 1 {
            throw .outOfRange(.validateEvery, requirement: "at least 1 epoch", value: "\(validateEvery)")
        }
        if let pool, pool < 0 || pool > 4096 {
            throw .outOfRange(.pool, requirement: "between 0 and 4096 states", value: "\(pool)")
        }
        if let poolReach, poolReach < 1 || poolReach > 1000 {
            throw .outOfRange(.poolReach, requirement: "between 1 and 1000 horizons", value: "\(poolReach)")
        }
        if let poolDamage, !(poolDamage >= 0 && poolDamage <= 1) {
            throw .outOfRange(.poolDamage, requirement: "a fraction in [0, 1]", value: "\(poolDamage)")
        }
        try weightInitialisation?.validate()
        if let recomputeEvery, recomputeEvery < 1 {
            throw .outOfRange(.recomputeEvery, requirement: "at least 1", value: "\(recomputeEvery)")
        }
        if let augmentation {
            guard augmentation.noise.isFinite && augmentation.noise >= 0 && augmentation.noise <= 1 else {
                throw .outOfRange(.noiseAugment, requirement: "in [0, 1]", value: "\(augmentation.noise)")
            }
            guard augmentation.every >= 1 else {
                throw .outOfRange(.augmentEvery, requirement: "at least 1 epoch", value: "\(augmentation.every)")
            }
        }
    }
}
