/// Distance between a predicted state and data, over the observable channels only (§2.2.1).
public enum LossFunction: String, CaseIterable, Codable, Sendable {
    /// Per batch entry r, the Euclidean norm ‖x̂_r − y_r‖ over cells and observable channels;
    /// averaged over the R entries. The paper's choice.
    case euclidean
    /// Mean of (x̂ − y)² over all R·S·S·O observable elements.
    case mse

    /// The loss of `prediction` (R × S × S × C) against `target` (R × S × S × O or
    /// R × S × S × C, of which the first O channels are compared) and ∂loss/∂prediction
    /// (zero on hidden channels). Sums run in Double.
    ///
    /// For the Euclidean loss an entry whose distance is exactly 0 contributes a zero gradient
    /// (the norm's subgradient at 0).
    public func evaluate<T: BLASScalar>(prediction: Tensor<T>, target: Tensor<T>, observableChannels o: Int)
        -> (loss: Double, gradient: Tensor<T>)
    {
        precondition(prediction.rank == 4, "loss: prediction must be R×S×S×C, got \(prediction.shape)")
        let c = prediction.shape[3]
        let tc = target.shape.last ?? 0
        precondition(
            target.rank == 4 && Array(target.shape.prefix(3)) == Array(prediction.shape.prefix(3))
                && (tc == o || tc == c) && o <= c,
            "loss: target \(target.shape) does not match prediction \(prediction.shape) with \(o) observable channels")
        let batch = prediction.shape[0]
        let cellsPerEntry = prediction.shape[1] * prediction.shape[2]
        var gradient = Tensor<T>(zeros: prediction.shape)
        var total = 0.0
        prediction.scalars.withUnsafeBufferPointer { x in
            target.scalars.withUnsafeBufferPointer { y in
                gradient.scalars.withUnsafeMutableBufferPointer { g in
                    for r in 0..<batch {
                        var sum = 0.0
                        for cell in (r * cellsPerEntry)..<((r + 1) * cellsPerEntry) {
                            for ch in 0..<o {
                                let d = Double(x[cell * c + ch]) - Double(y[cell * tc + ch])
                                sum += d * d
                            }
                        }
                        let scale: Double
                        switch self {
                        case .euclidean:
                            let norm = sum.squareRoot()
                            total += norm / Double(batch)
                            scale = norm > 0 ? 1 / (Double(batch) * norm) : 0
                        case .mse:
                            let count = Double(batch * cellsPerEntry * o)
                            total += sum / count
                            scale = 2 / count
                        }
                        for cell in (r * cellsPerEntry)..<((r + 1) * cellsPerEntry) {
                            for ch in 0..<o {
                                g[cell * c + ch] = T(scale * (Double(x[cell * c + ch]) - Double(y[cell * tc + ch])))
                            }
                        }
                    }
                }
            }
        }
        return (total, gradient)
    }
}
