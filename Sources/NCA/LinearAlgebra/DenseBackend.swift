/// The seam between the engine and the code that runs its dense products: every product and
/// fused epilogue one NCA step needs, forward and backward, for one tile of n cells. The engine
/// and `Perception` call these and never ask which implementation they hold.
///
/// Two implementations: `BLASBackend` (OpenBLAS products followed by separate element-wise
/// passes; Float and Double) and `SIMDKernelBackend` (nca's AVX2/AVX-512 small-GEMM kernels with
/// the element-wise work fused into the products' epilogues; Float only). `makeDenseBackend`
/// picks one for a `KernelLevel`. All matrices are row-major with the given row strides.
protocol DenseBackend<Scalar>: Sendable {
    associatedtype Scalar: BLASScalar

    /// The level this backend runs.
    var level: KernelLevel { get }

    /// Whether `productGathered` is available: perception then reads shifted views of a padded
    /// block of rows instead of copying nine planes.
    var gathers: Bool { get }

    /// C = A·B: A m × k, B k × n, C m × n.
    func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int)

    /// Whether the engine may compact a tile to the cells its mask updates (`activeCells`,
    /// `gatherRows`, `scatterRows` and `productGatheredCells` exist only then).
    var compacts: Bool { get }

    /// Writes the indices i < n with σ[i] ≠ 0 to `active`, ascending, and returns their count.
    func activeCells(sigma: UnsafePointer<Scalar>, count n: Int, into active: UnsafeMutablePointer<Int32>) -> Int

    /// dst row j ← src row rows[j] − first, `width` elements (rows lds and ldd apart), j < count.
    func gatherRows(
        _ src: UnsafePointer<Scalar>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Scalar>, ldd: Int)

    /// dst row rows[j] − first ← src row j, `width` elements (rows lds and ldd apart), j < count.
    func scatterRows(
        _ src: UnsafePointer<Scalar>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Scalar>, ldd: Int)

    /// `LinearAlgebra.productGatheredCells`: perception for single cells of a padded block; only
    /// when `gathers` and `compacts`.
    func productGatheredCells(
        m: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, base: UnsafePointer<Scalar>, offsets: UnsafePointer<Int>,
        cells: UnsafePointer<Int32>, first: Int, count: Int, size: Int, paddedRow: Int, width: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int)

    /// C = A·B with C's columns in blocks of `blockWidth`, block q at c + q·blockStride (rows
    /// `ldc` apart): one product writing several planes, such as the K perception planes of dZ.
    func productIntoBlocks(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int, blockWidth: Int, blockStride: Int)

    /// C = Σ_q A_q·B_q over `blocks` column blocks of A (m × k each, a + q·aBlockStride) and the
    /// matching row blocks of B (k × n each, b + q·bBlockStride), then max(C, 0) when `relu`.
    func blockProduct(
        m: Int, n: Int, k: Int, blocks: Int, a: UnsafePointer<Scalar>, lda: Int, aBlockStride: Int,
        b: UnsafePointer<Scalar>, ldb: Int, bBlockStride: Int, c: UnsafeMutablePointer<Scalar>, ldc: Int, relu: Bool)

    /// C += Aᵀ·B: A stored k × m, B stored k × n, C m × n (a weight gradient summed over k cells).
    func accumulateTransposed(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int)

    /// The residual update of n cells × C channels: output = input + σ ⊙ (hidden·W1 + 1·vᵀ), hidden
    /// n × H, W1 H × C; σ per cell or per element. `scratch` (n × C) may be used for F.
    func residualUpdate(
        cells n: Int, channels c: Int, hidden h: Int, hiddenValues: UnsafePointer<Scalar>, w1: UnsafePointer<Scalar>,
        v: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, sigma: UnsafePointer<Scalar>, granularity: MaskGranularity,
        output: UnsafeMutablePointer<Scalar>, scratch: UnsafeMutablePointer<Scalar>)

    /// The residual update's pullback for F: dF = σ ⊙ g (n × C), and dv += Σ over cells of dF.
    func residualPullback(
        _ g: UnsafePointer<Scalar>, sigma: UnsafePointer<Scalar>, granularity: MaskGranularity, cells n: Int, channels c: Int,
        into df: UnsafeMutablePointer<Scalar>, biasGradient dv: UnsafeMutablePointer<Scalar>)

    /// The hidden layer's pullback: dA = (dF·W1ᵀ) ⊙ u′(A), dF n × C, W1ᵀ C × H, dA n × H. For relu,
    /// `a` may hold u(A) instead of A (u′ is 1 exactly where u(a) > 0).
    func hiddenPullback(
        cells n: Int, hidden h: Int, channels c: Int, df: UnsafePointer<Scalar>, w1Transposed: UnsafePointer<Scalar>,
        activation: Activation, at a: UnsafePointer<Scalar>, into da: UnsafeMutablePointer<Scalar>)

    /// The product with B's rows gathered (see `LinearAlgebra.productGathered`); only when `gathers`.
    func productGathered(
        m: Int, rows: Int, width: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, base: UnsafePointer<Scalar>,
        offsets: UnsafePointer<Int>, bRowStride: Int, c: UnsafeMutablePointer<Scalar>, ldc: Int, cRowStride: Int)
}

extension DenseBackend {
    /// Not compacted (the default): the engine runs every tile whole, and the compaction
    /// methods are never called.
    var compacts: Bool { false }

    func productGatheredCells(
        m: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, base: UnsafePointer<Scalar>, offsets: UnsafePointer<Int>,
        cells: UnsafePointer<Int32>, first: Int, count: Int, size: Int, paddedRow: Int, width: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        preconditionFailure("\(Self.self) does not compact tiles; check `compacts` first")
    }

    func activeCells(sigma: UnsafePointer<Scalar>, count n: Int, into active: UnsafeMutablePointer<Int32>) -> Int {
        preconditionFailure("\(Self.self) does not compact tiles; check `compacts` first")
    }

    func gatherRows(
        _ src: UnsafePointer<Scalar>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Scalar>, ldd: Int
    ) {
        preconditionFailure("\(Self.self) does not compact tiles; check `compacts` first")
    }

    func scatterRows(
        _ src: UnsafePointer<Scalar>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Scalar>, ldd: Int
    ) {
        preconditionFailure("\(Self.self) does not compact tiles; check `compacts` first")
    }

    /// `productIntoBlocks` as one product per block of columns (the default).
    func productIntoBlocks(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int, blockWidth: Int, blockStride: Int
    ) {
        productPerBlock(
            m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, blockWidth: blockWidth, blockStride: blockStride)
    }

    func productPerBlock(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int, blockWidth: Int, blockStride: Int
    ) {
        precondition(blockWidth >= 1 && n % blockWidth == 0, "productIntoBlocks: \(n) columns are not blocks of \(blockWidth)")
        for q in 0..<(n / blockWidth) {
            product(
                m: m, n: blockWidth, k: k, a: a, lda: lda, b: b + q * blockWidth, ldb: ldb, c: c + q * blockStride, ldc: ldc)
        }
    }
}

/// The Float backends' residual pullback: nca's C kernel (any CPU).
extension DenseBackend where Scalar == Float {
    func residualPullback(
        _ g: UnsafePointer<Float>, sigma: UnsafePointer<Float>, granularity: MaskGranularity, cells n: Int, channels c: Int,
        into df: UnsafeMutablePointer<Float>, biasGradient dv: UnsafeMutablePointer<Float>
    ) {
        LinearAlgebra.residualPullback(
            g, sigma: sigma, into: df, cells: n, channels: c, perCell: granularity == .cell, biasGradient: dv)
    }
}

/// The backend for `level` and scalar type T: for Float, nca's SIMD kernels at an available
/// level of its own, or libxsmm when asked for and available; else OpenBLAS. `maxCells` bounds the tiles the backend will see.
func makeDenseBackend<T: BLASScalar>(_ level: KernelLevel, scalar: T.Type, maxCells: Int) -> any DenseBackend<T> {
    if level.isOwnKernels, level.isAvailable, let kernels = SIMDKernelBackend(level: level) as? any DenseBackend<T> {
        return kernels
    }
    if level == .libxsmm, level.isAvailable, let xsmm = XSMMBackend(maxCells: maxCells) as? any DenseBackend<T> {
        return xsmm
    }
    return BLASBackend<T>(maxCells: maxCells)
}

/// OpenBLAS products, with the activation, mask and bias as separate passes. Reached through the
/// existential seam, i.e. from unspecialised code: the pre-specialisations route Float and Double
/// to optimised bodies (without them the element-wise passes ran generic, and the BLAS path's
/// training step took about 1.7× as long).
struct BLASBackend<Scalar: BLASScalar>: DenseBackend, @unchecked Sendable {
    var level: KernelLevel { .blas }
    var gathers: Bool { false }
    /// `maxCells` ones, for column sums by GEMV.
    private let ones: Buffer<Scalar>

    init(maxCells: Int) {
        ones = Buffer(capacity: max(1, maxCells))
        ones.fill(1, count: max(1, maxCells))
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        LinearAlgebra.gemm(.none, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func blockProduct(
        m: Int, n: Int, k: Int, blocks: Int, a: UnsafePointer<Scalar>, lda: Int, aBlockStride: Int,
        b: UnsafePointer<Scalar>, ldb: Int, bBlockStride: Int, c: UnsafeMutablePointer<Scalar>, ldc: Int, relu: Bool
    ) {
        for q in 0..<blocks {
            LinearAlgebra.gemm(
                .none, .none, m: m, n: n, k: k, a: a + q * aBlockStride, lda: lda, b: b + q * bBlockStride, ldb: ldb,
                beta: q == 0 ? 0 : 1, c: c, ldc: ldc)
        }
        if relu {
            // Row by row when C's rows are padded (the engine's are not: one pass).
            if ldc == n {
                Activation.relu.apply(c, into: c, count: m * n)
            } else {
                for row in 0..<m { Activation.relu.apply(c + row * ldc, into: c + row * ldc, count: n) }
            }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func accumulateTransposed(
        m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        LinearAlgebra.gemm(.transposed, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func residualUpdate(
        cells n: Int, channels c: Int, hidden h: Int, hiddenValues: UnsafePointer<Scalar>, w1: UnsafePointer<Scalar>,
        v: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, sigma: UnsafePointer<Scalar>, granularity: MaskGranularity,
        output: UnsafeMutablePointer<Scalar>, scratch f: UnsafeMutablePointer<Scalar>
    ) {
        for cell in 0..<n { (f + cell * c).update(from: v, count: c) }
        LinearAlgebra.gemm(.none, .none, m: n, n: c, k: h, a: hiddenValues, lda: h, b: w1, ldb: c, beta: 1, c: f, ldc: c)
        output.update(from: input, count: n * c)
        StochasticMask.applyResidual(f, sigma: sigma, to: output, cells: n, channels: c, granularity: granularity)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func residualPullback(
        _ g: UnsafePointer<Scalar>, sigma: UnsafePointer<Scalar>, granularity: MaskGranularity, cells n: Int, channels c: Int,
        into df: UnsafeMutablePointer<Scalar>, biasGradient dv: UnsafeMutablePointer<Scalar>
    ) {
        StochasticMask.pullback(g, sigma: sigma, into: df, cells: n, channels: c, granularity: granularity)
        LinearAlgebra.gemv(.transposed, m: n, n: c, a: df, lda: c, x: ones.pointer, beta: 1, y: dv)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func hiddenPullback(
        cells n: Int, hidden h: Int, channels c: Int, df: UnsafePointer<Scalar>, w1Transposed: UnsafePointer<Scalar>,
        activation: Activation, at a: UnsafePointer<Scalar>, into da: UnsafeMutablePointer<Scalar>
    ) {
        LinearAlgebra.gemm(.none, .none, m: n, n: h, k: c, a: df, lda: c, b: w1Transposed, ldb: h, c: da, ldc: h)
        activation.multiplyByDerivative(da, at: a, count: n * h)
    }

    func productGathered(
        m: Int, rows: Int, width: Int, k: Int, a: UnsafePointer<Scalar>, lda: Int, base: UnsafePointer<Scalar>,
        offsets: UnsafePointer<Int>, bRowStride: Int, c: UnsafeMutablePointer<Scalar>, ldc: Int, cRowStride: Int
    ) {
        preconditionFailure("BLASBackend has no gathered product; check `gathers` first")
    }
}

/// nca's small-GEMM kernels (Float, AVX2 or AVX-512): no packing, no zeroing pass, relu, the
/// residual update and relu's pullback applied in registers.
struct SIMDKernelBackend: DenseBackend {
    typealias Scalar = Float
    let level: KernelLevel
    var gathers: Bool { true }

    init(level: KernelLevel) {
        precondition(level.isOwnKernels && level.isAvailable, "SIMDKernelBackend: \(level.name) is not available on this CPU")
        self.level = level
    }

    func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        LinearAlgebra.productNN(level: level, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: false)
    }

    var compacts: Bool { true }

    func productGatheredCells(
        m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, base: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        cells: UnsafePointer<Int32>, first: Int, count: Int, size: Int, paddedRow: Int, width: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        LinearAlgebra.productGatheredCells(
            level: level, m: m, k: k, a: a, lda: lda, base: base, offsets: offsets, cells: cells, first: first, count: count,
            size: size, paddedRow: paddedRow, width: width, c: c, ldc: ldc)
    }

    func activeCells(sigma: UnsafePointer<Float>, count n: Int, into active: UnsafeMutablePointer<Int32>) -> Int {
        LinearAlgebra.activeCells(sigma: sigma, count: n, into: active)
    }

    func gatherRows(
        _ src: UnsafePointer<Float>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>, ldd: Int
    ) {
        LinearAlgebra.gatherRows(src, lds: lds, rows: rows, first: first, count: count, width: width, into: dst, ldd: ldd)
    }

    func scatterRows(
        _ src: UnsafePointer<Float>, lds: Int, rows: UnsafePointer<Int32>, first: Int, count: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>, ldd: Int
    ) {
        LinearAlgebra.scatterRows(src, lds: lds, rows: rows, first: first, count: count, width: width, into: dst, ldd: ldd)
    }

    func productIntoBlocks(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, blockWidth: Int, blockStride: Int
    ) {
        if !LinearAlgebra.productNNIntoBlocks(
            level: level, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, blockWidth: blockWidth,
            blockStride: blockStride)
        {
            productPerBlock(
                m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, blockWidth: blockWidth, blockStride: blockStride
            )
        }
    }

    func blockProduct(
        m: Int, n: Int, k: Int, blocks: Int, a: UnsafePointer<Float>, lda: Int, aBlockStride: Int,
        b: UnsafePointer<Float>, ldb: Int, bBlockStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, relu: Bool
    ) {
        LinearAlgebra.productNN(
            level: level, m: m, n: n, k: k, blocks: blocks, a: a, lda: lda, aBlockStride: aBlockStride, b: b, ldb: ldb,
            bBlockStride: bBlockStride, c: c, ldc: ldc, accumulate: false, epilogue: relu ? .relu : .none)
    }

    func accumulateTransposed(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        LinearAlgebra.productTNAccumulate(level: level, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    }

    func residualUpdate(
        cells n: Int, channels c: Int, hidden h: Int, hiddenValues: UnsafePointer<Float>, w1: UnsafePointer<Float>,
        v: UnsafePointer<Float>, input: UnsafePointer<Float>, sigma: UnsafePointer<Float>, granularity: MaskGranularity,
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        // F never goes to memory: x + σ ⊙ F is the product's epilogue.
        LinearAlgebra.productNN(
            level: level, m: n, n: c, k: h, a: hiddenValues, lda: h, b: w1, ldb: c, c: output, ldc: c, accumulate: false,
            bias: v, epilogue: .addMasked(sigma, ldg: granularity == .cell ? 0 : c, source: input))
    }

    func hiddenPullback(
        cells n: Int, hidden h: Int, channels c: Int, df: UnsafePointer<Float>, w1Transposed: UnsafePointer<Float>,
        activation: Activation, at a: UnsafePointer<Float>, into da: UnsafeMutablePointer<Float>
    ) {
        let relu = activation == .relu
        LinearAlgebra.productNN(
            level: level, m: n, n: h, k: c, a: df, lda: c, b: w1Transposed, ldb: h, c: da, ldc: h, accumulate: false,
            epilogue: relu ? .keepWherePositive(a, ldg: h) : .none)
        if !relu { activation.multiplyByDerivative(da, at: a, count: n * h) }
    }

    func productGathered(
        m: Int, rows: Int, width: Int, k: Int, a: UnsafePointer<Float>, lda: Int, base: UnsafePointer<Float>,
        offsets: UnsafePointer<Int>, bRowStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, cRowStride: Int
    ) {
        LinearAlgebra.productGathered(
            level: level, m: m, rows: rows, width: width, k: k, a: a, lda: lda, base: base, offsets: offsets,
            bRowStride: bRowStride, c: c, ldc: ldc, cRowStride: cRowStride)
    }
}
