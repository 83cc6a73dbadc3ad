import Foundation

/// A built-in training task with its recipe: the model, optimiser, selection and augmentation
/// defaults that reproduce it (Sources/NCA/NCA.docc/TrainAGrayScottModel.md, Sources/NCA/NCA.docc/MorphPictures.md). Everything a user does not set
/// comes from here; `TrainingConfiguration` holds the result.
public enum TrainingPreset: String, CaseIterable, Sendable {
    /// The paper's Gray-Scott task (§3.1) with the authors' data.
    case grayScott = "gray-scott"
    /// The image-morphing task (§3.2) on built-in or given pictures.
    case morph

    /// The model defaults of the task (SPEC "Training": Gray-Scott and images).
    public var modelDefaults: ModelConfiguration {
        switch self {
        case .grayScott: return ModelConfiguration()
        case .morph:
            return ModelConfiguration(
                channels: 16, observableChannels: 4, kernels: [.identity, .gradX, .gradY, .laplacian], activation: .relu,
                boundary: .zero, skipProbability: 0.5)
        }
    }

    /// The epoch budget: each preset finishes in under 10 minutes on 2 cores, build included.
    public var epochs: Int { self == .grayScott ? Self.grayScottEpochs : 1000 }
    /// The Gray-Scott preset's epoch budget.
    public static let grayScottEpochs = 600
    /// The recipe's learning rate, update schedule and weight initialisation (the authors':
    /// Nadam at 1e-3, a step per mini-batch, W2 ~ N(0, 0.1²) for Gray-Scott; see Sources/NCA/NCA.docc/TrainAGrayScottModel.md).
    public var learningRate: Double { 1e-3 }
    /// When the parameters change: after every mini-batch, as in the authors' code.
    public var update: UpdateSchedule { .perMinibatch }
    /// Transitions per mini-batch: the authors' 64 for Gray-Scott (2 steps per epoch); 8 for the
    /// image task, whose 16 transitions and 8 pool states per epoch then give 3 steps.
    public var minibatchSize: Int { self == .grayScott ? 64 : 8 }
    /// The image task's attractor recipe (Sources/NCA/NCA.docc/MorphPictures.md): a pool of 8 states run on to 8 × the
    /// horizon, validation that holds the last frame up to 8 × the horizon, and no output bias
    /// (an empty background is then an exact fixed point).
    public var pool: Int { self == .morph ? 8 : 0 }
    /// Validation rollouts run to this many horizons.
    public var validateReach: Int { self == .morph ? 8 : 2 }
    /// Whether the output bias v is trained.
    public var trainOutputBias: Bool { self != .morph }
    /// Noise augmentation of the observable channels of transition start states: 0.1 for the
    /// image task gives the last picture a basin that one-cell perturbations fall back into.
    public var noiseAugment: Double { self == .morph ? 0.1 : 0 }
    /// Whether validation checks that the last frame holds past the horizon.
    public var validateHold: Bool { self == .morph }
    /// How W2 is drawn.
    public var weightInit: WeightInitialisation.Kind { self == .grayScott ? .normal : .glorot }
    /// The state-range penalty λ: 0.01 (the authors' for Gray-Scott; without it most runs give
    /// models that leave [0, 1] past the horizon; for the image task it keeps the hidden
    /// channels from drifting inside the picture, see Sources/NCA/NCA.docc/MorphPictures.md).
    public var rangePenalty: Double { 0.01 }
    /// The per-epoch learning-rate factor for a run of `epochs` epochs: Gray-Scott's falls to
    /// 0.1 × over the run (constant 1e-3 oscillates between good and bad models), so a longer
    /// run decays more slowly.
    public func learningRateDecay(epochs: Int) -> Double { self == .grayScott ? pow(0.1, 1 / Double(epochs)) : 1 }

    /// The picture layout of the image task (smaller than the paper's 60 + 2·10, so that the
    /// preset trains in minutes on 2 cores); nil for Gray-Scott.
    public var pictureLayout: ImageSequence.Layout? {
        self == .morph ? ImageSequence.Layout(size: 24, pad: 6, copies: 4, holdLast: 2) : nil
    }

    /// The Gray-Scott task's data: the authors' four binary training states over 1024 steps and
    /// their unseen test state over 2048 (whole multiples of t; no randomness: the seed only
    /// drives the training), as (M+1) × R × 64 × 64 × 2 trajectories sampled every t steps.
    public static func grayScottData(timeSampling t: Int) -> GrayScottPresetData {
        let pde = GrayScott()
        let initial = GrayScottInitialCondition.paper.states(batch: 4, size: 64, seed: 0)
        let steps = 1024 / t * t
        let unseen = GrayScottInitialCondition.paperTest.states(batch: 1, size: 64, seed: 0)
        let testSteps = 2048 / t * t
        return GrayScottPresetData(
            training: Tensor(converting: pde.trajectory(from: initial, steps: steps, timeSampling: t)), trainingSteps: steps,
            test: Tensor(converting: pde.trajectory(from: unseen, steps: testSteps, timeSampling: t)), testSteps: testSteps)
    }
}

/// The data `TrainingPreset.grayScottData` makes, with the PDE steps each trajectory covers.
public struct GrayScottPresetData: Sendable {
    /// The four training trajectories, (M+1) × 4 × 64 × 64 × 2.
    public var training: Tensor<Float>
    /// PDE steps the training trajectories cover.
    public var trainingSteps: Int
    /// The unseen test trajectory, (M+1) × 1 × 64 × 64 × 2.
    public var test: Tensor<Float>
    /// PDE steps the test trajectory covers.
    public var testSteps: Int
}
