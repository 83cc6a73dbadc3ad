import ArgumentParser
import NCA

struct StepCommand: ParsableCommand, PrecisionGeneric {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Run a model for N steps from a state and write the final state.",
        discussion: """
            The state is R × S × S × C (or S × S × C). A state holding only the observable \
            channels gets zero hidden channels. With p > 0 the stochastic mask is drawn from --seed.
            """)

    @OptionGroup var inputs: ModelRunOptions

    @Option(help: "Number of NCA steps.")
    var steps: Int

    @Option(help: "Output state (.npy), R × S × S × C.")
    var out: String

    func validate() throws {
        _ = try inputs.start.required()
        guard steps >= 0 else { throw ValidationError("--steps must be 0 or more (got \(steps))") }
    }

    func run() throws { try run(in: inputs.precision) }

    func run<T: BLASScalar>(_: T.Type) throws {
        let nca: NCAModel<T> = try ModelFile.read(inputs.model)
        let c = nca.configuration
        var x: Tensor<T> = try StateFile.readState(
            try inputs.start.required(), channels: c.channels, observable: c.observableChannels, frame: inputs.start.frame)
        let engine = NCAEngine<T>(configuration: c, batch: x.shape[0], size: x.shape[1])
        var rng = RandomGenerator(seed: inputs.seed)
        engine.run(nca, state: &x, steps: steps, rng: &rng)
        guard x.scalars.allSatisfy({ $0.isFinite }) else {
            throw FileError(path: out, problem: "the state diverged to NaN or infinity within \(steps) steps; nothing written")
        }
        try NPY.write(x, to: out)
        say("wrote \(out): \(x.shape.map(String.init).joined(separator: " × ")) after \(steps) steps")
    }
}
