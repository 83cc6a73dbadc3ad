/// An NCA: its configuration and trainable parameters θ = (W2, W1, v) of eq. 3.
///
/// Per cell, `f = u(z · W2) · W1 + v` with z the K·C perception vector.
public struct NCAModel<T: BLASScalar>: Equatable, Sendable {
    public var configuration: ModelConfiguration
    /// K·C × H, no bias.
    public var w2: Tensor<T>
    /// H × C.
    public var w1: Tensor<T>
    /// C.
    public var v: Tensor<T>

    /// A model with given weights; shapes must match the configuration.
    public init(configuration: ModelConfiguration, w2: Tensor<T>, w1: Tensor<T>, v: Tensor<T>) {
        let kc = configuration.perceptionSize
        let h = configuration.hiddenSize
        let c = configuration.channels
        precondition(w2.shape == [kc, h], "NCAModel: W2 must be [\(kc), \(h)], got \(w2.shape)")
        precondition(w1.shape == [h, c], "NCAModel: W1 must be [\(h), \(c)], got \(w1.shape)")
        precondition(v.shape == [c], "NCAModel: v must be [\(c)], got \(v.shape)")
        self.configuration = configuration
        self.w2 = w2
        self.w1 = w1
        self.v = v
    }

    /// A freshly initialised model (paper §2.2): W2 Glorot-uniform from the seeded generator,
    /// U(−l, l) with l = √(6 / (K·C + H)), drawn row by row in Double (so Float and Double models
    /// from one seed agree up to rounding); W1 = 0 and v = 0, so the first update is the identity.
    public init(configuration: ModelConfiguration, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let kc = configuration.perceptionSize
        let h = configuration.hiddenSize
        let limit = (6.0 / Double(kc + h)).squareRoot()
        let w2 = (0..<(kc * h)).map { _ in T(rng.nextUniform(-limit, limit)) }
        self.init(
            configuration: configuration, w2: Tensor(shape: [kc, h], scalars: w2),
            w1: Tensor(zeros: [h, configuration.channels]), v: Tensor(zeros: [configuration.channels]))
    }

    /// The same model in another precision.
    public init<Other: BLASScalar>(converting other: NCAModel<Other>) {
        self.init(
            configuration: other.configuration, w2: Tensor(converting: other.w2),
            w1: Tensor(converting: other.w1), v: Tensor(converting: other.v))
    }
}
