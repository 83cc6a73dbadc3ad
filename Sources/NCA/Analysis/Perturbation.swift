import Foundation

/// Local perturbations (paper §3.2.2, Fig 10): perturb one initial cell at a time and count the
/// final cells that change by more than a threshold.
///
/// Every `stride`-th cell (in both axes) of batch entry 0 of the initial state gets `magnitude`
/// added to its observable channels; the perturbed states run as the batch entries of one
/// engine (so the GEMMs stay large), and each final state is compared with the unperturbed
/// run's: a cell counts when any observable channel differs by more than `threshold`. With
/// p > 0 the mask draws differ between the runs, which the threshold has to absorb (the paper
/// uses 0.1 "to account for random fluctuations").
public struct LocalPerturbation: Sendable {
    /// Steps each perturbed state runs.
    public var steps: Int
    /// Every `stride`-th cell in each axis is perturbed.
    public var stride: Int
    /// Added to the observable channels of the perturbed cell.
    public var magnitude: Double
    /// A final cell counts as changed when an observable channel differs by more than this.
    public var threshold: Double
    /// Perturbed positions per axis: ⌈S / stride⌉.
    public var grid: Int
    /// `counts[a · grid + b]`: changed final cells when cell (a · stride, b · stride) was perturbed.
    public var counts: [Int]
    /// Largest (Chebyshev) distance from the perturbed cell to a changed cell, −1 when none
    /// changed; the lattice wraps for a periodic boundary.
    public var reach: [Int]
    /// The unperturbed final state, S × S × C.
    public var reference: [Float]
    /// Final states (S × S × C) for a few perturbed cells (the one that changes most, the centre, …).
    public var examples: [(row: Int, column: Int, final: [Float])]

    /// Perturbs every `stride`-th cell of batch entry 0 of `initial` in turn and counts the changed cells after `steps` steps.
    public static func run(
        _ model: NCAModel<Float>, initial: Tensor<Float>, steps: Int, stride: Int = 1, magnitude: Double = 1,
        threshold: Double = 0.1, seed: UInt64 = 0, batch: Int = 16, progress: ((Int, Int) -> Void)? = nil
    ) -> LocalPerturbation {
        let cfg = model.configuration
        precondition(initial.rank == 4 && stride >= 1 && steps >= 0, "LocalPerturbation: bad arguments")
        let (s, c, o) = (initial.shape[1], cfg.channels, cfg.observableChannels)
        let lattice = s * s * c
        let start = Array(initial.scalars[0..<lattice])
        var single = Tensor(shape: [1, s, s, c], scalars: start)
        var rng = RandomGenerator(seed: seed)
        NCAEngine<Float>(configuration: cfg, batch: 1, size: s).run(model, state: &single, steps: steps, rng: &rng)
        let reference = single.scalars

        let grid = (s + stride - 1) / stride
        let positions = (0..<(grid * grid)).map { (($0 / grid) * stride, ($0 % grid) * stride) }
        let chunk = max(1, min(batch, positions.count))
        let engine = NCAEngine<Float>(configuration: cfg, batch: chunk, size: s)
        var counts = [Int](repeating: 0, count: positions.count)
        var reach = [Int](repeating: -1, count: positions.count)
        var finals: [Int: [Float]] = [:]
        let centre = (s / 2 / stride) * grid + (s / 2 / stride)
        var done = 0
        while done < positions.count {
            let count = min(chunk, positions.count - done)
            var state = Tensor<Float>(zeros: [chunk, s, s, c])
            for entry in 0..<chunk {
                state.scalars.replaceSubrange((entry * lattice)..<((entry + 1) * lattice), with: start)
                if entry < count {
                    let (i, j) = positions[done + entry]
                    for ch in 0..<o { state.scalars[entry * lattice + (i * s + j) * c + ch] += Float(magnitude) }
                }
            }
            var chunkRNG = RandomGenerator(seed: seed)
            engine.run(model, state: &state, steps: steps, rng: &chunkRNG)
            for entry in 0..<count {
                let index = done + entry
                let final = state.scalars[(entry * lattice)..<((entry + 1) * lattice)]
                (counts[index], reach[index]) = changedCells(
                    final, reference: reference, around: positions[index], size: s, configuration: cfg, threshold: threshold)
                if index == centre || index == 0 || index == positions.count - 1 {
                    finals[index] = Array(state.scalars[(entry * lattice)..<((entry + 1) * lattice)])
                }
            }
            done += count
            progress?(done, positions.count)
        }
        // The position that changes most is only known at the end: rerun it alone.
        let most = counts.indices.max { counts[$0] < counts[$1] } ?? 0
        if finals[most] == nil {
            var state = Tensor(shape: [1, s, s, c], scalars: start)
            let (i, j) = positions[most]
            for ch in 0..<o { state.scalars[(i * s + j) * c + ch] += Float(magnitude) }
            var again = RandomGenerator(seed: seed)
            NCAEngine<Float>(configuration: cfg, batch: 1, size: s).run(model, state: &state, steps: steps, rng: &again)
            finals[most] = state.scalars
        }
        let examples = Array(Set([most, centre, 0, positions.count - 1])).filter { finals[$0] != nil }.sorted().map {
            (row: positions[$0].0, column: positions[$0].1, final: finals[$0]!)
        }
        return LocalPerturbation(
            steps: steps, stride: stride, magnitude: magnitude, threshold: threshold, grid: grid, counts: counts, reach: reach,
            reference: reference, examples: examples)
    }

    /// How many cells of `final` differ from `reference` by more than `threshold` in an
    /// observable channel (NaN counts as changed), and the farthest of them from `position`
    /// (Chebyshev distance, wrapped on a periodic lattice; −1 when none changed).
    static func changedCells(
        _ final: ArraySlice<Float>, reference: [Float], around position: (Int, Int), size s: Int,
        configuration cfg: ModelConfiguration,
        threshold: Double
    ) -> (count: Int, farthest: Int) {
        let (c, o) = (cfg.channels, cfg.observableChannels)
        let periodic = cfg.boundary == .periodic
        func distance(_ a: Int, _ b: Int) -> Int {
            let d = abs(a - b)
            return periodic ? min(d, s - d) : d
        }
        var changed = 0
        var farthest = -1
        for i in 0..<s {
            for j in 0..<s {
                let base = (i * s + j) * c
                var moved = false
                for ch in 0..<o {
                    let delta = abs(Double(final[final.startIndex + base + ch]) - Double(reference[base + ch]))
                    if !(delta <= threshold) { moved = true }  // NaN counts as changed
                }
                if moved {
                    changed += 1
                    farthest = max(farthest, max(distance(i, position.0), distance(j, position.1)))
                }
            }
        }
        return (changed, farthest)
    }
}

/// Global perturbations (paper §3.2.2, Fig 11): a gradient search over initial perturbations x̃
/// of the observable channels for κ = ‖x̃‖ − ‖Φⁿ(x0 + x̃) − Φⁿ(x0)‖ (the second norm over the
/// observable channels of the final state). `destroy` minimises κ (a small perturbation that
/// changes x⁽ⁿ⁾ a lot), `preserve` maximises it (a large perturbation that leaves x⁽ⁿ⁾ alone).
///
/// ∂κ/∂x̃ = x̃/‖x̃‖ − Jᵀ d/‖d‖ with d the final difference and Jᵀ the tape's backward pass
/// (the gradient with respect to the initial state). Adam takes the steps. Both rollouts of an
/// iteration use the same mask draws.
public struct AdversarialPerturbation: Sendable {
    /// Whether the search looks for a perturbation that destroys or preserves the final state.
    public enum Mode: String, CaseIterable, Codable, Sendable {
        /// Minimise κ: a small perturbation that changes the final state a lot.
        case destroy
        /// Maximise κ: a large perturbation that leaves the final state alone.
        case preserve
    }

    /// The direction of the search.
    public var mode: Mode
    /// Steps of each rollout.
    public var steps: Int
    /// The best perturbation found (1 × S × S × C; hidden channels 0).
    public var perturbation: Tensor<Float>
    /// κ at every iteration (before its update).
    public var kappaHistory: [Double]
    /// κ, ‖x̃‖ and ‖Φⁿ(x0 + x̃) − Φⁿ(x0)‖ of the best perturbation.
    public var kappa: Double
    /// ‖x̃‖ of the best perturbation.
    public var perturbationNorm: Double
    /// ‖Φⁿ(x0 + x̃) − Φⁿ(x0)‖ of the best perturbation.
    public var finalChange: Double
    /// Why the search stopped early, if it did.
    public var stoppedEarly: String?

    /// Searches for the perturbation of `initial` (1 × S × S × C) that minimises (`destroy`) or maximises (`preserve`) κ, by Adam for `iterations` steps.
    public static func search(
        _ model: NCAModel<Float>, initial: Tensor<Float>, steps: Int, mode: Mode, iterations: Int = 100,
        learningRate: Double = 0.01, initialScale: Double = 0.01, seed: UInt64 = 0, progress: ((Int, Double) -> Void)? = nil
    ) -> AdversarialPerturbation {
        let cfg = model.configuration
        let (s, c, o) = (initial.shape[1], cfg.channels, cfg.observableChannels)
        let lattice = s * s * c
        let x0 = Tensor(shape: [1, s, s, c], scalars: Array(initial.scalars[0..<lattice]))
        let engine = NCAEngine<Float>(configuration: cfg, batch: 1, size: s)
        var noise = RandomGenerator(seed: seed, stream: .perturbationStart)
        var perturbation = [Double](repeating: 0, count: lattice)
        for cell in 0..<(s * s) {
            for ch in 0..<o { perturbation[cell * c + ch] = noise.nextUniform(-initialScale, initialScale) }
        }
        var adam = ObservableAdam(count: lattice, learningRate: learningRate)
        let sign: Double = mode == .destroy ? 1 : -1  // minimise sign · κ
        let stochastic = cfg.skipProbability > 0
        var fixedReference: Tensor<Float>? = nil
        var history: [Double] = []
        var best: (kappa: Double, x: [Double], norm: Double, change: Double)? = nil
        var stopped: String? = nil
        for iteration in 0..<iterations {
            let maskSeed = stochastic ? SeedStream.perturbationIteration(iteration).seed(from: seed) : seed
            let reference: Tensor<Float>
            if let fixed = fixedReference {
                reference = fixed
            } else {
                var ref = x0
                var rng = RandomGenerator(seed: maskSeed)
                engine.run(model, state: &ref, steps: steps, rng: &rng)
                reference = ref
                if !stochastic { fixedReference = ref }
            }
            var start = x0
            for i in 0..<lattice { start.scalars[i] += Float(perturbation[i]) }
            var rng = RandomGenerator(seed: maskSeed)
            let final = engine.forward(model, from: start, steps: steps, rng: &rng)
            var difference = Tensor<Float>(zeros: [1, s, s, c])
            var changeSquared = 0.0
            for cell in 0..<(s * s) {
                for ch in 0..<o {
                    let d = Double(final.scalars[cell * c + ch]) - Double(reference.scalars[cell * c + ch])
                    difference.scalars[cell * c + ch] = Float(d)
                    changeSquared += d * d
                }
            }
            let change = changeSquared.squareRoot()
            let norm = perturbation.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let kappa = norm - change
            guard kappa.isFinite else {
                stopped = "the rollout became NaN or infinite at iteration \(iteration + 1)"
                break
            }
            history.append(kappa)
            progress?(iteration + 1, kappa)
            if best == nil || sign * kappa < sign * best!.kappa { best = (kappa, perturbation, norm, change) }
            if iteration == iterations - 1 { break }
            var gradient = [Double](repeating: 0, count: lattice)
            if change > 0 {
                for i in 0..<lattice { difference.scalars[i] = Float(Double(difference.scalars[i]) / change) }
                let back = engine.backward(model, outputGradient: difference).initialState
                for i in 0..<lattice { gradient[i] = -Double(back.scalars[i]) }
            }
            if norm > 0 { for i in 0..<lattice { gradient[i] += perturbation[i] / norm } }
            adam.step(&perturbation, gradient: gradient.map { sign * $0 }, observable: o, channels: c)
        }
        let found = best ?? (.nan, perturbation, .nan, .nan)
        return AdversarialPerturbation(
            mode: mode, steps: steps, perturbation: Tensor(shape: [1, s, s, c], scalars: found.x.map { Float($0) }),
            kappaHistory: history, kappa: found.kappa, perturbationNorm: found.norm, finalChange: found.change,
            stoppedEarly: stopped)
    }
}

/// Adam (β 0.9, 0.999, ε 1e-8) on the observable channels of a state, hidden channels fixed.
struct ObservableAdam {
    var m: [Double]
    var v: [Double]
    var steps = 0
    let learningRate: Double
    let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8

    init(count: Int, learningRate: Double) {
        m = [Double](repeating: 0, count: count)
        v = m
        self.learningRate = learningRate
    }

    /// x −= η m̂ / (√v̂ + ε) for the observable entries of x (cell-major, `channels` per cell).
    mutating func step(_ x: inout [Double], gradient: [Double], observable o: Int, channels c: Int) {
        steps += 1
        let t = Double(steps)
        for cell in 0..<(x.count / c) {
            for ch in 0..<o {
                let i = cell * c + ch
                let g = gradient[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                let mHat = m[i] / (1 - Foundation.pow(beta1, t))
                let vHat = v[i] / (1 - Foundation.pow(beta2, t))
                x[i] -= learningRate * mHat / (vHat.squareRoot() + epsilon)
            }
        }
    }
}

/// Symmetry perturbations (paper §3.2.2, Fig 12): does the model commute with rotations and
/// reflections? For each transform T, the distance ‖Φⁿ(T x0) − T Φⁿ(x0)‖ over the observable
/// channels, also relative to ‖T Φⁿ(x0)‖. The identity row is the noise floor: with p > 0 its
/// two runs use different mask draws.
public struct SymmetryTest: Sendable {
    /// The result for one transform.
    public struct Row: Sendable {
        /// The rotation or reflection T.
        public var transform: LatticeTransform
        /// ‖Φⁿ(T x0) − T Φⁿ(x0)‖ over the observable channels.
        public var distance: Double
        /// `distance` / ‖T Φⁿ(x0)‖.
        public var relative: Double
        /// T x0, Φⁿ(T x0) and T Φⁿ(x0), each S × S × C.
        public var start: [Float]
        /// Φⁿ(T x0), S × S × C.
        public var final: [Float]
        /// T Φⁿ(x0), S × S × C.
        public var expected: [Float]
    }

    /// n, the steps of each rollout.
    public var steps: Int
    /// One row per transform, the identity first.
    public var rows: [Row]

    /// Runs `model` from `initial` and from each transform of it for `steps` steps and compares.
    public static func run(
        _ model: NCAModel<Float>, initial: Tensor<Float>, steps: Int, transforms: [LatticeTransform] = LatticeTransform.allCases,
        seed: UInt64 = 0
    ) -> SymmetryTest {
        let cfg = model.configuration
        let (s, c, o) = (initial.shape[1], cfg.channels, cfg.observableChannels)
        let lattice = s * s * c
        let x0 = Array(initial.scalars[0..<lattice])
        // Entry 0 is the untransformed start; entry k + 1 is transforms[k] applied to it.
        let starts = [x0] + transforms.map { $0.apply(x0, size: s, channels: c) }
        var state = Tensor(shape: [starts.count, s, s, c], scalars: starts.flatMap { $0 })
        var rng = RandomGenerator(seed: seed)
        NCAEngine<Float>(configuration: cfg, batch: starts.count, size: s).run(model, state: &state, steps: steps, rng: &rng)
        let reference = Array(state.scalars[0..<lattice])
        var rows: [Row] = []
        for (k, transform) in transforms.enumerated() {
            let final = Array(state.scalars[((k + 1) * lattice)..<((k + 2) * lattice)])
            let expected = transform.apply(reference, size: s, channels: c)
            var (d2, e2) = (0.0, 0.0)
            for cell in 0..<(s * s) {
                for ch in 0..<o {
                    let (a, b) = (Double(final[cell * c + ch]), Double(expected[cell * c + ch]))
                    d2 += (a - b) * (a - b)
                    e2 += b * b
                }
            }
            rows.append(
                Row(
                    transform: transform, distance: d2.squareRoot(), relative: e2 > 0 ? d2.squareRoot() / e2.squareRoot() : .nan,
                    start: starts[k + 1], final: final, expected: expected))
        }
        return SymmetryTest(steps: steps, rows: rows)
    }
}
