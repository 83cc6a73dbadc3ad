/// Tables of one measure over two swept options, each cell listing its configurations' values.
extension SweepReport {
    /// One measure laid out with a swept option's values as rows and another's as columns.
    public struct Table: Sendable {
        /// What the cells hold.
        public var title: String
        /// The option along the rows.
        public var rowOption: String
        /// The option along the columns (nil: one column, "all", for everything).
        public var columnOption: String?
        /// The row option's values, in the plan's order.
        public var rowValues: [String]
        /// The column option's values, in the plan's order.
        public var columnValues: [String]
        /// cells[r][c]: the measure of every configuration with those two values, in plan order
        /// (so with a swept --seed, seed by seed); nil where a configuration has none (yet).
        public var cells: [[[Double?]]]

        private static func text(_ values: [Double?]) -> String {
            guard values.contains(where: { $0 != nil }) else { return "–" }
            return values.map { v in v.map { $0.isFinite ? String(format: "%.3g", $0) : "\($0)" } ?? "–" }
                .joined(separator: " / ")
        }

        /// The top-left cell: the row option, a backslash, the column option.
        private var corner: String { columnOption.map { "\(rowOption) \\ \($0)" } ?? rowOption }

        /// A Markdown table under a heading line.
        public var markdown: String {
            var lines = ["**\(title)**", ""]
            lines.append("| " + ([corner] + columnValues).joined(separator: " | ") + " |")
            lines.append("|" + String(repeating: "---|", count: columnValues.count + 1))
            for (r, value) in rowValues.enumerated() {
                lines.append("| " + ([value] + cells[r].map(Self.text)).joined(separator: " | ") + " |")
            }
            return lines.joined(separator: "\n") + "\n"
        }

        /// The same as an HTML table with a caption.
        public var html: String {
            let e = SVGPlot.escape
            var body = "<table class=\"numbers\"><caption>\(e(title))</caption><tr><th>"
            body += e(corner) + "</th>"
            body += columnValues.map { "<th>\(e($0))</th>" }.joined() + "</tr>"
            for (r, value) in rowValues.enumerated() {
                body += "<tr><th>\(e(value))</th>" + cells[r].map { "<td>\(e(Self.text($0)))</td>" }.joined() + "</tr>"
            }
            return body + "</table>"
        }
    }

    /// For the first swept option that is not `seed` (rows) against the first other one with
    /// 2 … 8 values that is not `seed` (columns; none: one column): the test loss ÷ the
    /// do-nothing model's in the Euclidean loss (without test data: the rollout ratio), the test
    /// ratio in each run's own loss (where some run's loss is not the Euclidean one), how the
    /// model holds the last frame past the horizon, and the last epoch's training loss. Empty
    /// when every swept option is `seed`.
    public var tables: [Table] {
        guard let a = options.indices.first(where: { options[$0] != "seed" }) else { return [] }
        let b = groupingOption(besides: a)
        let useTest = rows.contains { $0.testEuclideanRatio != nil }
        // The own-loss table only where some run's loss is not the Euclidean one (bit patterns:
        // a NaN ratio in both is the same).
        let ownLoss = rows.contains { $0.testRatio?.bitPattern != $0.testEuclideanRatio?.bitPattern }
        let measures: [(String, (Row) -> Double?)] =
            (useTest
                ? [("test loss ÷ do-nothing, Euclidean", { $0.testEuclideanRatio })]
                    + (ownLoss ? [("test loss ÷ do-nothing, each run's own loss", { $0.testRatio })] : [])
                : [("rollout loss ÷ do-nothing over T", { $0.rolloutRatio })])
            + [
                ("worst loss to the last frame up to 8 T ÷ the loss at T (1 = holds it)", { $0.holdRatio }),
                ("final training loss", { $0.finalLoss }),
            ]
        let rowValues = uniqueInOrder(rows.map { $0.values[a] })
        let columnValues = b.map { b in uniqueInOrder(rows.map { $0.values[b] }) } ?? ["all"]
        return measures.map { title, measure in
            let cells = rowValues.map { r in
                columnValues.map { c in
                    rows.filter { row in row.values[a] == r && (b.map { row.values[$0] == c } ?? true) }.map(measure)
                }
            }
            return Table(
                title: title, rowOption: options[a], columnOption: b.map { options[$0] }, rowValues: rowValues,
                columnValues: columnValues, cells: cells)
        }
    }

    /// Every table as Markdown, for notes and papers.
    public var tablesMarkdown: String {
        let seeds = options.contains("seed") ? " Each cell lists its configurations in plan order (seed by seed)." : ""
        return "Sweep tables (nca sweep report).\(seeds)\n\n" + tables.map(\.markdown).joined(separator: "\n")
    }
}
