/// Reading lattice states (R × S × S × C, or S × S × C for R = 1) from `.npy` files, with the
/// checks a user needs to hear about. A trajectory file ((M+1) × R × S × S × C) can serve as a
/// state by naming one of its frames.
public enum StateFile {
    /// Smallest lattice side accepted: the 3×3 stencil needs at least 3 cells per axis.
    public static let minimumSize = 3

    /// Reads a state for a model with `channels` channels of which `observable` are observable.
    /// A file with only the observable channels gets zero hidden channels appended.
    public static func readState<T: BLASScalar>(
        _ path: String, channels: Int, observable: Int, frame: Int? = nil, as: T.Type = T.self
    ) throws -> Tensor<T> {
        let array = try selectFrame(NPY.read(path), frame: frame, path: path)
        let shape = try latticeShape(array, path: path, role: "state")
        let (r, s, c) = (shape[0], shape[1], shape[3])
        guard c == channels || c == observable else {
            throw FileError.invalid(
                path: path,
                problem:
                    "state has \(c) channels; the model needs \(channels) (or only its \(observable) observable ones, hidden channels then start at 0)"
            )
        }
        if c == channels { return Tensor(shape: shape, scalars: array.values.map { T($0) }) }
        var state = Tensor<T>(zeros: [r, s, s, channels])
        for cell in 0..<(r * s * s) {
            for ch in 0..<c { state.scalars[cell * channels + ch] = T(array.values[cell * c + ch]) }
        }
        return state
    }

    /// Reads a target holding the observable channels (or all channels) of `batch` lattices of
    /// side `size`.
    public static func readTarget<T: BLASScalar>(
        _ path: String, batch: Int, size: Int, channels: Int, observable: Int, frame: Int? = nil, as: T.Type = T.self
    ) throws -> Tensor<T> {
        let array = try selectFrame(NPY.read(path), frame: frame, path: path)
        let shape = try latticeShape(array, path: path, role: "target")
        guard shape[0] == batch, shape[1] == size else {
            throw FileError.invalid(
                path: path,
                problem:
                    "target is \(shape[0]) × \(shape[1]) × \(shape[2]) lattices but the state is \(batch) × \(size) × \(size); use matching shapes"
            )
        }
        guard shape[3] == observable || shape[3] == channels else {
            throw FileError.invalid(
                path: path,
                problem: "target has \(shape[3]) channels; expected the \(observable) observable channels (or all \(channels))")
        }
        return Tensor(shape: shape, scalars: array.values.map { T($0) })
    }

    /// Frame `frame` of a trajectory (rank 5), or the array itself when it is a single state.
    static func selectFrame(_ array: ArrayFile, frame: Int?, path: String) throws(FileError) -> ArrayFile {
        guard array.shape.count == 5 else {
            if let frame, frame != 0 {
                throw FileError.invalid(
                    path: path,
                    problem: "frame \(frame) asked for, but the file holds one state of shape \(array.shape), not a trajectory")
            }
            return array
        }
        let frames = array.shape[0]
        guard let frame else {
            throw FileError.invalid(
                path: path,
                problem: "is a trajectory of \(frames) frames (shape \(array.shape))",
                fix: .init(before: "pick one with", setting: .frame, after: " (0 … \(frames - 1))"))
        }
        guard frame >= 0 && frame < frames else {
            throw FileError.invalid(
                path: path, problem: "frame \(frame) does not exist; the trajectory has frames 0 … \(frames - 1)")
        }
        let shape = Array(array.shape.dropFirst())
        let count = Tensor<Double>.elementCount(shape)
        return ArrayFile(shape: shape, dtype: array.dtype, values: Array(array.values[(frame * count)..<((frame + 1) * count)]))
    }

    /// Validates rank, squareness, size and finiteness; returns [R, S, S, C].
    static func latticeShape(_ array: ArrayFile, path: String, role: String) throws(FileError) -> [Int] {
        let shape = try latticeShape(array.shape, path: path, role: role)
        if let bad = array.values.firstIndex(where: { !$0.isFinite }) {
            throw FileError.invalid(
                path: path,
                problem: "\(role) contains \(array.values[bad]) at flat index \(bad); clean the data (e.g. numpy.nan_to_num)")
        }
        return shape
    }

    /// Validates rank, squareness and size of a state shape; returns [R, S, S, C].
    static func latticeShape(_ fileShape: [Int], path: String, role: String) throws(FileError) -> [Int] {
        var shape = fileShape
        if shape.count == 3 { shape.insert(1, at: 0) }
        guard shape.count == 4 else {
            throw FileError.invalid(path: path, problem: "\(role) has shape \(fileShape); expected R × S × S × C (or S × S × C)")
        }
        guard shape[1] == shape[2] else {
            throw FileError.invalid(path: path, problem: "\(role) lattice is \(shape[1]) × \(shape[2]); lattices must be square")
        }
        guard shape[1] >= minimumSize, shape[0] >= 1, shape[3] >= 1 else {
            throw FileError.invalid(
                path: path,
                problem:
                    "\(role) has shape \(fileShape); need at least 1 batch entry, a \(minimumSize) × \(minimumSize) lattice and 1 channel"
            )
        }
        return shape
    }
}

/// Reading trajectories ((M+1) × R × S × S × O) for training and evaluation.
public enum TrajectoryFile {
    /// Reads a trajectory (M+1) × R × S × S × O (or × C) as Float, checking its shape against the model's `observable` and `channels`.
    public static func read(_ path: String, observable: Int, channels: Int) throws -> Tensor<Float> {
        let array = try NPY.read(path)
        guard array.shape.count == 5 else {
            throw FileError.invalid(
                path: path,
                problem: "has shape \(array.shape); a trajectory is (M+1) × R × S × S × O, e.g. from nca data gray-scott")
        }
        guard array.shape[0] >= 2 else {
            throw FileError.invalid(
                path: path, problem: "holds \(array.shape[0]) frame; training needs at least 2 (one transition)")
        }
        _ = try StateFile.latticeShape(Array(array.shape.dropFirst()), path: path, role: "trajectory")
        guard array.shape[4] == observable || array.shape[4] == channels else {
            throw FileError.invalid(
                path: path,
                problem: "has \(array.shape[4]) channels; the model has \(observable) observable (of \(channels))",
                fix: .init(before: "set", setting: .observableChannels, after: " to match"))
        }
        if let bad = array.values.firstIndex(where: { !$0.isFinite }) {
            throw FileError.invalid(
                path: path, problem: "contains \(array.values[bad]) at flat index \(bad); clean the data (e.g. numpy.nan_to_num)")
        }
        return array.tensor()
    }
}
