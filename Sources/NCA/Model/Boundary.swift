/// How the 3×3 stencil reads cells beyond the lattice edge.
public enum Boundary: String, CaseIterable, Codable, Sendable {
    /// Indices wrap around (torus), as for the Gray-Scott PDE.
    case periodic
    /// Cells outside the lattice read as 0 (the image task).
    case zero
    /// Zero-flux: index −1 reads 0 and index S reads S−1 (numpy's `symmetric` pad).
    case reflect

    /// The lattice index that offset `delta` ∈ {−1, 0, 1} from `index` reads on an axis of
    /// length `size`, or nil when it reads a zero.
    public func source(_ index: Int, offset delta: Int, size: Int) -> Int? {
        let i = index + delta
        if i >= 0 && i < size { return i }
        switch self {
        case .periodic: return ((i % size) + size) % size
        case .zero: return nil
        case .reflect: return i < 0 ? -i - 1 : 2 * size - i - 1
        }
    }
}
