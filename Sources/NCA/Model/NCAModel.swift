import RealModule

/// An NCA: its configuration and trainable parameters θ = (W2, W1, v) of eq. 3.
///
/// Per cell, `f = u(z · W2) · W1 + v` with z the K·C perception vector.
public struct NCAModel<T: BLASScalar>: Equatable, Sendable {
    /// What is not learned: channels, kernels, activation, sizes, boundary, mask.
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

    /// A freshly initialised model (paper §2.2): W2 drawn from the seeded generator by
    /// `initialisation` (default Glorot-uniform, U(−l, l) with l = √(6 / (K·C + H))), row by row
    /// in Double (so Float and Double models from one seed agree up to rounding); W1 = 0 and
    /// v = 0, so the first update is the identity.
    public init(configuration: ModelConfiguration, seed: UInt64, initialisation: WeightInitialisation = WeightInitialisation()) {
        var rng = RandomGenerator(seed: seed)
        let kc = configuration.perceptionSize
        let h = configuration.hiddenSize
        let w2: [T]
        switch initialisation.kind {
        case .glorot:
            let limit = initialisation.scale * (6.0 / Double(kc + h)).squareRoot()
            w2 = (0..<(kc * h)).map { _ in T(rng.nextUniform(-limit, limit)) }
        case .normal:
            // Box–Muller: each pair of uniforms gives two independent standard normals.
            var values: [T] = []
            values.reserveCapacity(kc * h + 1)
            while values.count < kc * h {
                let u1 = 1 - rng.nextUnit()  // (0, 1]: the logarithm stays finite
                let u2 = rng.nextUnit()
                let radius = initialisation.scale * (-2 * Double.log(u1)).squareRoot()
                values.append(T(radius * Double.cos(2 * Double.pi * u2)))
                values.append(T(radius * Double.sin(2 * Double.pi * u2)))
            }
            w2 = Array(values.prefix(kc * h))
        }
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

/// How the hidden layer's weights W2 of a fresh model are drawn (W1 and v always start at 0).
public struct WeightInitialisation: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The distribution of W2.
    public enum Kind: String, CaseIterable, Codable, Sendable {
        /// Glorot-uniform, U(−l, l) with l = scale · √(6 / (K·C + H)) (scale 1: Keras's default).
        case glorot
        /// Normal, N(0, scale²): the authors' code used standard deviation 0.1.
        case normal
    }

    /// The distribution of W2.
    public var kind: Kind
    /// For `glorot` a factor on Glorot's limit; for `normal` the standard deviation.
    public var scale: Double

    /// The default scale of each kind: 1 for Glorot, 0.1 (the authors') for normal.
    public static func defaultScale(_ kind: Kind) -> Double { kind == .glorot ? 1 : 0.1 }

    /// An initialisation of `kind` with `scale` (default: `defaultScale(kind)`).
    public init(kind: Kind = .glorot, scale: Double? = nil) {
        self.kind = kind
        self.scale = scale ?? Self.defaultScale(kind)
    }

    public var description: String { kind == .glorot ? "glorot × \(scale)" : "normal(0, \(scale))" }

    /// Throws if the scale is not a finite number in (0, 100].
    public func validate() throws(ConfigurationError) {
        guard scale.isFinite && scale > 0 && scale <= 100 else {
            throw .outOfRange(.weightScale, requirement: "a positive number up to 100", value: "\(scale)")
        }
    }
}
