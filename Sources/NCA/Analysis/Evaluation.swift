/// How well a model reproduces a trajectory it was not trained on (paper §3.1: a rollout from an
/// unseen initial condition, compared with the PDE at every snapshot).
public struct RolloutEvaluation: Equatable, Sendable {
    /// NCA steps between snapshots.
    public var timeSampling: Int
    /// Loss at snapshot k (k = 1 … M), i.e. after k · t steps.
    public var losses: [Double]
    /// Mean of `losses`: the test loss.
    public var meanLoss: Double
    /// The model's states at every snapshot, (M+1) × R × S × S × C (frame 0 = the start).
    public var trajectory: Tensor<Float>

    /// Rolls `model` out from `data`'s first frame (observable channels; hidden start at 0) for
    /// `frames − 1` intervals of `timeSampling` steps and compares with every later frame.
    /// A rollout that blows up gives infinite losses from then on rather than a trap.
    /// `targetOrders` (sliced Wasserstein, directions of seed 0) keeps the sorted targets of
    /// `data`, frame k of trajectory r being its frame k·R + r.
    public static func evaluate(
        _ model: NCAModel<Float>, data: Tensor<Float>, timeSampling: Int, loss: LossFunction, frames: Int? = nil,
        seed: UInt64 = 0,
        targetOrders: SlicedTargetOrders? = nil
    ) -> RolloutEvaluation {
        precondition(data.rank == 5 && data.shape[0] >= 2, "evaluate: data must be (M+1) × R × S × S × O, got \(data.shape)")
        let cfg = model.configuration
        let (r, s, dc) = (data.shape[1], data.shape[2], data.shape[4])
        let count = min(frames ?? data.shape[0], data.shape[0])
        let c = cfg.channels
        let o = cfg.observableChannels
        let cells = r * s * s
        var x = Tensor<Float>(zeros: [r, s, s, c])
        for cell in 0..<cells { for ch in 0..<o { x.scalars[cell * c + ch] = data.scalars[cell * dc + ch] } }
        let engine = NCAEngine<Float>(configuration: cfg, batch: r, size: s)
        var rng = RandomGenerator(seed: seed)
        var states = x.scalars
        var losses: [Double] = []
        for k in 1..<count {
            engine.run(model, state: &x, steps: timeSampling, rng: &rng)
            states += x.scalars
            let frameStart = k * cells * dc
            let target = Tensor(shape: [r, s, s, dc], scalars: Array(data.scalars[frameStart..<(frameStart + cells * dc)]))
            let value =
                x.scalars.allSatisfy { $0.isFinite }
                ? loss.evaluate(
                    prediction: x, target: target, observableChannels: o, targetOrders: targetOrders,
                    targetFrames: targetOrders == nil ? [] : (0..<r).map { k * r + $0 }
                ).loss : .infinity
            losses.append(value)
        }
        let mean = losses.reduce(0, +) / Double(max(1, losses.count))
        return RolloutEvaluation(
            timeSampling: timeSampling, losses: losses, meanLoss: mean,
            trajectory: Tensor(shape: [count, r, s, s, c], scalars: states))
    }

    /// Past the data: from the rollout's last state (at the horizon H, `evaluation`'s last
    /// frame) run on to `reach` × H and compare every `timeSampling`-th state with the data's
    /// last frame `lastFrame` (R × S × S × O or × C): does the model stay at its end state? Returns the
    /// loss at every checked step (H + t, …, reach · H; infinite once the state is not finite)
    /// and the range of the observable values over those states; `keep` names steps whose
    /// states (R × S × S × C) are returned too. `lastFrameOrders` keeps the sorted last frame
    /// (sliced Wasserstein): entry r's is frame `frames[r]` of the orders.
    public static func beyond(
        _ model: NCAModel<Float>, from evaluation: RolloutEvaluation, lastFrame: Tensor<Float>, reach: Int, loss: LossFunction,
        seed: UInt64 = 0, keep: Set<Int> = [], lastFrameOrders: (orders: SlicedTargetOrders, frames: [Int])? = nil
    ) -> (steps: [Int], losses: [Double], range: ClosedRange<Float>?, kept: [(step: Int, state: Tensor<Float>)]) {
        let t = evaluation.timeSampling
        let shape = evaluation.trajectory.shape
        let horizon = (shape[0] - 1) * t
        let count = shape.dropFirst().reduce(1, *)
        let last = (shape[0] - 1) * count
        var x = Tensor(shape: Array(shape.dropFirst()), scalars: Array(evaluation.trajectory.scalars[last..<(last + count)]))
        let engine = NCAEngine<Float>(configuration: model.configuration, batch: shape[1], size: shape[2])
        var rng = RandomGenerator(seed: seed, stream: .extrapolation)
        let (c, o) = (model.configuration.channels, model.configuration.observableChannels)
        var (steps, losses): ([Int], [Double]) = ([], [])
        var kept: [(step: Int, state: Tensor<Float>)] = []
        var (lo, hi) = (Float.infinity, -Float.infinity)
        var finite = true
        var step = horizon
        while step + t <= reach * horizon {
            engine.run(model, state: &x, steps: t, rng: &rng)
            step += t
            steps.append(step)
            if keep.contains(step) { kept.append((step, x)) }
            if finite { finite = x.scalars.allSatisfy { $0.isFinite } }
            losses.append(
                finite
                    ? loss.evaluate(
                        prediction: x, target: lastFrame, observableChannels: o, targetOrders: lastFrameOrders?.orders,
                        targetFrames: lastFrameOrders?.frames ?? []
                    ).loss : .infinity)
            if finite {
                for cell in stride(from: 0, to: x.count, by: c) {
                    for ch in 0..<o {
                        lo = min(lo, x.scalars[cell + ch])
                        hi = max(hi, x.scalars[cell + ch])
                    }
                }
            }
        }
        return (steps, losses, finite && lo <= hi ? lo...hi : nil, kept)
    }

    /// The "do nothing" baseline: the mean loss of keeping the first frame unchanged (a model
    /// with W1 = 0, v = 0) against every later frame, computed directly.
    public static func doNothingLoss(data: Tensor<Float>, observable: Int, loss: LossFunction, frames: Int? = nil) -> Double {
        precondition(data.rank == 5 && data.shape[0] >= 2, "doNothingLoss: data must be (M+1) × R × S × S × O, got \(data.shape)")
        let (r, s, dc) = (data.shape[1], data.shape[2], data.shape[4])
        let count = min(frames ?? data.shape[0], data.shape[0])
        let per = r * s * s * dc
        let first = Tensor(shape: [r, s, s, dc], scalars: Array(data.scalars[0..<per]))
        var total = 0.0
        for k in 1..<count {
            let target = Tensor(shape: [r, s, s, dc], scalars: Array(data.scalars[(k * per)..<((k + 1) * per)]))
            total += loss.evaluate(prediction: first, target: target, observableChannels: observable).loss
        }
        return total / Double(max(1, count - 1))
    }
}

extension Tensor {
    /// Batch entry `entry` of a trajectory ((M+1) × R × S × S × C) as a one-entry trajectory
    /// ((M+1) × 1 × S × S × C).
    public func trajectoryEntry(_ entry: Int) -> Tensor {
        precondition(rank >= 2 && entry >= 0 && entry < shape[1], "trajectoryEntry: no entry \(entry) in shape \(shape)")
        let (frames, r) = (shape[0], shape[1])
        let per = count / Swift.max(1, frames * r)
        var out: [Scalar] = []
        out.reserveCapacity(frames * per)
        for f in 0..<frames { out += scalars[((f * r + entry) * per)..<((f * r + entry) * per + per)] }
        return Tensor(shape: [frames, 1] + Array(shape.dropFirst(2)), scalars: out)
    }
}
