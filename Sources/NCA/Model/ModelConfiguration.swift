/// Whether the stochastic mask draws once per cell (shared by its channels, Algorithm 1) or
/// once per element (eq. 5).
public enum MaskGranularity: String, CaseIterable, Codable, Sendable {
    /// One draw per cell: all channels of a cell update or none.
    case cell
    /// One draw per channel of each cell.
    case element
}

/// Everything about an NCA that is not learned (paper §2.1), as stored in a model file.
public struct ModelConfiguration: Codable, Equatable, Sendable {
    /// C, the number of channels per cell (observable + hidden).
    public var channels: Int
    /// The first `observableChannels` channels are compared with data.
    public var observableChannels: Int
    /// Perception kernels in order; perception is channel-major: (c0,k0), (c0,k1), …, (c1,k0), …
    public var kernels: [Kernel]
    /// u, the hidden layer's nonlinearity.
    public var activation: Activation
    /// H, the width of the single hidden layer.
    public var hiddenSize: Int
    /// How the 3 × 3 kernels see past the lattice's edge.
    public var boundary: Boundary
    /// p, the probability that a cell (or element) skips an update in a step.
    public var skipProbability: Double
    /// Whether the skip mask is drawn per cell or per channel.
    public var mask: MaskGranularity

    /// A model shape; `hiddenSize` defaults to 4 · `channels`. Check it with `validate()`.
    public init(
        channels: Int = 8, observableChannels: Int = 2, kernels: [Kernel] = [.identity, .laplacian],
        activation: Activation = .relu, hiddenSize: Int? = nil, boundary: Boundary = .periodic,
        skipProbability: Double = 0, mask: MaskGranularity = .cell
    ) {
        self.channels = channels
        self.observableChannels = observableChannels
        self.kernels = kernels
        self.activation = activation
        self.hiddenSize = hiddenSize ?? 4 * channels
        self.boundary = boundary
        self.skipProbability = skipProbability
        self.mask = mask
    }

    /// K · C, the length of a cell's perception vector (rows of W2).
    public var perceptionSize: Int { kernels.count * channels }

    /// Number of trainable scalars: K·C·H + H·C + C.
    public var parameterCount: Int { perceptionSize * hiddenSize + hiddenSize * channels + channels }

    /// Checks that the values describe a model that can exist.
    public func validate() throws(ConfigurationError) {
        guard channels >= 1 && channels <= 4096 else { throw .channels(channels) }
        guard observableChannels >= 1 && observableChannels <= channels else {
            throw .observable(observableChannels, channels: channels)
        }
        guard !kernels.isEmpty else { throw .noKernels }
        guard hiddenSize >= 1 && hiddenSize <= 65536 else { throw .hiddenSize(hiddenSize) }
        guard skipProbability.isFinite && skipProbability >= 0 && skipProbability < 1 else {
            throw .skipProbability(skipProbability)
        }
        guard parameterCount <= ModelConfiguration.maxParameters else { throw .tooManyParameters(parameterCount) }
    }

    /// Largest model accepted: 2^27 parameters (512 MB of Float32 weights, before optimiser
    /// moments and gradients) — far beyond an NCA, small enough to fail clearly.
    public static let maxParameters = 1 << 27
}

/// An impossible model or training setting, reported with the fix.
public enum ConfigurationError: Error, Equatable, SettingError {
    /// The channel count is impossible.
    case channels(Int)
    /// More observable channels than channels, or none.
    case observable(Int, channels: Int)
    /// No perception kernels.
    case noKernels
    /// A kernel name that does not exist.
    case unknownKernel(String)
    /// A kernel named twice.
    case repeatedKernel(String)
    /// An activation name that does not exist.
    case unknownActivation(String)
    /// The hidden width is impossible.
    case hiddenSize(Int)
    /// The skip probability is outside [0, 1).
    case skipProbability(Double)
    /// More parameters than `ModelConfiguration.maxParameters`.
    case tooManyParameters(Int)
    /// A setting outside its range: "`setting` must be `requirement` (got `value`)", then `hint`.
    case outOfRange(Setting, requirement: String, value: String, hint: String? = nil)

    public var category: ErrorCategory { .usage }

    public func message(naming spell: (Setting) -> String) -> String {
        switch self {
        case .channels(let c):
            return "channels must be between 1 and 4096 (got \(c)); set \(spell(.channels)) to a positive count"
        case .observable(let o, let c):
            return "observable channels must be between 1 and the channel count \(c) (got \(o)); "
                + "lower \(spell(.observableChannels)) or raise \(spell(.channels))"
        case .noKernels:
            return "at least one perception kernel is needed; set \(spell(.kernels)), e.g. identity,laplacian"
        case .unknownKernel(let name):
            let known = Kernel.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown kernel '\(name)'; choose from \(known) (comma-separated)"
        case .unknownActivation(let name):
            let known = Activation.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown activation '\(name)'; choose one of \(known)"
        case .repeatedKernel(let name):
            return "kernel '\(name)' is listed twice; list each kernel once"
        case .hiddenSize(let h):
            return "hidden size must be between 1 and 65536 (got \(h)); set \(spell(.hiddenSize)) to a positive width"
        case .skipProbability(let p):
            return "skip probability must be in [0, 1) (got \(p)); p = 0 updates every cell every step"
        case .tooManyParameters(let count):
            return "the model would have \(count) parameters (at most \(ModelConfiguration.maxParameters)); "
                + "lower \(spell(.channels)), \(spell(.hiddenSize)) or the number of kernels"
        case .outOfRange(let setting, let requirement, let value, let hint):
            return "\(spell(setting)) must be \(requirement) (got \(value))" + (hint.map { "; " + $0 } ?? "")
        }
    }
}
