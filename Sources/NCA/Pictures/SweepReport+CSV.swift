import Foundation

extension SweepReport {
    /// The columns after the swept options, in order.
    static let measureColumns = [
        "status", "epochs", "final_loss", "best_loss", "best_validation_loss", "test_loss", "test_vs_do_nothing",
        "test_euclidean_vs_do_nothing", "rollout_vs_do_nothing", "hold_past_horizon", "folder",
    ]

    /// An option's column name (dashes become underscores).
    static func column(_ option: String) -> String { option.replacingOccurrences(of: "-", with: "_") }

    /// One line per configuration; empty fields where a value does not exist (yet).
    public var csv: String {
        let header = ["index"] + options.map(Self.column) + Self.measureColumns
        var lines = [header.joined(separator: ",")]
        for row in rows {
            let numbers = [
                row.finalLoss, row.bestLoss, row.bestValidationLoss, row.testLoss, row.testRatio, row.testEuclideanRatio,
                row.rolloutRatio, row.holdRatio,
            ]
            let fields =
                ["\(row.index)"] + row.values + [row.status, row.epochs.map(String.init) ?? ""]
                + numbers.map { $0.map { "\($0)" } ?? "" } + [row.folder]
            lines.append(fields.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func csvField(_ text: String) -> String {
        text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    /// The rows of a `sweep.csv` (`csv`'s format) over the swept `options`, which must all be
    /// columns of it; columns it lacks (a report of an older version) are left empty. `path`
    /// names the file in errors.
    public static func rows(csv text: String, options: [String], path: String) throws(FileError) -> [Row] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let header = lines.first.map(fields) else {
            throw FileError(path: path, problem: "is empty; give a sweep.csv written by 'nca sweep report'", category: .inputData)
        }
        func at(_ name: String) -> Int? { header.firstIndex(of: name) }
        let optionColumns = options.map { at(column($0)) }
        if let missing = zip(options, optionColumns).first(where: { $0.1 == nil })?.0 {
            throw FileError(
                path: path,
                problem: "has no column '\(column(missing))': it is not a report of a sweep over '\(missing)'; "
                    + "give the sweep.csv of a plan of the same grid", category: .inputData)
        }
        guard let statusColumn = at("status"), let folderColumn = at("folder") else {
            throw FileError(
                path: path, problem: "has no 'status' or 'folder' column; give a sweep.csv written by 'nca sweep report'",
                category: .inputData)
        }
        return try lines.dropFirst().enumerated().map { (number, line) throws(FileError) -> Row in
            let f = fields(line)
            guard f.count == header.count else {
                throw FileError(
                    path: path, problem: "line \(number + 2) has \(f.count) fields where the header has \(header.count)",
                    category: .inputData)
            }
            func value(_ name: String) throws(FileError) -> Double? {
                guard let i = at(name), !f[i].isEmpty else { return nil }
                guard let v = Double(f[i]) else {
                    throw FileError(
                        path: path, problem: "line \(number + 2): \(name) '\(f[i])' is not a number", category: .inputData)
                }
                return v
            }
            var row = Row(
                index: at("index").flatMap { Int(f[$0]) } ?? number, values: optionColumns.map { f[$0!] },
                status: f[statusColumn], folder: f[folderColumn])
            if let i = at("epochs"), !f[i].isEmpty {
                guard let epochs = Int(f[i]), epochs >= 0 else {
                    throw FileError(
                        path: path, problem: "line \(number + 2): epochs '\(f[i])' is not a whole number", category: .inputData)
                }
                row.epochs = epochs
            }
            row.finalLoss = try value("final_loss")
            row.bestLoss = try value("best_loss")
            row.bestValidationLoss = try value("best_validation_loss")
            row.testLoss = try value("test_loss")
            row.testRatio = try value("test_vs_do_nothing")
            row.testEuclideanRatio = try value("test_euclidean_vs_do_nothing")
            row.rolloutRatio = try value("rollout_vs_do_nothing")
            row.holdRatio = try value("hold_past_horizon")
            return row
        }
    }

    /// A CSV line's fields: commas separate, a field in double quotes may hold commas and
    /// doubled quotes.
    private static func fields(_ line: String) -> [String] {
        var result: [String] = []
        var field = ""
        var quoted = false
        var characters = line.makeIterator()
        while let ch = characters.next() {
            if quoted {
                if ch == "\"" {
                    // A doubled quote is a quote; a single one ends the quoted part.
                    var lookahead = characters
                    if lookahead.next() == "\"" {
                        field.append("\"")
                        characters = lookahead
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(ch)
                }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                result.append(field)
                field = ""
            } else {
                field.append(ch)
            }
        }
        result.append(field)
        return result
    }
}
