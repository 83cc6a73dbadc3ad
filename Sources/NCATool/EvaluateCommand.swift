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
            """)

    @Option(help: "Model file (.safetensors).")
    var model: String

    @Option(help: "Trajectory (.npy), (M+1) × R × S × S × O.")
    var data: String

    @Option(name: .customLong("time-sampling"), help: "t, NCA steps between the trajectory's frames.")
    var timeSampling: Int = 32

    @Option(help: "Compare only the snapshots within this many steps (default: all).")
    var steps: Int?

    @Option(help: "Loss: euclidean or mse.")
    var loss: LossFunction = .euclidean

    @Option(help: "Seed for the stochastic mask.")
    var seed: UInt64 = 0

    @Option(help: "Also write the result as JSON to this file.")
    var json: String?

    func validate() throws {
        guard timeSampling >= 1 else { throw ValidationError("--time-sampling must be at least 1 (got \(timeSampling))") }
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
            if let json {
                let losses = result.losses.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ", ")
                let mean = result.meanLoss.isFinite ? "\(result.meanLoss)" : "null"
                let text = """
                    {"loss": \(mean), "loss_function": "\(loss.rawValue)", "time_sampling": \(timeSampling), "steps": \(covered), "snapshot_losses": [\(losses)]}

                    """
                try AtomicFile.write(Data(text.utf8), to: json)
            }
            if !result.meanLoss.isFinite {
                say("warning: the rollout diverged (NaN or infinity); the model is unstable from this initial state")
            }
        }
    }
}
