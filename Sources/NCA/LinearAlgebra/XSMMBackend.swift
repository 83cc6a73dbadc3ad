import CXSMM

/// libxsmm's JIT-generated products (Float), with the activation, mask and bias as OpenBLAS's
/// separate passes (libxsmm 1.17's products have no epilogue) and perception by copied planes
/// (no gathered product). The measured alternative to nca's kernels; see Sources/NCA/NCA.docc/Performance.md.
struct XSMMBackend: DenseBackend {
    typealias Scalar = Float
    var level: KernelLevel { .libxsmm }
    var gathers: Bool { false }
    /// The element-wise passes.
    private let passes: BLASBackend<Float>

    init(maxCells: Int) {
        LinearAlgebra.initialiseXSMM()
        passes = BLASBackend(maxCells: maxCells)
    }

    func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        LinearAlgebra.xsmmProduct(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: false)
    }

    func blockProduct(
        m: Int, n: Int, k: Int, blocks: Int, a: UnsafePointer<Float>, lda: Int, aBlockStride: Int,
        b: UnsafePointer<Float>, ldb: Int, bBlockStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, relu: Bool
    ) {
        for q in 0..<blocks {
            LinearAlgebra.xsmmProduct(
                m: m, n: n, k: k, a: a + q * aBlockStride, lda: lda, b: b + q * bBlockStride, ldb: ldb, c: c, ldc: ldc,
                accumulate: q > 0)
        }
        if relu {
            for row in 0..<m { Activation.relu.apply(c + row * ldc, into: c + row * ldc, count: n) }
        }
    }

    func accumulateTransposed(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        LinearAlgebra.xsmmProductTNAccumulate(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    }

    func residualUpdate(
        cells n: Int, channels c: Int, hidden h: Int, hiddenValues: UnsafePointer<Float>, w1: UnsafePointer<Float>,
        v: UnsafePointer<Float>, input: UnsafePointer<Float>, sigma: UnsafePointer<Float>, granularity: MaskGranularity,
        output: UnsafeMutablePointer<Float>, scratch f: UnsafeMutablePointer<Float>
    ) {
        for cell in 0..<n { (f + cell * c).update(from: v, count: c) }
        LinearAlgebra.xsmmProduct(m: n, n: c, k: h, a: hiddenValues, lda: h, b: w1, ldb: c, c: f, ldc: c, accumulate: true)
        output.update(from: input, count: n * c)
        StochasticMask.applyResidual(f, sigma: sigma, to: output, cells: n, channels: c, granularity: granularity)
    }

    func hiddenPullback(
        cells n: Int, hidden h: Int, channels c: Int, df: UnsafePointer<Float>, w1Transposed: UnsafePointer<Float>,
        activation: Activation, at a: UnsafePointer<Float>, into da: UnsafeMutablePointer<Float>
    ) {
        LinearAlgebra.xsmmProduct(m: n, n: h, k: c, a: df, lda: c, b: w1Transposed, ldb: h, c: da, ldc: h, accumulate: false)
        activation.multiplyByDerivative(da, at: a, count: n * h)
    }

    func productGathered(
        m: Int, rows: Int, width: Int, k: Int, a: UnsafePointer<Float>, lda: Int, base: UnsafePointer<Float>,
        offsets: UnsafePointer<Int>, bRowStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, cRowStride: Int
    ) {
        preconditionFailure("XSMMBackend has no gathered product; check `gathers` first")
    }
}

/// libxsmm's products, for `XSMMBackend` and the benchmark suite.
extension LinearAlgebra {
    /// Initialises libxsmm (once; later calls return at once). Dispatch would do it on first use.
    public static func initialiseXSMM() { nca_xsmm_init() }

    /// Row-major `C ← [C +] A·B` (A m × k, B k × n, C m × n) by a libxsmm kernel JIT-generated for
    /// the shape (libxsmm caches them; a dispatch is a hash look-up), or OpenBLAS when libxsmm has
    /// no kernel for it.
    public static func xsmmProduct(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= k && ldb >= n && ldc >= n, "xsmmProduct: bad sizes")
        if m == 0 || n == 0 { return }
        if k > 0, let kernel = nca_xsmm_nn(m, n, k, lda, ldb, ldc, accumulate ? 1 : 0) {
            nca_xsmm_run(kernel, a, b, c)
        } else {
            gemm(.none, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
        }
    }

    /// Row-major `C += Aᵀ·B` with A stored k × m and B stored k × n (C m × n) by a libxsmm kernel,
    /// or OpenBLAS when libxsmm has none for the shape.
    public static func xsmmProductTNAccumulate(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= m && ldb >= n && ldc >= n, "xsmmProductTNAccumulate: bad sizes")
        if m == 0 || n == 0 || k == 0 { return }
        if let kernel = nca_xsmm_tn_acc(m, n, k, lda, ldb, ldc) {
            nca_xsmm_run(kernel, a, b, c)
        } else {
            gemm(.transposed, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
        }
    }
}
