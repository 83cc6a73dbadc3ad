import NCA

extension Setting {
    /// The option that sets this (on `nca train`, and the model options of every command).
    var flag: String {
        switch self {
        case .channels: return "--channels"
        case .observableChannels: return "--observable"
        case .kernels: return "--kernels"
        case .hiddenSize: return "--hidden"
        case .weightScale: return "--weight-scale"
        case .timeSampling: return "--time-sampling"
        case .epochs: return "--epochs"
        case .minibatchSize: return "--minibatch-size"
        case .learningRate: return "--lr"
        case .learningRateDecay: return "--lr-decay"
        case .checkpointEvery: return "--checkpoint-every"
        case .maxLoss: return "--max-loss"
        case .rangePenalty: return "--range-penalty"
        case .weightAverage: return "--weight-average"
        case .snapshotEvery: return "--snapshot-every"
        case .validateReach: return "--validate-reach"
        case .validateEvery: return "--validate-every"
        case .pool: return "--pool"
        case .poolReach: return "--pool-reach"
        case .poolDamage: return "--pool-damage"
        case .recomputeEvery: return "--recompute-every"
        case .noiseAugment: return "--noise-augment"
        case .augmentEvery: return "--augment-every"
        case .onDivergence: return "--on-divergence"
        case .frame: return "--frame"
        }
    }
}

/// A library error as the command line shows it: settings named by their options.
func userMessage(_ error: any NCAUserError) -> String {
    (error as? any SettingError)?.message(naming: \.flag) ?? error.description
}
