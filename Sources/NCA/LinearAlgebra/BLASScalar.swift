import CBLAS
import RealModule

/// A floating-point type the toolkit computes in: `Float` (training) or `Double` (gradient checks).
///
/// The requirements are thin, one-line bridges to the single-precision or double-precision
/// CBLAS/LAPACKE symbol; everything else (argument checks, workspace, `info` handling) is written
/// once, generically, in `LinearAlgebra.swift`. Elementary functions come from `Real`; relu's loops
/// are requirements so that each type runs a specialised, vectorised body.
public protocol BLASScalar: Real, BinaryFloatingPoint, Sendable, Codable
where RawSignificand: FixedWidthInteger {
    /// Bytes per element as stored in `.npy` / `.safetensors` files.
    static var byteWidth: Int { get }

    /// `cblas_sgemm` or `cblas_dgemm` (row-major).
    static func cblasGemm(
        _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ k: Int32,
        _ alpha: Self, _ a: UnsafePointer<Self>, _ lda: Int32, _ b: UnsafePointer<Self>, _ ldb: Int32,
        _ beta: Self, _ c: UnsafeMutablePointer<Self>, _ ldc: Int32)

    /// `cblas_sgemv` or `cblas_dgemv` (row-major).
    static func cblasGemv(
        _ trans: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ alpha: Self, _ a: UnsafePointer<Self>,
        _ lda: Int32, _ x: UnsafePointer<Self>, _ incx: Int32, _ beta: Self,
        _ y: UnsafeMutablePointer<Self>, _ incy: Int32)

    /// `cblas_saxpy` or `cblas_daxpy`.
    static func cblasAxpy(
        _ n: Int32, _ alpha: Self, _ x: UnsafePointer<Self>, _ incx: Int32, _ y: UnsafeMutablePointer<Self>, _ incy: Int32)

    /// `LAPACKE_sgesdd` or `LAPACKE_dgesdd` (row-major); returns LAPACK's `info`.
    static func lapackeGesdd(
        _ jobz: CChar, _ m: Int32, _ n: Int32, _ a: UnsafeMutablePointer<Self>, _ lda: Int32,
        _ s: UnsafeMutablePointer<Self>, _ u: UnsafeMutablePointer<Self>, _ ldu: Int32,
        _ vt: UnsafeMutablePointer<Self>, _ ldvt: Int32
    ) -> Int32

    /// out[i] = max(a[i], 0).
    static func reluForward(_ a: UnsafePointer<Self>, into out: UnsafeMutablePointer<Self>, count: Int)

    /// g[i] = a[i] > 0 ? g[i] : 0.
    static func reluPullback(_ g: UnsafeMutablePointer<Self>, at a: UnsafePointer<Self>, count: Int)
}
