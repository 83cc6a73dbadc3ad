import CBLAS
import RealModule

/// Double: the gradient checks' precision, on the `d` routines of BLAS and LAPACK.
extension Double: BLASScalar {
    public static var byteWidth: Int { 8 }

    public static func cblasGemm(
        _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ k: Int32,
        _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int32, _ b: UnsafePointer<Double>,
        _ ldb: Int32, _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int32
    ) {
        cblas_dgemm(CblasRowMajor, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func cblasGemv(
        _ trans: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ alpha: Double, _ a: UnsafePointer<Double>,
        _ lda: Int32, _ x: UnsafePointer<Double>, _ incx: Int32, _ beta: Double,
        _ y: UnsafeMutablePointer<Double>, _ incy: Int32
    ) {
        cblas_dgemv(CblasRowMajor, trans, m, n, alpha, a, lda, x, incx, beta, y, incy)
    }

    public static func cblasAxpy(
        _ n: Int32, _ alpha: Double, _ x: UnsafePointer<Double>, _ incx: Int32, _ y: UnsafeMutablePointer<Double>, _ incy: Int32
    ) {
        cblas_daxpy(n, alpha, x, incx, y, incy)
    }

    public static func lapackeGesdd(
        _ jobz: CChar, _ m: Int32, _ n: Int32, _ a: UnsafeMutablePointer<Double>, _ lda: Int32,
        _ s: UnsafeMutablePointer<Double>, _ u: UnsafeMutablePointer<Double>, _ ldu: Int32,
        _ vt: UnsafeMutablePointer<Double>, _ ldvt: Int32
    ) -> Int32 {
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt)
    }

    public static func reluForward(_ a: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count: Int) {
        ReluLoops.forward(a, out, count)
    }

    public static func reluPullback(_ g: UnsafeMutablePointer<Double>, at a: UnsafePointer<Double>, count: Int) {
        ReluLoops.pullback(g, a, count)
    }
}
