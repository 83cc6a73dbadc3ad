/// Data-parallel training over the processes of an MPI job (`Trainer.communicator`).
///
/// Every rank holds the whole training state and draws the whole epoch plan and every
/// mini-batch from the same seeded generator, exactly as one process would. A mini-batch of B
/// transitions is then split into contiguous shares (`Communicator.share`); each rank runs
/// forward and backward on its share only, with the stochastic mask drawn for all B entries and
/// its own part used (`NCAEngine.maskShare`), so the job's masks are one process's masks. The
/// losses, range penalties and weight gradients of the shares are summed in rank order (rank 0
/// adds, then broadcasts), and the shares' predictions are gathered to every rank, so every rank
/// applies the same update and propagates the same working states: the trajectories are owned
/// by no rank in particular, every rank has all of them, and rank 0 writes them to the
/// checkpoint. Compared with one process, only the order of the gradient sums differs (each
/// rank sums its share's cells, then the shares are added), a rounding-level difference.
extension Trainer {
    /// Runs one mini-batch split over the job's ranks; the result is the one every rank uses.
    func runShared(
        _ x0: Tensor<Float>, target: Tensor<Float>, frames targetFrames: [Int], model: NCAModel<Float>, transitions: Int,
        epoch: Int, rng: inout RandomGenerator, world: Communicator
    ) throws -> MinibatchResult {
        let entries = x0.shape[0]
        let (s, c, o) = (x0.shape[1], x0.shape[3], target.shape[3])
        let stateCount = s * s * c
        let targetCount = s * s * o
        let shares = world.shares(of: entries)
        let mine = shares[world.rank]
        var values = [Double](repeating: 0, count: 2 + model.w2.scalars.count + model.w1.scalars.count + model.v.scalars.count)
        var prediction: [Float] = []
        if mine.isEmpty {
            // A rank with no entries still consumes the mask draws of the mini-batch's steps.
            skipMaskDraws(entries: entries, size: s, rng: &rng)
        } else {
            let x = Tensor(
                shape: [mine.count, s, s, c],
                scalars: Array(x0.scalars[(mine.lowerBound * stateCount)..<(mine.upperBound * stateCount)]))
            let y = Tensor(
                shape: [mine.count, s, s, o],
                scalars: Array(target.scalars[(mine.lowerBound * targetCount)..<(mine.upperBound * targetCount)]))
            let engine = self.engine(batch: mine.count)
            engine.maskShare = (first: mine.lowerBound, entries: entries)
            defer { engine.maskShare = nil }
            let output = engine.forward(model, from: x, steps: configuration.timeSampling, rng: &rng)
            var (loss, dPrediction) = configuration.loss.evaluate(
                prediction: output, target: y, observableChannels: configuration.model.observableChannels,
                projectionSeed: configuration.seed, targetOrders: slicedOrders, targetFrames: Array(targetFrames[mine]))
            // The loss is a mean over entries: this share's part of the mini-batch mean, and of
            // its gradient, is (share / B); the range penalty is a sum over entries already.
            let weight = Float(mine.count) / Float(transitions)
            for i in dPrediction.scalars.indices { dPrediction.scalars[i] *= weight }
            let gradients = engine.backward(
                model, outputGradient: dPrediction, penaltyScale: Float(entries) / Float(transitions))
            values[0] = loss * Double(mine.count)
            values[1] = engine.lastRangePenalty
            var k = 2
            for tensor in [gradients.w2, gradients.w1, gradients.v] {
                for value in tensor.scalars {
                    values[k] = Double(value)
                    k += 1
                }
            }
            prediction = output.scalars
        }
        try world.sumInRankOrder(&values)
        let loss = values[0] / Double(entries)
        guard loss.isFinite else {
            throw DivergenceError(epoch: epoch, quantity: "the loss is \(loss.isNaN ? "NaN" : "\(loss)")")
        }
        var gradients = WeightGradients(zerosLike: model)
        var k = 2
        for i in gradients.w2.scalars.indices {
            gradients.w2.scalars[i] = Float(values[k])
            k += 1
        }
        for i in gradients.w1.scalars.indices {
            gradients.w1.scalars[i] = Float(values[k])
            k += 1
        }
        for i in gradients.v.scalars.indices {
            gradients.v.scalars[i] = Float(values[k])
            k += 1
        }
        if let name = gradients.nonFiniteTensor {
            throw DivergenceError(epoch: epoch, quantity: "∂L/∂\(name) is NaN or infinite")
        }
        let all = try world.allGather(prediction, counts: shares.map { $0.count * stateCount })
        return MinibatchResult(
            prediction: Tensor(shape: [entries, s, s, c], scalars: all), loss: loss, rangePenalty: values[1],
            gradients: gradients)
    }

    /// Advances `rng` past the σ draws of a mini-batch of `entries` states over the configured
    /// steps, as an engine drawing them would (none when p = 0).
    private func skipMaskDraws(entries: Int, size: Int, rng: inout RandomGenerator) {
        let model = configuration.model
        guard model.skipProbability > 0 else { return }
        let perStep = StochasticMask.count(cells: entries * size * size, channels: model.channels, granularity: model.mask)
        for _ in 0..<(perStep * configuration.timeSampling) { _ = rng.nextUnit() }
    }
}
