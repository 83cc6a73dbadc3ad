import ArgumentParser
import Foundation
import NCA

/// A grid of `nca train` option values expanded into numbered configurations, stored as
/// `DIR/sweep.json`. Configuration i trains into `DIR/runs/NNN` (i zero-padded to three digits)
/// with the common options followed by `--option value` for every axis of the grid; the last axis
/// varies fastest, as in nested loops written in the grid's order.
struct SweepPlan: Codable, Equatable {
    /// One swept option: its long name without the dashes, and its values as typed.
    struct Axis: Codable, Equatable {
        var option: String
        var values: [String]
    }

    var axes: [Axis]
    /// The `nca train` options every configuration shares.
    var trainArguments: [String]
    var toolkitVersion: String

    /// Options a sweep sets itself, or that would make configurations share a folder.
    static let reservedOptions: Set<String> = ["out", "resume", "help", "version"]

    /// The number of configurations.
    var count: Int { axes.reduce(1) { $0 * $1.values.count } }

    /// Parses `option=v1,v2;option=v1,…` (spaces around the separators are ignored; an option
    /// may be written with or without its leading dashes; values that hold commas are separated
    /// by `|` instead).
    static func parseGrid(_ text: String) throws -> [Axis] {
        var axes: [Axis] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let piece = part.trimmingCharacters(in: .whitespaces)
            if piece.isEmpty { continue }
            guard let equals = piece.firstIndex(of: "=") else {
                throw ValidationError(
                    "--grid: '\(piece)' has no '='; write option=value1,value2 (e.g. --grid \"time-sampling=1,2,4;seed=0,1\")")
            }
            var option = piece[..<equals].trimmingCharacters(in: .whitespaces)
            while option.hasPrefix("-") { option.removeFirst() }
            // Values are separated by commas, or by | when a value holds commas itself
            // (kernels=identity,laplacian|identity,grad-x,grad-y,laplacian).
            let list = piece[piece.index(after: equals)...]
            let values = list.split(separator: list.contains("|") ? "|" : ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard !option.isEmpty, option.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                throw ValidationError("--grid: '\(option)' is not an option name; use the long name of an 'nca train' option")
            }
            guard !reservedOptions.contains(option) else {
                throw ValidationError("--grid: --\(option) cannot be swept; the sweep sets each run's folder itself")
            }
            guard !values.isEmpty, !values.contains(where: \.isEmpty) else {
                throw ValidationError("--grid: \(option) has an empty value; separate values with single commas")
            }
            guard Set(values).count == values.count else {
                throw ValidationError("--grid: \(option) lists a value twice")
            }
            guard !axes.contains(where: { $0.option == option }) else {
                throw ValidationError("--grid: \(option) appears twice; give all its values in one list")
            }
            axes.append(Axis(option: option, values: values))
        }
        guard !axes.isEmpty else {
            throw ValidationError("--grid is empty; give at least one option=value1,value2")
        }
        return axes
    }

    /// The value of every axis in configuration `index` (last axis fastest).
    func values(of index: Int) -> [String] {
        precondition(index >= 0 && index < count, "SweepPlan: index \(index) outside 0..<\(count)")
        var rest = index
        var result = [String](repeating: "", count: axes.count)
        for a in axes.indices.reversed() {
            let n = axes[a].values.count
            result[a] = axes[a].values[rest % n]
            rest /= n
        }
        return result
    }

    /// The `nca train` arguments of configuration `index`, without `--out`.
    func arguments(of index: Int) -> [String] {
        trainArguments + zip(axes, values(of: index)).flatMap { ["--" + $0.option, $1] }
    }

    /// `nca train` options that belong to one session rather than to the run (a run folder's
    /// config.json does not keep them), so a resumed configuration is given them again.
    static let sessionOptions = ["--stop-after"]

    /// The `nca train` arguments that resume configuration `index` from `runFolder`: `--resume`
    /// and the configuration's session options (as `--stop-after 30` or `--stop-after=30`).
    func resumeArguments(of index: Int, runFolder: String) -> [String] {
        var result = ["--resume", runFolder]
        let all = arguments(of: index)
        for (i, argument) in all.enumerated() {
            for option in Self.sessionOptions {
                if argument == option, i + 1 < all.count {
                    result += [argument, all[i + 1]]
                } else if argument.hasPrefix(option + "=") {
                    result.append(argument)
                }
            }
        }
        return result
    }

    /// `--option value …` of configuration `index`, for messages.
    func describe(_ index: Int) -> String {
        zip(axes, values(of: index)).map { "--\($0.option) \($1)" }.joined(separator: " ")
    }

    static func file(in folder: String) -> String { folder + "/sweep.json" }
    static func runFolder(in folder: String, index: Int) -> String { folder + "/runs/" + String(format: "%03d", index) }

    func write(to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: Self.file(in: folder))
    }

    static func read(from folder: String) throws -> SweepPlan {
        let path = file(in: folder)
        guard FileManager.default.fileExists(atPath: path) else {
            throw FileError(
                path: path, problem: "no sweep here; make one with 'nca sweep plan --grid … --out \(folder) -- <train options>'",
                category: .usage)
        }
        let data = try AtomicFile.read(path)
        do {
            return try JSONDecoder().decode(SweepPlan.self, from: data)
        } catch {
            throw FileError(
                path: path, problem: "is not a sweep plan (\(error.localizedDescription)); make it again with 'nca sweep plan'",
                category: .inputData)
        }
    }
}
