import Benchmark
import Foundation
import NCA

/// Reports the achieved rate of `flops` floating-point operations per iteration, in MFLOP/s.
func recordRate(_ benchmark: Benchmark, flops: Double, seconds: Double) {
    benchmark.measurement(.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false), Int(flops / seconds / 1e6))
}

/// GEMM operands shared by the parts of a split product (each part writes disjoint rows of C).
struct Operands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
}

/// C (m × n) = A (m × k) · B (k × n) in Float, timed per call. `threads` > 1 either lets
/// OpenBLAS use that many threads for the one call (`split: false`) or splits the rows into
/// `threads` parts computed at once, each by single-threaded BLAS (`split: true`, the engine's way).
func gemmBenchmark(_ name: String, m: Int, k: Int, n: Int, threads: Int = 1, split: Bool = false) {
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)],
            timeUnits: .microseconds, maxDuration: .seconds(2), maxIterations: 200)
    ) { benchmark in
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        LinearAlgebra.threadCount = split ? 1 : threads
        defer { LinearAlgebra.threadCount = 1 }
        for _ in benchmark.scaledIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            if split {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            let operands = Operands(a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                            DispatchQueue.concurrentPerform(iterations: threads) { part in
                                // Each part writes its own rows of C.
                                let rows = (m * part / threads)..<(m * (part + 1) / threads)
                                LinearAlgebra.gemm(
                                    .none, .none, m: rows.count, n: n, k: k, a: operands.a + rows.lowerBound * k, lda: k,
                                    b: operands.b, ldb: n, c: operands.c + rows.lowerBound * n, ldc: n)
                            }
                        }
                    }
                }
            } else {
                LinearAlgebra.gemm(.none, .none, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            }
            recordRate(
                benchmark, flops: 2 * Double(m * n * k), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        blackHole(c)
    }
}

/// Who runs a tile product in `tileProductBenchmark`.
enum TileBackend: String, CaseIterable {
    case kernels = "nca kernels"
    case openBLAS = "OpenBLAS"
    case libxsmm = "libxsmm"
}

/// The engine's products on one tile, single-threaded: C (m × n) = A (m × k) · B (k × n) by nca's
/// small-GEMM kernels (this CPU's best level), OpenBLAS or libxsmm; with `transposed`, the
/// weight-gradient shape C (k × n) += Aᵀ · B with A m × k and B m × n (a sum over m cells).
func tileProductBenchmark(_ name: String, m: Int, k: Int, n: Int, backend: TileBackend, transposed: Bool = false) {
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)],
            timeUnits: .microseconds, maxDuration: .seconds(1), maxIterations: 2000)
    ) { benchmark in
        let level = KernelLevel.ofCPU
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: (transposed ? m : k) * n)
        var c = [Float](repeating: 0, count: (transposed ? k : m) * n)
        // Without nca's kernels on this CPU the row times OpenBLAS, as the engine would.
        let who = backend == .openBLAS || level == .blas ? .openBLAS : backend
        for _ in benchmark.scaledIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            switch (who, transposed) {
            case (.kernels, false):
                LinearAlgebra.productNN(
                    level: level, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n, accumulate: false)
            case (.kernels, true):
                LinearAlgebra.productTNAccumulate(level: level, m: k, n: n, k: m, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            case (.libxsmm, false):
                LinearAlgebra.xsmmProduct(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n, accumulate: false)
            case (.libxsmm, true):
                LinearAlgebra.xsmmProductTNAccumulate(m: k, n: n, k: m, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            case (.openBLAS, false):
                LinearAlgebra.gemm(.none, .none, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            case (.openBLAS, true):
                LinearAlgebra.gemm(.transposed, .none, m: k, n: n, k: m, a: a, lda: k, b: b, ldb: n, beta: 1, c: &c, ldc: n)
            }
            recordRate(
                benchmark, flops: 2 * Double(m * n * k), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        blackHole(c)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident], timeUnits: .milliseconds,
        maxDuration: .seconds(20), maxIterations: 50)

    // GEMM shapes of one NCA step, single-threaded as the engine calls them (one tile or a
    // whole batch of cells × K·C times K·C × H), and a square reference for the machine's peak.
    LinearAlgebra.threadCount = 1
    for cells in [2048, 65536, 262_144] {
        for (kc, h) in [(16, 32), (40, 64), (64, 128)] {
            gemmBenchmark("gemm cells \(cells) × K·C \(kc) × H \(h)", m: cells, k: kc, n: h)
        }
    }
    gemmBenchmark("gemm square 1024 (reference)", m: 1024, k: 1024, n: 1024)

    // 1 vs 2 threads on whole-batch shapes: OpenBLAS's own threads for one call, against two
    // halves computed at once with single-threaded BLAS (what the engine does with its tiles).
    for cells in [65536, 262_144] {
        for (kc, h) in [(16, 32), (64, 128)] {
            gemmBenchmark("gemm cells \(cells) × K·C \(kc) × H \(h), OpenBLAS 2 threads", m: cells, k: kc, n: h, threads: 2)
            gemmBenchmark(
                "gemm cells \(cells) × K·C \(kc) × H \(h), 2 halves × 1 thread", m: cells, k: kc, n: h, threads: 2, split: true)
        }
    }
    gemmBenchmark("gemm square 1024 (reference), OpenBLAS 2 threads", m: 1024, k: 1024, n: 1024, threads: 2)

    // The forward and backward products of one HEAD and one BIG tile (2 048 cells), by nca's
    // small-GEMM kernels and by OpenBLAS: hidden A = Z·W2 (k = K·C, n = H), update F = u(A)·W1
    // (k = H, n = C), input gradients dH = dF·W1ᵀ (k = C, n = H) and dZ = dA·W2ᵀ (k = H, n = K·C),
    // weight gradients dW2 += Zᵀ·dA and dW1 += u(A)ᵀ·dF (sums over the cells).
    let tile = 2048
    for (workload, c, kc, h) in [("HEAD", 8, 16, 32), ("BIG", 16, 64, 64)] {
        let products = [
            ("hidden Z·W2", kc, h, false), ("update u(A)·W1", h, c, false), ("dH = dF·W1ᵀ", c, h, false),
            ("dZ = dA·W2ᵀ", h, kc, false), ("dW2 += Zᵀ·dA", kc, h, true), ("dW1 += u(A)ᵀ·dF", h, c, true),
        ]
        for (label, k, n, transposed) in products {
            for backend in TileBackend.allCases {
                tileProductBenchmark(
                    "\(workload) tile \(label) (\(tile) × \(k) × \(n)), \(backend.rawValue)", m: tile, k: k, n: n,
                    backend: backend, transposed: transposed)
            }
        }
    }

    // Batched vs unbatched: the dense layer A = Z · W2 for 4 096 cells as one GEMM, and as one
    // GEMV per cell (what a per-cell loop would do).
    let cellsPerLattice = 4096
    let (kcHead, hHead) = (16, 32)
    Benchmark(
        "dense layer, 4096 cells: one GEMM",
        configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(2))
    ) { benchmark in
        let z = [Float](repeating: 0.5, count: cellsPerLattice * kcHead)
        let w2 = [Float](repeating: 0.1, count: kcHead * hHead)
        var a = [Float](repeating: 0, count: cellsPerLattice * hHead)
        for _ in benchmark.scaledIterations {
            LinearAlgebra.gemm(
                .none, .none, m: cellsPerLattice, n: hHead, k: kcHead, a: z, lda: kcHead, b: w2, ldb: hHead, c: &a, ldc: hHead)
        }
        blackHole(a)
    }
    Benchmark(
        "dense layer, 4096 cells: one GEMV per cell",
        configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, maxDuration: .seconds(2))
    ) { benchmark in
        let z = [Float](repeating: 0.5, count: cellsPerLattice * kcHead)
        let w2 = [Float](repeating: 0.1, count: kcHead * hHead)
        var a = [Float](repeating: 0, count: cellsPerLattice * hHead)
        for _ in benchmark.scaledIterations {
            z.withUnsafeBufferPointer { zp in
                a.withUnsafeMutableBufferPointer { ap in
                    for cell in 0..<cellsPerLattice {
                        // a_cellᵀ = W2ᵀ · z_cellᵀ
                        LinearAlgebra.gemv(
                            .transposed, m: kcHead, n: hHead, a: w2, lda: hHead, x: zp.baseAddress! + cell * kcHead,
                            y: ap.baseAddress! + cell * hHead)
                    }
                }
            }
        }
        blackHole(a)
    }

    for workload in [Workload.head, Workload.big] {
        Benchmark("\(workload.name) training step, t=\(workload.steps)") { benchmark in
            var model = workload.model()
            var optimizer = workload.optimizer(for: model)
            let x0 = workload.state()
            let target = workload.target()
            let engine = NCAEngine<Float>(configuration: workload.configuration, batch: workload.batch, size: workload.size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(workload.trainingStep(engine: engine, model: &model, optimizer: &optimizer, state: x0, target: target))
            }
        }

        // The same step with the dense products on libxsmm and on OpenBLAS (each with separate
        // element-wise passes and copied perception planes): the libxsmm decision's numbers.
        for level in [KernelLevel.libxsmm, .blas] where level.isAvailable {
            Benchmark("\(workload.name) training step, t=\(workload.steps), \(level.name) products") { benchmark in
                var model = workload.model()
                var optimizer = workload.optimizer(for: model)
                let x0 = workload.state()
                let target = workload.target()
                let engine = NCAEngine<Float>(
                    configuration: workload.configuration, batch: workload.batch, size: workload.size, kernelLevel: level)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    blackHole(
                        workload.trainingStep(engine: engine, model: &model, optimizer: &optimizer, state: x0, target: target))
                }
            }
        }

        // What a user waits for: one epoch of the trainer (one mini-batch of all R transitions),
        // so that a regression in the trainer around the engine shows.
        Benchmark("\(workload.name) training epoch, one mini-batch, t=\(workload.steps)") { benchmark in
            let trainer = workload.trainer()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try trainer.runEpoch())
            }
        }

        Benchmark("\(workload.name) forward+backward, t=\(workload.steps)") { benchmark in
            let model = workload.model()
            let x0 = workload.state()
            let target = workload.target()
            let engine = NCAEngine<Float>(configuration: workload.configuration, batch: workload.batch, size: workload.size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var rng = RandomGenerator(seed: 0)
                let prediction = engine.forward(model, from: x0, steps: workload.steps, rng: &rng)
                let (_, dPrediction) = LossFunction.euclidean.evaluate(
                    prediction: prediction, target: target, observableChannels: workload.configuration.observableChannels)
                blackHole(engine.backward(model, outputGradient: dPrediction))
            }
        }

        Benchmark("\(workload.name) forward only, t=\(workload.steps)") { benchmark in
            let model = workload.model()
            let x0 = workload.state()
            let engine = NCAEngine<Float>(configuration: workload.configuration, batch: workload.batch, size: workload.size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var x = x0
                var rng = RandomGenerator(seed: 0)
                engine.run(model, state: &x, steps: workload.steps, rng: &rng)
                blackHole(x)
            }
        }
    }

    // Larger lattices, the same cells per step (R 4 at S 128, R 1 at S 256): cost per cell-step
    // should stay flat as the lattice grows.
    for size in [128, 256] {
        let workload = Workload.head.resized(to: size)
        Benchmark("HEAD S \(size), R \(workload.batch) training step, t=\(workload.steps)") { benchmark in
            var model = workload.model()
            var optimizer = workload.optimizer(for: model)
            let x0 = workload.state()
            let target = workload.target()
            let engine = NCAEngine<Float>(configuration: workload.configuration, batch: workload.batch, size: size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(workload.trainingStep(engine: engine, model: &model, optimizer: &optimizer, state: x0, target: target))
            }
        }
        Benchmark("HEAD S \(size) rollout, R=1, 64 steps") { benchmark in
            var single = workload
            single.batch = 1
            let model = single.model()
            var x = single.state()
            let engine = NCAEngine<Float>(configuration: single.configuration, batch: 1, size: size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var rng = RandomGenerator(seed: 0)
                engine.run(model, state: &x, steps: 64, rng: &rng)
                blackHole(x)
            }
        }
    }

    // Rollout speed (R 1, HEAD-shaped): steps per second of a free run.
    Benchmark("HEAD-shaped rollout, R=1, 256 steps") { benchmark in
        var head = Workload.head
        head.batch = 1
        let model = head.model()
        var x = head.state()
        let engine = NCAEngine<Float>(configuration: head.configuration, batch: 1, size: head.size)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var rng = RandomGenerator(seed: 0)
            engine.run(model, state: &x, steps: 256, rng: &rng)
            blackHole(x)
        }
    }
}
