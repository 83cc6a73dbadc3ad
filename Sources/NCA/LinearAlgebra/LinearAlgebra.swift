import CBLAS
import CKernels
import CXSMM
import Foundation

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// As stored.
    case none
    /// Transposed.
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// A LAPACK routine reported failure through its `info` value. Checked in every build
/// configuration (never an `assert`).
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    /// `info < 0`: argument number `argument` was illegal (a bug in the caller).
    case illegalArgument(routine: String, argument: Int)
    /// `info > 0`: the algorithm did not converge.
    case didNotConverge(routine: String, info: Int)
    /// The input contains NaN or infinity, for which the routine's result is undefined.
    case nonFiniteInput(routine: String)

    public var description: String {
        switch self {
        case .illegalArgument(let routine, let argument):
            return "\(routine): argument \(argument) is illegal"
        case .didNotConverge(let routine, let info):
            return "\(routine) did not converge (info = \(info)); the matrix may be badly scaled"
        case .nonFiniteInput(let routine):
            return "\(routine): the matrix contains NaN or infinity; check the model weights"
        }
    }
}

/// The one place in the toolkit that calls BLAS and LAPACK, and the engine's small-GEMM kernels
/// (`CKernels`).
public enum LinearAlgebra {
    /// Row-major general matrix product `C ← α·op(A)·op(B) + β·C`, with `op(A)` m × k,
    /// `op(B)` k × n and `C` m × n. Leading dimensions are the row strides as stored.
    public static func gemm<T: BLASScalar>(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: T = 1, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA == .none ? k : m), "gemm: lda=\(lda) too small")
        precondition(ldb >= max(1, transB == .none ? n : k), "gemm: ldb=\(ldb) too small")
        precondition(ldc >= max(1, n), "gemm: ldc=\(ldc) too small for n=\(n)")
        // (Pairwise max: the variadic form builds an array, an allocation per call.)
        precondition(max(max(m, n), max(k, lda), max(ldb, ldc)) <= Int(Int32.max), "gemm: size exceeds 32-bit BLAS")
        if m == 0 || n == 0 { return }
        T.cblasGemm(
            transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
            Int32(ldb), beta, c, Int32(ldc))
    }

    /// Row-major matrix–vector product `y ← α·op(A)·x + β·y`, A stored m × n.
    public static func gemv<T: BLASScalar>(
        _ trans: Transpose, m: Int, n: Int, alpha: T = 1, a: UnsafePointer<T>, lda: Int,
        x: UnsafePointer<T>, beta: T = 0, y: UnsafeMutablePointer<T>
    ) {
        precondition(m >= 0 && n >= 0 && lda >= max(1, n), "gemv: bad sizes m=\(m) n=\(n) lda=\(lda)")
        precondition(max(max(m, n), lda) <= Int(Int32.max), "gemv: size exceeds 32-bit BLAS")
        if m == 0 || n == 0 { return }
        T.cblasGemv(trans.cblas, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    // MARK: The engine's small products

    /// What `productNN` does to each element of its result before storing it.
    public enum Epilogue {
        /// Stores the product as it is.
        case none
        /// c ← max(c, 0).
        case relu
        /// c ← c where g > 0, else 0: relu's pullback given u(A) in g (m × n, leading dimension ldg).
        case keepWherePositive(UnsafePointer<Float>, ldg: Int)
        /// c ← x + σ ⊙ c, the residual update x' = x + σ ⊙ F: σ per row (σ[i]) when ldg is 0, else
        /// per element (m × n, leading dimension ldg); x is m × n with C's leading dimension (it
        /// may be C itself). Needs accumulate = false.
        case addMasked(UnsafePointer<Float>, ldg: Int, source: UnsafePointer<Float>)

        var code: Int32 {
            switch self {
            case .none: return Int32(NCA_EPILOGUE_NONE)
            case .relu: return Int32(NCA_EPILOGUE_RELU)
            case .keepWherePositive: return Int32(NCA_EPILOGUE_POSITIVE_OF_G)
            case .addMasked: return Int32(NCA_EPILOGUE_MASKED_ADD)
            }
        }
    }

    /// Row-major `C ← [C +] A·B [+ 1·biasᵀ]` (A m × k, B k × n, C m × n, bias n values) followed by `epilogue`, by the
    /// small-GEMM kernels of `level` (not `.blas`): no packing, no zeroing pass, the epilogue applied in
    /// registers. For the engine's tall, narrow products (m cells by a few dozen features).
    ///
    /// With `blocks` > 1, A (m × blocks·k) is that many column blocks of k columns, block q at
    /// a + q·aBlockStride (rows lda apart), and B the matching row blocks, block q at
    /// b + q·bBlockStride (rows ldb apart): a product whose operands are stored in pieces.
    public static func productNN(
        level: KernelLevel, m: Int, n: Int, k: Int, blocks: Int = 1, a: UnsafePointer<Float>, lda: Int, aBlockStride: Int = 0,
        b: UnsafePointer<Float>, ldb: Int, bBlockStride: Int = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool, bias: UnsafePointer<Float>? = nil, epilogue: Epilogue = .none
    ) {
        precondition(level.isOwnKernels && level.isAvailable, "productNN: kernel level \(level) is not available here")
        precondition(
            m >= 0 && n >= 0 && k >= 0 && blocks >= 1 && lda >= k && ldb >= n && ldc >= n, "productNN: bad sizes")
        if m == 0 || n == 0 { return }
        var g: UnsafePointer<Float>? = nil
        var ldg = 0
        var source: UnsafePointer<Float>? = nil
        switch epilogue {
        case .keepWherePositive(let pointer, let stride):
            precondition(stride >= n, "productNN: ldg too small")
            g = pointer
            ldg = stride
        case .addMasked(let pointer, let stride, let x):
            precondition(stride == 0 || stride >= n, "productNN: ldg too small")
            precondition(!accumulate, "productNN: addMasked adds to x itself")
            g = pointer
            ldg = stride
            source = x
        case .none, .relu: break
        }
        nca_sgemm_nn(
            Int32(level.rawValue), m, n, blocks, k, a, lda, aBlockStride, b, ldb, bBlockStride, c, ldc, accumulate ? 1 : 0,
            epilogue.code, g, ldg, bias, source)
    }

    /// Row-major `C = A·B` (A m × k, B k × n) with C's columns in blocks of `blockWidth`: column j
    /// at `c + (j / blockWidth)·blockStride + j mod blockWidth`, rows `ldc` apart — one product
    /// writing K separate planes. Returns false, writing nothing, when the kernels of `level` have
    /// no such store for the shape (n not a multiple of the vector length, or `blockWidth` neither
    /// a multiple of it nor half of it); the caller then takes one product per block.
    public static func productNNIntoBlocks(
        level: KernelLevel, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, blockWidth: Int, blockStride: Int
    ) -> Bool {
        precondition(level.isOwnKernels && level.isAvailable, "productNNIntoBlocks: kernel level \(level) is not available here")
        precondition(
            m >= 0 && n >= 0 && k >= 0 && lda >= k && ldb >= n && blockWidth >= 1 && ldc >= blockWidth,
            "productNNIntoBlocks: bad sizes")
        if m == 0 || n == 0 { return true }
        return nca_sgemm_nn_split(Int32(level.rawValue), m, n, k, a, lda, b, ldb, c, ldc, blockWidth, blockStride) != 0
    }

    /// Row-major `C += Aᵀ·B` with A stored k × m and B stored k × n (C m × n): a sum over k rows,
    /// such as a weight gradient summed over cells, by the small-GEMM kernels of `level` (not `.blas`).
    public static func productTNAccumulate(
        level: KernelLevel, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(level.isOwnKernels && level.isAvailable, "productTNAccumulate: kernel level \(level) is not available here")
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= m && ldb >= n && ldc >= n, "productTNAccumulate: bad sizes")
        if m == 0 || n == 0 || k == 0 { return }
        nca_sgemm_tn_acc(Int32(level.rawValue), m, n, k, a, lda, b, ldb, c, ldc)
    }

    /// The product with B's rows gathered (im2col by indirection): for r < rows, i < m,
    /// j < width, `C[i·ldc + r·cRowStride + j] = Σ_p A[i, p] · base[offsets[p] + r·bRowStride + j]`
    /// over p < k, by the kernels of `level` (not `.blas`).
    public static func productGathered(
        level: KernelLevel, m: Int, rows: Int, width: Int, k: Int, a: UnsafePointer<Float>, lda: Int, base: UnsafePointer<Float>,
        offsets: UnsafePointer<Int>, bRowStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, cRowStride: Int
    ) {
        precondition(level.isOwnKernels && level.isAvailable, "productGathered: kernel level \(level) is not available here")
        precondition(m >= 0 && rows >= 0 && width >= 0 && k >= 0 && lda >= k, "productGathered: bad sizes")
        if m == 0 || rows == 0 || width == 0 { return }
        nca_sgemm_gather(Int32(level.rawValue), m, rows, width, k, a, lda, base, offsets, bRowStride, c, ldc, cRowStride)
    }

    /// The pullback of the residual update x ← x + σ ⊙ F for F: df = σ ⊙ g over cells × channels
    /// (σ per cell when `perCell`, else per element), and dv += Σ over cells of df.
    public static func residualPullback(
        _ g: UnsafePointer<Float>, sigma: UnsafePointer<Float>, into df: UnsafeMutablePointer<Float>, cells: Int, channels: Int,
        perCell: Bool, biasGradient dv: UnsafeMutablePointer<Float>
    ) {
        nca_residual_pullback(g, sigma, df, cells, channels, perCell ? 1 : 0, dv)
    }

    /// The smooth activations over a whole buffer in Float, vectorised for the CPU (C kernels;
    /// within 4e-7 of the exact value): `out[i] = u(a[i])` (`out` may be `a`), or with `pullback`
    /// `g[i] *= u′(a[i])` for `g` in `out`. Only for `.tanh`, `.sigmoid` and `.swish`.
    public static func smoothActivation(
        _ activation: Activation, _ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, pullback: Bool
    ) {
        let kind: Int32
        switch activation {
        case .tanh: kind = Int32(NCA_ACTIVATION_TANH)
        case .sigmoid: kind = Int32(NCA_ACTIVATION_SIGMOID)
        case .swish: kind = Int32(NCA_ACTIVATION_SWISH)
        default: preconditionFailure("smoothActivation: \(activation) has no vectorised kernel")
        }
        if pullback {
            nca_activation_pullback(kind, out, a, count)
        } else {
            nca_activation_forward(kind, a, out, count)
        }
    }

    /// `y ← y + x` over `count` contiguous elements.
    public static func add<T: BLASScalar>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int) {
        precondition(count >= 0 && count <= Int(Int32.max), "add: bad count \(count)")
        if count == 0 { return }
        T.cblasAxpy(Int32(count), 1, x, 1, y, 1)
    }

    /// `C = op(A) · op(B)` for rank-2 tensors.
    public static func matmul<T: BLASScalar>(
        _ a: Tensor<T>, _ b: Tensor<T>, transA: Transpose = .none, transB: Transpose = .none
    ) -> Tensor<T> {
        precondition(a.rank == 2 && b.rank == 2, "matmul: operands must be matrices, got \(a.shape) and \(b.shape)")
        let m = transA == .none ? a.shape[0] : a.shape[1]
        let k = transA == .none ? a.shape[1] : a.shape[0]
        let kb = transB == .none ? b.shape[0] : b.shape[1]
        let n = transB == .none ? b.shape[1] : b.shape[0]
        precondition(k == kb, "matmul: inner dimensions differ: \(a.shape) \(transA) × \(b.shape) \(transB)")
        var c = Tensor<T>(zeros: [m, n])
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                c.scalars.withUnsafeMutableBufferPointer { pc in
                    gemm(
                        transA, transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: max(1, a.shape[1]),
                        b: pb.baseAddress!, ldb: max(1, b.shape[1]), c: pc.baseAddress!, ldc: max(1, n))
                }
            }
        }
        return c
    }

    /// Thin singular value decomposition `A = U · diag(Σ) · Vᵀ` by LAPACK's divide-and-conquer
    /// `gesdd`. For A m × n and r = min(m, n): U is m × r, Σ has r values in descending order,
    /// Vᵀ is r × n.
    public static func svd<T: BLASScalar>(_ matrix: Tensor<T>) throws(LinearAlgebraError) -> SVD<T> {
        precondition(matrix.rank == 2, "svd: expected a matrix, got shape \(matrix.shape)")
        let m = matrix.shape[0]
        let n = matrix.shape[1]
        let r = min(m, n)
        guard matrix.scalars.allSatisfy({ $0.isFinite }) else { throw .nonFiniteInput(routine: "gesdd") }
        var a = matrix.scalars
        var s = [T](repeating: 0, count: r)
        var u = [T](repeating: 0, count: max(1, m * r))
        var vt = [T](repeating: 0, count: max(1, r * n))
        if r > 0 {
            let info = a.withUnsafeMutableBufferPointer { pa in
                s.withUnsafeMutableBufferPointer { ps in
                    u.withUnsafeMutableBufferPointer { pu in
                        vt.withUnsafeMutableBufferPointer { pv in
                            T.lapackeGesdd(
                                CChar(UInt8(ascii: "S")), Int32(m), Int32(n), pa.baseAddress!,
                                Int32(max(1, n)), ps.baseAddress!, pu.baseAddress!, Int32(max(1, r)),
                                pv.baseAddress!, Int32(max(1, n)))
                        }
                    }
                }
            }
            if info < 0 { throw .illegalArgument(routine: "gesdd", argument: Int(-info)) }
            if info > 0 { throw .didNotConverge(routine: "gesdd", info: Int(info)) }
        }
        return SVD(
            u: Tensor(shape: [m, r], scalars: Array(u.prefix(m * r))), singularValues: s,
            vt: Tensor(shape: [r, n], scalars: Array(vt.prefix(r * n))))
    }

    /// Eigenvalues and right eigenvectors of a general complex n × n matrix (row-major, given as
    /// real and imaginary parts) by LAPACK's `zgeev`. Eigenvector k is column k of the returned
    /// n × n matrices, normalised to unit Euclidean norm.
    public static func eigen(real: [Double], imaginary: [Double], n: Int) throws(LinearAlgebraError) -> ComplexEigen {
        precondition(n >= 1 && real.count == n * n && imaginary.count == n * n, "eigen: expected \(n) × \(n) parts")
        guard real.allSatisfy({ $0.isFinite }) && imaginary.allSatisfy({ $0.isFinite }) else {
            throw .nonFiniteInput(routine: "zgeev")
        }
        var a = (0..<(n * n)).map { _lapack_complex_double(real: real[$0], imag: imaginary[$0]) }
        var w = [_lapack_complex_double](repeating: _lapack_complex_double(real: 0, imag: 0), count: n)
        var vl = [_lapack_complex_double](repeating: _lapack_complex_double(real: 0, imag: 0), count: 1)
        var vr = [_lapack_complex_double](repeating: _lapack_complex_double(real: 0, imag: 0), count: n * n)
        let info = a.withUnsafeMutableBufferPointer { pa in
            w.withUnsafeMutableBufferPointer { pw in
                vl.withUnsafeMutableBufferPointer { pl in
                    vr.withUnsafeMutableBufferPointer { pr in
                        LAPACKE_zgeev(
                            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "V")), Int32(n), pa.baseAddress!,
                            Int32(n), pw.baseAddress!, pl.baseAddress!, 1, pr.baseAddress!, Int32(n))
                    }
                }
            }
        }
        if info < 0 { throw .illegalArgument(routine: "zgeev", argument: Int(-info)) }
        if info > 0 { throw .didNotConverge(routine: "zgeev", info: Int(info)) }
        return ComplexEigen(
            n: n, valuesReal: w.map(\.real), valuesImaginary: w.map(\.imag), vectorsReal: vr.map(\.real),
            vectorsImaginary: vr.map(\.imag))
    }

    /// The CPU kernel set OpenBLAS chose when it loaded (e.g. "Haswell", "SkylakeX", "Prescott").
    public static var kernelName: String { String(cString: openblas_get_corename()) }

    /// A better `OPENBLAS_CORETYPE` for this machine, or nil when OpenBLAS's own choice
    /// (`current`, by default the kernels it loaded) is fine.
    ///
    /// OpenBLAS 0.3.21 (Debian 12) does not recognise recent CPUs (e.g. Intel family 6 model
    /// 207) and falls back to its generic SSE3 "Prescott" kernels, about 1.5× slower there. When
    /// that happened on a CPU with AVX-512 (F, BW, DQ, VL, CD), its SkylakeX kernels are safe
    /// and fastest (HEAD training step 306 ms against 343 ms with Haswell's, 1024³ sgemm about
    /// twice as fast); with AVX2 and FMA only, the Haswell kernels. (It does recognise AMD Zen 5
    /// and picks Cooperlake.) The variable takes effect only when set before OpenBLAS loads (the
    /// `nca` tool re-executes itself with it, unless the user set it).
    public static func recommendedCoreType(cpuFlags: Set<String>, current: String = kernelName) -> String? {
        guard current.lowercased() == "prescott", cpuFlags.contains("avx2"), cpuFlags.contains("fma") else { return nil }
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        return avx512.allSatisfy(cpuFlags.contains) ? "SkylakeX" : "Haswell"
    }

    /// Number of threads OpenBLAS uses inside one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}

/// The result of `LinearAlgebra.svd`.
public struct SVD<T: BLASScalar>: Sendable {
    /// Left singular vectors as columns, m × r.
    public var u: Tensor<T>
    /// Singular values, descending, non-negative.
    public var singularValues: [T]
    /// Right singular vectors as rows, r × n.
    public var vt: Tensor<T>

    /// `U · diag(Σ) · Vᵀ`, the matrix the decomposition came from (up to rounding).
    public func reconstructed() -> Tensor<T> {
        var us = u
        let r = singularValues.count
        for i in 0..<u.shape[0] {
            for j in 0..<r { us.scalars[i * r + j] *= singularValues[j] }
        }
        return LinearAlgebra.matmul(us, vt)
    }
}

/// The result of `LinearAlgebra.eigen`: eigenvalues λ_k and right eigenvectors (column k of the
/// row-major n × n vector matrices).
public struct ComplexEigen: Sendable {
    /// n, the matrix order.
    public var n: Int
    /// Real parts of the eigenvalues λ_k.
    public var valuesReal: [Double]
    /// Imaginary parts of the eigenvalues.
    public var valuesImaginary: [Double]
    /// Real parts of the eigenvectors, n × n row-major, column k for λ_k.
    public var vectorsReal: [Double]
    /// Imaginary parts of the eigenvectors.
    public var vectorsImaginary: [Double]

    /// |λ_k|.
    public func modulus(_ k: Int) -> Double {
        (valuesReal[k] * valuesReal[k] + valuesImaginary[k] * valuesImaginary[k]).squareRoot()
    }

    /// |v_k[i]|² for every component i of eigenvector k (sums to 1).
    public func componentWeights(_ k: Int) -> [Double] {
        let raw = (0..<n).map { i in
            let (re, im) = (vectorsReal[i * n + k], vectorsImaginary[i * n + k])
            return re * re + im * im
        }
        let total = raw.reduce(0, +)
        return total > 0 ? raw.map { $0 / total } : raw
    }
}
