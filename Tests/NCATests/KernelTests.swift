import Foundation
import Testing

@testable import NCA

/// The small-GEMM kernels (AVX-512, AVX2) against naive loops, and the engine's Float path on
/// them against the same steps in Double through BLAS.
@Suite(
    "Small-GEMM kernels",
    .enabled(if: KernelLevel.ofCPU != .blas, "this CPU has neither AVX2 nor AVX-512: the kernels cannot run here"))
struct KernelTests {
    /// nca's own kernel levels this CPU can run (AVX2, AVX-512).
    static let levels = KernelLevel.allCases.filter { $0.isOwnKernels && $0.isAvailable }
    /// Every Float backend besides OpenBLAS this CPU can run: nca's levels and libxsmm.
    static let backends = KernelLevel.allCases.filter { $0 != .blas && $0.isAvailable }

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Float(rng.nextUnit() - 0.5) }
    }

    @Test("C ← [C +] A·B with blocks and epilogues equals a naive loop, every remainder")
    func productNNMatchesNaive() throws {
        var seed: UInt64 = 0
        for level in Self.levels {
            for m in [1, 2, 5, 6, 7, 8, 9, 17, 67, 130] {
                for n in [1, 7, 8, 9, 16, 17, 31, 32, 33, 48, 70] {
                    for (blocks, k) in [(1, 1), (1, 9), (1, 16), (2, 8), (3, 5)] {
                        for epilogue in 0..<5 {
                            // 3, 4: the residual update (σ per row, per element), which replaces accumulation.
                            for accumulate in epilogue >= 3 ? [false] : [false, true] {
                                try checkNN(
                                    level: level, m: m, n: n, blocks: blocks, k: k, epilogue: epilogue, accumulate: accumulate,
                                    seed: seed)
                                seed += 1
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("C ← [C +] A·B on tight rows (C, x and σ n apart: the narrow kernel's two-rows-per-vector epilogue)")
    func productNNTightRowsMatchesNaive() throws {
        var seed: UInt64 = 5000
        for level in Self.levels {
            for m in [64, 65, 67, 130] {
                for n in [5, 8] {
                    for k in [9, 16, 32] {
                        for epilogue in [0, 3, 4] {
                            for accumulate in epilogue >= 3 ? [false] : [false, true] {
                                try checkNN(
                                    level: level, m: m, n: n, blocks: 1, k: k, epilogue: epilogue, accumulate: accumulate,
                                    seed: seed, padding: 0)
                                seed += 1
                            }
                        }
                    }
                }
            }
        }
    }

    func checkNN(
        level: KernelLevel, m: Int, n: Int, blocks: Int, k: Int, epilogue: Int, accumulate: Bool, seed: UInt64, padding: Int = 3
    ) throws {
        // A: blocks of m × k with rows lda = k + 1 apart, blocks astride apart; B likewise.
        let lda = k + 1
        let astride = m * lda + 3
        let ldb = n + 2
        let bstride = k * ldb + 5
        let ldc = n + padding
        let a = Self.values(blocks * astride, seed: seed)
        let b = Self.values(blocks * bstride, seed: seed + 1)
        let c0 = Self.values(m * ldc, seed: seed + 2)
        let g = Self.values(m * ldc, seed: seed + 3)
        // The residual epilogue's x: a separate array (C itself in every fourth case).
        let x = seed % 4 == 1 ? c0 : Self.values(m * ldc, seed: seed + 5)
        // Every other case adds a bias row (before the epilogue).
        let bias: [Float]? = seed % 2 == 0 ? Self.values(n, seed: seed + 4) : nil
        var expected = c0
        for i in 0..<m {
            for j in 0..<n {
                var sum = accumulate ? Double(c0[i * ldc + j]) : 0
                if let bias { sum += Double(bias[j]) }
                for q in 0..<blocks {
                    for p in 0..<k { sum += Double(a[q * astride + i * lda + p]) * Double(b[q * bstride + p * ldb + j]) }
                }
                if epilogue == 1 { sum = max(sum, 0) }
                if epilogue == 2 && !(g[i * ldc + j] > 0) { sum = 0 }
                if epilogue == 3 { sum = Double(x[i * ldc + j]) + Double(g[i]) * sum }
                if epilogue == 4 { sum = Double(x[i * ldc + j]) + Double(g[i * ldc + j]) * sum }
                expected[i * ldc + j] = Float(sum)
            }
        }
        var c = c0
        let biasValues = bias ?? []
        let sameAsC = seed % 4 == 1
        g.withUnsafeBufferPointer { gp in
            x.withUnsafeBufferPointer { xp in
                c.withUnsafeMutableBufferPointer { cp in
                    let sp = sameAsC ? UnsafeBufferPointer(cp) : xp
                    biasValues.withUnsafeBufferPointer { bp in
                        let chosen: LinearAlgebra.Epilogue
                        switch epilogue {
                        case 1: chosen = .relu
                        case 2: chosen = .keepWherePositive(gp.baseAddress!, ldg: ldc)
                        case 3: chosen = .addMasked(gp.baseAddress!, ldg: 0, source: sp.baseAddress!)
                        case 4: chosen = .addMasked(gp.baseAddress!, ldg: ldc, source: sp.baseAddress!)
                        default: chosen = .none
                        }
                        LinearAlgebra.productNN(
                            level: level, m: m, n: n, k: k, blocks: blocks, a: a, lda: lda, aBlockStride: astride, b: b, ldb: ldb,
                            bBlockStride: bstride, c: cp.baseAddress!, ldc: ldc, accumulate: accumulate,
                            bias: bias == nil ? nil : bp.baseAddress!, epilogue: chosen)
                    }
                }
            }
        }
        // Columns beyond n are never touched; the rest agree to float rounding.
        let error = maxAbsDifference(c, expected)
        #expect(
            error < 1e-5,
            "level \(level) m \(m) n \(n) blocks \(blocks) k \(k) epilogue \(epilogue) acc \(accumulate) bias \(bias != nil)")
    }

    @Test("C = A·B into column blocks (K planes) equals a naive loop, or declines the shape untouched")
    func productIntoBlocksMatchesNaive() throws {
        var seed: UInt64 = 700
        for level in Self.levels {
            for m in [1, 7, 8, 9, 64, 67] {
                for (n, width) in [(16, 8), (32, 8), (16, 16), (32, 16), (64, 16), (8, 4), (16, 4), (24, 8), (12, 4), (48, 24)] {
                    for k in [1, 5, 32] {
                        let (lda, ldb) = (k + 2, n + 1)
                        let ldc = width + 3
                        let blockStride = m * ldc + 7
                        let a = Self.values(m * lda, seed: seed)
                        let b = Self.values(k * ldb, seed: seed + 1)
                        let c0 = Self.values((n / width) * blockStride, seed: seed + 2)
                        seed += 3
                        var expected = c0
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = 0.0
                                for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                                expected[(j / width) * blockStride + i * ldc + j % width] = Float(sum)
                            }
                        }
                        var c = c0
                        let done = LinearAlgebra.productNNIntoBlocks(
                            level: level, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: ldc, blockWidth: width,
                            blockStride: blockStride)
                        let vector = level == .avx512 ? 16 : 8
                        let handled = n % vector == 0 && (width % vector == 0 || 2 * width == vector)
                        #expect(done == handled, "level \(level) n \(n) width \(width): handled \(done)")
                        if done {
                            #expect(maxAbsDifference(c, expected) < 1e-5, "level \(level) m \(m) n \(n) width \(width) k \(k)")
                        } else {
                            #expect(c == c0, "level \(level) n \(n) width \(width): declined but wrote")
                        }
                    }
                }
            }
        }
    }

    @Test("C += Aᵀ·B equals a naive loop, every remainder")
    func productTNMatchesNaive() throws {
        var seed: UInt64 = 900
        for level in Self.levels {
            for m in [1, 3, 6, 7, 8, 9, 16, 32, 33] {
                for n in [1, 2, 4, 5, 8, 15, 16, 17, 32, 40] {
                    for k in [1, 2, 19, 64] {
                        let (lda, ldb, ldc) = (m + 1, n + 2, n + 3)
                        let a = Self.values(k * lda, seed: seed)
                        let b = Self.values(k * ldb, seed: seed + 1)
                        let c0 = Self.values(m * ldc, seed: seed + 2)
                        seed += 3
                        var expected = c0
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = Double(c0[i * ldc + j])
                                for p in 0..<k { sum += Double(a[p * lda + i]) * Double(b[p * ldb + j]) }
                                expected[i * ldc + j] = Float(sum)
                            }
                        }
                        var c = c0
                        LinearAlgebra.productTNAccumulate(
                            level: level, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: ldc)
                        #expect(maxAbsDifference(c, expected) < 1e-5, "level \(level) m \(m) n \(n) k \(k)")
                    }
                }
            }
        }
    }

    @Test("libxsmm's C ← [C +] A·B and C += Aᵀ·B equal naive loops, padded rows and remainders")
    func libxsmmProductsMatchNaive() throws {
        guard KernelLevel.libxsmm.isAvailable else { return }
        var seed: UInt64 = 1300
        for m in [1, 7, 8, 33, 2048] {
            for n in [1, 8, 15, 16, 17, 32, 64] {
                for k in [1, 8, 19, 64] {
                    for accumulate in [false, true] {
                        let (lda, ldb, ldc) = (k + 1, n + 2, n + 3)
                        let a = Self.values(m * lda, seed: seed)
                        let b = Self.values(k * ldb, seed: seed + 1)
                        let c0 = Self.values(m * ldc, seed: seed + 2)
                        seed += 3
                        var expected = c0
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = accumulate ? Double(c0[i * ldc + j]) : 0
                                for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                                expected[i * ldc + j] = Float(sum)
                            }
                        }
                        var c = c0
                        LinearAlgebra.xsmmProduct(
                            m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: ldc, accumulate: accumulate)
                        #expect(maxAbsDifference(c, expected) < 1e-4, "NN m \(m) n \(n) k \(k) accumulate \(accumulate)")
                    }
                    // C (m × n) += Aᵀ·B, A stored k × m, B stored k × n: here k runs over the cells.
                    if m > 64 { continue }
                    let (lda, ldb, ldc) = (m + 1, n + 2, n + 3)
                    let cells = k * 31
                    let a = Self.values(cells * lda, seed: seed)
                    let b = Self.values(cells * ldb, seed: seed + 1)
                    let c0 = Self.values(m * ldc, seed: seed + 2)
                    seed += 3
                    var expected = c0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = Double(c0[i * ldc + j])
                            for p in 0..<cells { sum += Double(a[p * lda + i]) * Double(b[p * ldb + j]) }
                            expected[i * ldc + j] = Float(sum)
                        }
                    }
                    var c = c0
                    LinearAlgebra.xsmmProductTNAccumulate(
                        m: m, n: n, k: cells, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: ldc)
                    #expect(maxAbsDifference(c, expected) < 1e-3, "TN m \(m) n \(n) cells \(cells)")
                }
            }
        }
    }

    /// Odd sizes (C = 5, H = 19) exercise every remainder; C = 8 and 16 with K·C a multiple of
    /// 16 take the one-product dZ (a vector split across two planes, and whole vectors per plane);
    /// p > 0 with a per-cell mask compacts tiles to their updated cells.
    static let engineCases: [(Activation, Boundary, Double, MaskGranularity, [Kernel], Int)] = [
        (.relu, .periodic, 0, .cell, [.identity, .laplacian], 5),
        (.relu, .zero, 0.5, .cell, [.identity, .gradX, .gradY, .laplacian], 5),
        (.tanh, .reflect, 0.3, .element, [.laplacian, .identity, .average], 5),
        (.swish, .zero, 0, .cell, [.gradY], 5),
        (.relu, .periodic, 0, .cell, [.identity, .laplacian], 8),
        (.relu, .reflect, 0.5, .cell, [.identity, .gradX, .gradY, .laplacian], 16),
        (.tanh, .periodic, 0.9, .cell, [.laplacian, .identity], 8),
    ]

    @Test("the engine on the kernels equals the Double engine on BLAS: states and gradients", arguments: engineCases)
    func engineOnKernelsMatchesDouble(
        activation: Activation, boundary: Boundary, p: Double, mask: MaskGranularity, kernels: [Kernel], channels: Int
    ) throws {
        // Odd sizes: tiles straddle lattice rows.
        let cfg = ModelConfiguration(
            channels: channels, observableChannels: 3, kernels: kernels, activation: activation, hiddenSize: 19,
            boundary: boundary,
            skipProbability: p, mask: mask)
        let (r, s, steps) = (3, 9, 6)
        let reference: NCAModel<Double> = randomModel(cfg, seed: 61, scale: 0.25)
        let model = NCAModel<Float>(
            configuration: cfg, w2: Tensor(shape: reference.w2.shape, scalars: reference.w2.scalars.map { Float($0) }),
            w1: Tensor(shape: reference.w1.shape, scalars: reference.w1.scalars.map { Float($0) }),
            v: Tensor(shape: reference.v.shape, scalars: reference.v.scalars.map { Float($0) }))
        let x: Tensor<Double> = randomTensor([r, s, s, channels], seed: 62)
        let dy: Tensor<Double> = randomTensor([r, s, s, channels], seed: 63, in: -1...1)
        let doubleEngine = NCAEngine<Double>(configuration: cfg, batch: r, size: s, threads: 2, tileCells: 23)
        var rng = RandomGenerator(seed: 64)
        let y = doubleEngine.forward(reference, from: x, steps: steps, rng: &rng)
        let expected = doubleEngine.backward(reference, outputGradient: dy)
        for level in [KernelLevel.blas] + Self.backends {
            let engine = NCAEngine<Float>(
                configuration: cfg, batch: r, size: s, threads: 2, tileCells: 23, kernelLevel: level)
            var rngF = RandomGenerator(seed: 64)
            let yF = engine.forward(
                model, from: Tensor(shape: x.shape, scalars: x.scalars.map { Float($0) }), steps: steps, rng: &rngF)
            let got = engine.backward(model, outputGradient: Tensor(shape: dy.shape, scalars: dy.scalars.map { Float($0) }))
            func close(_ a: Tensor<Float>, _ b: Tensor<Double>) -> Double {
                relativeError(a.scalars.map { Double($0) }, b.scalars)
            }
            #expect(close(yF, y) < 1e-5, "level \(level): state")
            #expect(close(got.w2, expected.w2) < 1e-4, "level \(level): W2")
            #expect(close(got.w1, expected.w1) < 1e-4, "level \(level): W1")
            #expect(close(got.v, expected.v) < 1e-4, "level \(level): v")
            #expect(close(got.initialState, expected.initialState) < 1e-4, "level \(level): x0")
        }
    }
}

@Suite(
    "Perception on the kernels",
    .enabled(if: KernelLevel.ofCPU != .blas, "this CPU has neither AVX2 nor AVX-512: the kernels cannot run here"))
struct PerceptionKernelTests {
    @Test(
        "padded-row perception (im2col by indirection) equals the stencil loop; for some cells, the whole tile's rows",
        arguments: Boundary.allCases)
    func paddedPerceptionMatchesStencil(boundary: Boundary) throws {
        let (r, s, c) = (3, 6, 5)
        let kernels: [Kernel] = [.laplacian, .identity, .gradY, .average, .gradX]
        let x: Tensor<Double> = randomTensor([r, s, s, c], seed: 21, in: -1...1)
        let expected = referencePerception(x, kernels: kernels, boundary: boundary)
        let xf = x.scalars.map { Float($0) }
        let makePerception = { (level: KernelLevel) in
            Perception<Float>(
                kernels: kernels, boundary: boundary, batch: r, size: s, channels: c,
                backend: makeDenseBackend(level, scalar: Float.self, maxCells: r * s * s))
        }
        let patches = Buffer<Float>(capacity: r * s * s * c * 9)
        let rowLength = c * kernels.count
        // Whole rows across lattices (padded path) and ranges that start or end inside a row (chunked path).
        for range in [0..<(r * s * s), 6..<30, 30..<108, 0..<6, 7..<29] {
            for level in KernelTests.levels {
                let p = makePerception(level)
                var z = [Float](repeating: .nan, count: range.count * rowLength)
                xf.withUnsafeBufferPointer { xp in
                    p.forward(xp.baseAddress!, cells: range, patches: patches.pointer, into: &z)
                }
                let rows = ModelTests.rows(
                    fromPlanes: z.map { Double($0) }, cells: range.count, channels: c, kernels: kernels.count)
                let want = Array(expected[(range.lowerBound * rowLength)..<(range.upperBound * rowLength)])
                #expect(maxAbsDifference(rows, want) < 1e-5, "range \(range), level \(level)")
                guard p.wholeRows(range) else { continue }
                // Some cells only (a compacted tile): the same values, in the first rows of each plane.
                let active: [Int32] = (0..<range.count).filter { $0 % 3 != 0 && $0 % 5 != 4 }.map { Int32($0) }
                let planeStride = range.count * c
                var compacted = [Float](repeating: .nan, count: z.count)
                xf.withUnsafeBufferPointer { xp in
                    p.forwardCells(
                        xp.baseAddress!, cells: range, active: active, count: active.count, padded: patches.pointer,
                        into: &compacted, planeStride: planeStride)
                }
                var same = true
                for k in 0..<kernels.count {
                    for (j, cell) in active.enumerated() {
                        for e in 0..<c where compacted[k * planeStride + j * c + e] != z[k * planeStride + Int(cell) * c + e] {
                            same = false
                        }
                    }
                }
                #expect(same, "range \(range), level \(level): perception for some cells differs from the whole tile's")
            }
        }
    }

    @Test(
        "padded-row pullback (dZ from dA, per plane or in one product; or compacted rows) is the transpose of padded-row perception",
        arguments: Boundary.allCases, [3, 8])
    func paddedPullbackIsTranspose(boundary: Boundary, channels c: Int) throws {
        let (r, s) = (2, 5)
        let kernels: [Kernel] = [.identity, .gradX, .laplacian, .average]
        let kc = kernels.count * c
        let makePerception = { (level: KernelLevel) in
            Perception<Float>(
                kernels: kernels, boundary: boundary, batch: r, size: s, channels: c,
                backend: makeDenseBackend(level, scalar: Float.self, maxCells: r * s * s))
        }
        let x: [Float] = KernelTests.values(r * s * s * c, seed: 31)
        // W2ᵀ = I (K·C × K·C): dZ = dA, read as planes (kernel k's gradient at cell, channel is
        // dA[cell, k·C + channel]).
        var identity = [Float](repeating: 0, count: kc * kc)
        for i in 0..<kc { identity[i * kc + i] = 1 }
        let maxRows = 7
        let planes = Buffer<Float>(capacity: kernels.count * makePerception(.blas).paddedPlaneStride(rows: maxRows))
        let sum = Buffer<Float>(capacity: (maxRows + 2) * (s + 2) * c)
        let taps = UnsafeMutablePointer<Int>.allocate(capacity: 9 * kernels.count)
        defer { taps.deallocate() }
        let patches = Buffer<Float>(capacity: r * s * s * c * 9)
        // Whole rows: within one lattice, across the two, a block after a taller one (stale rows).
        for range in [0..<35, 15..<50, 0..<50, 5..<10] {
            for level in KernelTests.levels {
                let p = makePerception(level)
                let da: [Float] = KernelTests.values(range.count * kc, seed: UInt64(40 + range.count))
                var w = [Float](repeating: 0, count: da.count)
                for cell in 0..<range.count {
                    for k in 0..<kernels.count {
                        for channel in 0..<c { w[(k * range.count + cell) * c + channel] = da[cell * kc + k * c + channel] }
                    }
                }
                var z = [Float](repeating: 0, count: w.count)
                x.withUnsafeBufferPointer {
                    p.forward($0.baseAddress!, cells: range, patches: patches.pointer, into: &z)
                }
                let pullBack = { (source: Perception<Float>.GradientSource) -> [Float] in
                    var adjoint = [Float](repeating: 0, count: x.count)
                    p.backwardPadded(
                        source, cells: range, planes: planes.pointer, maxRows: maxRows, sum: sum.pointer, offsets: taps,
                        accumulateInto: &adjoint)
                    return adjoint
                }
                let adjoint = da.withUnsafeBufferPointer { d in
                    identity.withUnsafeBufferPointer {
                        pullBack(.hidden(d.baseAddress!, width: kc, w2Transposed: $0.baseAddress!))
                    }
                }
                let lhs = zip(z, w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let rhs = zip(x, adjoint).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)), "range \(range), level \(level): \(lhs) vs \(rhs)")
                // Compacted rows: the cells not in `active` have dZ = 0.
                let kept: [Int] = (0..<range.count).filter { (cell: Int) -> Bool in cell % 3 != 1 && cell % 7 != 2 }
                let active: [Int32] = kept.map { Int32($0) }
                var sparse = da
                var rows: [Float] = []
                for cell in 0..<range.count {
                    if kept.contains(cell) {
                        rows += da[(cell * kc)..<(cell * kc + kc)]
                    } else {
                        for e in 0..<kc { sparse[cell * kc + e] = 0 }
                    }
                }
                let dense = sparse.withUnsafeBufferPointer { d in
                    identity.withUnsafeBufferPointer {
                        pullBack(.hidden(d.baseAddress!, width: kc, w2Transposed: $0.baseAddress!))
                    }
                }
                let compacted = rows.withUnsafeBufferPointer { r in
                    active.withUnsafeBufferPointer {
                        pullBack(.rows(r.baseAddress!, active: $0.baseAddress!, count: active.count))
                    }
                }
                #expect(compacted == dense, "range \(range), level \(level): compacted rows")
            }
        }
    }
}

/// The vectorised smooth activations (C kernels, Float) against libm's functions in Double.
@Suite("Vectorised activations")
struct ActivationKernelTests {
    /// Arguments over the whole range the engine meets and beyond: dense near 0 (tanh's two
    /// formulas meet at 0.3), out to ±100 (exp's clamp), exact zeros, and every remainder of a
    /// vector width (counts 1…40).
    static let arguments: [Float] = {
        var xs: [Float] = [0, -0, 0.3, -0.3, 0.29999998, 9, -9, 87, -87, 88, -88, 100, -100, 1e-30, -1e-30]
        for i in -2000...2000 { xs.append(Float(i) / 200) }
        for i in -100...100 { xs.append(Float(i)) }
        for i in 0..<1000 { xs.append(Float(sin(Double(i) * 12.9898)) * 20) }
        return xs
    }()

    static func exact(_ activation: Activation, _ x: Double) -> (value: Double, derivative: Double) {
        (activation.value(x), activation.derivative(x))
    }

    @Test("u(a) and g·u′(a) within 4e-7 of libm in Double, in place too", arguments: [Activation.tanh, .sigmoid, .swish])
    func matchesLibm(activation: Activation) {
        let xs = Self.arguments
        var out = [Float](repeating: .nan, count: xs.count)
        var g = xs.indices.map { Float(1 + $0 % 3) }
        let g0 = g
        xs.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { activation.apply(a.baseAddress!, into: $0.baseAddress!, count: xs.count) }
            g.withUnsafeMutableBufferPointer {
                activation.multiplyByDerivative($0.baseAddress!, at: a.baseAddress!, count: xs.count)
            }
        }
        var worstValue = 0.0
        var worstDerivative = 0.0
        for (i, x) in xs.enumerated() {
            let (u, du) = Self.exact(activation, Double(x))
            worstValue = max(worstValue, abs(Double(out[i]) - u) / max(1, abs(u)))
            worstDerivative = max(worstDerivative, abs(Double(g[i]) - Double(g0[i]) * du) / max(1, abs(Double(g0[i]) * du)))
        }
        #expect(worstValue < 4e-7, "\(activation): worst error of u \(worstValue)")
        #expect(worstDerivative < 4e-7, "\(activation): worst error of g·u′ \(worstDerivative)")
        // Every remainder of a vector width, in place (out = a).
        for count in 1...40 {
            var buffer = Array(xs[100..<(100 + count)])
            buffer.withUnsafeMutableBufferPointer { b in activation.apply(b.baseAddress!, into: b.baseAddress!, count: count) }
            for i in 0..<count {
                #expect(abs(Double(buffer[i]) - Self.exact(activation, Double(xs[100 + i])).value) < 4e-7)
            }
        }
    }
}
