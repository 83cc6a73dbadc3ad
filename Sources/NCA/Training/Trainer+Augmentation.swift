/// The geometric augmentation and pool damage of `Trainer`.
extension Trainer {
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
            var rng = RandomGenerator(seed: configuration.seed, stream: .augmentation(block: block, trajectory: j))
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
                out.scalars.replaceSubrange(
                    ((f * trajectories + j) * lattice)..<((f * trajectories + j + 1) * lattice), with: cells)
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
}
