import CKernels
import Foundation

/// Which code runs the engine's dense products: OpenBLAS (any scalar type), nca's own
/// small-GEMM kernels for Float (`CKernels`: AVX2 + FMA, AVX-512F), chosen once at run time, or
/// libxsmm's JIT-generated kernels for Float (`CXSMM`; only when asked for by `NCA_KERNELS`).
/// The order is that of nca's own levels; `.libxsmm` sorts last but is never a default.
public enum KernelLevel: Int, CaseIterable, Comparable, Sendable {
    /// OpenBLAS, with separate element-wise passes (the only choice for Double).
    case blas = 0
    /// nca's AVX2 + FMA kernels.
    case avx2 = 1
    /// nca's AVX-512F kernels.
    case avx512 = 2
    /// libxsmm 1.17 (Debian's libxsmm-dev) for the products, with OpenBLAS's separate
    /// element-wise passes; kept as the measured alternative to nca's kernels (Sources/NCA/NCA.docc/Performance.md).
    case libxsmm = 3

    /// The best level this CPU supports, whatever `NCA_KERNELS` says.
    public static let ofCPU = KernelLevel(rawValue: Int(nca_kernel_level())) ?? .blas

    /// The level the engine uses by default: the CPU's best, capped by the `NCA_KERNELS`
    /// environment variable when it names a level (see `init?(choice:)`; other values: the CPU's
    /// best; the `nca` tool rejects them before anything runs). `libxsmm` is used when asked for
    /// and this CPU has AVX2, else the CPU's best.
    public static let configured: KernelLevel = {
        guard let text = ProcessInfo.processInfo.environment["NCA_KERNELS"], let asked = KernelLevel(choice: text) else {
            return ofCPU
        }
        if asked == .libxsmm { return asked.isAvailable ? asked : ofCPU }
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
        case .libxsmm: return "libxsmm"
        }
    }

    /// A name for reports, as printed by `nca bench`.
    public var name: String {
        switch self {
        case .blas: return "OpenBLAS"
        case .avx2: return "AVX2"
        case .avx512: return "AVX-512"
        case .libxsmm: return "libxsmm"
        }
    }

    /// Whether this CPU can run the level (libxsmm: from AVX2 on, as nca's kernels).
    public var isAvailable: Bool { self == .libxsmm ? Self.ofCPU >= .avx2 : self <= Self.ofCPU }

    /// Whether this is one of nca's own kernel levels (`CKernels`), the levels `LinearAlgebra`'s
    /// `productNN`, `productTNAccumulate` and `productGathered` take.
    public var isOwnKernels: Bool { self == .avx2 || self == .avx512 }

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }
}
