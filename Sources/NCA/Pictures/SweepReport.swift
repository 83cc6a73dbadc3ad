import Foundation

/// The summary of a hyper-parameter sweep: one row per configuration, as CSV and as a
/// self-contained HTML page with plots of the losses against every swept option, per option
/// a plot of the test loss ÷ the do-nothing model's (``ratioPlot(option:)``), and tables of the
/// ratios over two options (``tables``).
public struct SweepReport: Sendable {
    /// One configuration of the sweep.
    public struct Row: Sendable {
        /// The configuration's number in the plan.
        public var index: Int
        /// The configuration's value of every swept option, in `options` order.
        public var values: [String]
        /// "finished", "stopped at epoch e of n" or "not started".
        public var status: String
        /// Epochs run so far.
        public var epochs: Int?
        /// The last epoch's training loss.
        public var finalLoss: Double?
        /// The lowest epoch training loss.
        public var bestLoss: Double?
        /// The lowest rollout validation loss (metrics.csv), when the run validated.
        public var bestValidationLoss: Double?
        /// best.safetensors run freely from the test data's initial state, mean loss over its
        /// frames, and that loss divided by the do-nothing model's; finished runs with test data only.
        public var testLoss: Double?
        /// `testLoss` divided by the do-nothing model's.
        public var testRatio: Double?
        /// The same test rollout measured in the Euclidean loss, divided by the do-nothing model's
        /// Euclidean loss: one scale for runs trained with different losses.
        public var testEuclideanRatio: Double?
        /// best.safetensors run freely from the first training trajectory's initial state over the
        /// training horizon T, its mean loss divided by the do-nothing model's (finished runs).
        public var rolloutRatio: Double?
        /// That rollout run on to 8 T: the worst loss to the data's last frame after T divided by
        /// the loss at T (near 1 when the last frame is an attractor; finished runs).
        public var holdRatio: Double?
        /// The configuration's run folder (`runs/NNN`), or `FILE: runs/NNN` for a row taken from another report.
        public var folder: String

        /// A row; see the properties.
        public init(
            index: Int, values: [String], status: String, epochs: Int? = nil, finalLoss: Double? = nil,
            bestLoss: Double? = nil, bestValidationLoss: Double? = nil, testLoss: Double? = nil, testRatio: Double? = nil,
            testEuclideanRatio: Double? = nil, rolloutRatio: Double? = nil, holdRatio: Double? = nil, folder: String
        ) {
            self.index = index
            self.values = values
            self.status = status
            self.epochs = epochs
            self.finalLoss = finalLoss
            self.bestLoss = bestLoss
            self.bestValidationLoss = bestValidationLoss
            self.testLoss = testLoss
            self.testRatio = testRatio
            self.testEuclideanRatio = testEuclideanRatio
            self.rolloutRatio = rolloutRatio
            self.holdRatio = holdRatio
            self.folder = folder
        }
    }

    /// The swept options' names (without dashes).
    public var options: [String]
    /// One row per configuration, in plan order.
    public var rows: [Row]
    /// The options every configuration shares, as typed.
    public var common: String

    /// A report of `rows` over the swept `options`.
    public init(options: [String], rows: [Row], common: String) {
        self.options = options
        self.rows = rows
        self.common = common
    }

    private static func format(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.4g", value)
    }

    /// The page: the table, then for every swept option a plot of each configuration's final
    /// training loss (dots) and their mean per value (line), and the same for the test loss where
    /// there is one. Non-numeric values are placed at 0, 1, 2, … in the order given.
    public var html: String {
        let e = SVGPlot.escape
        var body = "<h1>Sweep: \(rows.count) configurations</h1>"
        let finished = rows.filter { $0.status == "finished" }.count
        body +=
            "<p>\(finished) of \(rows.count) finished. Common options: <code>\(e(common.isEmpty ? "(none)" : common))</code></p>"
        body += tables.map(\.html).joined()
        for (a, option) in options.enumerated() {
            let values = uniqueInOrder(rows.map { $0.values[a] })
            let numeric = values.allSatisfy { Double($0) != nil }
            func x(_ value: String) -> Double { numeric ? Double(value)! : Double(values.firstIndex(of: value)!) }
            var series: [SVGPlot.Series] = []
            for (name, measure, dotColor, lineColor) in [
                ("final training loss", { (r: Row) in r.finalLoss }, "#9aa7c7", "#3b528b"),
                ("test loss of best.safetensors", { (r: Row) in r.testLoss }, "#f0a787", "#e16462"),
            ] as [(String, (Row) -> Double?, String, String)] {
                let points = rows.compactMap { row in measure(row).map { (x: x(row.values[a]), y: $0) } }
                if points.isEmpty { continue }
                series.append(SVGPlot.Series(name: name + ", each configuration", points: points, color: dotColor, dots: true))
                let means = values.map { value -> (x: Double, y: Double) in
                    let ys = rows.filter { $0.values[a] == value }.compactMap(measure)
                    return (x: x(value), y: ys.isEmpty ? .nan : ys.reduce(0, +) / Double(ys.count))
                }
                series.append(SVGPlot.Series(name: name + ", mean over the other options", points: means, color: lineColor))
            }
            body += "<h2>--\(e(option))</h2>"
            if series.isEmpty {
                body += "<p>No losses yet.</p>"
            } else {
                body += SVGPlot.lines(series, xLabel: option, yLabel: "loss")
                if !numeric {
                    body +=
                        "<p class=\"caption\">x positions: "
                        + values.enumerated().map { "\($0.offset) = \(e($0.element))" }.joined(separator: ", ") + "</p>"
                }
            }
            if let plot = ratioPlot(option: a) {
                body += plot.svg + "<p class=\"caption\">\(e(plot.caption))</p>"
            }
        }
        body += "<h2>Configurations</h2><table class=\"numbers\"><tr><th>#</th>"
        body += options.map { "<th>--\(e($0))</th>" }.joined()
        body +=
            "<th>status</th><th>epochs</th><th>final loss</th><th>best loss</th><th>best validation</th><th>test loss</th><th>test ÷ do-nothing</th><th>test ÷ do-nothing (Euclidean)</th><th>rollout ÷ do-nothing</th><th>hold past T</th><th>folder</th></tr>"
        for row in rows {
            body += "<tr><td>\(row.index)</td>" + row.values.map { "<td>\(e($0))</td>" }.joined()
            body += "<td>\(e(row.status))</td><td>\(row.epochs.map(String.init) ?? "–")</td>"
            body += [
                row.finalLoss, row.bestLoss, row.bestValidationLoss, row.testLoss, row.testRatio, row.testEuclideanRatio,
                row.rolloutRatio, row.holdRatio,
            ].map {
                "<td>\(Self.format($0))</td>"
            }.joined()
            body += "<td>\(e(row.folder))</td></tr>"
        }
        body += "</table>"
        return HTMLPage.document(
            title: "Sweep of \(rows.count) configurations", body: body,
            footer:
                "Written by nca sweep report. Test loss: best.safetensors run freely from the test data's initial state. "
                + "Rollout: the same from the first training trajectory's, over the training horizon T; hold past T: "
                + "the worst loss to the last frame up to 8 T ÷ the loss at T.")
    }

    /// A plot of the configurations' losses as ratios to the do-nothing model against one option.
    public struct RatioPlot: Sendable {
        /// A line (the geometric mean) and its dots (each configuration) per group, then the
        /// do-nothing model at 1.
        public var series: [SVGPlot.Series]
        /// Whether the option's values are geometric (all positive, largest ≥ 8 × smallest): a log axis.
        public var logX: Bool
        /// The option's values, as x positions.
        public var xTicks: [Double]
        /// The swept option.
        public var xLabel: String
        /// The ratio plotted.
        public var yLabel: String
        /// What the plot shows, in a sentence or two.
        public var caption: String

        /// The plot as a stand-alone SVG document.
        public var svg: String {
            SVGPlot.lines(series, logX: logX, xTicks: xTicks, legendOutside: true, xLabel: xLabel, yLabel: yLabel)
        }
    }

    /// Against swept option `a`: every finished configuration's loss as a ratio to the do-nothing
    /// model's, one scale for every configuration (the test rollout in the Euclidean loss where
    /// there is test data, else the rollout from the first training trajectory). One line per value
    /// of the first other swept option that is not `seed` and has 2 … 8 values (the geometric mean
    /// over the remaining options, every configuration a dot; a value without a measured
    /// configuration breaks the line), and the do-nothing model at 1. A model more than
    /// `offScale` × worse than doing nothing, or whose ratio is not finite, has left the data's
    /// range (it blew up): it is left out of the means and drawn in black at `offScale`, so that
    /// one such run does not squash the others into the bottom of the plot. Nil when no
    /// configuration has the ratio yet.
    public func ratioPlot(option a: Int) -> RatioPlot? {
        let useTest = rows.contains { $0.testEuclideanRatio != nil }
        let measure: (Row) -> Double? = useTest ? { $0.testEuclideanRatio } : { $0.rolloutRatio }
        let measured = rows.filter { measure($0).map { $0.isFinite && $0 > 0 && $0 <= Self.offScale } ?? false }
        let blownUp = rows.filter { measure($0).map { !$0.isFinite || $0 > Self.offScale } ?? false }
        guard !measured.isEmpty || !blownUp.isEmpty else { return nil }
        let values = uniqueInOrder(rows.map { $0.values[a] })
        let numeric = values.allSatisfy { Double($0) != nil }
        func x(_ value: String) -> Double { numeric ? Double(value)! : Double(values.firstIndex(of: value)!) }
        let numbers = values.compactMap(Double.init)
        let logX = numeric && numbers.allSatisfy { $0 > 0 } && numbers.max()! / numbers.min()! >= 8
        let group = groupingOption(besides: a)
        let groups = group.map { b in uniqueInOrder(rows.map { $0.values[b] }) } ?? [""]
        let palette = ["#3b528b", "#e16462", "#21918c", "#fca636", "#6a00a8", "#5ec962", "#b12a90", "#0d0887"]
        var series: [SVGPlot.Series] = []
        for (g, name) in groups.enumerated() {
            let members = measured.filter { row in group.map { row.values[$0] == name } ?? true }
            let color = palette[g % palette.count]
            // A value with nothing measured in this group is NaN: the line breaks there.
            let means = values.map { value -> (x: Double, y: Double) in
                let logs = members.filter { $0.values[a] == value }.compactMap(measure).map { log($0) }
                return (x: x(value), y: logs.isEmpty ? .nan : exp(logs.reduce(0, +) / Double(logs.count)))
            }
            let label = group.map { "--\(options[$0]) \(name)" } ?? "geometric mean over the other options"
            series.append(SVGPlot.Series(name: label, points: means, color: color))
            series.append(
                SVGPlot.Series(name: "", points: members.map { (x: x($0.values[a]), y: measure($0)!) }, color: color, dots: true))
        }
        let xs = values.map(x)
        series.append(SVGPlot.Series(name: "do-nothing model", points: [(xs.min()!, 1), (xs.max()!, 1)], color: "#999999"))
        if !blownUp.isEmpty {
            series.append(
                SVGPlot.Series(
                    name: "blew up (> \(Int(Self.offScale)) ×)",
                    points: blownUp.map { (x: x($0.values[a]), y: Self.offScale) }, color: "#000000", dots: true))
        }
        var caption =
            (useTest
                ? "best.safetensors run freely from the test data's initial state: its Euclidean loss ÷ the do-nothing model's"
                : "best.safetensors run freely from the first training trajectory over T: its loss ÷ the do-nothing model's")
            + ". Dots: each finished configuration; lines: their geometric mean"
            + (group.map { " for each --\(options[$0])" } ?? "")
            + ". Below 1 is better than doing nothing."
            + (blownUp.isEmpty
                ? ""
                : " Black dots at \(Int(Self.offScale)): \(blownUp.count) configuration(s) more than \(Int(Self.offScale)) × worse "
                    + "than doing nothing or not finite (the model blew up), left out of the lines.")
        if !numeric {
            caption += " x positions: " + values.enumerated().map { "\($0.offset) = \($0.element)" }.joined(separator: ", ")
        }
        return RatioPlot(
            series: series, logX: logX, xTicks: xs, xLabel: options[a],
            yLabel: useTest ? "test loss ÷ do-nothing (Euclidean)" : "rollout loss ÷ do-nothing", caption: caption)
    }

    /// The ratio above which the ratio plot draws a model as blown up, at this height.
    public static let offScale = 100.0

    /// The first swept option other than `a` that is not `seed` and has 2 … 8 values: a line
    /// per value in the ratio plot, a column per value in the tables.
    func groupingOption(besides a: Int) -> Int? {
        options.indices.first { b in
            b != a && options[b] != "seed" && (2...8).contains(Set(rows.map { $0.values[b] }).count)
        }
    }

    func uniqueInOrder(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
