import Foundation
import RealModule

/// Small, dependency-free SVG line plots for reports.
public enum SVGPlot {
    /// One named line (or set of dots) of a plot.
    public struct Series: Sendable {
        /// The legend's name.
        public var name: String
        /// The points, in drawing order.
        public var points: [(x: Double, y: Double)]
        /// An SVG colour.
        public var color: String
        /// Draw each point as a dot instead of joining them with a line.
        public var dots: Bool

        /// A series; `dots` draws points instead of a line.
        public init(name: String, points: [(x: Double, y: Double)], color: String, dots: Bool = false) {
            self.name = name
            self.points = points
            self.color = color
            self.dots = dots
        }
    }

    /// A line plot with axes, ticks and a legend (series with an empty name are left out of it).
    /// Non-finite or (for a log axis) non-positive values break the line: it is not drawn across
    /// them, and a point with no usable neighbour becomes a dot. `xTicks`
    /// labels those x values instead of five even steps; `logX` spaces x logarithmically;
    /// `legendOutside` puts the legend right of the plot (`width` grows by 200) instead of over it.
    public static func lines(
        _ series: [Series], width: Int = 640, height: Int = 320, logY: Bool = true, logX: Bool = false,
        xTicks: [Double]? = nil, legendOutside: Bool = false, xLabel: String, yLabel: String
    ) -> String {
        let (left, top, bottom) = (64.0, 16.0, 44.0)
        let right = legendOutside ? 216.0 : 16.0
        let width = width + (legendOutside ? 200 : 0)
        let plotW = Double(width) - left - right
        let plotH = Double(height) - top - bottom
        func isUsable(_ p: (x: Double, y: Double)) -> Bool {
            p.x.isFinite && p.y.isFinite && (!logY || p.y > 0) && (!logX || p.x > 0)
        }
        let usable = series.map { s in s.points.filter(isUsable) }
        let xs = usable.flatMap { $0.map { logX ? log10($0.x) : $0.x } }
        let ys = usable.flatMap { $0.map { logY ? log10($0.y) : $0.y } }
        guard let xMin = xs.min(), let xMax = xs.max(), var yMin = ys.min(), var yMax = ys.max() else {
            return
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\"><text x=\"20\" y=\"30\">no finite values to plot</text></svg>"
        }
        if logY {
            yMin = floor(yMin)
            yMax = max(ceil(yMax), yMin + 1)
        } else if yMax - yMin < 1e-12 {
            (yMin, yMax) = (yMin - 1, yMax + 1)
        }
        let xSpan = max(xMax - xMin, 1e-12)
        func px(_ x: Double) -> Double { left + ((logX ? log10(x) : x) - xMin) / xSpan * plotW }
        func py(_ y: Double) -> Double { top + (1 - ((logY ? log10(y) : y) - yMin) / (yMax - yMin)) * plotH }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"#fafafa\" stroke=\"#999\"/>"
        // Y ticks: decades on a log axis (and 2 and 5 times them over at most two decades), 5 even
        // steps otherwise.
        var yTicks = (0...4).map { yMin + Double($0) * (yMax - yMin) / 4 }
        if logY {
            let decades = stride(from: yMin, through: yMax, by: 1).map { Double.pow(10, $0) }
            yTicks = yMax - yMin > 2 ? decades : decades.flatMap { [$0, 2 * $0, 5 * $0] }.filter { $0 <= decades.last! }
        }
        for tick in yTicks {
            let y = py(tick)
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#e0e0e0\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(format(tick))</text>"
        }
        let ticks =
            xTicks
            ?? (0...4).map { k in
                let x = xMin + Double(k) * xSpan / 4
                return logX ? Double.pow(10, x) : x
            }
        for x in ticks where !logX || x > 0 {
            svg += "<text x=\"\(px(x))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(format(x))</text>"
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(Double(height) - 8)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        for s in series {
            // A line's runs of usable points between unusable ones; dots are each a run of one.
            let runs =
                s.dots
                ? s.points.filter(isUsable).map { [$0] }
                : s.points.split(whereSeparator: { !isUsable($0) }).map(Array.init)
            for run in runs {
                if run.count == 1 {
                    svg += "<circle cx=\"\(px(run[0].x))\" cy=\"\(py(run[0].y))\" r=\"3\" fill=\"\(s.color)\"/>"
                } else {
                    let path = run.map { String(format: "%.2f,%.2f", px($0.x), py($0.y)) }.joined(separator: " ")
                    svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
                }
            }
        }
        let legendX = legendOutside ? left + plotW : left
        for (i, s) in series.filter({ !$0.name.isEmpty }).enumerated() {
            svg +=
                "<rect x=\"\(legendX + 10)\" y=\"\(top + 8 + Double(i) * 16)\" width=\"12\" height=\"3\" fill=\"\(s.color)\"/>"
            svg += "<text x=\"\(legendX + 28)\" y=\"\(top + 13 + Double(i) * 16)\">\(escape(s.name))</text>"
        }
        return svg + "</svg>"
    }

    /// A table of coloured cells with row and column labels and the value printed in each
    /// cell. Sequential (viridis, 0 … max) or, with `diverging`, blue–white–red symmetric about 0;
    /// with `perColumn` each column has its own scale (for columns of different quantities).
    public static func heatmap(
        _ values: [[Double]], rowLabels: [String], columnLabels: [String], diverging: Bool = false, perColumn: Bool = false,
        cell: Int = 56, caption: String? = nil
    ) -> String {
        let rows = values.count
        let columns = values.first?.count ?? 0
        let left = 12 + 7 * (rowLabels.map(\.count).max() ?? 0)
        let top = 22
        let width = left + columns * cell + 8
        let height = top + rows * 22 + (caption == nil ? 6 : 24)
        func largest(_ numbers: [Double]) -> Double { max(numbers.filter(\.isFinite).map(abs).max() ?? 0, 1e-300) }
        let overall = largest(values.flatMap { $0 })
        let scales = (0..<columns).map { k in perColumn ? largest(values.map { $0[k] }) : overall }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        for (k, label) in columnLabels.enumerated() {
            svg += "<text x=\"\(left + k * cell + cell / 2)\" y=\"14\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        for (i, row) in values.enumerated() {
            let y = top + i * 22
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(rowLabels[i]))</text>"
            for (k, value) in row.enumerated() {
                let scale = scales[k]
                let (r, g, b): (UInt8, UInt8, UInt8)
                if !value.isFinite {
                    (r, g, b) = (200, 200, 200)
                } else if diverging {
                    let t = max(-1, min(1, value / scale))
                    let fade = UInt8((255 * (1 - abs(t))).rounded())
                    (r, g, b) = t >= 0 ? (255, fade, fade) : (fade, fade, 255)
                } else {
                    (r, g, b) = ColorMap.viridis(abs(value), lower: 0, upper: scale)
                }
                let light = diverging || (Double(r) * 0.299 + Double(g) * 0.587 + Double(b) * 0.114) > 140
                svg +=
                    "<rect x=\"\(left + k * cell)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"20\" fill=\"rgb(\(r),\(g),\(b))\"/>"
                svg +=
                    "<text x=\"\(left + k * cell + cell / 2 - 1)\" y=\"\(y + 14)\" text-anchor=\"middle\" fill=\"\(light ? "#000" : "#fff")\">\(format(value))</text>"
            }
        }
        if let caption {
            svg += "<text x=\"4\" y=\"\(height - 6)\">\(escape(caption))</text>"
        }
        return svg + "</svg>"
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        let magnitude = abs(v)
        if magnitude >= 1e4 || magnitude < 1e-3 { return String(format: "%.0e", v) }
        if magnitude >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.3g", v)
    }

    /// `text` with `&`, `<`, `>` and quotes escaped for HTML and SVG.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
