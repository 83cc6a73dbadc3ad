import ArgumentParser
import Foundation
import NCA

struct AnalyseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyse",
        abstract: "Look inside a model: SVD of its weights, what it reads and writes, linear stability, pruning.",
        discussion: """
            Singular value decompositions (LAPACK gesdd) of W2, W1 and each kernel's block of W2 give \
            spectra, effective ranks and the top singular directions; the norms of W2's rows give a \
            channel × kernel importance table (e.g. "channel 1 is read mostly through the \
            laplacian: diffusive") and, with W1, which hidden channels and hidden units matter. \
            The linear stability of a uniform state is read from the eigenvalues of the linearised \
            step at every lattice wavenumber: which wavelengths and channels a perturbation grows \
            along. With --data, the model and pruned variants (low-rank W2, weakest hidden units \
            and channels zeroed) are rolled out against the trajectory.

            Prints a summary; with --out writes DIR/analysis.json (every number) and \
            DIR/analysis.html (plots and the findings in words, self-contained).

            The uniform state is --about if given, else the per-channel mean of --state, else the \
            mean of --data's first frame (hidden channels 0), else all zeros. With --state the \
            analysis also finds (Lanczos on JᵀJ) the perturbation of that very state that \
            grows most over --amplification-steps steps, and the channels it lives in.
            """)

    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(help: "Trajectory (.npy, (M+1) × R × S × S × O) for the pruning check and the default uniform state.")
    var data: String?

    @OptionGroup var sampling: TimeSamplingOption
    var timeSampling: Int { sampling.value }

    @Option(help: "Pruning check: compare only the snapshots within this many steps (default: all of --data).")
    var steps: Int?

    @Option(help: "Loss for the pruning check: euclidean, mse, hellinger, bhattacharyya, sliced-wasserstein or spectral (Sources/NCA/NCA.docc/TrainAGrayScottModel.md).")
    var loss: LossFunction = .euclidean

    @OptionGroup(title: "State (its per-channel spatial mean is the uniform state of the stability analysis)")
    var start: StateInputOptions
    var state: String? { start.state }
    var stateFrame: Int? { start.frame }

    @Option(
        name: .customLong("amplification-steps"),
        help: "With --state: n for the largest amplification σ_max(∂Φⁿ/∂x) of a perturbation of that state (batch entry 0).")
    var amplificationSteps: Int = 1

    @Option(help: ArgumentHelp("The uniform state as one value per channel, comma-separated.", valueName: "v0,v1,…"))
    var about: String?

    @Option(help: "Lattice side whose wavenumbers are scanned (default: --data's side, else 64).")
    var size: Int?

    @Option(help: "Seed for the stochastic mask in the pruning rollouts.")
    var seed: UInt64 = 0

    @Option(help: "Output folder for analysis.json and analysis.html (created if missing).")
    var out: String?

    func validate() throws {
        if let steps, steps < timeSampling {
            throw ValidationError("--steps must cover at least one interval of \(timeSampling) steps")
        }
        if let size, size < 1 || size > 1024 { throw ValidationError("--size must be between 1 and 1024 (got \(size))") }
        if about != nil && state != nil { throw ValidationError("give either --about or --state, not both") }
        guard amplificationSteps >= 1 && amplificationSteps <= 10_000 else {
            throw ValidationError("--amplification-steps must be between 1 and 10000 (got \(amplificationSteps))")
        }
    }

    func run() throws {
        try reportingErrors {
            let nca: NCAModel<Float> = try ModelFile.read(model)
            let cfg = nca.configuration
            let (c, o) = (cfg.channels, cfg.observableChannels)
            let trajectory = try data.map { try TrajectoryFile.read($0, observable: o, channels: c) }
            var uniform = [Double](repeating: 0, count: c)
            var amplification: StateAmplification? = nil
            if let about {
                let values = about.split(separator: ",", omittingEmptySubsequences: false).map {
                    Double($0.trimmingCharacters(in: .whitespaces))
                }
                guard values.count == c, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                    throw ValidationError("--about needs \(c) finite numbers (one per channel), comma-separated; got '\(about)'")
                }
                uniform = values.map { $0! }
            } else if let state {
                let x: Tensor<Double> = try StateFile.readState(state, channels: c, observable: o, frame: stateFrame)
                uniform = Self.channelMeans(x.scalars, channels: c)
                let s = x.shape[1]
                let first = Tensor(shape: [1, s, s, c], scalars: Array(x.scalars[0..<(s * s * c)]))
                amplification = try StateAmplification.compute(
                    NCAModel<Double>(converting: nca), state: first, steps: amplificationSteps, seed: seed)
            } else if let trajectory {
                let (r, s, dc) = (trajectory.shape[1], trajectory.shape[2], trajectory.shape[4])
                let first = trajectory.scalars[0..<(r * s * s * dc)].map(Double.init)
                let means = Self.channelMeans(first, channels: dc)
                for ch in 0..<o { uniform[ch] = means[ch] }
            }
            let side = size ?? trajectory?.shape[2] ?? 64
            let exact = NCAModel<Double>(converting: nca)
            let weights = try WeightAnalysis(exact)
            let stability = try FourierStability(exact, about: uniform, size: side)
            var pruning: PruningCheck? = nil
            if let trajectory {
                let frames = steps.map { $0 / timeSampling + 1 }
                pruning = try PruningCheck.run(
                    nca, analysis: weights, data: trajectory, timeSampling: timeSampling, loss: loss, frames: frames, seed: seed)
            }
            let analysis = ModelAnalysis(
                model: (model as NSString).lastPathComponent, configuration: cfg, weights: weights, stability: stability,
                stateAmplification: amplification, pruning: pruning)
            say(Self.summary(analysis))
            if let out {
                try AtomicFile.makeFolder(out)
                try AtomicFile.write(try analysis.json(), to: out + "/analysis.json")
                try AnalysisReport(analysis: analysis, toolkitVersion: NCACommand.version).write(to: out + "/analysis.html")
                say("wrote \(out)/analysis.json and \(out)/analysis.html")
            }
        }
    }

    static func channelMeans(_ values: [Double], channels: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: channels)
        for (i, value) in values.enumerated() { sums[i % channels] += value }
        let cells = Double(max(1, values.count / channels))
        return sums.map { $0 / cells }
    }

    /// The terminal summary: findings, then the importance table.
    static func summary(_ analysis: ModelAnalysis) -> String {
        let w = analysis.weights
        var lines = analysis.sentences.map { "• " + $0 }
        lines.append("")
        lines.append("importance ‖W2[(c,k),:]‖ (rows: channels; h = hidden):")
        let width = max(10, (w.kernels.map(\.count).max() ?? 0) + 2)
        lines.append("        " + w.kernels.map { $0.padding(toLength: width, withPad: " ", startingAt: 0) }.joined())
        for ch in 0..<w.channels {
            let label = (ch < w.observableChannels ? "ch \(ch)" : "ch \(ch) h").padding(toLength: 8, withPad: " ", startingAt: 0)
            lines.append(
                label
                    + w.importance[ch].map { String(format: "%.4f", $0).padding(toLength: width, withPad: " ", startingAt: 0) }
                    .joined())
        }
        if let pruning = analysis.pruning {
            lines.append("")
            lines.append("pruning check (\(pruning.lossFunction) loss over \(pruning.snapshots) snapshots):")
            for variant in pruning.variants {
                let loss = variant.loss.map { String(format: "%.5g", $0) } ?? "diverged"
                let change = variant.relativeChange.map { String(format: " (%+.1f%%)", 100 * $0) } ?? ""
                lines.append("  \(variant.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(loss)\(change)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
