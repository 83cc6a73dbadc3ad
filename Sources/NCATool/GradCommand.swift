import ArgumentParser
import Foundation
import NCA

struct GradCommand: ParsableCommand, PrecisionGeneric {
    static let configuration = CommandConfiguration(
        commandName: "grad",
        abstract: "Loss and gradients after t steps from a state against a target.",
        discussion: """
            Runs t steps from X0, compares the observable channels with the target, and \
            backpropagates through all t steps. Writes DIR/loss.json ({"loss": …}) and \
            dW1.npy [H, C], dW2.npy [K·C, H], dv.npy [C], dx0.npy (shape of the state). With \
            --range-penalty λ the differentiated quantity is loss + λ · P, P the mean over the t \
            steps of Σ relu(−x) + relu(x − 1) over every entry, cell and channel of each step's \
            output; loss.json then also holds "range_penalty" (λ · P) and "total".
            """)

    @OptionGroup var inputs: ModelRunOptions

    @Option(help: "Target (.npy), R × S × S × O (or all C channels; the first O are compared).")
    var target: String

    @Option(name: .customLong("target-frame"), help: "When --target is a trajectory, the frame to compare with.")
    var targetFrame: Int?

    @Option(help: "t, NCA steps between state and target.")
    var steps: Int

    @Option(help: "Loss: euclidean (per-entry norm, averaged), mse, hellinger, bhattacharyya, sliced-wasserstein or spectral (directions from --seed); Sources/NCA/NCA.docc/TrainAGrayScottModel.md.")
    var loss: LossFunction = .euclidean

    @Option(name: .customLong("range-penalty"), help: "λ of the state-range penalty added to the loss (0 = none).")
    var rangePenalty: Double = 0

    @Option(
        name: .customLong("recompute-every"),
        help: "Gradient checkpointing: keep every k-th state, recompute in between (1 = keep all).")
    var recomputeEvery: Int = 1

    @Option(help: "Output folder (created if missing).")
    var out: String

    func validate() throws {
        _ = try inputs.start.required()
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1 (got \(steps))") }
        guard rangePenalty.isFinite && rangePenalty >= 0 else {
            throw ValidationError("--range-penalty must be a non-negative number (got \(rangePenalty))")
        }
        guard recomputeEvery >= 1 else { throw ValidationError("--recompute-every must be at least 1 (got \(recomputeEvery))") }
    }

    func run() throws { try run(in: inputs.precision) }

    func run<T: BLASScalar>(_: T.Type) throws {
        let nca: NCAModel<T> = try ModelFile.read(inputs.model)
        let c = nca.configuration
        let x0: Tensor<T> = try StateFile.readState(
            try inputs.start.required(), channels: c.channels, observable: c.observableChannels, frame: inputs.start.frame)
        let y: Tensor<T> = try StateFile.readTarget(
            target, batch: x0.shape[0], size: x0.shape[1], channels: c.channels, observable: c.observableChannels,
            frame: targetFrame)
        let engine = NCAEngine<T>(configuration: c, batch: x0.shape[0], size: x0.shape[1])
        engine.recomputeEvery = recomputeEvery
        engine.rangePenalty = rangePenalty
        var rng = RandomGenerator(seed: inputs.seed)
        let prediction = engine.forward(nca, from: x0, steps: steps, rng: &rng)
        let (value, dPrediction) = loss.evaluate(
            prediction: prediction, target: y, observableChannels: c.observableChannels, projectionSeed: inputs.seed)
        guard value.isFinite else {
            throw FileError(path: out, problem: "the loss is \(value) (the rollout diverged); nothing written")
        }
        let gradients = engine.backward(nca, outputGradient: dPrediction)
        try AtomicFile.makeFolder(out)
        // Swift prints the shortest decimal that reads back as the same Double.
        let penalty = engine.lastRangePenalty
        let extra = rangePenalty > 0 ? ", \"range_penalty\": \(penalty), \"total\": \(value + penalty)" : ""
        let json = "{\"loss\": \(value), \"loss_function\": \"\(loss.rawValue)\", \"steps\": \(steps)\(extra)}\n"
        try AtomicFile.write(Data(json.utf8), to: out + "/loss.json")
        try NPY.write(gradients.w1, to: out + "/dW1.npy")
        try NPY.write(gradients.w2, to: out + "/dW2.npy")
        try NPY.write(gradients.v, to: out + "/dv.npy")
        try NPY.write(gradients.initialState, to: out + "/dx0.npy")
        say(
            "loss \(value) (\(loss.rawValue), \(steps) steps)\(rangePenalty > 0 ? ", range penalty \(penalty)" : ""); gradients written to \(out)/"
        )
    }
}
