import Foundation

/// Linear stability of a uniform state under one update step (paper §4: "which channels are
/// likely to grow exponentially if perturbed").
///
/// About a uniform state x̄ (every cell equal), the expected step x ↦ x + (1 − p) F(g ∗ x) is
/// linearised. A Fourier mode δx[i, j] = ŵ e^{i(ξ i + η j)} is mapped to J(ξ, η) ŵ with the C × C
/// symbol
///
///     J[c′, c] = δ_{c′c} + (1 − p) Σ_k ĝ_k(ξ, η) B[(c, k), c′],   B = W2 · diag(u′(ā)) · W1,
///
/// where ĝ_k(ξ, η) = Σ g_k[Δi, Δj] e^{i(ξ Δi + η Δj)} is the kernel's Fourier multiplier (for the
/// correlation form of eq. 1) and ā = z̄ · W2 the hidden pre-activation at x̄. A mode grows when
/// an eigenvalue has |λ| > 1; log |λ| is its growth rate per step. Modes are the lattice's own
/// wavenumbers 2π m / S for m = 0 … S − 1 on each axis (periodic boundary).
public struct FourierStability: Codable, Sendable {
    /// The fastest-growing direction at one wavenumber.
    public struct Mode: Codable, Equatable, Sendable {
        /// ξ, η in (−π, π].
        public var xi: Double
        /// η, the wavenumber along the second axis, in (−π, π].
        public var eta: Double
        /// |k| = √(ξ² + η²).
        public var wavenumber: Double
        /// 2π / |k| in cells (nil for the uniform mode).
        public var wavelength: Double?
        /// log |λ_max| per step.
        public var growthRate: Double
        /// Real part of λ_max, the eigenvalue of largest modulus.
        public var eigenvalueReal: Double
        /// Imaginary part of λ_max.
        public var eigenvalueImaginary: Double
        /// |v_c|² of λ_max's eigenvector: which channels the mode lives in (sums to 1).
        public var channelWeights: [Double]
    }

    /// Lattice side whose wavenumbers were scanned.
    public var size: Int
    /// The uniform state x̄, one value per channel.
    public var about: [Double]
    /// (1 − p) · F(x̄): how far one expected step moves the uniform state (zero at a fixed point).
    public var drift: [Double]
    /// The uniform mode (ξ = η = 0).
    public var uniform: Mode
    /// The fastest-growing mode over every scanned wavenumber.
    public var fastest: Mode
    /// Per radial wavenumber bin (|k| rounded to a multiple of 2π / S), the fastest mode in it.
    public var radial: [Mode]
    /// The findings in sentences, as `nca analyse` prints them.
    public var sentences: [String]

    /// Scans every wavenumber of an S × S lattice about the uniform state `about` (C values).
    public init(_ model: NCAModel<Double>, about: [Double], size: Int) throws(LinearAlgebraError) {
        let cfg = model.configuration
        precondition(
            about.count == cfg.channels && size >= 1, "FourierStability: need \(cfg.channels) channel values and a positive size")
        self.size = size
        self.about = about
        let (b, drift) = FourierStability.linearisation(model, about: about)
        self.drift = drift
        var modes: [Mode] = []
        for m in 0..<size {
            for n in 0..<size {
                modes.append(
                    try FourierStability.mode(
                        b, configuration: model.configuration, xi: FourierStability.angle(m, size),
                        eta: FourierStability.angle(n, size)))
            }
        }
        uniform = modes[0]
        fastest = modes.max { $0.growthRate < $1.growthRate }!
        var bins: [Int: Mode] = [:]
        for mode in modes {
            let bin = Int((mode.wavenumber * Double(size) / (2 * Double.pi)).rounded())
            if let current = bins[bin], current.growthRate >= mode.growthRate { continue }
            bins[bin] = mode
        }
        radial = bins.keys.sorted().map { bins[$0]! }
        sentences = []
        sentences = describe(observable: cfg.observableChannels)
    }

    /// B = W2 · diag(u′(ā)) · W1 (K·C × C, row-major) at the uniform state, and the drift
    /// (1 − p) · F(x̄).
    static func linearisation(_ model: NCAModel<Double>, about: [Double]) -> (b: [Double], drift: [Double]) {
        let cfg = model.configuration
        let (c, h, kCount) = (cfg.channels, cfg.hiddenSize, cfg.kernels.count)
        let w2 = model.w2.scalars
        let w1 = model.w1.scalars
        let keep = 1 - cfg.skipProbability
        // Uniform perception: kernel k of channel c sees x̄_c · Σ g_k.
        let kernelSums = cfg.kernels.map { $0.weights.reduce(0, +) }
        var a = [Double](repeating: 0, count: h)
        for ch in 0..<c {
            for k in 0..<kCount {
                let z = about[ch] * kernelSums[k]
                if z == 0 { continue }
                for j in 0..<h { a[j] += z * w2[(ch * kCount + k) * h + j] }
            }
        }
        let slope = a.map { cfg.activation.derivative($0) }
        let hidden = a.map { cfg.activation.value($0) }
        let drift = (0..<c).map { ch in keep * ((0..<h).reduce(model.v.scalars[ch]) { $0 + hidden[$1] * w1[$1 * c + ch] }) }
        var b = [Double](repeating: 0, count: c * kCount * c)
        for row in 0..<(c * kCount) {
            for j in 0..<h where slope[j] != 0 {
                let scaled = w2[row * h + j] * slope[j]
                if scaled == 0 { continue }
                for out in 0..<c { b[row * c + out] += scaled * w1[j * c + out] }
            }
        }
        return (b, drift)
    }

    /// The fastest-growing eigenvalue of the symbol J(ξ, η) about the uniform state `about`.
    public static func mode(_ model: NCAModel<Double>, about: [Double], xi: Double, eta: Double) throws(LinearAlgebraError)
        -> Mode
    {
        try mode(linearisation(model, about: about).b, configuration: model.configuration, xi: xi, eta: eta)
    }

    static func mode(_ b: [Double], configuration cfg: ModelConfiguration, xi: Double, eta: Double) throws(LinearAlgebraError)
        -> Mode
    {
        let (c, kCount) = (cfg.channels, cfg.kernels.count)
        let keep = 1 - cfg.skipProbability
        var real = [Double](repeating: 0, count: c * c)
        var imaginary = [Double](repeating: 0, count: c * c)
        for out in 0..<c { real[out * c + out] = 1 }
        for k in 0..<kCount {
            let (gr, gi) = multiplier(cfg.kernels[k], xi: xi, eta: eta)
            for ch in 0..<c {
                let row = (ch * kCount + k) * c
                for out in 0..<c {
                    let value = keep * b[row + out]
                    real[out * c + ch] += gr * value
                    imaginary[out * c + ch] += gi * value
                }
            }
        }
        let eigen = try LinearAlgebra.eigen(real: real, imaginary: imaginary, n: c)
        let top = (0..<c).max { eigen.modulus($0) < eigen.modulus($1) }!
        let k = (xi * xi + eta * eta).squareRoot()
        return Mode(
            xi: xi, eta: eta, wavenumber: k, wavelength: k > 0 ? 2 * Double.pi / k : nil,
            growthRate: Foundation.log(max(eigen.modulus(top), 1e-300)), eigenvalueReal: eigen.valuesReal[top],
            eigenvalueImaginary: eigen.valuesImaginary[top], channelWeights: eigen.componentWeights(top))
    }

    /// 2π m / S mapped to (−π, π].
    static func angle(_ m: Int, _ size: Int) -> Double {
        let shifted = m > size / 2 ? m - size : m
        return 2 * Double.pi * Double(shifted) / Double(size)
    }

    /// ĝ(ξ, η) = Σ g[Δi+1][Δj+1] e^{i(ξ Δi + η Δj)} as (real, imaginary).
    public static func multiplier(_ kernel: Kernel, xi: Double, eta: Double) -> (Double, Double) {
        let g = kernel.weights
        var (re, im) = (0.0, 0.0)
        for di in -1...1 {
            for dj in -1...1 {
                let w = g[3 * (di + 1) + (dj + 1)]
                if w == 0 { continue }
                let phase = xi * Double(di) + eta * Double(dj)
                re += w * Foundation.cos(phase)
                im += w * Foundation.sin(phase)
            }
        }
        return (re, im)
    }

    private func describe(observable: Int) -> [String] {
        var out: [String] = []
        let driftNorm = drift.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let state = about.map { String(format: "%.3g", $0) }.joined(separator: ", ")
        if driftNorm < 1e-9 {
            out.append("The uniform state (\(state)) is a fixed point of the update.")
        } else {
            out.append(
                String(
                    format:
                        "The uniform state (%@) is not a fixed point: one step moves it by %.3g, so the linearisation describes only the first steps.",
                    state, driftNorm))
        }
        let tolerance = 1e-9
        if fastest.growthRate <= tolerance {
            out.append(
                String(
                    format: "No Fourier mode grows: the uniform state is linearly stable (largest |λ| = %.6f).",
                    Foundation.exp(fastest.growthRate)))
            return out
        }
        let channels = fastest.channelWeights.enumerated().sorted { $0.element > $1.element }.prefix(3).filter {
            $0.element >= 0.05
        }
        .map { String(format: "%d%@ (%.0f%%)", $0.offset, $0.offset < observable ? "" : " hidden", 100 * $0.element) }
        .joined(separator: ", ")
        let where_ =
            fastest.wavenumber == 0
            ? "in the uniform mode"
            : String(format: "at wavelength %.1f cells (|k| = %.3f)", fastest.wavelength ?? 0, fastest.wavenumber)
        out.append(
            String(
                format:
                    "Perturbations grow fastest %@: growth rate %.3g per step (×e every %.2g steps), mostly along channel(s) %@.",
                where_, fastest.growthRate, 1 / fastest.growthRate, channels))
        let unstable = radial.filter { $0.growthRate > tolerance && $0.wavenumber > 0 }
        if uniform.growthRate <= tolerance, let shortest = unstable.compactMap(\.wavelength).min(),
            let longest = unstable.compactMap(\.wavelength).max()
        {
            out.append(
                String(
                    format:
                        "The uniform mode is stable but wavelengths %.1f–%.1f cells grow: a Turing-type (pattern-forming) instability.",
                    shortest, longest))
        } else if uniform.growthRate > tolerance {
            out.append(String(format: "The uniform mode itself grows (rate %.3g per step).", uniform.growthRate))
        }
        return out
    }
}

/// How much a perturbation of a given (non-uniform) state can grow: the largest singular value
/// of the Jacobian J = ∂Φⁿ/∂x of n steps at that state, from the top eigenvalue of JᵀJ by Lanczos
/// iteration with full reorthogonalisation. J·v is a central difference of two rollouts in
/// Double, Jᵀ·u is the tape's backward pass; every rollout uses the same mask draws (p > 0 gives
/// the Jacobian of one realisation).
public struct StateAmplification: Codable, Sendable {
    /// n, the number of steps of Φⁿ.
    public var steps: Int
    /// σ_max(∂Φⁿ/∂x): the largest factor by which the norm of a small perturbation grows.
    public var amplification: Double
    /// log(σ_max) / n.
    public var growthRatePerStep: Double
    /// Per channel, the share of the most amplified initial perturbation (top right singular vector).
    public var inputChannelWeights: [Double]
    /// Per channel, the share of where it ends up after n steps (J·v normalised).
    public var outputChannelWeights: [Double]
    /// Lanczos vectors used (each one J·v and one Jᵀ·u).
    public var iterations: Int
    /// ‖JᵀJ v − σ² v‖ / σ² for the returned vector v.
    public var residual: Double

    /// Computes σ_max(∂Φⁿ/∂x) of `model` at `state` (1 × S × S × C) with a Krylov space of at most `krylovSize` vectors.
    public static func compute(
        _ model: NCAModel<Double>, state: Tensor<Double>, steps: Int, krylovSize: Int = 50, seed: UInt64 = 0
    ) throws(LinearAlgebraError) -> StateAmplification {
        let cfg = model.configuration
        precondition(
            state.rank == 4 && state.shape[0] == 1 && steps >= 1, "StateAmplification: need a 1 × S × S × C state and n ≥ 1")
        let (s, c) = (state.shape[1], cfg.channels)
        let count = s * s * c
        let engine = NCAEngine<Double>(configuration: cfg, batch: 1, size: s)
        var rng = RandomGenerator(seed: seed)
        _ = engine.forward(model, from: state, steps: steps, rng: &rng)
        let scale = max(1, norm(state.scalars) / Double(count).squareRoot())
        func jvp(_ v: [Double]) -> [Double] {
            let epsilon = 1e-6 * scale
            var plus = state
            var minus = state
            for i in 0..<count {
                plus.scalars[i] += epsilon * v[i]
                minus.scalars[i] -= epsilon * v[i]
            }
            var r1 = RandomGenerator(seed: seed)
            var r2 = RandomGenerator(seed: seed)
            engine.run(model, state: &plus, steps: steps, rng: &r1)
            engine.run(model, state: &minus, steps: steps, rng: &r2)
            return (0..<count).map { (plus.scalars[$0] - minus.scalars[$0]) / (2 * epsilon) }
        }
        func normal(_ v: [Double]) -> [Double] {  // JᵀJ v
            engine.backward(model, outputGradient: Tensor(shape: [1, s, s, c], scalars: jvp(v))).initialState.scalars
        }
        var noise = RandomGenerator(seed: seed, stream: .stabilityStart)
        let start = (0..<count).map { _ in noise.nextUniform(-1, 1) }
        let (v, k) = try topEigenvector(of: normal, start: start, krylovSize: krylovSize)
        let image = jvp(v)
        let amplification = norm(image)
        let check = normal(v)
        let sigma2 = amplification * amplification
        let residual = sigma2 > 0 ? norm((0..<count).map { check[$0] - sigma2 * v[$0] }) / sigma2 : 0
        return StateAmplification(
            steps: steps, amplification: amplification,
            growthRatePerStep: Foundation.log(max(amplification, 1e-300)) / Double(steps),
            inputChannelWeights: channelShares(v, channels: c), outputChannelWeights: channelShares(image, channels: c),
            iterations: k, residual: residual)
    }

    /// The eigenvector of the largest eigenvalue of a symmetric positive semi-definite operator
    /// (`apply`, on vectors of `start.count` entries) by Lanczos from `start` with full
    /// reorthogonalisation, at most `krylovSize` vectors; returns it (unit length) and the
    /// number of vectors used.
    static func topEigenvector(of apply: ([Double]) -> [Double], start: [Double], krylovSize: Int) throws(LinearAlgebraError)
        -> (vector: [Double], iterations: Int)
    {
        let count = start.count
        var q = start
        let n0 = norm(q)
        q = q.map { $0 / n0 }
        var basis: [[Double]] = []
        var alpha: [Double] = []
        var beta: [Double] = []
        let m = max(1, min(krylovSize, count))
        for j in 0..<m {
            basis.append(q)
            var w = apply(q)
            let a = dot(q, w)
            alpha.append(a)
            // Full reorthogonalisation (twice is enough) against every earlier vector.
            for _ in 0..<2 {
                for b in basis {
                    let projection = dot(b, w)
                    for i in 0..<count { w[i] -= projection * b[i] }
                }
            }
            let next = norm(w)
            if j == m - 1 || !(next > 1e-12 * max(abs(a), 1e-300)) { break }
            beta.append(next)
            q = w.map { $0 / next }
        }
        let k = alpha.count
        var tReal = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            tReal[i * k + i] = alpha[i]
            if i + 1 < k {
                tReal[i * k + i + 1] = beta[i]
                tReal[(i + 1) * k + i] = beta[i]
            }
        }
        let eigen = try LinearAlgebra.eigen(real: tReal, imaginary: [Double](repeating: 0, count: k * k), n: k)
        let top = (0..<k).max { eigen.valuesReal[$0] < eigen.valuesReal[$1] }!
        // The eigenvector of the real symmetric T, with zgeev's arbitrary complex phase removed.
        let anchor = (0..<k).max {
            hypot(eigen.vectorsReal[$0 * k + top], eigen.vectorsImaginary[$0 * k + top])
                < hypot(eigen.vectorsReal[$1 * k + top], eigen.vectorsImaginary[$1 * k + top])
        }!
        let (pr, pi) = (eigen.vectorsReal[anchor * k + top], eigen.vectorsImaginary[anchor * k + top])
        let phase = hypot(pr, pi)
        let y = (0..<k).map { (eigen.vectorsReal[$0 * k + top] * pr + eigen.vectorsImaginary[$0 * k + top] * pi) / phase }
        var v = [Double](repeating: 0, count: count)
        for (i, b) in basis.prefix(k).enumerated() { for t in 0..<count { v[t] += y[i] * b[t] } }
        let vNorm = norm(v)
        v = v.map { $0 / vNorm }
        return (v, k)
    }

    private static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var total = 0.0
        for i in 0..<a.count { total += a[i] * b[i] }
        return total
    }

    private static func norm(_ x: [Double]) -> Double { dot(x, x).squareRoot() }

    /// Each channel's share of |x|² (x cell-major with `channels` channels).
    private static func channelShares(_ x: [Double], channels c: Int) -> [Double] {
        var shares = [Double](repeating: 0, count: c)
        for (i, value) in x.enumerated() { shares[i % c] += value * value }
        let total = shares.reduce(0, +)
        return total > 0 ? shares.map { $0 / total } : shares
    }

    /// The finding in words.
    public func sentence(observable: Int) -> String {
        let channels = inputChannelWeights.enumerated().sorted { $0.element > $1.element }.prefix(3).filter { $0.element >= 0.05 }
            .map { String(format: "%d%@ (%.0f%%)", $0.offset, $0.offset < observable ? "" : " hidden", 100 * $0.element) }
            .joined(separator: ", ")
        let verb = amplification > 1 ? "grow" : "shrink"
        return String(
            format:
                "At the given state, the most amplified perturbation can %@ by ×%.4g over %d step(s) (%.3g per step), and it starts mostly in channel(s) %@.",
            verb, amplification, steps, Foundation.exp(growthRatePerStep), channels)
    }
}
