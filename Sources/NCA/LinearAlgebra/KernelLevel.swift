import CKernels
import Foundation

/// Which code runs the engine's dense products: OpenBLAS (any scalar type), or nca's own
/// small-GEMM kernels for Float (`CKernels`: AVX2 + FMA, AVX-512F), chosen once at run time.
public enum KernelLevel: Int, CaseIterable, Comparable, Sendable {
    /// OpenBLAS, with separate element-wise passes (the only choice for Double).
    case blas = 0
    case avx2 = 1
    case avx512 = 2

    /// The best level this CPU supports, whatever `NCA_KERNELS` says.
    public static let ofCPU = KernelLevel(rawValue: Int(nca_kernel_level())) ?? .blas

    /// The level the engine uses by default: the CPU's best, capped by the `NCA_KERNELS`
    /// environment variable when it names a level (see `init?(choice:)`; other values: the CPU's
    /// best; the `nca` tool rejects them before anything runs).
    public static let configured: KernelLevel = {
        guard let text = ProcessInfo.processInfo.environment["NCA_KERNELS"], let asked = KernelLevel(choice: text) else {
            return ofCPU
        }
        return min(asked, ofCPU)
    }()

    /// The level a user's choice names: "blas", "avx2" or "avx512" (any case); nil otherwise.
    public init?(choice: String) {
        guard let level = Self.allCases.first(where: { $0.choice == choice.lowercased() }) else { return nil }
        self = level
    }

    /// The word that selects this level (`NCA_KERNELS`).
    public var choice: String {
        switch self {
        case .blas: return "blas"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    /// A name for reports, as printed by `nca bench`.
    public var name: String {
        switch self {
        case .blas: return "OpenBLAS"
        case .avx2: return "AVX2"
        case .avx512: return "AVX-512"
        }
    }

    /// Whether this CPU can run the level.
    public var isAvailable: Bool { self <= Self.ofCPU }

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }
}
