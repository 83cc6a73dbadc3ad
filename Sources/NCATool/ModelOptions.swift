import ArgumentParser
import NCA

extension Boundary: ExpressibleByArgument {}
extension MaskGranularity: ExpressibleByArgument {}
extension LossFunction: ExpressibleByArgument {}

/// Arithmetic precision of a command's computation and of the arrays it writes.
enum Precision: String, CaseIterable, ExpressibleByArgument {
    case float32
    case float64
}

/// A command that computes in either precision: `run(in:)` calls its generic body with Float
/// or Double, reporting errors as every command does.
protocol PrecisionGeneric {
    func run<T: BLASScalar>(_: T.Type) throws
}

extension PrecisionGeneric {
    func run(in precision: Precision) throws {
        try reportingErrors {
            switch precision {
            case .float32: try run(Float.self)
            case .float64: try run(Double.self)
            }
        }
    }
}

/// t, the steps between a trajectory's frames: one option with one default for `data
/// gray-scott`, `train`, `evaluate` and `analyse`.
struct TimeSamplingOption: ParsableArguments {
    @Option(
        name: .customLong("time-sampling"),
        help: "t, steps between a trajectory's frames (PDE steps for data, NCA steps for a model; the paper's 32).")
    var value: Int = 32

    func validate() throws {
        guard value >= 1 && value <= 100_000 else {
            throw ValidationError("--time-sampling must be between 1 and 100000 (got \(value))")
        }
    }
}

/// The state a command starts from (`step`, `grad`, `analyse`): a `.npy` state, or one frame of
/// a trajectory. `--state-frame` is another name of `--frame`.
struct StateInputOptions: ParsableArguments {
    @Option(help: "State (.npy): R × S × S × C or S × S × C (hidden channels may be left out: they start at 0).")
    var state: String?

    @Option(
        name: [.customLong("frame"), .customLong("state-frame")],
        help: "When --state is a trajectory ((M+1) × R × S × S × C), the frame to use.")
    var frame: Int?

    /// The state file, for a command that needs one.
    func required() throws -> String {
        guard let state else { throw ValidationError("give the state to start from: --state FILE.npy") }
        return state
    }
}

/// The element type of what a command writes (and of its arithmetic, where it computes).
struct PrecisionOption: ParsableArguments {
    @Option(help: "float32 or float64: the element type written, and the arithmetic of step and grad.")
    var precision: Precision = .float32
}

/// What a command that runs a stored model from a state reads: the model file, the mask seed
/// and the precision (shared by `step` and `grad`).
struct ModelRunOptions: ParsableArguments {
    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(help: "Seed for the stochastic mask.")
    var seed: UInt64 = 0

    @OptionGroup var precisionOption: PrecisionOption
    var precision: Precision { precisionOption.precision }

    @OptionGroup var start: StateInputOptions
}

/// The model options shared by `init` and `train` (SPEC's command-line contract). Unset options
/// take the defaults of the task: SPEC's Gray-Scott defaults, or the image task's with
/// `nca train --preset morph`.
struct ModelOptions: ParsableArguments {
    @Option(help: "C, channels per cell: observable plus hidden (default 8; 16 with --preset morph).")
    var channels: Int?

    @Option(help: "O, how many of the first channels are observable, compared with data (default 2; 4 with --preset morph).")
    var observable: Int?

    @Option(
        help: ArgumentHelp(
            "Perception kernels in order, comma-separated, from: \(Kernel.allCases.map(\.rawValue).joined(separator: ", ")) (default identity,laplacian; identity,grad-x,grad-y,laplacian with --preset morph).",
            valueName: "list"))
    var kernels: String?

    // A string checked in `configuration()`: swift-argument-parser lists six or more choices on
    // several lines, and an error here must be one line.
    @Option(
        help: ArgumentHelp(
            "Hidden-layer activation: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")) (default relu).",
            valueName: "activation"))
    var activation: String?

    @Option(help: "H, hidden-layer width (default 4 × channels).")
    var hidden: Int?

    @Option(
        help:
            "Lattice edges: periodic (wrap), zero (outside reads 0), reflect (mirror, zero-flux) (default periodic; zero with --preset morph)."
    )
    var boundary: Boundary?

    @Option(
        name: .customLong("skip-probability"),
        help: "p in [0, 1): probability that a cell skips an update in a step (default 0; 0.5 with --preset morph).")
    var skipProbability: Double?

    @Option(help: "Mask granularity: cell (one draw per cell, the paper's Algorithm 1) or element (per channel).")
    var mask: MaskGranularity = .cell

    /// The configuration these options describe on top of `defaults`, validated.
    func configuration(defaults: ModelConfiguration = ModelConfiguration()) throws -> ModelConfiguration {
        let name = activation ?? defaults.activation.rawValue
        guard let activation = Activation(rawValue: name) else { throw ConfigurationError.unknownActivation(name) }
        let c = channels ?? defaults.channels
        let configuration = ModelConfiguration(
            channels: c, observableChannels: observable ?? defaults.observableChannels,
            kernels: try kernels.map { try Kernel.parseList($0) } ?? defaults.kernels, activation: activation,
            hiddenSize: hidden ?? (channels == nil ? defaults.hiddenSize : 4 * c), boundary: boundary ?? defaults.boundary,
            skipProbability: skipProbability ?? defaults.skipProbability, mask: mask)
        try configuration.validate()
        return configuration
    }

    /// The first option given here whose value differs from `run`'s, as a one-line message
    /// naming the option and the run's value (nil when all given options agree). The mask
    /// granularity, which has a default rather than "unset", counts only when it differs.
    func conflict(with run: ModelConfiguration) -> String? {
        let given: [(String, String?, String)] = [
            ("--channels", channels.map(String.init), "\(run.channels)"),
            ("--observable", observable.map(String.init), "\(run.observableChannels)"),
            (
                "--kernels", try? kernels.map { try Kernel.parseList($0).map(\.rawValue).joined(separator: ",") },
                run.kernels.map(\.rawValue).joined(separator: ",")
            ),
            ("--activation", activation, run.activation.rawValue),
            ("--hidden", hidden.map(String.init), "\(run.hiddenSize)"),
            ("--boundary", boundary?.rawValue, run.boundary.rawValue),
            ("--skip-probability", skipProbability.map { "\($0)" }, "\(run.skipProbability)"),
            ("--mask", mask == run.mask ? nil : mask.rawValue, run.mask.rawValue),
        ]
        for (flag, value, runValue) in given {
            if let value, value != runValue {
                return "\(flag) \(value) differs from the run's \(flag) \(runValue); a resumed run keeps its model (drop \(flag))"
            }
        }
        return nil
    }

    func validate() throws {
        do { _ = try configuration() } catch let error as ConfigurationError {
            throw ValidationError(userMessage(error))
        }
    }
}
