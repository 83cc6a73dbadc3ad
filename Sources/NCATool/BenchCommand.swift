import ArgumentParser
import Foundation
import NCA

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time one forward+backward pass (BPTT) of the paper's Gray-Scott model on this machine.",
        discussion: """
            HEAD: S 64, C 8, identity+laplacian, H 32, relu, R 16 lattices, t 32 steps, p 0, Euclidean \\
            loss. Prints the median time of --repeats passes after one warm-up, cell-steps per second, \\
            and effective GFLOP/s (5 280 FLOP per cell-step forward+backward, 1 872 forward only). \\
            The full suite is 'swift package benchmark' (Benchmarks/README.md).
            """)

    @Option(help: "Workload: head (the Gray-Scott model) or big (the image model).")
    var config: BenchConfig = .head

    @Option(help: "Timed passes (after one warm-up).")
    var repeats: Int = 5

    @Option(help: "Worker threads (default: NCA_THREADS or every core).")
    var threads: Int?

    @Option(help: "t, steps of the pass (HEAD uses 32).")
    var steps: Int = 32

    @Option(name: .customLong("recompute-every"), help: "Gradient checkpointing: keep every k-th state, recompute in between (1 = store every step).")
    var recomputeEvery: Int = 1

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard repeats >= 1 && repeats <= 1000 else { throw ValidationError("--repeats must be between 1 and 1000") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
        guard steps >= 1 && steps <= 100_000 else { throw ValidationError("--steps must be between 1 and 100000 (got \(steps))") }
        guard recomputeEvery >= 1 else { throw ValidationError("--recompute-every must be at least 1 (got \(recomputeEvery))") }
    }

    func run() throws {
        var head = config == .head ? Workload.head : Workload.big
        head.steps = steps
        let (configuration, size) = (head.configuration, head.size)
        let model = head.model()
        let x0 = head.state()
        let target = head.target()
        let engine = NCAEngine<Float>(
            configuration: configuration, batch: head.batch, size: size, threads: threads ?? NCAEngine<Float>.defaultThreads)
        engine.recomputeEvery = recomputeEvery
        func pass(forwardOnly: Bool) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            var maskRNG = RandomGenerator(seed: 0)
            if forwardOnly {
                var x = x0
                engine.run(model, state: &x, steps: steps, rng: &maskRNG)
            } else {
                let prediction = engine.forward(model, from: x0, steps: steps, rng: &maskRNG)
                let (_, dPrediction) = LossFunction.euclidean.evaluate(
                    prediction: prediction, target: target, observableChannels: configuration.observableChannels)
                _ = engine.backward(model, outputGradient: dPrediction)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        func median(forwardOnly: Bool) -> Double {
            _ = pass(forwardOnly: forwardOnly)
            let times = (0..<repeats).map { _ in pass(forwardOnly: forwardOnly) }.sorted()
            return times[times.count / 2]
        }
        var trainable = model
        var optimizer = head.optimizer(for: model)
        func trainingStep() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = head.trainingStep(engine: engine, model: &trainable, optimizer: &optimizer, state: x0, target: target)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = trainingStep()
        let training = (0..<repeats).map { _ in trainingStep() }.sorted()[repeats / 2]
        let backward = median(forwardOnly: false)
        let forward = median(forwardOnly: true)
        let cellSteps = Double(head.cellSteps)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024
        if json {
            say(
                String(
                    format:
                        "{\"config\": \"%@\", \"steps\": %d, \"recompute_every\": %d, \"training_step_s\": %.6f, \"forward_backward_s\": %.6f, \"forward_s\": %.6f, \"cell_steps\": %.0f, \"threads\": %d, \"blas_kernels\": \"%@\", \"peak_rss_mb\": %.1f}",
                    head.name, steps, recomputeEvery, training, backward, forward, cellSteps, engine.threads, LinearAlgebra.kernelName, peakMB))
        } else {
            say(
                "\(head.name) (S \(size), C \(configuration.channels), \(Kernel.listDescription(configuration.kernels)), H \(configuration.hiddenSize), R \(head.batch), t \(steps), p \(configuration.skipProbability)\(recomputeEvery > 1 ? ", recompute every \(recomputeEvery)" : "")), \(engine.threads) threads, OpenBLAS \(LinearAlgebra.kernelName) kernels:"
            )
            say(
                String(
                    format: "  training step     %7.1f ms   %6.2f M cell-steps/s   %6.1f GFLOP/s", training * 1e3,
                    cellSteps / training / 1e6, cellSteps * Double(head.forwardBackwardFLOPs) / training / 1e9))
            say(
                String(
                    format: "  forward+backward  %7.1f ms   %6.2f M cell-steps/s   %6.1f GFLOP/s", backward * 1e3,
                    cellSteps / backward / 1e6, cellSteps * Double(head.forwardBackwardFLOPs) / backward / 1e9))
            say(
                String(
                    format: "  forward only      %7.1f ms   %6.2f M cell-steps/s   %6.1f GFLOP/s", forward * 1e3,
                    cellSteps / forward / 1e6, cellSteps * Double(head.forwardFLOPs) / forward / 1e9))
            say(String(format: "  peak memory       %7.0f MB", peakMB))
        }
    }
}

enum BenchConfig: String, CaseIterable, ExpressibleByArgument {
    case head
    case big
}
