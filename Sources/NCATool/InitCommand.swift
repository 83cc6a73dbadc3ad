import ArgumentParser
import NCA

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a freshly initialised model.",
        discussion: """
            W2 is drawn Glorot-uniform from the seed; W1 and v are zero, so the model starts as \
            the identity map (every step leaves the state unchanged).
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Seed for the weight initialisation.")
    var seed: UInt64 = 0

    @Option(help: "Element type of the stored weights.")
    var precision: Precision = .float32

    @Option(help: "Output model file (.safetensors).")
    var out: String

    func run() throws {
        try reportingErrors {
            let configuration = try model.configuration()
            switch precision {
            case .float32: try ModelFile.write(NCAModel<Float>(configuration: configuration, seed: seed), to: out)
            case .float64: try ModelFile.write(NCAModel<Double>(configuration: configuration, seed: seed), to: out)
            }
            say(
                "wrote \(out): \(configuration.parameterCount) parameters (C \(configuration.channels), O \(configuration.observableChannels), kernels \(Kernel.listDescription(configuration.kernels)), H \(configuration.hiddenSize), \(configuration.activation.rawValue), \(configuration.boundary.rawValue))"
            )
        }
    }
}
