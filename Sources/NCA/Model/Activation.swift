import RealModule

/// The hidden-layer nonlinearity u of eq. 3, with its derivative for backpropagation.
public enum Activation: String, CaseIterable, Codable, Sendable {
    /// max(x, 0), the paper's choice.
    case relu
    /// x: no nonlinearity.
    case linear
    /// tanh(x).
    case tanh
    /// 1 / (1 + e^−x).
    case sigmoid
    /// x · sigmoid(x)
    case swish
    /// Exact GELU: x · Φ(x), Φ the standard normal CDF.
    case gelu

    /// u(a).
    @inlinable
    public func value<T: BLASScalar>(_ a: T) -> T {
        switch self {
        case .relu: return a > 0 ? a : 0
        case .linear: return a
        case .tanh: return T.tanh(a)
        case .sigmoid: return Activation.logistic(a)
        case .swish: return a * Activation.logistic(a)
        case .gelu: return a * Activation.normalCDF(a)
        }
    }

    /// u′(a). At relu's kink (a = 0) the derivative is taken as 0.
    @inlinable
    public func derivative<T: BLASScalar>(_ a: T) -> T {
        switch self {
        case .relu: return a > 0 ? 1 : 0
        case .linear: return 1
        case .tanh:
            let t = T.tanh(a)
            return 1 - t * t
        case .sigmoid:
            let s = Activation.logistic(a)
            return s * (1 - s)
        case .swish:
            let s = Activation.logistic(a)
            return s + a * s * (1 - s)
        case .gelu:
            // d/da [a Φ(a)] = Φ(a) + a φ(a)
            let density = T.exp(-a * a / 2) / T.sqrt(2 * T.pi)
            return Activation.normalCDF(a) + a * density
        }
    }

    /// Whether Float buffers go through the vectorised kernels (`LinearAlgebra.smoothActivation`)
    /// rather than `value` per element; Double (the gradient checks) always takes libm's exact
    /// functions.
    @usableFromInline var isVectorised: Bool { self == .tanh || self == .sigmoid || self == .swish }

    /// Applies u elementwise: `out[i] = u(a[i])`.
    @inlinable
    public func apply<T: BLASScalar>(_ a: UnsafePointer<T>, into out: UnsafeMutablePointer<T>, count: Int) {
        switch self {
        case .relu: T.reluForward(a, into: out, count: count)
        case .linear: out.update(from: a, count: count)
        default:
            if T.self == Float.self && isVectorised {
                LinearAlgebra.smoothActivation(
                    self, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                    UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self), count: count, pullback: false)
            } else {
                for i in 0..<count { out[i] = value(a[i]) }
            }
        }
    }

    /// Multiplies a gradient by u′ elementwise: `g[i] *= u′(a[i])`.
    @inlinable
    public func multiplyByDerivative<T: BLASScalar>(_ g: UnsafeMutablePointer<T>, at a: UnsafePointer<T>, count: Int) {
        switch self {
        case .relu: T.reluPullback(g, at: a, count: count)
        case .linear: break
        default:
            if T.self == Float.self && isVectorised {
                LinearAlgebra.smoothActivation(
                    self, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                    UnsafeMutableRawPointer(g).assumingMemoryBound(to: Float.self), count: count, pullback: true)
            } else {
                for i in 0..<count { g[i] *= derivative(a[i]) }
            }
        }
    }

    @inlinable static func logistic<T: BLASScalar>(_ a: T) -> T {
        a >= 0 ? 1 / (1 + T.exp(-a)) : T.exp(a) / (1 + T.exp(a))
    }

    @inlinable static func normalCDF<T: BLASScalar>(_ a: T) -> T {
        (1 + T.erf(a / T.sqrt(2))) / 2
    }
}

/// relu's forward and pullback loops, eight lanes at a time, without branches (relu's pattern
/// is data-dependent and a per-element branch mispredicts half the time). Written out per type
/// and reached through the `BLASScalar` conformances (`reluForward`, `reluPullback`): neither a
/// loop over a generic `T` nor generic SIMD code is vectorised (a generic body over the lane
/// type, even pre-specialised, made the BLAS path's training step 4× slower).
enum ReluLoops {
    static func forward(_ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        let zero = SIMD8<Float>(repeating: 0)
        while i + 8 <= count {
            let v = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v.replacing(with: zero, where: .!(v .> zero)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            out[i] = a[i] > 0 ? a[i] : 0
            i += 1
        }
    }

    static func forward(_ a: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>, _ count: Int) {
        var i = 0
        let zero = SIMD8<Double>(repeating: 0)
        while i + 8 <= count {
            let v = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Double>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v.replacing(with: zero, where: .!(v .> zero)), as: SIMD8<Double>.self)
            i += 8
        }
        while i < count {
            out[i] = a[i] > 0 ? a[i] : 0
            i += 1
        }
    }

    static func pullback(_ g: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        let zero = SIMD8<Float>(repeating: 0)
        while i + 8 <= count {
            let v = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let w = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(g + i).storeBytes(of: w.replacing(with: zero, where: .!(v .> zero)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            g[i] = a[i] > 0 ? g[i] : 0
            i += 1
        }
    }

    static func pullback(_ g: UnsafeMutablePointer<Double>, _ a: UnsafePointer<Double>, _ count: Int) {
        var i = 0
        let zero = SIMD8<Double>(repeating: 0)
        while i + 8 <= count {
            let v = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Double>.self)
            let w = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Double>.self)
            UnsafeMutableRawPointer(g + i).storeBytes(of: w.replacing(with: zero, where: .!(v .> zero)), as: SIMD8<Double>.self)
            i += 8
        }
        while i < count {
            g[i] = a[i] > 0 ? g[i] : 0
            i += 1
        }
    }
}
