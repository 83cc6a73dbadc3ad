import Foundation

/// The fixed 3×3 perception kernels of the paper (eq. 2), applied depthwise to every channel.
///
/// Row index is Δi (first lattice axis), column index Δj, centre at [1][1]; perception is the
/// correlation z[i,j] = Σ g[Δi+1][Δj+1] · x[i+Δi, j+Δj] (eq. 1). Raw values are the CLI spellings.
public enum Kernel: String, CaseIterable, Codable, Sendable {
    /// The cell itself.
    case identity
    /// The mean of the 3 × 3 neighbourhood.
    case average
    /// The Sobel gradient along the first axis, divided by 8.
    case gradX = "grad-x"
    /// The Sobel gradient along the second axis, divided by 8.
    case gradY = "grad-y"
    /// The 9-point Laplacian, divided by 4.
    case laplacian

    /// The 9 weights in row-major order (index 3·(Δi+1) + (Δj+1)).
    public var weights: [Double] {
        switch self {
        case .identity: return [0, 0, 0, 0, 1, 0, 0, 0, 0]
        case .average: return [Double](repeating: 1.0 / 9.0, count: 9)
        case .gradX: return [1, 2, 1, 0, 0, 0, -1, -2, -1].map { $0 / 8 }
        case .gradY: return [1, 0, -1, 2, 0, -2, 1, 0, -1].map { $0 / 8 }
        case .laplacian: return [1, 2, 1, 2, -12, 2, 1, 2, 1].map { $0 / 4 }
        }
    }

    /// Parses a comma-separated list such as `identity,laplacian` (order kept, no repeats).
    public static func parseList(_ text: String) throws(ConfigurationError) -> [Kernel] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var kernels: [Kernel] = []
        for name in names {
            guard let kernel = Kernel(rawValue: name) else { throw .unknownKernel(name) }
            guard !kernels.contains(kernel) else { throw .repeatedKernel(name) }
            kernels.append(kernel)
        }
        return kernels
    }

    /// The CLI spelling of a list: `identity,laplacian`.
    public static func listDescription(_ kernels: [Kernel]) -> String {
        kernels.map(\.rawValue).joined(separator: ",")
    }
}
