import Foundation

// The one home of geometric operations on S × S × C lattices (channels last): augmentation
// (ImageSequence, Trainer) and symmetry perturbations use the same code.

/// Geometric operations on S × S × C lattices (channels last), zero outside.
public enum LatticeOps {
    /// Rotation by `angle` radians (counter-clockwise as pictures show them, rows down) about the
    /// lattice centre, bilinear, zero where the source lies outside.
    public static func rotated(_ cells: [Float], size s: Int, channels c: Int, angle: Double) -> [Float] {
        var out = [Float](repeating: 0, count: cells.count)
        let centre = Double(s - 1) / 2
        let (cosine, sine) = (Foundation.cos(angle), Foundation.sin(angle))
        for i in 0..<s {
            for j in 0..<s {
                let (di, dj) = (Double(i) - centre, Double(j) - centre)
                let si = centre + cosine * di + sine * dj
                let sj = centre - sine * di + cosine * dj
                let (i0, j0) = (Int(si.rounded(.down)), Int(sj.rounded(.down)))
                let (fi, fj) = (si - Double(i0), sj - Double(j0))
                for ch in 0..<c {
                    var value = 0.0
                    for (ii, wi) in [(i0, 1 - fi), (i0 + 1, fi)] where ii >= 0 && ii < s && wi > 1e-12 {
                        for (jj, wj) in [(j0, 1 - fj), (j0 + 1, fj)] where jj >= 0 && jj < s && wj > 1e-12 {
                            value += wi * wj * Double(cells[(ii * s + jj) * c + ch])
                        }
                    }
                    out[(i * s + j) * c + ch] = Float(value)
                }
            }
        }
        return out
    }

    /// Moved by (di, dj) cells, zero filled.
    public static func shifted(_ cells: [Float], size s: Int, channels c: Int, by di: Int, _ dj: Int) -> [Float] {
        var out = [Float](repeating: 0, count: cells.count)
        for i in 0..<s where i - di >= 0 && i - di < s {
            for j in 0..<s where j - dj >= 0 && j - dj < s {
                let (to, from) = ((i * s + j) * c, ((i - di) * s + j - dj) * c)
                for ch in 0..<c { out[to + ch] = cells[from + ch] }
            }
        }
        return out
    }

    /// Mirrored left–right (columns reversed): `LatticeTransform.flipColumns`.
    public static func flipped(_ cells: [Float], size s: Int, channels c: Int) -> [Float] {
        LatticeTransform.flipColumns.apply(cells, size: s, channels: c)
    }

    /// Rows and columns that hold a value with |v| > threshold: (top, bottom, left, right),
    /// inclusive, or nil when the lattice is empty.
    public static func boundingBox(_ cells: [Float], size s: Int, channels c: Int, threshold: Float = 1e-6)
        -> (top: Int, bottom: Int, left: Int, right: Int)?
    {
        var box: (Int, Int, Int, Int)? = nil
        for i in 0..<s {
            for j in 0..<s {
                var occupied = false
                for ch in 0..<c where abs(cells[(i * s + j) * c + ch]) > threshold { occupied = true }
                guard occupied else { continue }
                box = box.map { (min($0.0, i), max($0.1, i), min($0.2, j), max($0.3, j)) } ?? (i, i, j, j)
            }
        }
        return box.map { (top: $0.0, bottom: $0.1, left: $0.2, right: $0.3) }
    }
}

/// A rotation or reflection of a square lattice (channels last).
public enum LatticeTransform: String, CaseIterable, Codable, Sendable {
    /// Leaves the lattice as it is.
    case identity
    /// Rotates by 90°.
    case rotate90 = "rotate-90"
    /// Rotates by 180°.
    case rotate180 = "rotate-180"
    /// Rotates by 270°.
    case rotate270 = "rotate-270"
    /// Off-lattice: bilinear resampling about the lattice centre, zero outside.
    case rotate45 = "rotate-45"
    /// Reverses the row order (upside down).
    case flipRows = "flip-rows"
    /// Reverses the column order (mirror).
    case flipColumns = "flip-columns"

    /// Applies the transform to an S × S × C lattice. Rotations turn counter-clockwise as
    /// pictures show them (rows down, columns right), like numpy.rot90.
    public func apply(_ cells: [Float], size s: Int, channels c: Int) -> [Float] {
        precondition(cells.count == s * s * c, "LatticeTransform: \(cells.count) values for \(s) × \(s) × \(c)")
        if self == .rotate45 { return LatticeOps.rotated(cells, size: s, channels: c, angle: Double.pi / 4) }
        var out = [Float](repeating: 0, count: cells.count)
        func copy(_ i: Int, _ j: Int, from si: Int, _ sj: Int) {
            for ch in 0..<c { out[(i * s + j) * c + ch] = cells[(si * s + sj) * c + ch] }
        }
        for i in 0..<s {
            for j in 0..<s {
                switch self {
                case .identity: copy(i, j, from: i, j)
                case .rotate90: copy(i, j, from: j, s - 1 - i)
                case .rotate180: copy(i, j, from: s - 1 - i, s - 1 - j)
                case .rotate270: copy(i, j, from: s - 1 - j, i)
                case .flipRows: copy(i, j, from: s - 1 - i, j)
                case .flipColumns: copy(i, j, from: i, s - 1 - j)
                case .rotate45: break
                }
            }
        }
        return out
    }
}
