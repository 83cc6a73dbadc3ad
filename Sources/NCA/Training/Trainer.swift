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
    /// Every setting of the run.
    public let configuration: TrainingConfiguration
    /// y, (M+1) × R × S × S × O (or × C).
    public let data: Tensor<Float>
    /// Everything that changes during training (a checkpoint saves it).
    public internal(set) var state: TrainingState

    /// M + 1, the data's snapshots per trajectory.
    public let frames: Int
    /// R, the data's trajectories.
    public let trajectories: Int
    /// S, the lattice side.
    public let size: Int
    let dataChannels: Int
    /// The observable range a validation rollout must stay in: the data's, widened by half its
    /// span on each side.
    let validationRange: ClosedRange<Float>
    private var engines: [Int: NCAEngine<Float>] = [:]
    /// The processes of an MPI job to share every mini-batch with (`Trainer+DataParallel`);
    /// nil or one process: this process trains alone.
    public var communicator: Communicator?
    /// The data with this block's geometric augmentation, and the block it belongs to.
    var augmented: (block: Int, data: Tensor<Float>)?
    /// The sliced Wasserstein loss's sorted target orders, kept across epochs, for training and
    /// for validation (`Trainer+Targets`).
    lazy var slicedOrders: SlicedTargetOrders? = makeSlicedOrders(validation: false)
    lazy var validationOrders: SlicedTargetOrders? = makeSlicedOrders(validation: true)

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
            configuration.poolSize == 0
                ? state.pool == nil : state.pool?.shape == [configuration.poolSize, size, size, configuration.model.channels],
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
            rng: RandomGenerator(seed: configuration.seed, stream: .training),
            epoch: 0, bestLoss: .infinity, bestEpoch: 0)
        if configuration.poolSize > 0 {
            var pool = Tensor<Float>(zeros: [configuration.poolSize, s, s, c])
            for i in 0..<configuration.poolSize { seedPoolState(i, of: &pool, from: x, transitions: m, trajectories: r) }
            state.pool = pool
        }
        return state
    }

    /// Pool state i ← the start state of the last transition (frame M − 1) of trajectory i mod R.
    static func seedPoolState(
        _ i: Int, of pool: inout Tensor<Float>, from working: Tensor<Float>, transitions m: Int, trajectories r: Int
    ) {
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

    /// Runs one epoch and returns what it measured. Throws, changing nothing, a `DivergenceError`
    /// when the loss or a gradient is not finite (or a `CommunicationError` when a process of a
    /// data-parallel job is lost).
    ///
    /// In three parts: `planEpoch` draws the epoch's order (and resets what the augmentation
    /// re-drew), each mini-batch is gathered (`gather`), run forward and backward (`runMinibatch`)
    /// and its predictions kept, and `propagate` / `refreshPool` make the next working states.
    public func runEpoch() throws -> EpochReport {
        var rng = state.rng
        var model = state.model
        var average = state.averageModel
        var optimizer = state.optimizer
        let plan = planEpoch(rng: &rng)
        let epochNumber = plan.index + 1
        var predictions = plan.startStates
        var nextPool = plan.pool
        var total = WeightGradients(zerosLike: model)
        var epochLoss = 0.0
        var epochPenalty = 0.0
        let modelBefore = model
        var start = 0
        while start < plan.transitionCount {
            let indices = plan.order[start..<min(start + configuration.minibatchSize, plan.transitionCount)]
            start += indices.count
            let (x0, target) = gather(indices, plan: plan, rng: &rng)
            let targetFrames = indices.map(targetFrame)
            let (b, all) = (Double(indices.count), Double(plan.transitionCount))
            let result: MinibatchResult
            if let world = communicator, world.size > 1 {
                result = try runShared(
                    x0, target: target, frames: targetFrames, model: model, transitions: plan.transitionCount,
                    epoch: epochNumber, rng: &rng, world: world)
            } else {
                result = try runMinibatch(
                    x0, target: target, frames: targetFrames, model: model, transitions: plan.transitionCount,
                    epoch: epochNumber, rng: &rng)
            }
            epochLoss += result.loss * b / all
            epochPenalty += result.rangePenalty * b / all
            keep(result.prediction, of: indices, in: &predictions, pool: &nextPool)
            total.add(result.gradients)
            if configuration.update == .perMinibatch {
                update(&model, &optimizer, result.gradients, learningRate: plan.learningRate)
                updateAverage(&average, with: model, step: optimizer.step)
            }
        }
        if configuration.update == .perEpoch {
            update(&model, &optimizer, total, learningRate: plan.learningRate)
            updateAverage(&average, with: model, step: optimizer.step)
        }
        guard
            model.w2.scalars.allSatisfy({ $0.isFinite }) && model.w1.scalars.allSatisfy({ $0.isFinite })
                && model.v.scalars.allSatisfy({ $0.isFinite })
        else { throw DivergenceError(epoch: epochNumber, quantity: "a weight is NaN or infinite after the update") }
        if let bound = configuration.maxLoss, epochLoss > bound {
            throw DivergenceError(epoch: epochNumber, quantity: "the loss \(epochLoss) is above the divergence bound \(bound)")
        }
        let working = propagate(plan.startStates, predictions: predictions)
        if nextPool != nil { refreshPool(&nextPool!, from: working, afterEpoch: plan.index) }
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
            epoch: state.epoch, loss: epochLoss, rangePenalty: epochPenalty, gradientNorm: total.norm,
            learningRate: plan.learningRate, modelBeforeUpdate: modelBefore)
    }

    /// What an epoch works from, drawn at its start.
    struct EpochPlan {
        /// 0-based epoch index.
        let index: Int
        let learningRate: Double
        /// y for this epoch (augmented where the configuration asks).
        let data: Tensor<Float>
        /// The transitions' start states (reset to the data where the augmentation was re-drawn).
        let startStates: Tensor<Float>
        let pool: Tensor<Float>?
        /// The data's M·R transitions, then the pool's P (index M·R + i: pool state i), shuffled.
        let order: [Int]
        let transitionCount: Int
        /// The pool states damaged this epoch (a random disc of every channel set to 0).
        let damaged: [Int: Disc]
        /// a of the noise augmentation (0: none).
        let noise: Float
    }

    typealias Disc = (row: Int, column: Int, radius: Int)

    /// The epoch's data, start states, pool, shuffled order and pool damage, drawing from `rng`.
    func planEpoch(rng: inout RandomGenerator) -> EpochPlan {
        let (m, r, c, o) = (frames - 1, trajectories, configuration.model.channels, configuration.model.observableChannels)
        let cellsPerState = size * size
        let epochIndex = state.epoch
        let poolCount = configuration.poolSize
        let transitionCount = m * r + poolCount
        let augmentation = configuration.augmentation
        let y = trainingData(epoch: epochIndex)
        var startStates = state.workingStates
        let redrawn = augmentation.map { $0.isGeometric && epochIndex % $0.every == 0 } ?? false
        if redrawn {
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
        if var p = pool, redrawn {
            for i in 0..<poolCount where i % r != 0 {
                Self.seedPoolState(i, of: &p, from: startStates, transitions: m, trajectories: r)
            }
            pool = p
        }
        var order = Array(0..<transitionCount)
        for i in stride(from: transitionCount - 1, to: 0, by: -1) { order.swapAt(i, rng.nextIndex(below: i + 1)) }
        var damaged: [Int: Disc] = [:]
        if poolCount > 0, let fraction = configuration.poolDamage, fraction > 0 {
            var candidates = Array(0..<poolCount)
            for i in stride(from: poolCount - 1, to: 0, by: -1) { candidates.swapAt(i, rng.nextIndex(below: i + 1)) }
            for i in candidates.prefix(Int((fraction * Double(poolCount)).rounded())) {
                let radius = max(1, size / 8) + rng.nextIndex(below: max(1, size / 4 - size / 8 + 1))
                damaged[i] = (rng.nextIndex(below: size), rng.nextIndex(below: size), radius)
            }
        }
        return EpochPlan(
            index: epochIndex, learningRate: configuration.learningRate(epoch: epochIndex) * state.learningRateScale, data: y,
            startStates: startStates, pool: pool, order: order, transitionCount: transitionCount, damaged: damaged,
            noise: Float(augmentation?.noise ?? 0))
    }

    /// What one mini-batch gave: its prediction, mean loss and range penalty, and the gradient
    /// weighted by the mini-batch's share of the epoch's transitions.
    struct MinibatchResult {
        let prediction: Tensor<Float>
        let loss: Double
        let rangePenalty: Double
        let gradients: WeightGradients
    }

    /// Runs Φᵗ from `x0`, takes the loss against `target` and backpropagates the gradient of
    /// (B / `transitions`) · (loss + penalty), B the mini-batch's size. Throws when the loss or a
    /// gradient is not finite.
    func runMinibatch(
        _ x0: Tensor<Float>, target: Tensor<Float>, frames targetFrames: [Int], model: NCAModel<Float>, transitions: Int,
        epoch: Int, rng: inout RandomGenerator
    ) throws(DivergenceError) -> MinibatchResult {
        let engine = self.engine(batch: x0.shape[0])
        let prediction = engine.forward(model, from: x0, steps: configuration.timeSampling, rng: &rng)
        var (loss, dPrediction) = configuration.loss.evaluate(
            prediction: prediction, target: target, observableChannels: configuration.model.observableChannels,
            projectionSeed: configuration.seed, targetOrders: slicedOrders, targetFrames: targetFrames)
        guard loss.isFinite else {
            throw DivergenceError(epoch: epoch, quantity: "the loss is \(loss.isNaN ? "NaN" : "\(loss)")")
        }
        let weight = Float(x0.shape[0]) / Float(transitions)
        for i in dPrediction.scalars.indices { dPrediction.scalars[i] *= weight }
        let gradients = WeightGradients(engine.backward(model, outputGradient: dPrediction, penaltyScale: weight))
        if let name = gradients.nonFiniteTensor {
            throw DivergenceError(epoch: epoch, quantity: "∂L/∂\(name) is NaN or infinite")
        }
        return MinibatchResult(prediction: prediction, loss: loss, rangePenalty: engine.lastRangePenalty, gradients: gradients)
    }

    /// Keeps a mini-batch's predictions: transition k < M·R's in `predictions`, pool state i's
    /// in `pool`.
    func keep(
        _ prediction: Tensor<Float>, of indices: ArraySlice<Int>, in predictions: inout Tensor<Float>, pool: inout Tensor<Float>?
    ) {
        let transitions = (frames - 1) * trajectories
        let stateCount = size * size * configuration.model.channels
        for (slot, k) in indices.enumerated() {
            let output = prediction.scalars[(slot * stateCount)..<((slot + 1) * stateCount)]
            let target = k < transitions ? k : k - transitions
            if k < transitions {
                predictions.scalars.replaceSubrange((target * stateCount)..<((target + 1) * stateCount), with: output)
            } else {
                pool?.scalars.replaceSubrange((target * stateCount)..<((target + 1) * stateCount), with: output)
            }
        }
    }

    /// The next working states: predictions propagate for trajectories r ≥ 2 (working state
    /// (frame f, trajectory j) receives the prediction of transition f − 1 → f); trajectory 1
    /// keeps its data states.
    func propagate(_ startStates: Tensor<Float>, predictions: Tensor<Float>) -> Tensor<Float> {
        let (m, r) = (frames - 1, trajectories)
        let stateCount = size * size * configuration.model.channels
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
        return working
    }

    /// Pool states whose lifetime ends (staggered: state i at epochs e with (e + i·L/P) mod
    /// L = 0) or that left the range start again from the last transition of `working`.
    func refreshPool(_ pool: inout Tensor<Float>, from working: Tensor<Float>, afterEpoch epochIndex: Int) {
        let m = frames - 1
        let poolCount = configuration.poolSize
        let stateCount = size * size * configuration.model.channels
        let lifetime = configuration.poolLifetime(transitions: m)
        for i in 0..<poolCount {
            let expired = (epochIndex + 1 + i * lifetime / poolCount) % lifetime == 0
            if expired || !isWithinRange(pool.scalars[(i * stateCount)..<((i + 1) * stateCount)]) {
                Self.seedPoolState(i, of: &pool, from: working, transitions: m, trajectories: trajectories)
            }
        }
    }

    /// Replaces the training state (a checkpoint read back, e.g. to roll back a divergence).
    public func restore(_ state: TrainingState) {
        precondition(state.workingStates.shape == self.state.workingStates.shape, "Trainer.restore: working states do not match")
        self.state = state
    }

    private func update(
        _ model: inout NCAModel<Float>, _ optimizer: inout OptimizerState, _ gradients: WeightGradients, learningRate: Double
    ) {
        model.update(
            with: gradients, optimizer: &optimizer, learningRate: learningRate, normalise: configuration.gradientNormalisation,
            holdOutputBias: configuration.trainOutputBias == false)
    }

    func engine(batch: Int) -> NCAEngine<Float> {
        if let engine = engines[batch] { return engine }
        let engine = NCAEngine<Float>(configuration: configuration.model, batch: batch, size: size)
        engine.recomputeEvery = configuration.recomputeEvery ?? 1
        engine.rangePenalty = configuration.rangePenalty ?? 0
        engines[batch] = engine
        return engine
    }
}
