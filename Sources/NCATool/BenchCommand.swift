import ArgumentParser
import Foundation
import NCA

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Time a training epoch, a training step, a forward+backward pass (BPTT), a forward pass and a rollout on this machine.",
        discussion: """
            HEAD (--config head): S 64, C 8, identity+laplacian, H 32, relu, R 16 lattices, t 32 \
            steps, p 0. BIG (--config big): S 64, C 16, identity+grad-x+grad-y+laplacian, H 64, \
            relu, R 8, t 32, p 0.5. A training step is forward, Euclidean loss, backward, gradient \
            normalisation and a Nadam update; a training epoch is what `nca train` does per epoch \
            on data of R trajectories with one transition each, in one mini-batch (the training \
            step, plus gathering the mini-batch and propagating the working states). --size runs \
            the same model on S × S lattices with R scaled by 64²/S² (at least 1), so that cost per \
            cell-step can be compared across sizes. The rollout is one lattice (R 1) of the same \
            size, 256 steps. Prints the median time of --repeats passes after one \
            warm-up, cell-steps per second and effective GFLOP/s (per cell-step: HEAD 5 280 FLOP \
            forward+backward, 1 872 forward; BIG 33 216 and 11 488, counted for every cell, also \
            the half that BIG's mask leaves unchanged and whose dense layers the engine skips), \
            the process's peak resident \
            memory, and the share of the machine's practical sgemm rate (one 1024³ product per \
            worker thread at once) that the training step reaches. --steps and --recompute-every \
            show what gradient checkpointing does to time and memory for long rollouts. The full \
            suite is 'swift package benchmark' (Benchmarks/README.md).
            """)

    @Option(help: "Workload: head (the Gray-Scott model) or big (the image model).")
    var config: BenchConfig = .head

    @Option(help: "Timed passes (after one warm-up).")
    var repeats: Int = 5

    @Option(help: "Worker threads (default: NCA_THREADS or every core).")
    var threads: Int?

    @Option(help: "S, the lattice size; R is scaled by 64²/S² (at least 1) to keep the cells per step.")
    var size: Int = 64

    @Option(help: "t, steps of the pass (HEAD uses 32).")
    var steps: Int = 32

    @Option(
        name: .customLong("recompute-every"),
        help: "Gradient checkpointing: keep every k-th state, recompute in between (1 = store every step).")
    var recomputeEvery: Int = 1

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard repeats >= 1 && repeats <= 1000 else { throw ValidationError("--repeats must be between 1 and 1000") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
        guard steps >= 1 && steps <= 100_000 else { throw ValidationError("--steps must be between 1 and 100000 (got \(steps))") }
        guard size >= 4 && size <= 1024 else { throw ValidationError("--size must be between 4 and 1024 (got \(size))") }
        guard recomputeEvery >= 1 else { throw ValidationError("--recompute-every must be at least 1 (got \(recomputeEvery))") }
    }

    /// What one `nca bench` run measured (median seconds).
    struct Timings {
        var epoch: Double
        var training: Double
        var backward: Double
        var forward: Double
        var rolloutStep: Double
        var peakMB: Double
        var sgemmPeak: Double
        var threads: Int
        var kernels: String
    }

    func run() throws {
        var head = (config == .head ? Workload.head : Workload.big).resized(to: size)
        head.steps = steps
        let timings = try measure(head)
        if json { printJSON(head, timings) } else { printText(head, timings) }
    }

    private func measure(_ head: Workload) throws -> Timings {
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
        // An epoch of the trainer on the same geometry (its own engine, as `nca train` has).
        let trainer = head.trainer()
        func epoch() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try trainer.runEpoch()  // the workload's weights keep the state bounded
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = try epoch()
        let epochTime = try (0..<repeats).map { _ in try epoch() }.sorted()[repeats / 2]
        let backward = median(forwardOnly: false)
        let forward = median(forwardOnly: true)
        // A free rollout of one lattice (R 1), 256 steps: how fast a trained rule runs.
        var single = head
        single.batch = 1
        let rolloutEngine = NCAEngine<Float>(
            configuration: configuration, batch: 1, size: size, threads: threads ?? NCAEngine<Float>.defaultThreads)
        func rolloutPass() -> Double {
            var x = single.state()
            var rng = RandomGenerator(seed: 0)
            let start = DispatchTime.now().uptimeNanoseconds
            rolloutEngine.run(model, state: &x, steps: 256, rng: &rng)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / 256
        }
        _ = rolloutPass()
        let rolloutStep = (0..<repeats).map { _ in rolloutPass() }.sorted()[repeats / 2]
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024  // before the sgemm peak's own matrices
        let peak = Self.sgemmPeak(threads: engine.threads)
        return Timings(
            epoch: epochTime, training: training, backward: backward, forward: forward, rolloutStep: rolloutStep, peakMB: peakMB,
            sgemmPeak: peak,
            threads: engine.threads, kernels: engine.kernelLevel.name)
    }

    private func printJSON(_ head: Workload, _ m: Timings) {
        say(
            String(
                format:
                    "{\"config\": \"%@\", \"size\": %d, \"batch\": %d, \"steps\": %d, \"recompute_every\": %d, \"epoch_s\": %.6f, \"training_step_s\": %.6f, \"forward_backward_s\": %.6f, \"forward_s\": %.6f, \"cell_steps\": %.0f, \"threads\": %d, \"blas_kernels\": \"%@\", \"engine_kernels\": \"%@\", \"peak_rss_mb\": %.1f, \"sgemm_peak_gflops\": %.1f, \"rollout_step_s\": %.8f}",
                head.name, head.size, head.batch, steps, recomputeEvery, m.epoch, m.training, m.backward, m.forward,
                Double(head.cellSteps), m.threads,
                LinearAlgebra.kernelName, m.kernels, m.peakMB, m.sgemmPeak, m.rolloutStep))
    }

    private func printText(_ head: Workload, _ m: Timings) {
        let (configuration, size) = (head.configuration, head.size)
        let (training, backward, forward) = (m.training, m.backward, m.forward)
        let cellSteps = Double(head.cellSteps)
        say(
            "\(head.name) (S \(size), C \(configuration.channels), \(Kernel.listDescription(configuration.kernels)), H \(configuration.hiddenSize), R \(head.batch), t \(steps), p \(configuration.skipProbability)\(recomputeEvery > 1 ? ", recompute every \(recomputeEvery)" : "")), \(m.threads) threads, dense layers on \(m.kernels) kernels, OpenBLAS \(LinearAlgebra.kernelName):"
        )
        say(
            String(
                format: "  training epoch    %7.1f ms   %6.2f M cell-steps/s   %6.1f GFLOP/s", m.epoch * 1e3,
                cellSteps / m.epoch / 1e6, cellSteps * Double(head.forwardBackwardFLOPs) / m.epoch / 1e9))
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
        say(
            String(
                format: "  rollout, R 1      %7.1f µs per step (256 steps), %.2f ns per cell-step", m.rolloutStep * 1e6,
                m.rolloutStep / Double(size * size) * 1e9))
        say(String(format: "  peak memory       %7.0f MB", m.peakMB))
        let trainingRate = cellSteps * Double(head.forwardBackwardFLOPs) / training / 1e9
        let skipping = configuration.skipProbability > 0 && configuration.mask == .cell
        say(
            String(
                format:
                    "  sgemm peak        %7.1f GFLOP/s (1024³ on each of %d threads); the training step reaches %.0f%% of it%@",
                m.sgemmPeak, m.threads, 100 * trainingRate / m.sgemmPeak,
                skipping ? " in effective FLOPs (the dense layers run only where the mask updates a cell)" : ""))
    }
}

extension BenchCommand {
    /// The machine's practical single-precision GEMM rate as the engine uses it: one 1024³
    /// sgemm per worker thread at once, single-threaded BLAS each, best of 3.
    static func sgemmPeak(threads: Int) -> Double {
        let n = 1024
        let a = [Float](repeating: 0.5, count: n * n)
        let b = [Float](repeating: 0.25, count: n * n)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                var c = [Float](repeating: 0, count: n * n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            LinearAlgebra.gemm(
                                .none, .none, m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                                c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Double(threads) * 2 * Double(n * n * n) / best / 1e9
    }
}

enum BenchConfig: String, CaseIterable, ExpressibleByArgument {
    case head
    case big
}
