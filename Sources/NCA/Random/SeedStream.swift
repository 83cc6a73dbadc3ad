/// The independent random streams derived from one user seed. Every derived seed in the toolkit
/// is made here, so a call site names what it draws and two streams cannot collide by accident.
/// The constants are part of the file formats' reproducibility: changing one changes every run
/// and checkpoint that used its stream.
public enum SeedStream: Sendable {
    /// A training run's generator (shuffling, masks, noise augmentation, pool damage).
    case training
    /// The geometric augmentation of one block of epochs for one trajectory.
    case augmentation(block: Int, trajectory: Int)
    /// The mask draws of an evaluation rollout continued past the data.
    case extrapolation
    /// The initial perturbation of an optimal-perturbation search.
    case perturbationStart
    /// The masks of one iteration of an optimal-perturbation search on a stochastic model.
    case perturbationIteration(Int)
    /// The start vector of the power iteration in linear-stability analysis.
    case stabilityStart
    /// The random shifts of the image-sequence batch entries.
    case imageShifts
    /// The Gray-Scott initial states of a family (random or the paper's).
    case grayScottInitial(random: Bool)
    /// Gray-Scott measurement noise.
    case measurementNoise
    /// The random directions of the sliced Wasserstein loss.
    case lossProjections

    /// The stream's seed for a user seed `base`.
    public func seed(from base: UInt64) -> UInt64 {
        switch self {
        case .training: return base ^ 0x7EA1_0000_0000_0001
        case .augmentation(let block, let trajectory):
            return base ^ 0x4155_4700_0000_0000 ^ (UInt64(block) << 24) ^ UInt64(trajectory)
        case .extrapolation: return base ^ 0xBE40_0D00
        case .perturbationStart: return base ^ 0x9E37_79B9_7F4A_7C15
        case .perturbationIteration(let iteration): return base &+ UInt64(iteration)
        case .stabilityStart: return base &+ 17
        case .imageShifts: return base ^ 0x5348_4946_5453_0001
        case .grayScottInitial(let random): return base ^ (random ? 0x5EED_0001 : 0x5EED_0002)
        case .measurementNoise: return base ^ 0x0015_E000
        case .lossProjections: return base ^ 0x5357_4153_5345_5201
        }
    }
}

extension RandomGenerator {
    /// A generator for `stream` of the user seed `seed`.
    public init(seed: UInt64, stream: SeedStream) { self.init(seed: stream.seed(from: seed)) }
}
