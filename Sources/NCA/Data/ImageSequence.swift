import Foundation

/// An RGBA picture as the image task uses it: S × S × 4 values in [0, 1], colour premultiplied
/// by alpha (a transparent pixel is all zeros, like the zero boundary), channels last.
public struct Picture: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// height × width × 4, premultiplied RGBA.
    public var values: [Double]

    /// A picture of `width` × `height` pixels from `values`: height × width × 4, premultiplied RGBA in [0, 1].
    public init(width: Int, height: Int, values: [Double]) {
        precondition(values.count == width * height * 4, "Picture: \(values.count) values for \(width) × \(height) × 4")
        self.width = width
        self.height = height
        self.values = values
    }

    /// From a decoded PNG (8-bit straight alpha): premultiplies.
    public init(_ image: RGBAImage) {
        var values = [Double](repeating: 0, count: image.width * image.height * 4)
        for p in 0..<(image.width * image.height) {
            let alpha = Double(image.pixels[4 * p + 3]) / 255
            for k in 0..<3 { values[4 * p + k] = Double(image.pixels[4 * p + k]) / 255 * alpha }
            values[4 * p + 3] = alpha
        }
        self.init(width: image.width, height: image.height, values: values)
    }

    /// Resampled so that the longer side is `size` (aspect kept) and centred on a transparent
    /// `size` × `size` square. Shrinking averages the source area under each target pixel
    /// (with fractional coverage at the edges); enlarging interpolates bilinearly. Works on
    /// premultiplied values, so colour does not bleed out of transparent regions.
    public func fitted(to size: Int) -> Picture {
        precondition(size >= 1, "Picture.fitted: size must be positive")
        let scale = Double(size) / Double(max(width, height))
        let w = max(1, Int((Double(width) * scale).rounded()))
        let h = max(1, Int((Double(height) * scale).rounded()))
        let resized = resampled(width: w, height: h)
        var out = [Double](repeating: 0, count: size * size * 4)
        let (top, left) = ((size - h) / 2, (size - w) / 2)
        for y in 0..<h {
            for x in 0..<w {
                for k in 0..<4 { out[((top + y) * size + left + x) * 4 + k] = resized.values[(y * w + x) * 4 + k] }
            }
        }
        return Picture(width: size, height: size, values: out)
    }

    /// Resampled to exactly `newWidth` × `newHeight` (area average per axis when shrinking,
    /// bilinear when enlarging).
    public func resampled(width newWidth: Int, height newHeight: Int) -> Picture {
        let horizontal = Picture.weights(from: width, to: newWidth)
        let vertical = Picture.weights(from: height, to: newHeight)
        // Rows first, then columns (the filter is separable).
        var rows = [Double](repeating: 0, count: height * newWidth * 4)
        for y in 0..<height {
            for (x, taps) in horizontal.enumerated() {
                for (source, weight) in taps {
                    for k in 0..<4 { rows[(y * newWidth + x) * 4 + k] += weight * values[(y * width + source) * 4 + k] }
                }
            }
        }
        var out = [Double](repeating: 0, count: newHeight * newWidth * 4)
        for (y, taps) in vertical.enumerated() {
            for (source, weight) in taps {
                for x in 0..<newWidth {
                    for k in 0..<4 { out[(y * newWidth + x) * 4 + k] += weight * rows[(source * newWidth + x) * 4 + k] }
                }
            }
        }
        return Picture(width: newWidth, height: newHeight, values: out)
    }

    /// For each output index along one axis, the source indices and weights (summing to 1).
    static func weights(from n: Int, to m: Int) -> [[(Int, Double)]] {
        if m == n { return (0..<n).map { [($0, 1)] } }
        if m < n {
            // Area average: output pixel i covers source [i·n/m, (i+1)·n/m).
            let step = Double(n) / Double(m)
            return (0..<m).map { i in
                let (lo, hi) = (Double(i) * step, Double(i + 1) * step)
                var taps: [(Int, Double)] = []
                var j = Int(lo.rounded(.down))
                while Double(j) < hi - 1e-12 && j < n {
                    let overlap = min(hi, Double(j + 1)) - max(lo, Double(j))
                    if overlap > 1e-12 { taps.append((j, overlap / step)) }
                    j += 1
                }
                return taps
            }
        }
        // Bilinear, pixel centres aligned: output centre i + 0.5 maps to source (i + 0.5)·n/m.
        return (0..<m).map { i in
            let position = max(0, min(Double(n - 1), (Double(i) + 0.5) * Double(n) / Double(m) - 0.5))
            let j = min(n - 2, Int(position.rounded(.down)))
            let f = position - Double(j)
            return n == 1 ? [(0, 1)] : [(j, 1 - f), (j + 1, f)]
        }
    }
}

/// The image-morphing data of paper §3.2: a sequence of pictures, each fitted to `size` ×
/// `size`, embedded in a zero lattice with `pad` cells on every side, the last picture repeated
/// `holdLast` more times (so that it has to stay put), as `copies` batch entries: entry 0
/// centred, the others shifted by a random whole number of cells in [−pad, pad] on each axis
/// (seeded; one shift per entry for all frames). Output (M+1) × R × S × S × 4 with S = size + 2·pad.
public struct ImageSequence: Sendable {
    /// The pictures in order, the last one the state to hold.
    public var pictures: [Picture]
    /// Side of each picture on the lattice, in cells.
    public var size: Int
    /// Empty cells around each picture.
    public var pad: Int
    /// R, shifted copies of the sequence in the batch.
    public var copies: Int
    /// Extra repeats of the last picture.
    public var holdLast: Int
    /// Seed of the copies' shifts.
    public var seed: UInt64

    /// A sequence of `pictures` laid out as `size` × `size` with `pad` cells around, `copies` shifted copies and `holdLast` extra repeats of the last.
    public init(pictures: [Picture], size: Int, pad: Int, copies: Int, holdLast: Int, seed: UInt64) {
        precondition(!pictures.isEmpty && size >= 1 && pad >= 0 && copies >= 1 && holdLast >= 0, "ImageSequence: bad settings")
        self.pictures = pictures
        self.size = size
        self.pad = pad
        self.copies = copies
        self.holdLast = holdLast
        self.seed = seed
    }

    /// The lattice side S = size + 2 · pad.
    public var latticeSize: Int { size + 2 * pad }

    /// How pictures become a lattice sequence: the picture side, the padding, the batch entries
    /// and the extra repeats of the last picture.
    public struct Layout: Equatable, Sendable {
        /// Side of each picture, in cells.
        public var size: Int
        /// Empty cells around each picture.
        public var pad: Int
        /// Shifted copies.
        public var copies: Int
        /// Extra repeats of the last picture.
        public var holdLast: Int

        /// A layout; see the properties.
        public init(size: Int, pad: Int, copies: Int, holdLast: Int) {
            self.size = size
            self.pad = pad
            self.copies = copies
            self.holdLast = holdLast
        }

        /// The paper's size and frames (§3.2, Fig 7: 60 × 60 pictures, 10 cells of padding, the last
        /// picture shown twice: 4 frames of 3 pictures), the default of
        /// `nca data images`.
        public static let paper = Layout(size: 60, pad: 10, copies: 8, holdLast: 1)
    }

    /// A sequence of `pictures` laid out as `layout` says.
    public init(pictures: [Picture], layout: Layout, seed: UInt64) {
        self.init(
            pictures: pictures, size: layout.size, pad: layout.pad, copies: layout.copies, holdLast: layout.holdLast, seed: seed)
    }

    /// The shift of each batch entry (entry 0: none).
    public var shifts: [(Int, Int)] {
        var rng = RandomGenerator(seed: seed, stream: .imageShifts)
        return (0..<copies).map { r in
            guard r > 0, pad > 0 else { return (0, 0) }
            return (rng.nextIndex(below: 2 * pad + 1) - pad, rng.nextIndex(below: 2 * pad + 1) - pad)
        }
    }

    /// The morph trajectory, (M+1) × R × S × S × 4 (premultiplied RGBA).
    public func trajectory() -> Tensor<Float> {
        let s = latticeSize
        let frames = pictures.map { $0.fitted(to: size) } + Array(repeating: pictures.last!.fitted(to: size), count: holdLast)
        let shifts = self.shifts
        var out = [Float](repeating: 0, count: frames.count * copies * s * s * 4)
        for (m, frame) in frames.enumerated() {
            for r in 0..<copies {
                let (di, dj) = shifts[r]
                let base = (m * copies + r) * s * s * 4
                for y in 0..<size {
                    for x in 0..<size {
                        let (i, j) = (pad + y + di, pad + x + dj)
                        for k in 0..<4 { out[base + (i * s + j) * 4 + k] = Float(frame.values[(y * size + x) * 4 + k]) }
                    }
                }
            }
        }
        return Tensor(shape: [frames.count, copies, s, s, 4], scalars: out)
    }

    /// Three simple RGBA pictures drawn in code (4 × 4 supersampled): an orange ring, a blue
    /// cross and a yellow smiling face, for `nca train --preset morph` and `--builtin`.
    public static func builtinPictures(size: Int) -> [Picture] {
        func draw(_ inside: (Double, Double) -> (Double, Double, Double, Double)?) -> Picture {
            var values = [Double](repeating: 0, count: size * size * 4)
            let samples = 4
            for y in 0..<size {
                for x in 0..<size {
                    var sum = [0.0, 0.0, 0.0, 0.0]
                    for sy in 0..<samples {
                        for sx in 0..<samples {
                            // Coordinates in [−1, 1], y down.
                            let u = (Double(x) + (Double(sx) + 0.5) / Double(samples)) / Double(size) * 2 - 1
                            let v = (Double(y) + (Double(sy) + 0.5) / Double(samples)) / Double(size) * 2 - 1
                            if let (r, g, b, a) = inside(u, v) {
                                sum[0] += r * a
                                sum[1] += g * a
                                sum[2] += b * a
                                sum[3] += a
                            }
                        }
                    }
                    for k in 0..<4 { values[(y * size + x) * 4 + k] = sum[k] / Double(samples * samples) }
                }
            }
            return Picture(width: size, height: size, values: values)
        }
        let ring = draw { u, v in
            let r = (u * u + v * v).squareRoot()
            return r > 0.5 && r < 0.85 ? (0.95, 0.5, 0.1, 1) : nil
        }
        let cross = draw { u, v in
            (abs(u) < 0.2 && abs(v) < 0.8) || (abs(v) < 0.2 && abs(u) < 0.8) ? (0.15, 0.35, 0.9, 1) : nil
        }
        let face = draw { u, v in
            let r = (u * u + v * v).squareRoot()
            guard r < 0.85 else { return nil }
            let eye = min(
                ((u - 0.3) * (u - 0.3) + (v + 0.25) * (v + 0.25)).squareRoot(),
                ((u + 0.3) * (u + 0.3) + (v + 0.25) * (v + 0.25)).squareRoot())
            let smile = ((u * u + (v - 0.05) * (v - 0.05)).squareRoot())
            if eye < 0.12 || (smile > 0.42 && smile < 0.55 && v > 0.2) { return (0.1, 0.1, 0.1, 1) }
            return (1, 0.85, 0.1, 1)
        }
        return [ring, cross, face]
    }
}
