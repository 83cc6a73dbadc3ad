import Dispatch
import RealModule

/// Distance between a predicted state and data, over the observable channels only (§2.2.1).
/// Every loss is a mean over the R batch entries of a per-entry distance (Sources/NCA/NCA.docc/TrainAGrayScottModel.md has
/// the formulas).
public enum LossFunction: String, CaseIterable, Codable, Sendable {
    /// Per batch entry r, the Euclidean norm ‖x̂_r − y_r‖ over cells and observable channels;
    /// averaged over the R entries. The paper's choice.
    case euclidean
    /// Mean of (x̂ − y)² over all R·S·S·O observable elements.
    case mse
    /// Hellinger distance √(1 − BC(p, q)) between the probability masses of each observable
    /// channel over the lattice (see `mass`), averaged over channels and entries.
    case hellinger
    /// Bhattacharyya distance −ln BC(p, q) between the same masses, averaged likewise.
    case bhattacharyya
    /// Sliced Wasserstein: each cell is a point in the O-dimensional space of observable values;
    /// the squared 2-Wasserstein distance between the two point sets along each of
    /// `projectionCount` random unit directions (drawn from the seed), averaged over directions and
    /// entries.
    case slicedWasserstein = "sliced-wasserstein"
    /// Per observable channel, the Euclidean norm of the difference of the magnitudes of the
    /// real 2-D Fourier transforms, ‖ |rFFT2(x)| − |rFFT2(y)| ‖ (unnormalised transform, as
    /// numpy's `rfft2`; FFTW underneath), averaged over channels and entries.
    case spectral

    /// ε added to every clipped value before a channel is normalised into a probability mass,
    /// so that an empty (all ≤ 0) channel is uniform rather than undefined.
    public static let massEpsilon = 1e-8
    /// Number of random directions of the sliced Wasserstein loss.
    public static let projectionCount = 32

    /// The loss of `prediction` (R × S × S × C) against `target` (R × S × S × O or
    /// R × S × S × C, of which the first O channels are compared) and ∂loss/∂prediction
    /// (zero on hidden channels). Sums run in Double. `projectionSeed` draws the sliced
    /// Wasserstein directions (training uses the run's seed; evaluations use 0, so that their
    /// numbers compare across runs); the other losses ignore it.
    ///
    /// For the Euclidean loss an entry whose distance is exactly 0 contributes a zero gradient
    /// (the norm's subgradient at 0); likewise the Hellinger distance of identical masses.
    ///
    /// `targetOrders` (sliced Wasserstein only) keeps the sorted order of each target's
    /// projections between calls, entry r's target being frame `targetFrames[r]` of the data
    /// the orders belong to: the same loss and gradient, bit for bit, with half the sorting.
    public func evaluate<T: BLASScalar>(
        prediction: Tensor<T>, target: Tensor<T>, observableChannels o: Int, projectionSeed: UInt64 = 0,
        targetOrders: SlicedTargetOrders? = nil, targetFrames: [Int] = []
    ) -> (loss: Double, gradient: Tensor<T>) {
        precondition(prediction.rank == 4, "loss: prediction must be R×S×S×C, got \(prediction.shape)")
        let c = prediction.shape[3]
        let tc = target.shape.last ?? 0
        precondition(
            target.rank == 4 && Array(target.shape.prefix(3)) == Array(prediction.shape.prefix(3))
                && (tc == o || tc == c) && o <= c,
            "loss: target \(target.shape) does not match prediction \(prediction.shape) with \(o) observable channels")
        let batch = prediction.shape[0]
        let cells = prediction.shape[1] * prediction.shape[2]
        precondition(self != .spectral || prediction.shape[1] == prediction.shape[2], "loss: spectral needs square lattices")
        var gradient = Tensor<T>(zeros: prediction.shape)
        var total = 0.0
        let directions = self == .slicedWasserstein ? Self.directions(dimension: o, seed: projectionSeed) : []
        let orders = self == .slicedWasserstein ? targetOrders : nil
        precondition(
            orders == nil || (targetFrames.count == batch && orders!.cells == cells && orders!.directions == directions),
            "loss: target orders for other frames, lattices or directions")
        prediction.scalars.withUnsafeBufferPointer { x in
            target.scalars.withUnsafeBufferPointer { y in
                gradient.scalars.withUnsafeMutableBufferPointer { g in
                    let entries = (0..<batch).map { r in
                        Entry(
                            x: x.baseAddress! + r * cells * c, y: y.baseAddress! + r * cells * tc,
                            g: g.baseAddress! + r * cells * c, cells: cells, c: c, tc: tc, o: o,
                            orders: orders.map { ($0, targetFrames[r]) })
                    }
                    let size = prediction.shape[1]
                    if batch > 1 && (self == .slicedWasserstein || self == .spectral) {
                        // Sorting and transforming dominate these two: the entries (disjoint
                        // slices of the gradient) run on every core, summed in entry order.
                        let losses = UnsafeMutableBufferPointer<Double>.allocate(capacity: batch)
                        defer { losses.deallocate() }
                        let shared = UncheckedSendable((entries, losses))
                        DispatchQueue.concurrentPerform(iterations: batch) { r in
                            shared.value.1[r] = entryLoss(
                                shared.value.0[r], batch: batch, directions: directions, size: size)
                        }
                        for r in 0..<batch { total += losses[r] }
                    } else {
                        for entry in entries { total += entryLoss(entry, batch: batch, directions: directions, size: size) }
                    }
                }
            }
        }
        return (total, gradient)
    }

    /// One batch entry's share of the loss, its gradient written into `entry.g`.
    private func entryLoss<T>(_ entry: Entry<T>, batch: Int, directions: [[Double]], size: Int) -> Double {
        switch self {
        case .euclidean, .mse: pointwise(entry, batch: batch)
        case .hellinger, .bhattacharyya: massDistance(entry, batch: batch)
        case .slicedWasserstein: sliced(entry, batch: batch, directions: directions)
        case .spectral: spectralDistance(entry, batch: batch, size: size)
        }
    }

    /// One batch entry's prediction x (cells × c), target y (cells × tc) and gradient g (cells × c).
    struct Entry<T: BLASScalar> {
        let x: UnsafePointer<T>
        let y: UnsafePointer<T>
        let g: UnsafeMutablePointer<T>
        let cells: Int
        let c: Int
        let tc: Int
        let o: Int
        /// Where the target's sorted projections are kept (sliced Wasserstein), and its frame.
        var orders: (SlicedTargetOrders, frame: Int)? = nil
    }

    /// Euclidean and MSE: this entry's share of the loss, its gradient into `e.g`.
    private func pointwise<T>(_ e: Entry<T>, batch: Int) -> Double {
        var sum = 0.0
        for cell in 0..<e.cells {
            for ch in 0..<e.o {
                let d = Double(e.x[cell * e.c + ch]) - Double(e.y[cell * e.tc + ch])
                sum += d * d
            }
        }
        let loss: Double
        let scale: Double
        if self == .euclidean {
            let norm = sum.squareRoot()
            loss = norm / Double(batch)
            scale = norm > 0 ? 1 / (Double(batch) * norm) : 0
        } else {
            let count = Double(batch * e.cells * e.o)
            loss = sum / count
            scale = 2 / count
        }
        for cell in 0..<e.cells {
            for ch in 0..<e.o {
                e.g[cell * e.c + ch] = T(scale * (Double(e.x[cell * e.c + ch]) - Double(e.y[cell * e.tc + ch])))
            }
        }
        return loss
    }

    /// The probability mass of one channel over the lattice:
    /// p_i = (max(v_i, 0) + ε) / Σ_j (max(v_j, 0) + ε), and that denominator.
    static func mass<T: BLASScalar>(_ values: UnsafePointer<T>, stride: Int, channel: Int, cells: Int) -> (
        p: [Double], total: Double
    ) {
        var p = [Double](repeating: 0, count: cells)
        var total = 0.0
        for i in 0..<cells {
            p[i] = max(Double(values[i * stride + channel]), 0) + massEpsilon
            total += p[i]
        }
        for i in 0..<cells { p[i] /= total }
        return (p, total)
    }

    /// Hellinger and Bhattacharyya: per observable channel, the distance between the masses of
    /// prediction and target through the Bhattacharyya coefficient BC = Σ √(p_i q_i).
    private func massDistance<T>(_ e: Entry<T>, batch: Int) -> Double {
        var loss = 0.0
        let weight = 1 / Double(batch * e.o)
        for ch in 0..<e.o {
            let (p, z) = Self.mass(e.x, stride: e.c, channel: ch, cells: e.cells)
            let (q, _) = Self.mass(e.y, stride: e.tc, channel: ch, cells: e.cells)
            var bc = 0.0
            for i in 0..<e.cells { bc += (p[i] * q[i]).squareRoot() }
            // ∂distance/∂BC.
            let dBC: Double
            if self == .hellinger {
                let h = max(0, 1 - bc).squareRoot()
                loss += weight * h
                dBC = h > 0 ? -1 / (2 * h) : 0
            } else {
                loss += weight * -Double.log(bc)
                dBC = -1 / bc
            }
            // ∂BC/∂p_i = ½ √(q_i / p_i); p = u / Σu with u_i = max(x_i, 0) + ε, so
            // ∂BC/∂u_i = (∂BC/∂p_i − Σ_j p_j ∂BC/∂p_j) / Σu; ∂u_i/∂x_i = 1 where x_i > 0.
            var dp = [Double](repeating: 0, count: e.cells)
            var mean = 0.0
            for i in 0..<e.cells {
                dp[i] = 0.5 * (q[i] / p[i]).squareRoot()
                mean += p[i] * dp[i]
            }
            for i in 0..<e.cells where Double(e.x[i * e.c + ch]) > 0 {
                e.g[i * e.c + ch] = T(weight * dBC * (dp[i] - mean) / z)
            }
        }
        return loss
    }

    /// Spectral: per channel d = ‖ |X| − |Y| ‖ over the half spectrum H of the real transform
    /// (rows: every frequency, columns: 0 … n/2). With w_k = (|X_k| − |Y_k|) / (d |X_k|),
    /// ∂d/∂x_m = Re Σ_{k∈H} w_k X_k e^{+2πi k·m/n}: an unnormalised inverse transform of w ⊙ X
    /// kept to H.
    private func spectralDistance<T>(_ e: Entry<T>, batch: Int, size n: Int) -> Double {
        let weight = 1 / Double(batch * e.o)
        let half = n / 2 + 1
        var loss = 0.0
        for ch in 0..<e.o {
            var xs = [Double](repeating: 0, count: 2 * n * n)
            var ys = [Double](repeating: 0, count: 2 * n * n)
            for i in 0..<(n * n) {
                xs[2 * i] = Double(e.x[i * e.c + ch])
                ys[2 * i] = Double(e.y[i * e.tc + ch])
            }
            let fx = FFT.transform(xs, n: n)
            let fy = FFT.transform(ys, n: n)
            var magnitudeX = [Double](repeating: 0, count: n * n)
            var sum = 0.0
            for k0 in 0..<n {
                for k1 in 0..<half {
                    let k = k0 * n + k1
                    let mx = (fx[2 * k] * fx[2 * k] + fx[2 * k + 1] * fx[2 * k + 1]).squareRoot()
                    let my = (fy[2 * k] * fy[2 * k] + fy[2 * k + 1] * fy[2 * k + 1]).squareRoot()
                    magnitudeX[k] = mx
                    sum += (mx - my) * (mx - my)
                }
            }
            let d = sum.squareRoot()
            loss += weight * d
            guard d > 0 else { continue }
            var z = [Double](repeating: 0, count: 2 * n * n)
            for k0 in 0..<n {
                for k1 in 0..<half {
                    let k = k0 * n + k1
                    let mx = magnitudeX[k]
                    guard mx > 0 else { continue }
                    let my = (fy[2 * k] * fy[2 * k] + fy[2 * k + 1] * fy[2 * k + 1]).squareRoot()
                    let w = (mx - my) / (d * mx)
                    z[2 * k] = w * fx[2 * k]
                    z[2 * k + 1] = w * fx[2 * k + 1]
                }
            }
            let back = FFT.transform(z, n: n, inverse: true)
            for i in 0..<(n * n) { e.g[i * e.c + ch] = T(weight * back[2 * i]) }
        }
        return loss
    }
}

/// Hands values the compiler cannot prove sendable to `concurrentPerform`, where every iteration
/// touches a disjoint part of them.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
