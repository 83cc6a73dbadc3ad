import Foundation

@testable import NCA

/// Path of a committed fixture file.
func fixture(_ name: String) -> String {
    Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!.path
}

/// A fresh empty folder under the system temporary folder.
func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "nca-tests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Uniform values in [lower, upper) from a seeded generator.
func randomTensor<T: BLASScalar>(_ shape: [Int], seed: UInt64, in range: ClosedRange<Double> = 0...1) -> Tensor<T> {
    var rng = RandomGenerator(seed: seed)
    let count = Tensor<T>.elementCount(shape)
    return Tensor(shape: shape, scalars: (0..<count).map { _ in T(rng.nextUniform(range.lowerBound, range.upperBound)) })
}

/// A model with all weights random (W1 and v too, unlike a fresh model), scaled small enough
/// that rollouts of a few steps stay bounded.
func randomModel<T: BLASScalar>(_ configuration: ModelConfiguration, seed: UInt64, scale: Double = 0.3) -> NCAModel<T> {
    let kc = configuration.perceptionSize
    let h = configuration.hiddenSize
    let c = configuration.channels
    return NCAModel(
        configuration: configuration, w2: randomTensor([kc, h], seed: seed, in: -scale...scale),
        w1: randomTensor([h, c], seed: seed &+ 1, in: -scale...scale), v: randomTensor([c], seed: seed &+ 2, in: -scale...scale))
}

/// Independent boundary handling for the reference loops (no library code): the lattice index
/// read at offset d from i, or nil for a zero read.
func referenceSource(_ i: Int, _ d: Int, _ s: Int, _ boundary: Boundary) -> Int? {
    let k = i + d
    switch boundary {
    case .periodic: return (k + s) % s
    case .zero: return (0..<s).contains(k) ? k : nil
    case .reflect: return k == -1 ? 0 : (k == s ? s - 1 : k)
    }
}

/// Perception by a direct stencil loop: z[r,i,j, c·K + k] = Σ g_k[Δi+1][Δj+1] x[r, i+Δi, j+Δj, c].
func referencePerception(_ x: Tensor<Double>, kernels: [Kernel], boundary: Boundary) -> [Double] {
    let (r, s, c) = (x.shape[0], x.shape[1], x.shape[3])
    let k = kernels.count
    var z = [Double](repeating: 0, count: r * s * s * c * k)
    for b in 0..<r {
        for i in 0..<s {
            for j in 0..<s {
                for ch in 0..<c {
                    for (kk, kernel) in kernels.enumerated() {
                        var sum = 0.0
                        for di in -1...1 {
                            for dj in -1...1 {
                                guard let si = referenceSource(i, di, s, boundary), let sj = referenceSource(j, dj, s, boundary)
                                else { continue }
                                sum += kernel.weights[(di + 1) * 3 + (dj + 1)] * x.scalars[((b * s + si) * s + sj) * c + ch]
                            }
                        }
                        z[(((b * s + i) * s + j) * c + ch) * k + kk] = sum
                    }
                }
            }
        }
    }
    return z
}

/// One NCA step written cell by cell, following Algorithm 1 and eq. 3–5 literally. Draws the
/// mask in the documented order: one per cell in cell order (or one per element, cell-major).
func referenceStep(_ model: NCAModel<Double>, _ x: Tensor<Double>, rng: inout RandomGenerator) -> Tensor<Double> {
    let cfg = model.configuration
    let (r, s, c) = (x.shape[0], x.shape[1], x.shape[3])
    let (k, h) = (cfg.kernels.count, cfg.hiddenSize)
    let z = referencePerception(x, kernels: cfg.kernels, boundary: cfg.boundary)
    var out = x
    for cell in 0..<(r * s * s) {
        var hidden = [Double](repeating: 0, count: h)
        for hh in 0..<h {
            var a = 0.0
            for q in 0..<(k * c) { a += z[cell * k * c + q] * model.w2.scalars[q * h + hh] }
            hidden[hh] = cfg.activation.value(a)
        }
        var cellSigma = 1.0
        if cfg.mask == .cell && cfg.skipProbability > 0 { cellSigma = rng.nextUnit() > cfg.skipProbability ? 1 : 0 }
        for ch in 0..<c {
            var f = model.v.scalars[ch]
            for hh in 0..<h { f += hidden[hh] * model.w1.scalars[hh * c + ch] }
            var sigma = cellSigma
            if cfg.mask == .element && cfg.skipProbability > 0 { sigma = rng.nextUnit() >= cfg.skipProbability ? 1 : 0 }
            out.scalars[cell * c + ch] += sigma * f
        }
    }
    return out
}

/// ‖a − b‖ / ‖b‖ (or ‖a − b‖ when b = 0).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0
    var norm = 0.0
    for i in a.indices {
        diff += (a[i] - b[i]) * (a[i] - b[i])
        norm += b[i] * b[i]
    }
    return norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
}

func maxAbsDifference<T: BLASScalar>(_ a: [T], _ b: [T]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
}
