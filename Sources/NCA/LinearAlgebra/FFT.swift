import CFFTW
import Foundation

/// 2-D discrete Fourier transforms of n × n arrays in Double, on FFTW 3: the only code that calls
/// FFTW. Complex values are interleaved (re, im) pairs, row-major. Plans are made once per size
/// (FFTW_ESTIMATE) and kept; planning is serialised, execution is thread-safe.
enum FFT {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var plans: [Int: (forward: fftw_plan, backward: fftw_plan)] = [:]

    /// The plans for n × n, made on first use.
    private static func plans(_ n: Int) -> (forward: fftw_plan, backward: fftw_plan) {
        lock.lock()
        defer { lock.unlock() }
        if let made = plans[n] { return made }
        let a = fftw_alloc_complex(n * n)!
        let b = fftw_alloc_complex(n * n)!
        defer {
            fftw_free(a)
            fftw_free(b)
        }
        let forward = fftw_plan_dft_2d(Int32(n), Int32(n), a, b, nca_fftw_forward, nca_fftw_estimate)!
        let backward = fftw_plan_dft_2d(Int32(n), Int32(n), a, b, nca_fftw_backward, nca_fftw_estimate)!
        plans[n] = (forward, backward)
        return (forward, backward)
    }

    /// X_k = Σ_m x_m e^{∓2πi k·m/n} over the n × n grid (`inverse`: the + sign, unnormalised).
    /// `values` holds n·n interleaved complex numbers; the result likewise.
    static func transform(_ values: [Double], n: Int, inverse: Bool = false) -> [Double] {
        precondition(values.count == 2 * n * n, "FFT.transform: \(values.count) values for \(n) × \(n)")
        let plan = inverse ? plans(n).backward : plans(n).forward
        let input = fftw_alloc_complex(n * n)!
        let output = fftw_alloc_complex(n * n)!
        defer {
            fftw_free(input)
            fftw_free(output)
        }
        let inputReals = UnsafeMutableRawPointer(input).assumingMemoryBound(to: Double.self)
        values.withUnsafeBufferPointer { inputReals.update(from: $0.baseAddress!, count: 2 * n * n) }
        fftw_execute_dft(plan, input, output)
        let outputReals = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Double.self)
        return Array(UnsafeBufferPointer(start: outputReals, count: 2 * n * n))
    }
}
