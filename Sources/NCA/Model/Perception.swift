/// Perception (eq. 1) as im2col + GEMM: the 3×3 kernels applied depthwise to every channel of
/// every cell at once.
///
/// For N = R·S·S cells and C channels, im2col gathers each (cell, channel)'s 3×3 neighbourhood
/// into a row of P ((N·C) × 9, neighbour q = 3·(Δi+1) + (Δj+1)), honouring the boundary; then
/// Z = P · G with G the 9 × K kernel matrix. Read row-major, Z ((N·C) × K) is exactly the
/// N × (K·C) perception matrix in channel-major order (c0,k0), (c0,k1), …, (c1,k0), …
/// The pullback is dP = dZ · Gᵀ followed by col2im, the scatter-add transpose of the gather.
struct Perception<T: BLASScalar> {
    let batch: Int
    let size: Int
    let channels: Int
    let kernelCount: Int
    /// G, 9 × K row-major.
    let kernelMatrix: [T]
    /// For offset d ∈ {−1, 0, 1} and coordinate i, `neighbour[(d + 1) * size + i]` is the
    /// coordinate read, or −1 for a zero read.
    let neighbour: [Int]

    init(kernels: [Kernel], boundary: Boundary, batch: Int, size: Int, channels: Int) {
        self.batch = batch
        self.size = size
        self.channels = channels
        kernelCount = kernels.count
        var g = [T](repeating: 0, count: 9 * kernels.count)
        for (k, kernel) in kernels.enumerated() {
            for q in 0..<9 { g[q * kernels.count + k] = T(kernel.weights[q]) }
        }
        kernelMatrix = g
        var table = [Int](repeating: -1, count: 3 * size)
        for d in -1...1 {
            for i in 0..<size { table[(d + 1) * size + i] = boundary.source(i, offset: d, size: size) ?? -1 }
        }
        neighbour = table
    }

    var cellCount: Int { batch * size * size }

    /// z (N × K·C) from x (N × C); `patches` needs N·C·9 elements.
    func forward(_ x: UnsafePointer<T>, patches: UnsafeMutablePointer<T>, into z: UnsafeMutablePointer<T>) {
        im2col(x, into: patches)
        kernelMatrix.withUnsafeBufferPointer { g in
            LinearAlgebra.gemm(
                .none, .none, m: cellCount * channels, n: kernelCount, k: 9, a: patches, lda: 9,
                b: g.baseAddress!, ldb: kernelCount, c: z, ldc: kernelCount)
        }
    }

    /// dx += ∂z/∂x ᵀ · dz; `patches` is scratch of N·C·9 elements.
    func backward(_ dz: UnsafePointer<T>, patches: UnsafeMutablePointer<T>, accumulateInto dx: UnsafeMutablePointer<T>) {
        kernelMatrix.withUnsafeBufferPointer { g in
            LinearAlgebra.gemm(
                .none, .transposed, m: cellCount * channels, n: 9, k: kernelCount, a: dz,
                lda: kernelCount, b: g.baseAddress!, ldb: kernelCount, c: patches, ldc: 9)
        }
        col2imAdd(patches, into: dx)
    }

    /// The gather: P[(n·C + c)·9 + q] = x at neighbour q of cell n, channel c (0 outside).
    func im2col(_ x: UnsafePointer<T>, into p: UnsafeMutablePointer<T>) {
        let s = size
        let c = channels
        neighbour.withUnsafeBufferPointer { nb in
            for r in 0..<batch {
                for i in 0..<s {
                    for j in 0..<s {
                        let cellBase = ((r * s + i) * s + j) * c * 9
                        for di in 0..<3 {
                            let si = nb[di * s + i]
                            for dj in 0..<3 {
                                let sj = nb[dj * s + j]
                                let q = di * 3 + dj
                                if si < 0 || sj < 0 {
                                    for ch in 0..<c { p[cellBase + ch * 9 + q] = 0 }
                                } else {
                                    let src = ((r * s + si) * s + sj) * c
                                    for ch in 0..<c { p[cellBase + ch * 9 + q] = x[src + ch] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The transpose of `im2col`: dx at each neighbour += dP entry (zero reads drop out).
    func col2imAdd(_ p: UnsafePointer<T>, into dx: UnsafeMutablePointer<T>) {
        let s = size
        let c = channels
        neighbour.withUnsafeBufferPointer { nb in
            for r in 0..<batch {
                for i in 0..<s {
                    for j in 0..<s {
                        let cellBase = ((r * s + i) * s + j) * c * 9
                        for di in 0..<3 {
                            let si = nb[di * s + i]
                            if si < 0 { continue }
                            for dj in 0..<3 {
                                let sj = nb[dj * s + j]
                                if sj < 0 { continue }
                                let q = di * 3 + dj
                                let dst = ((r * s + si) * s + sj) * c
                                for ch in 0..<c { dx[dst + ch] += p[cellBase + ch * 9 + q] }
                            }
                        }
                    }
                }
            }
        }
    }
}
