import CBLAS
import RealModule

/// Float: training's precision, on the `s` routines of BLAS and LAPACK.
extension Float: BLASScalar {
    public static var byteWidth: Int { 4 }

    public static func cblasGemm(
        _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ k: Int32,
        _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>,
        _ ldb: Int32, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32
    ) {
        cblas_sgemm(CblasRowMajor, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    public static func cblasGemv(
        _ trans: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ alpha: Float, _ a: UnsafePointer<Float>,
        _ lda: Int32, _ x: UnsafePointer<Float>, _ incx: Int32, _ beta: Float,
        _ y: UnsafeMutablePointer<Float>, _ incy: Int32
    ) {
        cblas_sgemv(CblasRowMajor, trans, m, n, alpha, a, lda, x, incx, beta, y, incy)
    }

    public static func cblasAxpy(
        _ n: Int32, _ alpha: Float, _ x: UnsafePointer<Float>, _ incx: Int32, _ y: UnsafeMutablePointer<Float>, _ incy: Int32
    ) {
        cblas_saxpy(n, alpha, x, incx, y, incy)
    }

    public static func lapackeGesdd(
        _ jobz: CChar, _ m: Int32, _ n: Int32, _ a: UnsafeMutablePointer<Float>, _ lda: Int32,
        _ s: UnsafeMutablePointer<Float>, _ u: UnsafeMutablePointer<Float>, _ ldu: Int32,
        _ vt: UnsafeMutablePointer<Float>, _ ldvt: Int32
    ) -> Int32 {
        LAPACKE_sgesdd(LAPACK_ROW_MAJOR, jobz, m, n, a, lda, s, u, ldu, vt, ldvt)
    }

    public static func reluForward(_ a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        ReluLoops.forward(a, out, count)
    }

    public static func reluPullback(_ g: UnsafeMutablePointer<Float>, at a: UnsafePointer<Float>, count: Int) {
        ReluLoops.pullback(g, a, count)
    }
}
