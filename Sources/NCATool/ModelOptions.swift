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

    func validate() throws {
        do { _ = try configuration() } catch let error as ConfigurationError {
            throw ValidationError(userMessage(error))
        }
    }
}
