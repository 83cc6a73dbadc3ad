/// A resumable training checkpoint as `.safetensors` (so numpy can open it too).
///
/// Tensors: the model (`W2`, `W1`, `v`), the optimiser's moments (`adam.m.W2`, …,
/// `adam.v.v`), the working states (`working_states`, M × R × S × S × C) and, with weight
/// averaging, the average (`average.W2`, `average.W1`, `average.v`), and with a pool of states,
/// the pool (`pool`, P × S × S × C). Metadata: the
/// model configuration as in a model file, `format` = "nca-checkpoint/1", the epoch, best loss
/// and epoch, optimiser kind/step/β1/β2/ε/momentum schedule, the random generator's four
/// state words (hex), elapsed wall time, the learning-rate scale left by divergence rollbacks
/// (`lr_scale`), the best validation loss and its epoch (`best_validation_loss`,
/// `best_validation_epoch`), and `checksum`: FNV-1a (64-bit) over every tensor's
/// bytes in name order and every other metadata entry, so a damaged file is refused.
public enum Checkpoint {
    /// Format tag in the metadata.
    public static let format = "nca-checkpoint/1"

    /// `state` and the elapsed wall time as safetensors, with the checksum.
    public static func encode(_ state: TrainingState, elapsedSeconds: Double) -> Safetensors {
        let names = ["W2", "W1", "v"]
        let shapes = [state.model.w2.shape, state.model.w1.shape, state.model.v.shape]
        var tensors: [String: ArrayFile] = [
            "W2": ArrayFile(state.model.w2), "W1": ArrayFile(state.model.w1), "v": ArrayFile(state.model.v),
            "working_states": ArrayFile(state.workingStates),
        ]
        for (i, name) in names.enumerated() {
            tensors["adam.m." + name] = ArrayFile(Tensor(shape: shapes[i], scalars: state.optimizer.firstMoments[i]))
            tensors["adam.v." + name] = ArrayFile(Tensor(shape: shapes[i], scalars: state.optimizer.secondMoments[i]))
        }
        if let average = state.averageModel {
            tensors["average.W2"] = ArrayFile(average.w2)
            tensors["average.W1"] = ArrayFile(average.w1)
            tensors["average.v"] = ArrayFile(average.v)
        }
        if let pool = state.pool { tensors["pool"] = ArrayFile(pool) }
        var metadata = ModelFile.metadata(state.model.configuration)
        metadata["format"] = format
        metadata["epoch"] = String(state.epoch)
        metadata["best_loss"] = String(state.bestLoss)
        metadata["best_epoch"] = String(state.bestEpoch)
        metadata["optimizer"] = state.optimizer.kind.rawValue
        metadata["optimizer_step"] = String(state.optimizer.step)
        metadata["beta1"] = String(state.optimizer.beta1)
        metadata["beta2"] = String(state.optimizer.beta2)
        metadata["epsilon"] = String(state.optimizer.epsilon)
        metadata["momentum_schedule"] = String(state.optimizer.momentumSchedule)
        metadata["rng"] = state.rng.state.map { String($0, radix: 16) }.joined(separator: ",")
        metadata["elapsed_seconds"] = String(elapsedSeconds)
        metadata["lr_scale"] = String(state.learningRateScale)
        metadata["best_validation_loss"] = String(state.bestValidationLoss)
        metadata["best_validation_epoch"] = String(state.bestValidationEpoch)
        var file = Safetensors(tensors: tensors, metadata: metadata)
        file.metadata["checksum"] = checksum(file)
        return file
    }

    /// Writes a checkpoint atomically (a temporary file, `fsync`, `rename`).
    public static func write(_ state: TrainingState, elapsedSeconds: Double, to path: String) throws {
        try encode(state, elapsedSeconds: elapsedSeconds).write(to: path)
    }

    /// The state and elapsed time saved in a checkpoint file, after checking its format and
    /// checksum.
    public static func read(_ path: String) throws -> (state: TrainingState, elapsedSeconds: Double) {
        try decode(Safetensors.read(path), path: path)
    }

    /// Checks the format tag, checksum and shapes and returns the training state; `path` names the file in errors.
    public static func decode(_ file: Safetensors, path: String) throws(FileError) -> (
        state: TrainingState, elapsedSeconds: Double
    ) {
        func fail(_ problem: String) -> FileError { FileError.invalid(path: path, problem: problem) }
        let meta = file.metadata
        guard meta["format"] == format else {
            throw fail("not an NCA checkpoint (format \(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)')")
        }
        guard let saved = meta["checksum"], saved == checksum(file) else {
            throw fail("checksum mismatch: the checkpoint is damaged; resume from an earlier copy or start again")
        }
        var modelFile = file
        modelFile.metadata["format"] = ModelFile.format
        let model: NCAModel<Float> = try ModelFile.decode(modelFile, path: path)
        func number(_ key: String) throws(FileError) -> Double {
            guard let text = meta[key], let value = Double(text) else {
                throw fail("checkpoint metadata '\(key)' is missing or not a number")
            }
            return value
        }
        func integer(_ key: String) throws(FileError) -> Int {
            guard let text = meta[key], let value = Int(text), value >= 0 else {
                throw fail("checkpoint metadata '\(key)' is missing or not a count")
            }
            return value
        }
        guard let kind = OptimizerKind(rawValue: meta["optimizer"] ?? "") else {
            throw fail("checkpoint metadata 'optimizer' is unknown")
        }
        let words = (meta["rng"] ?? "").split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard let rng = RandomGenerator(state: words) else { throw fail("checkpoint metadata 'rng' is not four hex words") }
        guard let working = file.tensors["working_states"], working.shape.count == 5,
            working.shape.last == model.configuration.channels
        else {
            throw fail("checkpoint lacks working_states of shape M × R × S × S × \(model.configuration.channels)")
        }
        var optimizer = OptimizerState(
            kind: kind, parameterCounts: [model.w2.count, model.w1.count, model.v.count], beta1: try number("beta1"),
            beta2: try number("beta2"), epsilon: try number("epsilon"))
        optimizer.step = try integer("optimizer_step")
        optimizer.momentumSchedule = try number("momentum_schedule")
        for (i, name) in ["W2", "W1", "v"].enumerated() {
            guard let m = file.tensors["adam.m." + name], let v = file.tensors["adam.v." + name],
                m.values.count == optimizer.firstMoments[i].count, v.values.count == optimizer.secondMoments[i].count
            else { throw fail("checkpoint lacks optimiser moments for \(name)") }
            optimizer.firstMoments[i] = m.values.map { Float($0) }
            optimizer.secondMoments[i] = v.values.map { Float($0) }
        }
        var state = TrainingState(
            model: model, optimizer: optimizer, workingStates: working.tensor(), rng: rng, epoch: try integer("epoch"),
            bestLoss: try number("best_loss"), bestEpoch: try integer("best_epoch"))
        state.learningRateScale = try number("lr_scale")
        if let w2 = file.tensors["average.W2"], let w1 = file.tensors["average.W1"], let v = file.tensors["average.v"] {
            guard w2.shape == model.w2.shape && w1.shape == model.w1.shape && v.shape == model.v.shape else {
                throw fail("checkpoint's average weights do not match the model's shapes")
            }
            state.averageModel = NCAModel(configuration: model.configuration, w2: w2.tensor(), w1: w1.tensor(), v: v.tensor())
        }
        if let pool = file.tensors["pool"] {
            guard pool.shape.count == 4, pool.shape.dropFirst().elementsEqual(working.shape.suffix(3)) else {
                throw fail("checkpoint's pool of states does not match the working states' lattice")
            }
            state.pool = pool.tensor()
        }
        // Absent in checkpoints written before rollout selection existed.
        if meta["best_validation_loss"] != nil {
            state.bestValidationLoss = try number("best_validation_loss")
            state.bestValidationEpoch = try integer("best_validation_epoch")
        }
        return (state, try number("elapsed_seconds"))
    }

    /// FNV-1a over tensor bytes (name order) and the metadata other than `checksum`.
    public static func checksum(_ file: Safetensors) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        for name in file.tensors.keys.sorted() {
            name.utf8.forEach(mix)
            for value in file.tensors[name]!.values {
                let bits = value.bitPattern
                for k in 0..<8 { mix(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
            }
        }
        for key in file.metadata.keys.sorted() where key != "checksum" {
            (key + "=" + file.metadata[key]! + "\n").utf8.forEach(mix)
        }
        return String(hash, radix: 16)
    }
}
