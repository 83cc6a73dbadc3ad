/// Model selection and weight averaging: how a run judges its models (see `SelectionMeasure`).
extension Trainer {
    /// The validation loss of `model`: its free rollout from each training trajectory's first
    /// frame (hidden channels 0, the un-augmented data) over the whole data horizon T, mean loss
    /// against every later frame. The rollout then runs on to `validationReach` × T; if an
    /// observable value leaves the data's range widened by half its span on each side (for data
    /// in [0, 1]: [−0.5, 1.5]) or a value is not finite, anywhere up to there, the model is
    /// rejected: the loss is infinite. Models that fit the horizon and then blow up are common.
    /// With `validateHold` the loss is the mean over the horizon's snapshots and those past it
    /// (every t steps, each against the last frame).
    public func validationLoss(of model: NCAModel<Float>) -> Double {
        let t = configuration.timeSampling
        let evaluation = RolloutEvaluation.evaluate(
            model, data: data, timeSampling: t, loss: configuration.loss, targetOrders: validationOrders)
        guard evaluation.meanLoss.isFinite, isWithinRange(evaluation.trajectory) else { return .infinity }
        guard configuration.validationReach > 1 else { return evaluation.meanLoss }
        let lattice = data.count / frames
        let lastFrame = Tensor(shape: Array(data.shape.dropFirst()), scalars: Array(data.scalars[((frames - 1) * lattice)...]))
        let beyond = RolloutEvaluation.beyond(
            model, from: evaluation, lastFrame: lastFrame, reach: configuration.validationReach, loss: configuration.loss,
            lastFrameOrders: validationOrders.map { ($0, (0..<trajectories).map { (frames - 1) * trajectories + $0 }) })
        guard let range = beyond.range, validationRange.contains(range.lowerBound), validationRange.contains(range.upperBound)
        else { return .infinity }
        guard configuration.validateHold == true else { return evaluation.meanLoss }
        let all = evaluation.losses + beyond.losses
        return all.reduce(0, +) / Double(all.count)
    }

    /// The range of the observable channels of `data` (… × channels), widened by half its span
    /// on each side.
    static func widenedRange(_ data: Tensor<Float>, observable o: Int) -> ClosedRange<Float> {
        let channels = data.shape.last ?? 1
        var (lo, hi) = (Float.infinity, -Float.infinity)
        for (i, value) in data.scalars.enumerated() where i % channels < o {
            lo = min(lo, value)
            hi = max(hi, value)
        }
        let margin = max(hi - lo, 1e-6) / 2
        return (lo - margin)...(hi + margin)
    }

    /// Whether every observable value of `states` (… × C, the model's channels) is finite and in
    /// `validationRange`.
    func isWithinRange(_ states: Tensor<Float>) -> Bool { isWithinRange(states.scalars[...]) }

    /// The same for cells (… × C) in a slice of an array.
    func isWithinRange(_ cells: ArraySlice<Float>) -> Bool {
        let c = configuration.model.channels
        let o = configuration.model.observableChannels
        let range = validationRange
        var cell = cells.startIndex
        while cell < cells.endIndex {
            for ch in 0..<o where !range.contains(cells[cell + ch]) { return false }
            cell += c
        }
        return true
    }

    /// Notes the current model's validation loss; true when it is the best so far.
    public func recordValidation(_ loss: Double) -> Bool {
        guard loss < state.bestValidationLoss else { return false }
        state.bestValidationLoss = loss
        state.bestValidationEpoch = state.epoch
        return true
    }

    /// average ← β_n · average + (1 − β_n) · model, β_n = min(β, (1 + n) / (10 + n)), in Double
    /// per element; the first call starts the average at `model`.
    func updateAverage(_ average: inout NCAModel<Float>?, with model: NCAModel<Float>, step n: Int) {
        guard let beta = configuration.weightAverage, beta > 0 else { return }
        guard var a = average else {
            average = model
            return
        }
        let b = min(beta, Double(1 + n) / Double(10 + n))
        func mix(_ x: inout Tensor<Float>, _ y: Tensor<Float>) {
            for i in x.scalars.indices { x.scalars[i] = Float(b * Double(x.scalars[i]) + (1 - b) * Double(y.scalars[i])) }
        }
        mix(&a.w2, model.w2)
        mix(&a.w1, model.w1)
        mix(&a.v, model.v)
        average = a
    }

}
