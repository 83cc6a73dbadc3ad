import ArgumentParser
import Foundation
import NCA

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Test loss: roll a model out from a trajectory's first frame and compare with every later frame.",
        discussion: """
            The paper's test (§3.1): from an unseen initial condition, run the model for as many \
            steps as the trajectory covers (frames are --time-sampling steps apart; e.g. \
            'nca data gray-scott --init unseen --steps 2048') and average the loss over the \
            snapshots. Prints the mean and, with --json, writes every snapshot's loss.

            --beyond k runs on past the data's horizon H to k × H and compares the state every t \
            steps with the data's last frame: for a sequence whose last picture must stay put (the \
            image task) it reports the worst of those losses, the loss at H for comparison, and \
            the range of the observable values there (a model whose end state is an attractor \
            keeps the worst close to the value at H and the values in the data's range).
            """)

    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(help: "Trajectory (.npy), (M+1) × R × S × S × O.")
    var data: String

    @OptionGroup var sampling: TimeSamplingOption
    var timeSampling: Int { sampling.value }

    @Option(help: "Compare only the snapshots within this many steps (default: all).")
    var steps: Int?

    @Option(help: "Loss: euclidean, mse, hellinger, bhattacharyya, sliced-wasserstein or spectral (Sources/NCA/NCA.docc/TrainAGrayScottModel.md; sliced Wasserstein with the directions of seed 0).")
    var loss: LossFunction = .euclidean

    @Option(help: "Seed for the stochastic mask.")
    var seed: UInt64 = 0

    @Option(help: "Run on to this many times the data's horizon and report the worst loss to the last frame (1 = off).")
    var beyond: Int = 1

    @Option(help: "Also write the result as JSON to this file.")
    var json: String?

    func validate() throws {
        guard beyond >= 1 && beyond <= 1000 else { throw ValidationError("--beyond must be between 1 and 1000 (got \(beyond))") }
        if let steps, steps < timeSampling {
            throw ValidationError("--steps must cover at least one interval of \(timeSampling) steps")
        }
    }

    func run() throws {
        try reportingErrors {
            let nca: NCAModel<Float> = try ModelFile.read(model)
            let c = nca.configuration
            let trajectory = try TrajectoryFile.read(data, observable: c.observableChannels, channels: c.channels)
            let frames = steps.map { $0 / timeSampling + 1 }
            let result = RolloutEvaluation.evaluate(
                nca, data: trajectory, timeSampling: timeSampling, loss: loss, frames: frames, seed: seed)
            let covered = result.losses.count * timeSampling
            say(
                String(
                    format: "test loss %.6g (%@, mean over %d snapshots, %d steps)", result.meanLoss, loss.rawValue,
                    result.losses.count, covered))
            var beyondJSON = ""
            if beyond > 1 {
                let r = trajectory.shape[1]
                let per = trajectory.count / (trajectory.shape[0] * r)
                let k = result.losses.count
                let last = Tensor(
                    shape: Array(trajectory.shape.dropFirst()),
                    scalars: Array(trajectory.scalars[(k * r * per)..<((k + 1) * r * per)]))
                let run = RolloutEvaluation.beyond(nca, from: result, lastFrame: last, reach: beyond, loss: loss, seed: seed)
                let worst = run.losses.indices.max { run.losses[$0] < run.losses[$1] || run.losses[$1].isNaN }
                let atHorizon = result.losses.last ?? .nan
                if let worst {
                    let range = run.range.map { String(format: "[%.4g, %.4g]", $0.lowerBound, $0.upperBound) } ?? "not finite"
                    say(
                        String(
                            format:
                                "beyond the horizon (step %d) to step %d: worst loss to the last frame %.6g at step %d (%.3g × its value %.6g at the horizon); observable values in %@",
                            covered, beyond * covered, run.losses[worst], run.steps[worst], run.losses[worst] / atHorizon,
                            atHorizon, range))
                    let value = { (x: Double) in x.isFinite ? "\(x)" : "null" }
                    let rangeJSON = run.range.map { "[\($0.lowerBound), \($0.upperBound)]" } ?? "null"
                    beyondJSON =
                        ", \"beyond\": {\"reach\": \(beyond), \"worst_loss\": \(value(run.losses[worst])), \"worst_step\": \(run.steps[worst]), \"loss_at_horizon\": \(value(atHorizon)), \"observable_range\": \(rangeJSON), \"steps\": [\(run.steps.map(String.init).joined(separator: ", "))], \"losses\": [\(run.losses.map(value).joined(separator: ", "))]}"
                }
            }
            if let json {
                let losses = result.losses.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ", ")
                let mean = result.meanLoss.isFinite ? "\(result.meanLoss)" : "null"
                let text = """
                    {"loss": \(mean), "loss_function": "\(loss.rawValue)", "time_sampling": \(timeSampling), "steps": \(covered), "snapshot_losses": [\(losses)]\(beyondJSON)}

                    """
                try AtomicFile.write(Data(text.utf8), to: json)
            }
            if !result.meanLoss.isFinite {
                say("warning: the rollout diverged (NaN or infinity); the model is unstable from this initial state")
            }
        }
    }
}
