/// Models as `.safetensors`: tensors `W2` [K·C, H], `W1` [H, C], `v` [C] and the whole
/// configuration as `__metadata__` strings (`format` = "nca-model/1", `channels`,
/// `observable`, `kernels`, `activation`, `hidden`, `boundary`, `skip_probability`, `mask`),
/// loadable with `safetensors.numpy.load_file`.
public enum ModelFile {
    /// Format tag in the metadata.
    public static let format = "nca-model/1"

    /// The metadata that describes `configuration` (channels, kernels, activation, hidden width, boundary, skip probability, mask) as strings.
    public static func metadata(_ configuration: ModelConfiguration) -> [String: String] {
        [
            "format": format, "channels": String(configuration.channels),
            "observable": String(configuration.observableChannels),
            "kernels": Kernel.listDescription(configuration.kernels), "activation": configuration.activation.rawValue,
            "hidden": String(configuration.hiddenSize), "boundary": configuration.boundary.rawValue,
            "skip_probability": String(configuration.skipProbability), "mask": configuration.mask.rawValue,
        ]
    }

    /// `model` as safetensors: `W2`, `W1`, `v` and the configuration as metadata.
    public static func encode<T: BLASScalar>(_ model: NCAModel<T>) -> Safetensors {
        Safetensors(
            tensors: ["W2": ArrayFile(model.w2), "W1": ArrayFile(model.w1), "v": ArrayFile(model.v)],
            metadata: metadata(model.configuration))
    }

    /// Writes `model` atomically to `path`.
    public static func write<T: BLASScalar>(_ model: NCAModel<T>, to path: String) throws {
        try encode(model).write(to: path)
    }

    /// Reads a model from `path`, converting the weights to `T`; refuses files that are not NCA models, with the reason.
    public static func read<T: BLASScalar>(_ path: String, as: T.Type = T.self) throws -> NCAModel<T> {
        try decode(Safetensors.read(path), path: path)
    }

    /// Checks the metadata and that the tensor shapes agree with it.
    public static func decode<T: BLASScalar>(_ file: Safetensors, path: String) throws(FileError) -> NCAModel<T> {
        func fail(_ problem: String) -> FileError { FileError.invalid(path: path, problem: problem) }
        let meta = file.metadata
        guard meta["format"] == format else {
            throw fail(
                "not an NCA model (metadata format is \(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'); make one with nca init or nca train"
            )
        }
        func field(_ key: String) throws(FileError) -> String {
            guard let value = meta[key] else { throw fail("model metadata lacks '\(key)'") }
            return value
        }
        func integer(_ key: String) throws(FileError) -> Int {
            guard let value = Int(try field(key)) else { throw fail("model metadata '\(key)' is not an integer") }
            return value
        }
        let kernels: [Kernel]
        do { kernels = try Kernel.parseList(try field("kernels")) } catch let error as ConfigurationError {
            throw fail("model metadata: \(error.description)")
        } catch let error as FileError { throw error } catch { throw fail("model metadata 'kernels' is unreadable") }
        guard let activation = Activation(rawValue: try field("activation")) else {
            throw fail("model metadata: unknown activation '\(meta["activation"]!)'")
        }
        guard let boundary = Boundary(rawValue: try field("boundary")) else {
            throw fail("model metadata: unknown boundary '\(meta["boundary"]!)'")
        }
        guard let mask = MaskGranularity(rawValue: meta["mask"] ?? "cell") else {
            throw fail("model metadata: unknown mask '\(meta["mask"]!)'")
        }
        guard let p = Double(try field("skip_probability")) else {
            throw fail("model metadata 'skip_probability' is not a number")
        }
        let configuration = ModelConfiguration(
            channels: try integer("channels"), observableChannels: try integer("observable"), kernels: kernels,
            activation: activation, hiddenSize: try integer("hidden"), boundary: boundary, skipProbability: p, mask: mask)
        do { try configuration.validate() } catch { throw fail("model metadata: \(error.description)") }
        let expected = [
            "W2": [configuration.perceptionSize, configuration.hiddenSize],
            "W1": [configuration.hiddenSize, configuration.channels], "v": [configuration.channels],
        ]
        var tensors: [String: Tensor<T>] = [:]
        for (name, shape) in expected {
            guard let array = file.tensors[name] else { throw fail("model lacks tensor '\(name)'") }
            guard array.shape == shape else {
                throw fail("tensor '\(name)' has shape \(array.shape) but the metadata implies \(shape)")
            }
            guard array.values.allSatisfy({ $0.isFinite }) else { throw fail("tensor '\(name)' contains NaN or infinity") }
            tensors[name] = array.tensor()
        }
        return NCAModel(configuration: configuration, w2: tensors["W2"]!, w1: tensors["W1"]!, v: tensors["v"]!)
    }
}
