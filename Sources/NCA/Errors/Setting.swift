/// A user-settable quantity, named by what it means. Library errors refer to settings through
/// this type and know nothing of how a front end spells them; a front end (the `nca` tool maps
/// each to its option) renders them with `SettingError.message(naming:)`.
public enum Setting: String, CaseIterable, Sendable {
    /// The channel count C.
    case channels
    /// The observable channel count O.
    case observableChannels
    /// The perception kernels.
    case kernels
    /// The hidden width H.
    case hiddenSize
    /// The weight scale.
    case weightScale
    /// The time sampling t.
    case timeSampling
    /// The epoch count.
    case epochs
    /// The mini-batch size.
    case minibatchSize
    /// The learning rate.
    case learningRate
    /// The learning-rate decay.
    case learningRateDecay
    /// The checkpoint interval.
    case checkpointEvery
    /// The divergence bound on the loss.
    case maxLoss
    /// The range penalty λ.
    case rangePenalty
    /// The weight-average β.
    case weightAverage
    /// The snapshot interval.
    case snapshotEvery
    /// The validation reach.
    case validateReach
    /// The validation interval.
    case validateEvery
    /// The pool size.
    case pool
    /// The pool reach.
    case poolReach
    /// The pool damage fraction.
    case poolDamage
    /// The recompute interval.
    case recomputeEvery
    /// The noise augmentation a.
    case noiseAugment
    /// The augmentation interval.
    case augmentEvery
    /// The divergence policy.
    case onDivergence
    /// The frame.
    case frame

    /// The setting in words, for messages read outside any front end.
    public var name: String {
        switch self {
        case .channels: return "the channel count C"
        case .observableChannels: return "the observable channel count O"
        case .kernels: return "the perception kernels"
        case .hiddenSize: return "the hidden width H"
        case .weightScale: return "the weight scale"
        case .timeSampling: return "the time sampling t"
        case .epochs: return "the epoch count"
        case .minibatchSize: return "the mini-batch size"
        case .learningRate: return "the learning rate"
        case .learningRateDecay: return "the learning-rate decay"
        case .checkpointEvery: return "the checkpoint interval"
        case .maxLoss: return "the divergence bound on the loss"
        case .rangePenalty: return "the range penalty λ"
        case .weightAverage: return "the weight-average β"
        case .snapshotEvery: return "the snapshot interval"
        case .validateReach: return "the validation reach"
        case .validateEvery: return "the validation interval"
        case .pool: return "the pool size"
        case .poolReach: return "the pool reach"
        case .poolDamage: return "the pool damage fraction"
        case .recomputeEvery: return "the recompute interval"
        case .noiseAugment: return "the noise augmentation a"
        case .augmentEvery: return "the augmentation interval"
        case .onDivergence: return "the divergence policy"
        case .frame: return "the frame"
        }
    }
}

/// A user-facing error that refers to settings: `message(naming:)` renders it with each setting
/// spelled by the caller (e.g. as a command-line option); `description` uses the words of
/// `Setting.name`.
public protocol SettingError: NCAUserError {
    /// The message, with every setting spelled by `spell` (a front end passes its option names).
    func message(naming spell: (Setting) -> String) -> String
}

extension SettingError {
    public var description: String { message(naming: { $0.name }) }
}
