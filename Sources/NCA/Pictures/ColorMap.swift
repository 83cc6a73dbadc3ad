/// Colour maps for showing one channel as a picture.
public enum ColorMap {
    /// Viridis, the perceptually uniform map of matplotlib, as a 256-entry table. Computed from
    /// a degree-6 polynomial fit per RGB component (after Matt Zucker's published fit), within
    /// about 1% of the reference table.
    public static let viridis: [(UInt8, UInt8, UInt8)] = (0..<256).map { i in
        let t = Double(i) / 255
        let c: [[Double]] = [
            [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
            [0.1050930431085774, 1.404613529898575, 1.384590162594685],
            [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
            [-4.634230498983486, -5.799100973351585, -19.33244095627987],
            [6.228269936347081, 14.17993336680509, 56.69055260068105],
            [4.776384997670288, -13.74514537774601, -65.35303263337234],
            [-5.435455855934631, 4.645852612178535, 26.3124352495832],
        ]
        func component(_ k: Int) -> UInt8 {
            var v = c[6][k]
            for d in stride(from: 5, through: 0, by: -1) { v = c[d][k] + t * v }
            return UInt8(max(0, min(255, (v * 255).rounded())))
        }
        return (component(0), component(1), component(2))
    }

    /// The viridis colour of `value` on the range [lower, upper] (clamped; NaN shows black).
    public static func viridis(_ value: Double, lower: Double, upper: Double) -> (UInt8, UInt8, UInt8) {
        guard value.isFinite else { return (0, 0, 0) }
        let t = upper > lower ? (value - lower) / (upper - lower) : 0.5
        return viridis[Int((max(0, min(1, t)) * 255).rounded())]
    }
}

extension RGBImage {
    /// A rows × columns grid of values in viridis (`lower` … `upper`; non-finite values grey),
    /// each value drawn as a `scale` × `scale` block.
    public static func heatmap(_ values: [Double], rows: Int, columns: Int, lower: Double, upper: Double, scale: Int) -> RGBImage
    {
        precondition(values.count == rows * columns, "heatmap: \(values.count) values for \(rows) × \(columns)")
        var small = RGBImage(width: columns, height: rows)
        for i in 0..<rows {
            for j in 0..<columns {
                let value = values[i * columns + j]
                small[j, i] = value.isFinite ? ColorMap.viridis(value, lower: lower, upper: upper) : (160, 160, 160)
            }
        }
        return small.upscaled(scale)
    }
}
