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

/// The model options shared by `init` and `train` (SPEC's command-line contract).
struct ModelOptions: ParsableArguments {
    @Option(help: "C, channels per cell: observable plus hidden.")
    var channels: Int = 8

    @Option(help: "O, how many of the first channels are observable (compared with data).")
    var observable: Int = 2

    @Option(
        help: ArgumentHelp(
            "Perception kernels in order, comma-separated, from: \(Kernel.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "list"))
    var kernels: String = "identity,laplacian"

    // A string checked in `configuration()`: swift-argument-parser lists six or more choices on
    // several lines, and an error here must be one line.
    @Option(help: ArgumentHelp("Hidden-layer activation: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "activation"))
    var activation: String = Activation.relu.rawValue

    @Option(help: "H, hidden-layer width (default 4 × channels).")
    var hidden: Int?

    @Option(help: "Lattice edges: periodic (wrap), zero (outside reads 0), reflect (mirror, zero-flux).")
    var boundary: Boundary = .periodic

    @Option(name: .customLong("skip-probability"), help: "p in [0, 1): probability that a cell skips an update in a step.")
    var skipProbability: Double = 0

    @Option(help: "Mask granularity: cell (one draw per cell, the paper's Algorithm 1) or element (per channel).")
    var mask: MaskGranularity = .cell

    /// The configuration these options describe, validated.
    func configuration() throws -> ModelConfiguration {
        guard let activation = Activation(rawValue: activation) else { throw ConfigurationError.unknownActivation(activation) }
        let configuration = ModelConfiguration(
            channels: channels, observableChannels: observable, kernels: try Kernel.parseList(kernels),
            activation: activation, hiddenSize: hidden, boundary: boundary, skipProbability: skipProbability,
            mask: mask)
        try configuration.validate()
        return configuration
    }

    func validate() throws {
        do { _ = try configuration() } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
