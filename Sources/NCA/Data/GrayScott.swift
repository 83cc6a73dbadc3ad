/// The Gray-Scott reaction–diffusion system of the paper's §3.1, solved as the paper does:
///
///     ∂A = D_A ∇²A − A B² + α (1 − A)
///     ∂B = D_B ∇²B + A B² − (γ + α) B
///
/// explicit Euler with dt = 1 on a periodic S × S lattice, ∇² the 9-point `laplacian` kernel
/// (1/4 · [[1,2,1],[2,−12,2],[1,2,1]]). Computed in Double.
public struct GrayScott: Codable, Equatable, Sendable {
    /// D_A, diffusion of A.
    public var diffusionA = 0.1
    /// D_B, diffusion of B.
    public var diffusionB = 0.05
    /// α, the feed rate (A grows towards 1).
    public var alpha = 0.06230
    /// γ, B's extra decay rate (B dies at γ + α).
    public var gamma = 0.06268

    public init(diffusionA: Double = 0.1, diffusionB: Double = 0.05, alpha: Double = 0.06230, gamma: Double = 0.06268) {
        self.diffusionA = diffusionA
        self.diffusionB = diffusionB
        self.alpha = alpha
        self.gamma = gamma
    }

    /// One Euler step of every lattice in `state` (R × S × S × 2, channels A, B), in place.
    /// `scratch` must hold as many elements as `state`.
    public func step(_ state: inout [Double], scratch: inout [Double], batch: Int, size s: Int) {
        precondition(state.count == batch * s * s * 2 && scratch.count == state.count, "GrayScott.step: buffer sizes")
        let w = Kernel.laplacian.weights
        state.withUnsafeBufferPointer { x in
            scratch.withUnsafeMutableBufferPointer { out in
                for r in 0..<batch {
                    for i in 0..<s {
                        for j in 0..<s {
                            var lapA = 0.0
                            var lapB = 0.0
                            for di in -1...1 {
                                let si = (i + di + s) % s
                                for dj in -1...1 {
                                    let sj = (j + dj + s) % s
                                    let g = w[(di + 1) * 3 + (dj + 1)]
                                    let q = ((r * s + si) * s + sj) * 2
                                    lapA += g * x[q]
                                    lapB += g * x[q + 1]
                                }
                            }
                            let p = ((r * s + i) * s + j) * 2
                            let (a, b) = (x[p], x[p + 1])
                            let reaction = a * b * b
                            out[p] = a + diffusionA * lapA - reaction + alpha * (1 - a)
                            out[p + 1] = b + diffusionB * lapB + reaction - (gamma + alpha) * b
                        }
                    }
                }
            }
        }
        swap(&state, &scratch)
    }

    /// Runs `steps` steps from `initial` (R × S × S × 2) and keeps every `timeSampling`-th state:
    /// a trajectory of shape (M + 1) × R × S × S × 2 with M = steps / timeSampling, frame 0 the
    /// initial state. `progress` is called with the number of steps done.
    public func trajectory(
        from initial: Tensor<Double>, steps: Int, timeSampling: Int, progress: ((Int) -> Void)? = nil
    ) -> Tensor<Double> {
        precondition(
            initial.rank == 4 && initial.shape[1] == initial.shape[2] && initial.shape[3] == 2,
            "GrayScott: initial state must be R × S × S × 2, got \(initial.shape)")
        precondition(
            timeSampling >= 1 && steps >= 0 && steps % timeSampling == 0,
            "GrayScott: steps \(steps) must be a multiple of the time sampling \(timeSampling)")
        let (batch, size) = (initial.shape[0], initial.shape[1])
        let frames = steps / timeSampling + 1
        var out = [Double]()
        out.reserveCapacity(frames * initial.count)
        var state = initial.scalars
        var scratch = state
        out.append(contentsOf: state)
        var n = 0
        while n < steps {
            step(&state, scratch: &scratch, batch: batch, size: size)
            n += 1
            if n % timeSampling == 0 { out.append(contentsOf: state) }
            progress?(n)
        }
        return Tensor(shape: [frames] + initial.shape, scalars: out)
    }
}

/// Families of Gray-Scott initial conditions.
public enum GrayScottInitialCondition: String, CaseIterable, Codable, Sendable {
    /// A = 1, B = 0 with a few seeded random square patches of A = 0.5, B = 0.25 (plus ±1%
    /// noise inside them): the training data.
    case random
    /// A distinct family for testing generalisation: discs of per-pixel random seeding and a band
    /// of 2–4-pixel stripes, i.e. high spatial frequencies never seen in training.
    case unseen

    /// R × S × S × 2 initial states, each batch entry drawn independently from `seed`.
    public func states(batch: Int, size s: Int, seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed ^ (self == .random ? 0x5EED_0001 : 0x5EED_0002))
        var x = [Double](repeating: 0, count: batch * s * s * 2)
        for r in 0..<batch {
            func set(_ i: Int, _ j: Int, a: Double, b: Double) {
                let p = ((r * s + (i % s + s) % s) * s + (j % s + s) % s) * 2
                x[p] = a
                x[p + 1] = b
            }
            for i in 0..<s { for j in 0..<s { set(i, j, a: 1, b: 0) } }
            switch self {
            case .random:
                let patches = 3 + rng.nextIndex(below: 6)
                for _ in 0..<patches {
                    let side = max(2, s / 16 + rng.nextIndex(below: max(1, s / 8)))
                    let (i0, j0) = (rng.nextIndex(below: s), rng.nextIndex(below: s))
                    for i in i0..<(i0 + side) {
                        for j in j0..<(j0 + side) {
                            set(i, j, a: 0.5 + rng.nextUniform(-0.01, 0.01), b: 0.25 + rng.nextUniform(-0.01, 0.01))
                        }
                    }
                }
            case .unseen:
                let discs = 2 + rng.nextIndex(below: 3)
                for _ in 0..<discs {
                    let radius = Double(s) / 10 + rng.nextUniform(0, Double(s) / 10)
                    let (ci, cj) = (rng.nextUniform(0, Double(s)), rng.nextUniform(0, Double(s)))
                    let reach = Int(radius) + 1
                    for i in (Int(ci) - reach)...(Int(ci) + reach) {
                        for j in (Int(cj) - reach)...(Int(cj) + reach) {
                            let (di, dj) = (Double(i) - ci, Double(j) - cj)
                            if di * di + dj * dj <= radius * radius && rng.nextUnit() < 0.7 { set(i, j, a: 0.25, b: 0.5) }
                        }
                    }
                }
                let period = 2 + rng.nextIndex(below: 3)
                let (row0, height) = (rng.nextIndex(below: s), max(2, s / 8))
                for i in row0..<(row0 + height) {
                    for j in 0..<s where j % period == 0 { set(i, j, a: 0.25, b: 0.5) }
                }
            }
        }
        return Tensor(shape: [batch, s, s, 2], scalars: x)
    }
}

/// Measurement noise of §3.1.2: ỹ = (1 − ξ) y + ξ η, η ~ U(min y, max y) drawn independently
/// for every element, with min and max taken over the whole trajectory.
public func addMeasurementNoise(_ y: inout Tensor<Double>, intensity xi: Double, seed: UInt64) {
    precondition(xi >= 0 && xi <= 1, "addMeasurementNoise: ξ must be in [0, 1], got \(xi)")
    guard xi > 0, let lo = y.scalars.min(), let hi = y.scalars.max() else { return }
    var rng = RandomGenerator(seed: seed ^ 0x0015_E000)
    for i in y.scalars.indices {
        y.scalars[i] = (1 - xi) * y.scalars[i] + xi * rng.nextUniform(lo, hi)
    }
}
