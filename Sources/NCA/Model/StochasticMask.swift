/// The stochastic update mask σ of eq. 4/5: σ = 1 with probability 1 − p, else 0.
///
/// Draws come from the seeded generator in cell order (per-cell granularity: one draw per cell,
/// shared by its channels; per-element: one per channel, cell-major). With p = 0 every σ is 1
/// and no random numbers are consumed. The forward pass stores σ so that the backward pass
/// reuses the same draws.
enum StochasticMask {
    /// Number of σ values one step needs.
    static func count(cells: Int, channels: Int, granularity: MaskGranularity) -> Int {
        granularity == .cell ? cells : cells * channels
    }

    /// Fills `sigma` (length `count(...)`) with fresh draws. With `skipping` (before, after), the
    /// generator first and last makes that many draws that are not kept: `sigma` is then one share
    /// of the draws for a larger batch (data-parallel training).
    static func draw<T: BLASScalar>(
        into sigma: UnsafeMutablePointer<T>, count: Int, skipProbability p: Double, skipping: (before: Int, after: Int) = (0, 0),
        rng: inout RandomGenerator
    ) {
        if p == 0 {
            sigma.update(repeating: 1, count: count)
            return
        }
        for _ in 0..<skipping.before { _ = rng.nextUnit() }
        for i in 0..<count { sigma[i] = rng.nextUnit() >= p ? 1 : 0 }
        for _ in 0..<skipping.after { _ = rng.nextUnit() }
    }

    /// x ← x + σ ⊙ f over N cells × C channels.
    static func applyResidual<T: BLASScalar>(
        _ f: UnsafePointer<T>, sigma: UnsafePointer<T>, to x: UnsafeMutablePointer<T>, cells: Int,
        channels: Int, granularity: MaskGranularity
    ) {
        switch granularity {
        case .element:
            for i in 0..<(cells * channels) { x[i] += sigma[i] * f[i] }
        case .cell:
            for n in 0..<cells {
                let s = sigma[n]
                let base = n * channels
                for ch in 0..<channels { x[base + ch] += s * f[base + ch] }
            }
        }
    }

    /// The pullback of the residual update for f: df = σ ⊙ g.
    static func pullback<T: BLASScalar>(
        _ g: UnsafePointer<T>, sigma: UnsafePointer<T>, into df: UnsafeMutablePointer<T>, cells: Int,
        channels: Int, granularity: MaskGranularity
    ) {
        switch granularity {
        case .element:
            for i in 0..<(cells * channels) { df[i] = sigma[i] * g[i] }
        case .cell:
            for n in 0..<cells {
                let s = sigma[n]
                let base = n * channels
                for ch in 0..<channels { df[base + ch] = s * g[base + ch] }
            }
        }
    }
}
