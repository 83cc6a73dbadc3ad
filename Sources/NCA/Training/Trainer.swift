/// Everything that changes during training; a checkpoint saves exactly this.
public struct TrainingState: Equatable, Sendable {
    public var model: NCAModel<Float>
    public var optimizer: OptimizerState
    /// x of Algorithm 2: the start state of every transition, M × R × S × S × C. Entry (m, r)
    /// is the state at data frame m of trajectory r.
    public var workingStates: Tensor<Float>
    public var rng: RandomGenerator
    /// Epochs completed.
    public var epoch: Int
    /// Lowest epoch loss so far, and the epoch (1-based) that reached it (0: none yet).
    public var bestLoss: Double
    public var bestEpoch: Int
    /// Factor on the configured learning rate; halved by every divergence rollback.
    public var learningRateScale: Double = 1
    /// Lowest validation loss so far (rollout selection), and the epoch whose model reached it
    /// (0: none yet).
    public var bestValidationLoss: Double = .infinity
    public var bestValidationEpoch: Int = 0
    /// The moving average of the weights (`TrainingConfiguration.weightAverage`), nil without one.
    public var averageModel: NCAModel<Float>? = nil
    /// The pool of states run on past the horizon (`TrainingConfiguration.pool`), P × S × S × C;
    /// nil without one.
    public var pool: Tensor<Float>? = nil

    /// The model that validation judges and best.safetensors keeps: the average when there is one.
    public var selectableModel: NCAModel<Float> { averageModel ?? model }

    public init(
        model: NCAModel<Float>, optimizer: OptimizerState, workingStates: Tensor<Float>, rng: RandomGenerator, epoch: Int,
        bestLoss: Double, bestEpoch: Int
    ) {
        self.model = model
        self.optimizer = optimizer
        self.workingStates = workingStates
        self.rng = rng
        self.epoch = epoch
        self.bestLoss = bestLoss
        self.bestEpoch = bestEpoch
    }
}

/// What one epoch did.
public struct EpochReport: Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean loss over all M·R transitions, computed with the weights the epoch started with
    /// (per-epoch updates) or the weights current at each mini-batch (per-mini-batch).
    public var loss: Double
    /// λ · P of the state-range penalty, averaged over the epoch's transitions like the loss
    /// (0 without a penalty). It is in the gradient, not in `loss`.
    public var rangePenalty: Double = 0
    /// L2 norm of the epoch's whole gradient (all tensors, before normalisation).
    public var gradientNorm: Double
    public var learningRate: Double
    /// The weights the loss was measured with (per-epoch updates), for keeping the best model.
    public var modelBeforeUpdate: NCAModel<Float>
    /// The validation loss of the model after this epoch, when it was validated (see
    /// `TrainingConfiguration.validates(afterEpoch:)`; set by `TrainingRun`).
    public var validationLoss: Double? = nil
}

/// Training diverged; nothing was updated.
public struct DivergenceError: Error, Equatable, NCAUserError {
    public var epoch: Int
    public var quantity: String
    public var category: ErrorCategory { .failure }
    public var description: String {
        "training diverged in epoch \(epoch): \(quantity); the last checkpoint is intact. "
            + "Lower --lr, use --on-divergence rollback, or resume from the checkpoint"
    }
}

/// The training algorithm of the paper (§2.2, Algorithm 2).
///
/// Data y is (M+1) × R × S × S × O. Working states x start as y (hidden channels 0). Each epoch
/// shuffles the M·R transitions (m−1 → m, trajectory r) into mini-batches; for each it runs Φᵗ
/// from x[m−1, r], takes the loss against y[m, r], backpropagates through all t steps and
/// accumulates the gradient; the epoch loss and gradient are means over all transitions. Then
/// each tensor's gradient is normalised by its L2 norm (+1e-8) and the optimiser steps. Finally
/// x[m, r] ← x̂[m, r] for r ≥ 2 (predictions propagate, hidden channels included) while
/// trajectory r = 1 keeps its data states (re-initialised every epoch). Nothing is dropped: the
/// last mini-batch may be smaller.
public final class Trainer {
    public let configuration: TrainingConfiguration
    /// y, (M+1) × R × S × S × O (or × C).
    public let data: Tensor<Float>
    public internal(set) var state: TrainingState

    public let frames: Int
    public let trajectories: Int
    public let size: Int
    let dataChannels: Int
    /// The observable range a validation rollout must stay in: the data's, widened by half its
    /// span on each side.
    let validationRange: ClosedRange<Float>
    private var engines: [Int: NCAEngine<Float>] = [:]
    /// The data with this block's geometric augmentation, and the block it belongs to.
    private var augmented: (block: Int, data: Tensor<Float>)?

    /// A fresh run: the model initialised from the configuration's seed.
    public convenience init(configuration: TrainingConfiguration, data: Tensor<Float>) {
        let model = NCAModel<Float>(
            configuration: configuration.model, seed: configuration.seed,
            initialisation: configuration.weightInitialisation ?? WeightInitialisation())
        self.init(configuration: configuration, data: data, state: Trainer.initialState(configuration, data: data, model: model))
    }

    /// A run continuing from `state` (a checkpoint).
    public init(configuration: TrainingConfiguration, data: Tensor<Float>, state: TrainingState) {
        Trainer.checkShape(data, configuration: configuration)
        self.configuration = configuration
        self.data = data
        self.state = state
        frames = data.shape[0]
        trajectories = data.shape[1]
        size = data.shape[2]
        dataChannels = data.shape[4]
        validationRange = Trainer.widenedRange(data, observable: configuration.model.observableChannels)
        precondition(
            state.workingStates.shape == [frames - 1, trajectories, size, size, configuration.model.channels],
            "Trainer: working states do not match the data")
        precondition(
            configuration.poolSize == 0 ? state.pool == nil : state.pool?.shape == [configuration.poolSize, size, size, configuration.model.channels],
            "Trainer: the pool does not match the configuration")
    }

    /// The state before the first epoch: x ← y with zero hidden channels.
    public static func initialState(_ configuration: TrainingConfiguration, data: Tensor<Float>, model: NCAModel<Float>)
        -> TrainingState
    {
        checkShape(data, configuration: configuration)
        let (m, r, s) = (data.shape[0] - 1, data.shape[1], data.shape[2])
        let c = configuration.model.channels
        let dc = data.shape[4]
        let o = configuration.model.observableChannels
        var x = Tensor<Float>(zeros: [m, r, s, s, c])
        for cell in 0..<(m * r * s * s) {
            for ch in 0..<o { x.scalars[cell * c + ch] = data.scalars[cell * dc + ch] }
        }
        let optimizer = OptimizerState(
            kind: configuration.optimizer, parameterCounts: [model.w2.count, model.w1.count, model.v.count])
        var model = model
        if configuration.trainOutputBias == false {  // held at zero (see `trainOutputBias`)
            for i in model.v.scalars.indices { model.v.scalars[i] = 0 }
        }
        var state = TrainingState(
            model: model, optimizer: optimizer, workingStates: x,
            rng: RandomGenerator(seed: configuration.seed ^ 0x7EA1_0000_0000_0001),
            epoch: 0, bestLoss: .infinity, bestEpoch: 0)
        if configuration.poolSize > 0 {
            var pool = Tensor<Float>(zeros: [configuration.poolSize, s, s, c])
            for i in 0..<configuration.poolSize { seedPoolState(i, of: &pool, from: x, transitions: m, trajectories: r) }
            state.pool = pool
        }
        return state
    }

    /// Pool state i ← the start state of the last transition (frame M − 1) of trajectory i mod R.
    static func seedPoolState(_ i: Int, of pool: inout Tensor<Float>, from working: Tensor<Float>, transitions m: Int, trajectories r: Int) {
        let lattice = pool.count / pool.shape[0]
        let source = ((m - 1) * r + i % r) * lattice
        pool.scalars.replaceSubrange((i * lattice)..<((i + 1) * lattice), with: working.scalars[source..<(source + lattice)])
    }

    static func checkShape(_ data: Tensor<Float>, configuration: TrainingConfiguration) {
        let o = configuration.model.observableChannels
        precondition(
            data.rank == 5 && data.shape[0] >= 2 && data.shape[2] == data.shape[3]
                && (data.shape[4] == o || data.shape[4] == configuration.model.channels),
            "Trainer: data must be (M+1) × R × S × S × O with M ≥ 1, got \(data.shape)")
    }

    /// Runs one epoch and returns what it measured. Throws, changing nothing, when the loss
    /// or a gradient is not finite.
    public func runEpoch() throws(DivergenceError) -> EpochReport {
        let m = frames - 1
        let r = trajectories
        let c = configuration.model.channels
        let o = configuration.model.observableChannels
        let cellsPerState = size * size
        let stateCount = cellsPerState * c
        let epochIndex = state.epoch
        let lr = configuration.learningRate(epoch: epochIndex) * state.learningRateScale
        let poolCount = configuration.poolSize
        // The data's M·R transitions, then the pool's P (index M·R + i: pool state i).
        let transitionCount = m * r + poolCount

        var rng = state.rng
        var model = state.model
        var average = state.averageModel
        var optimizer = state.optimizer
        let augmentation = configuration.augmentation
        // y for this epoch, and the start states (reset where the augmentation was re-drawn).
        let y = trainingData(epoch: epochIndex)
        var startStates = state.workingStates
        if let augmentation, augmentation.isGeometric, epochIndex % augmentation.every == 0 {
            for f in 0..<m {
                for j in 1..<r {
                    let cell0 = (f * r + j) * cellsPerState
                    for cell in 0..<cellsPerState {
                        for ch in 0..<c {
                            startStates.scalars[(cell0 + cell) * c + ch] =
                                ch < o ? y.scalars[(cell0 + cell) * dataChannels + ch] : 0
                        }
                    }
                }
            }
        }
        var pool = state.pool
        if var p = pool, let augmentation, augmentation.isGeometric, epochIndex % augmentation.every == 0 {
            for i in 0..<poolCount where i % r != 0 { Self.seedPoolState(i, of: &p, from: startStates, transitions: m, trajectories: r) }
            pool = p
        }
        let noise = Float(augmentation?.noise ?? 0)
        var order = Array(0..<transitionCount)
        for i in stride(from: transitionCount - 1, to: 0, by: -1) { order.swapAt(i, rng.nextIndex(below: i + 1)) }
        // The pool states damaged this epoch (a random disc of every channel set to 0).
        var damaged: [Int: (row: Int, column: Int, radius: Int)] = [:]
        if poolCount > 0, let fraction = configuration.poolDamage, fraction > 0 {
            var candidates = Array(0..<poolCount)
            for i in stride(from: poolCount - 1, to: 0, by: -1) { candidates.swapAt(i, rng.nextIndex(below: i + 1)) }
            for i in candidates.prefix(Int((fraction * Double(poolCount)).rounded())) {
                let radius = max(1, size / 8) + rng.nextIndex(below: max(1, size / 4 - size / 8 + 1))
                damaged[i] = (rng.nextIndex(below: size), rng.nextIndex(below: size), radius)
            }
        }
        var nextPool = pool

        var predictions = startStates
        var total = [
            Tensor<Float>(zeros: model.w2.shape), Tensor<Float>(zeros: model.w1.shape), Tensor<Float>(zeros: model.v.shape),
        ]
        var epochLoss = 0.0
        var epochPenalty = 0.0
        let modelBefore = model
        var start = 0
        while start < transitionCount {
            let batchIndices = order[start..<min(start + configuration.minibatchSize, transitionCount)]
            start += batchIndices.count
            let b = batchIndices.count
            var x0 = Tensor<Float>(zeros: [b, size, size, c])
            var target = Tensor<Float>(zeros: [b, size, size, o])
            for (slot, k) in batchIndices.enumerated() {
                // Transition k < M·R: frame (k / r) → frame (k / r) + 1 of trajectory k % r.
                // Transition M·R + i: pool state i → the last frame of trajectory i % r.
                let poolIndex = k >= m * r ? k - m * r : nil
                let trajectory = poolIndex.map { $0 % r } ?? k % r
                if let i = poolIndex, let pool {
                    x0.scalars.replaceSubrange(
                        (slot * stateCount)..<((slot + 1) * stateCount), with: pool.scalars[(i * stateCount)..<((i + 1) * stateCount)])
                    if let disc = damaged[i] { Self.damage(&x0, entry: slot, disc: disc) }
                } else {
                    x0.scalars.replaceSubrange(
                        (slot * stateCount)..<((slot + 1) * stateCount),
                        with: startStates.scalars[(k * stateCount)..<((k + 1) * stateCount)])
                }
                if noise > 0 && trajectory != 0 {
                    for cell in 0..<cellsPerState {
                        for ch in 0..<o {
                            x0.scalars[(slot * cellsPerState + cell) * c + ch] += noise * Float(rng.nextUniform(-1, 1))
                        }
                    }
                }
                let dataBase = (poolIndex == nil ? k + r : m * r + trajectory) * cellsPerState * dataChannels
                for cell in 0..<cellsPerState {
                    for ch in 0..<o {
                        target.scalars[(slot * cellsPerState + cell) * o + ch] = y.scalars[dataBase + cell * dataChannels + ch]
                    }
                }
            }
            let engine = self.engine(batch: b)
            let prediction = engine.forward(model, from: x0, steps: configuration.timeSampling, rng: &rng)
            var (loss, dPrediction) = configuration.loss.evaluate(prediction: prediction, target: target, observableChannels: o)
            guard loss.isFinite else {
                throw DivergenceError(epoch: epochIndex + 1, quantity: "the loss is \(loss.isNaN ? "NaN" : "\(loss)")")
            }
            let weight = Float(b) / Float(transitionCount)
            epochLoss += loss * Double(b) / Double(transitionCount)
            epochPenalty += engine.lastRangePenalty * Double(b) / Double(transitionCount)
            for i in dPrediction.scalars.indices { dPrediction.scalars[i] *= weight }
            let g = engine.backward(model, outputGradient: dPrediction, penaltyScale: weight)
            let gradients = [g.w2, g.w1, g.v]
            for (name, tensor) in zip(["∂L/∂W2", "∂L/∂W1", "∂L/∂v"], gradients) where !tensor.scalars.allSatisfy({ $0.isFinite })
            {
                throw DivergenceError(epoch: epochIndex + 1, quantity: "\(name) is NaN or infinite")
            }
            for (slot, k) in batchIndices.enumerated() {
                let output = prediction.scalars[(slot * stateCount)..<((slot + 1) * stateCount)]
                if k < m * r {
                    predictions.scalars.replaceSubrange((k * stateCount)..<((k + 1) * stateCount), with: output)
                } else {
                    let i = k - m * r
                    nextPool?.scalars.replaceSubrange((i * stateCount)..<((i + 1) * stateCount), with: output)
                }
            }
            for p in total.indices { for i in total[p].scalars.indices { total[p].scalars[i] += gradients[p].scalars[i] } }
            if configuration.update == .perMinibatch {
                step(&model, &optimizer, gradients, lr: lr)
                updateAverage(&average, with: model, step: optimizer.step)
            }
        }
        if configuration.update == .perEpoch {
            step(&model, &optimizer, total, lr: lr)
            updateAverage(&average, with: model, step: optimizer.step)
        }
        guard
            model.w2.scalars.allSatisfy({ $0.isFinite }) && model.w1.scalars.allSatisfy({ $0.isFinite })
                && model.v.scalars.allSatisfy({ $0.isFinite })
        else { throw DivergenceError(epoch: epochIndex + 1, quantity: "a weight is NaN or infinite after the update") }
        if let bound = configuration.maxLoss, epochLoss > bound {
            throw DivergenceError(epoch: epochIndex + 1, quantity: "the loss \(epochLoss) is above --max-loss \(bound)")
        }

        // Propagate predictions for trajectories r ≥ 2; trajectory 1 keeps its data states.
        // Working state (frame f, trajectory j) receives the prediction of transition f − 1 → f.
        var working = startStates
        for f in 1..<max(1, m) {
            for j in 1..<r {
                let target = f * r + j
                let source = (f - 1) * r + j
                working.scalars.replaceSubrange(
                    (target * stateCount)..<((target + 1) * stateCount),
                    with: predictions.scalars[(source * stateCount)..<((source + 1) * stateCount)])
            }
        }
        // Pool states whose lifetime ends (staggered: state i at epochs e with
        // (e + i·L/P) mod L = 0) or that left the range start again from the last transition.
        if var p = nextPool {
            let lifetime = configuration.poolLifetime(transitions: m)
            for i in 0..<poolCount {
                let expired = (epochIndex + 1 + i * lifetime / poolCount) % lifetime == 0
                if expired || !isWithinRange(p.scalars[(i * stateCount)..<((i + 1) * stateCount)]) {
                    Self.seedPoolState(i, of: &p, from: working, transitions: m, trajectories: r)
                }
            }
            nextPool = p
        }
        let norm = total.reduce(0.0) { $0 + $1.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
        state.model = model
        state.pool = nextPool
        state.averageModel = average
        state.optimizer = optimizer
        state.workingStates = working
        state.rng = rng
        state.epoch += 1
        if epochLoss < state.bestLoss {
            state.bestLoss = epochLoss
            state.bestEpoch = state.epoch
        }
        return EpochReport(
            epoch: state.epoch, loss: epochLoss, rangePenalty: epochPenalty, gradientNorm: norm, learningRate: lr,
            modelBeforeUpdate: modelBefore)
    }

    /// The data epoch `epoch` trains on: `data` itself, or with the geometric augmentation of
    /// its block (epoch / every) applied to every entry but the first. A block's draw depends
    /// only on the seed and the block, so a resumed run sees the same data.
    public func trainingData(epoch: Int) -> Tensor<Float> {
        guard let augmentation = configuration.augmentation, augmentation.isGeometric else { return data }
        let block = epoch / augmentation.every
        if let cached = augmented, cached.block == block { return cached.data }
        var out = data
        let (s, dc) = (size, dataChannels)
        let lattice = s * s * dc
        for j in 1..<trajectories {
            var rng = RandomGenerator(seed: configuration.seed ^ 0x4155_4700_0000_0000 ^ (UInt64(block) << 24) ^ UInt64(j))
            let flip = augmentation.flip && rng.nextIndex(below: 2) == 1
            let angle = augmentation.rotate ? rng.nextUniform(0, 2 * Double.pi) : 0
            var lattices = (0..<self.frames).map { f -> [Float] in
                let start = (f * trajectories + j) * lattice
                var cells = Array(data.scalars[start..<(start + lattice)])
                if flip { cells = LatticeOps.flipped(cells, size: s, channels: dc) }
                if angle != 0 { cells = LatticeOps.rotated(cells, size: s, channels: dc, angle: angle) }
                return cells
            }
            if augmentation.shift {
                // One shift for the whole trajectory, keeping every frame's content inside.
                let boxes = lattices.compactMap { LatticeOps.boundingBox($0, size: s, channels: dc) }
                if let top = boxes.map(\.top).min(), let bottom = boxes.map(\.bottom).max(),
                    let left = boxes.map(\.left).min(), let right = boxes.map(\.right).max()
                {
                    let di = rng.nextIndex(below: top + (s - 1 - bottom) + 1) - top
                    let dj = rng.nextIndex(below: left + (s - 1 - right) + 1) - left
                    lattices = lattices.map { LatticeOps.shifted($0, size: s, channels: dc, by: di, dj) }
                }
            }
            for (f, cells) in lattices.enumerated() {
                out.scalars.replaceSubrange(((f * trajectories + j) * lattice)..<((f * trajectories + j + 1) * lattice), with: cells)
            }
        }
        augmented = (block, out)
        return out
    }

    /// Sets every channel of batch entry `entry` of `x` (B × S × S × C) to 0 inside a disc.
    static func damage(_ x: inout Tensor<Float>, entry: Int, disc: (row: Int, column: Int, radius: Int)) {
        let (s, c) = (x.shape[1], x.shape[3])
        for i in max(0, disc.row - disc.radius)...min(s - 1, disc.row + disc.radius) {
            for j in max(0, disc.column - disc.radius)...min(s - 1, disc.column + disc.radius) {
                let (di, dj) = (i - disc.row, j - disc.column)
                guard di * di + dj * dj <= disc.radius * disc.radius else { continue }
                let base = ((entry * s + i) * s + j) * c
                for ch in 0..<c { x.scalars[base + ch] = 0 }
            }
        }
    }

    /// Replaces the training state (a checkpoint read back, e.g. to roll back a divergence).
    public func restore(_ state: TrainingState) {
        precondition(state.workingStates.shape == self.state.workingStates.shape, "Trainer.restore: working states do not match")
        self.state = state
    }

    private func step(_ model: inout NCAModel<Float>, _ optimizer: inout OptimizerState, _ gradients: [Tensor<Float>], lr: Double)
    {
        var g = gradients
        if configuration.trainOutputBias == false {
            for i in g[2].scalars.indices { g[2].scalars[i] = 0 }
        }
        if configuration.gradientNormalisation {
            for p in g.indices {
                let norm = Float(g[p].scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                for i in g[p].scalars.indices { g[p].scalars[i] /= norm + 1e-8 }
            }
        }
        var parameters = [model.w2, model.w1, model.v]
        optimizer.update(&parameters, gradients: g, learningRate: lr)
        model.w2 = parameters[0]
        model.w1 = parameters[1]
        model.v = parameters[2]
    }

    private func engine(batch: Int) -> NCAEngine<Float> {
        if let engine = engines[batch] { return engine }
        let engine = NCAEngine<Float>(configuration: configuration.model, batch: batch, size: size)
        engine.recomputeEvery = configuration.recomputeEvery ?? 1
        engine.rangePenalty = configuration.rangePenalty ?? 0
        engines[batch] = engine
        return engine
    }
}
