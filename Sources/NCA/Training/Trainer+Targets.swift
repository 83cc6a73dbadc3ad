/// Where a mini-batch's states and targets come from.
extension Trainer {
    /// A mini-batch's start states (B × S × S × C, with pool damage and noise augmentation) and
    /// targets (B × S × S × O). Transition k < M·R: frame k / R → frame k / R + 1 of trajectory
    /// k mod R; transition M·R + i: pool state i → the last frame of trajectory i mod R.
    func gather(_ indices: ArraySlice<Int>, plan: EpochPlan, rng: inout RandomGenerator) -> (Tensor<Float>, Tensor<Float>) {
        let (m, r, c, o) = (frames - 1, trajectories, configuration.model.channels, configuration.model.observableChannels)
        let cellsPerState = size * size
        let stateCount = cellsPerState * c
        var x0 = Tensor<Float>(zeros: [indices.count, size, size, c])
        var target = Tensor<Float>(zeros: [indices.count, size, size, o])
        for (slot, k) in indices.enumerated() {
            let poolIndex = k >= m * r ? k - m * r : nil
            let trajectory = poolIndex.map { $0 % r } ?? k % r  // (for the pool: the one it follows)
            let entry = (slot * stateCount)..<((slot + 1) * stateCount)
            if let i = poolIndex, let pool = plan.pool {
                x0.scalars.replaceSubrange(entry, with: pool.scalars[(i * stateCount)..<((i + 1) * stateCount)])
                if let disc = plan.damaged[i] { Self.damage(&x0, entry: slot, disc: disc) }
            } else {
                x0.scalars.replaceSubrange(entry, with: plan.startStates.scalars[(k * stateCount)..<((k + 1) * stateCount)])
            }
            if plan.noise > 0 && trajectory != 0 {
                for cell in 0..<cellsPerState {
                    for ch in 0..<o {
                        x0.scalars[(slot * cellsPerState + cell) * c + ch] += plan.noise * Float(rng.nextUniform(-1, 1))
                    }
                }
            }
            let dataBase = targetFrame(k) * cellsPerState * dataChannels
            for cell in 0..<cellsPerState {
                for ch in 0..<o {
                    target.scalars[(slot * cellsPerState + cell) * o + ch] =
                        plan.data.scalars[dataBase + cell * dataChannels + ch]
                }
            }
        }
        return (x0, target)
    }

    /// The data frame (frame · R + trajectory of y) that transition k is compared with: frame
    /// k / R + 1 of trajectory k mod R, or for pool state i = k − M·R the last frame of
    /// trajectory i mod R.
    func targetFrame(_ k: Int) -> Int {
        let (m, r) = (frames - 1, trajectories)
        return k < m * r ? k + r : m * r + (k - m * r) % r
    }

    /// Kept orders for the sliced Wasserstein loss, one slot per data frame: for validation
    /// (the directions of seed 0, the un-augmented data) or for training (the run's seed) when
    /// its targets are the same every epoch (no geometric augmentation).
    func makeSlicedOrders(validation: Bool) -> SlicedTargetOrders? {
        guard configuration.loss == .slicedWasserstein else { return nil }
        if !validation && configuration.augmentation?.isGeometric == true { return nil }
        let seed = validation ? 0 : configuration.seed
        // Validation runs every few epochs: a quarter of the room (every frame at t ≥ 4 of the
        // Gray-Scott recipe, a quarter of them at t = 1).
        return SlicedTargetOrders(
            frames: frames * trajectories, cells: size * size, observables: configuration.model.observableChannels, seed: seed,
            budget: validation ? SlicedTargetOrders.defaultBudget / 4 : SlicedTargetOrders.defaultBudget)
    }
}
