import Testing

@testable import NCA

@Suite("LinearAlgebra")
struct LinearAlgebraTests {
    @Test("OpenBLAS's kernels are replaced only when it fell back to generic ones")
    func recommendedCoreType() {
        let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]
        let avx512 = avx2.union(["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"])
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx512, current: "Prescott") == "SkylakeX")
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx512, current: "Haswell") == nil)
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx2, current: "Prescott") == "Haswell")
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx2, current: "Haswell") == nil)
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx512, current: "SkylakeX") == nil)
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: avx512, current: "CooperLake") == nil)
        #expect(LinearAlgebra.recommendedCoreType(cpuFlags: ["sse3"], current: "Prescott") == nil)
    }

    static let transposes: [(Transpose, Transpose)] = [
        (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ]

    /// C = α op(A) op(B) + β C against a triple loop, with padded leading dimensions.
    func checkGemm<T: BLASScalar>(_: T.Type, tolerance: Double) {
        let (m, n, k) = (7, 5, 9)
        let (alpha, beta): (T, T) = (T(1.5), T(-0.75))
        for (ta, tb) in Self.transposes {
            let aRows = ta == .none ? m : k
            let aCols = ta == .none ? k : m
            let bRows = tb == .none ? k : n
            let bCols = tb == .none ? n : k
            let (lda, ldb, ldc) = (aCols + 2, bCols + 1, n + 3)
            let a: Tensor<T> = randomTensor([aRows, lda], seed: 1, in: -1...1)
            let b: Tensor<T> = randomTensor([bRows, ldb], seed: 2, in: -1...1)
            let c0: Tensor<T> = randomTensor([m, ldc], seed: 3, in: -1...1)
            var expected = c0.scalars
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k {
                        let av = ta == .none ? a.scalars[i * lda + p] : a.scalars[p * lda + i]
                        let bv = tb == .none ? b.scalars[p * ldb + j] : b.scalars[j * ldb + p]
                        sum += Double(av) * Double(bv)
                    }
                    expected[i * ldc + j] = T(Double(alpha) * sum + Double(beta) * Double(c0.scalars[i * ldc + j]))
                }
            }
            var c = c0.scalars
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        LinearAlgebra.gemm(
                            ta, tb, m: m, n: n, k: k, alpha: alpha, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!,
                            ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
            #expect(maxAbsDifference(c, expected) < tolerance, "gemm \(ta) \(tb) \(T.self)")
            // Padding columns of C are untouched.
            for i in 0..<m { for j in n..<ldc { #expect(c[i * ldc + j] == c0.scalars[i * ldc + j]) } }
        }
    }

    @Test func gemmFloat() { checkGemm(Float.self, tolerance: 1e-5) }
    @Test func gemmDouble() { checkGemm(Double.self, tolerance: 1e-13) }

    @Test func gemvBothWays() {
        let a: Tensor<Double> = randomTensor([5, 3], seed: 4, in: -1...1)
        let x3: [Double] = [0.5, -1, 2]
        let x5: [Double] = [1, 2, 3, 4, 5]
        var y5 = [Double](repeating: 1, count: 5)
        var y3 = [Double](repeating: 1, count: 3)
        a.scalars.withUnsafeBufferPointer { pa in
            LinearAlgebra.gemv(.none, m: 5, n: 3, a: pa.baseAddress!, lda: 3, x: x3, beta: 1, y: &y5)
            LinearAlgebra.gemv(.transposed, m: 5, n: 3, alpha: 2, a: pa.baseAddress!, lda: 3, x: x5, y: &y3)
        }
        for i in 0..<5 {
            let expected = 1 + (0..<3).reduce(0.0) { $0 + a.scalars[i * 3 + $1] * x3[$1] }
            #expect(abs(y5[i] - expected) < 1e-14)
        }
        for j in 0..<3 {
            let expected = 2 * (0..<5).reduce(0.0) { $0 + a.scalars[$1 * 3 + j] * x5[$1] }
            #expect(abs(y3[j] - expected) < 1e-14)
        }
    }

    @Test func matmulTransposes() {
        let a: Tensor<Double> = randomTensor([4, 3], seed: 5)
        let b: Tensor<Double> = randomTensor([4, 2], seed: 6)
        let c = LinearAlgebra.matmul(a, b, transA: .transposed)  // 3 × 2
        #expect(c.shape == [3, 2])
        for i in 0..<3 {
            for j in 0..<2 {
                let expected = (0..<4).reduce(0.0) { $0 + a.scalars[$1 * 3 + i] * b.scalars[$1 * 2 + j] }
                #expect(abs(c.scalars[i * 2 + j] - expected) < 1e-14)
            }
        }
    }

    func checkSVD<T: BLASScalar>(_: T.Type, tolerance: Double) throws {
        for shape in [[6, 4], [3, 7], [5, 5]] {
            let a: Tensor<T> = randomTensor(shape, seed: 7, in: -1...1)
            let svd = try LinearAlgebra.svd(a)
            let r = min(shape[0], shape[1])
            #expect(svd.u.shape == [shape[0], r] && svd.vt.shape == [r, shape[1]] && svd.singularValues.count == r)
            #expect(maxAbsDifference(svd.reconstructed().scalars, a.scalars) < tolerance)
            #expect(zip(svd.singularValues, svd.singularValues.dropFirst()).allSatisfy { $0 >= $1 })
            // U has orthonormal columns.
            let utu = LinearAlgebra.matmul(svd.u, svd.u, transA: .transposed)
            for i in 0..<r { for j in 0..<r { #expect(abs(Double(utu.scalars[i * r + j]) - (i == j ? 1 : 0)) < tolerance) } }
        }
    }

    @Test func svdReconstructsFloat() throws { try checkSVD(Float.self, tolerance: 1e-5) }
    @Test func svdReconstructsDouble() throws { try checkSVD(Double.self, tolerance: 1e-12) }

    @Test func svdKnownSingularValues() throws {
        // [[3, 0], [4, 5]] has singular values √45 and √5 (ΣΣ = det² = 225, Σ² sum = 50).
        let svd = try LinearAlgebra.svd(Tensor<Double>(shape: [2, 2], scalars: [3, 0, 4, 5]))
        #expect(abs(svd.singularValues[0] - 45.0.squareRoot()) < 1e-12)
        #expect(abs(svd.singularValues[1] - 5.0.squareRoot()) < 1e-12)
        // A rank-1 matrix: u vᵀ with ‖u‖ = 3, ‖v‖ = 5 → singular values 15, 0, 0.
        let u: [Double] = [1, 2, 2]
        let v: [Double] = [3, 4]
        let rank1 = Tensor<Double>(shape: [3, 2], scalars: u.flatMap { ui in v.map { ui * $0 } })
        let s = try LinearAlgebra.svd(rank1).singularValues
        #expect(abs(s[0] - 15) < 1e-12 && abs(s[1]) < 1e-12)
    }

    @Test func svdRefusesNaN() {
        let bad = Tensor<Float>(shape: [2, 2], scalars: [1, .nan, 0, 1])
        #expect(throws: LinearAlgebraError.nonFiniteInput(routine: "gesdd")) { try LinearAlgebra.svd(bad) }
    }
}
