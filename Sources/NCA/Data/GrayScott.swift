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

    /// The PDE with the given diffusion rates and reaction constants (defaults: the paper's).
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
    /// noise inside them), in the style of Pearson's experiments.
    case random
    /// A harsh stress test of generalisation: discs of per-pixel random seeding (70 % filled) and
    /// a band of 1-pixel stripes of period 2–4, values A = 0.25, B = 0.5: high spatial
    /// frequencies and values never seen in training.
    case unseen
    /// The four binary training states of the authors' code (`paperBlocks`): A = 0, B = 1 inside
    /// the blocks, A = 1, B = 0 elsewhere. Batch entry r gets state r mod 4; no randomness.
    case paper
    /// The authors' unseen test state: a solid 16 × 16 block (rows and columns 16–31) and, in the
    /// bottom quarter (rows 48–63), 4-cell-wide vertical stripes of period 8 (columns j with
    /// j mod 8 < 4); binary like `paper`.
    case paperTest = "paper-test"

    /// The blocks (rows, columns; inclusive, on a 64 × 64 lattice) where the paper's training
    /// states have A = 0, B = 1.
    public static let paperBlocks: [[(rows: ClosedRange<Int>, columns: ClosedRange<Int>)]] = [
        [(24...39, 24...39)],
        [(16...23, 16...23), (48...55, 48...55), (10...29, 34...53), (34...53, 10...29)],
        [(30...33, 0...63), (40...43, 30...33), (20...23, 24...39)],
        [(4...23, 16...23), (42...45, 40...59), (16...23, 40...47), (40...47, 16...23)],
    ]

    /// R × S × S × 2 initial states, each batch entry drawn independently from `seed` (`paper`
    /// and `paper-test` use no randomness). The binary families are laid out on a 64 × 64 grid;
    /// on another lattice size cell (i, j) takes the value of grid cell (⌊64 i / S⌋, ⌊64 j / S⌋).
    public func states(batch: Int, size s: Int, seed: UInt64) -> Tensor<Double> {
        var rng = RandomGenerator(seed: seed, stream: .grayScottInitial(random: self == .random))
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
            case .paper, .paperTest:
                for i in 0..<s {
                    for j in 0..<s where Self.isSeeded(self, entry: r, row: i * 64 / s, column: j * 64 / s) {
                        set(i, j, a: 0, b: 1)
                    }
                }
            }
        }
        return Tensor(shape: [batch, s, s, 2], scalars: x)
    }

    /// Whether grid cell (row, column) of the 64 × 64 layout holds A = 0, B = 1.
    private static func isSeeded(_ family: Self, entry r: Int, row i: Int, column j: Int) -> Bool {
        if family == .paperTest { return (16...31).contains(i) && (16...31).contains(j) || (i >= 48 && j % 8 < 4) }
        return paperBlocks[r % paperBlocks.count].contains { $0.rows.contains(i) && $0.columns.contains(j) }
    }

    /// Batch entries the family is meant to be used with: 4 for `paper`, 1 for `paper-test`,
    /// nil (any) for the random families.
    public var naturalBatch: Int? {
        switch self {
        case .paper: return Self.paperBlocks.count
        case .paperTest: return 1
        case .random, .unseen: return nil
        }
    }
}

/// Measurement noise of §3.1.2: ỹ = (1 − ξ) y + ξ η, η ~ U(min y, max y) drawn independently
/// for every element, with min and max taken over the whole trajectory.
public func addMeasurementNoise(_ y: inout Tensor<Double>, intensity xi: Double, seed: UInt64) {
    precondition(xi >= 0 && xi <= 1, "addMeasurementNoise: ξ must be in [0, 1], got \(xi)")
    guard xi > 0, let lo = y.scalars.min(), let hi = y.scalars.max() else { return }
    var rng = RandomGenerator(seed: seed, stream: .measurementNoise)
    for i in y.scalars.indices {
        y.scalars[i] = (1 - xi) * y.scalars[i] + xi * rng.nextUniform(lo, hi)
    }
}
