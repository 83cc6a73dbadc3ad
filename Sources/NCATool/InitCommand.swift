import ArgumentParser
import NCA

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a freshly initialised model.",
        discussion: """
            W2 is drawn from the seed, Glorot-uniform (default) or normal (--weight-init); W1 and \
            v are zero, so the model starts as the identity map (every step leaves the state \
            unchanged).
            """)

    @OptionGroup var model: ModelOptions

    @Option(
        name: .customLong("weight-init"),
        help: "How W2 is drawn: glorot (Glorot-uniform) or normal (N(0, scale²), as the authors' code).")
    var weightInit: WeightInitialisation.Kind = .glorot

    @Option(
        name: .customLong("weight-scale"),
        help: "With glorot a factor on Glorot's limit (default 1); with normal the standard deviation (default 0.1).")
    var weightScale: Double?

    @Option(help: "Seed for the weight initialisation.")
    var seed: UInt64 = 0

    @OptionGroup var precisionOption: PrecisionOption
    var precision: Precision { precisionOption.precision }

    @Option(help: "Output model file (.safetensors).")
    var out: String

    var initialisation: WeightInitialisation { WeightInitialisation(kind: weightInit, scale: weightScale) }

    func validate() throws {
        do { try initialisation.validate() } catch { throw ValidationError(userMessage(error)) }
    }

    func run() throws {
        try reportingErrors {
            let configuration = try model.configuration()
            switch precision {
            case .float32:
                try ModelFile.write(
                    NCAModel<Float>(configuration: configuration, seed: seed, initialisation: initialisation), to: out)
            case .float64:
                try ModelFile.write(
                    NCAModel<Double>(configuration: configuration, seed: seed, initialisation: initialisation), to: out)
            }
            say(
                "wrote \(out): \(configuration.parameterCount) parameters (C \(configuration.channels), O \(configuration.observableChannels), kernels \(Kernel.listDescription(configuration.kernels)), H \(configuration.hiddenSize), \(configuration.activation.rawValue), \(configuration.boundary.rawValue))"
            )
        }
    }
}
