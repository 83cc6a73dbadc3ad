import ArgumentParser
import Foundation
import Testing

@testable import NCA
@testable import NCATool

/// `nca --help` and `nca help <command>` against the documentation (README.md and the DocC
/// articles, plus the notes in Docs/): every option the docs put after `nca <command>` exists in
/// that command's help, every option of every command is documented, every command is in the
/// README's table, and CHANGELOG.md names the version `nca --version` prints.
@Suite("Documentation agrees with the tool")
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every command path ("train", "data gray-scott", …) with the options its help lists.
    static let commands: [String: Set<String>] = {
        var out: [String: Set<String>] = [:]
        func walk(_ command: ParsableCommand.Type, path: [String]) {
            let help = NCACommand.helpMessage(for: command, columns: 200)
            out[path.joined(separator: " ")] = options(inHelp: help)
            for sub in command.configuration.subcommands {
                walk(sub, path: path + [sub._commandName])
            }
        }
        for sub in NCACommand.configuration.subcommands { walk(sub, path: [sub._commandName]) }
        return out
    }()

    /// The options an ArgumentParser help text defines: the names at the start of its OPTIONS lines.
    static func options(inHelp help: String) -> Set<String> {
        var names = Set<String>()
        let definition = try! NSRegularExpression(pattern: #"^  (?:-[A-Za-z], )?(--[a-z0-9-]+(?:, --[a-z0-9-]+)*)"#)
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            let text = String(line)
            guard let m = definition.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(m.range(at: 1), in: text)
            else { continue }
            for name in text[range].split(separator: ",") { names.insert(name.trimmingCharacters(in: .whitespaces)) }
        }
        return names
    }

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// README.md, the DocC articles and Docs/*.md, by name.
    static func documents() throws -> [(name: String, text: String)] {
        var out = [("README.md", try read("README.md"))]
        for folder in ["Sources/NCA/NCA.docc", "Docs"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)
            for name in names.sorted() where name.hasSuffix(".md") {
                out.append(("\(folder)/\(name)", try read("\(folder)/\(name)")))
            }
        }
        return out
    }

    /// Every mention of a command in a document: the text after `nca ` in inline code and in
    /// code-block lines, up to the end of the span or line (or a ` -- `, after which options are
    /// another command's).
    static func mentions(in document: String) -> [String] {
        var out: [String] = []
        let text = document.replacingOccurrences(of: "\\\n", with: " ")  // continuation lines joined
        let span = try! NSRegularExpression(pattern: #"`(?:[^`\n]*?\s)?nca ([^`\n]*)`"#)
        for m in span.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            if let r = Range(m.range(at: 1), in: text) { out.append(String(text[r])) }
        }
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inBlock.toggle()
                continue
            }
            let code = inBlock || line.hasPrefix("    ")
            guard code, let r = line.range(of: #"(^|\s)nca "#, options: .regularExpression) else { continue }
            out.append(String(line[r.upperBound...]))
        }
        return out.map { $0.components(separatedBy: " -- ")[0].replacingOccurrences(of: "\\|", with: "|") }
    }

    /// The command paths a mention names ("perturb local|symmetry" names two) and the options it uses.
    static func parse(_ mention: String) -> (paths: [String], options: [String])? {
        var words = mention.split(separator: " ").map(String.init)
        guard let first = words.first, commands[first] != nil else { return nil }
        var paths = [first]
        words.removeFirst()
        if let next = words.first {
            let alternatives = next.split(separator: "|").map { "\(first) \($0)" }
            if alternatives.allSatisfy({ commands[$0] != nil }) {
                paths = alternatives
                words.removeFirst()
            }
        }
        let optionPattern = try! NSRegularExpression(pattern: #"(?<![\w-])--[a-z][a-z0-9-]*"#)
        let rest = words.joined(separator: " ")
        let options = optionPattern.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).compactMap {
            Range($0.range, in: rest).map { String(rest[$0]) }
        }
        return (paths, options)
    }

    @Test func everyOptionTheDocsGiveACommandExists() throws {
        var wrong: [String] = []
        var checked = 0
        for (name, text) in try Self.documents() {
            for mention in Self.mentions(in: text) {
                guard let (paths, options) = Self.parse(mention) else { continue }
                for path in paths {
                    for option in options where !(Self.commands[path]?.contains(option) ?? false) {
                        wrong.append("\(name): `nca \(path) … \(option)`, but 'nca help \(path)' has no \(option)")
                    }
                    checked += options.count
                }
            }
        }
        #expect(checked > 200, "only \(checked) documented options found: is the mention parser broken?")
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
    }

    @Test func everyOptionOfEveryCommandIsDocumented() throws {
        let userDocs = try Self.documents().filter { !$0.name.hasPrefix("Docs/") }.map(\.text).joined(separator: "\n")
        var missing: [String] = []
        for (path, options) in Self.commands.sorted(by: { $0.key < $1.key }) {
            for option in options.sorted() where option != "--help" && option != "--version" {
                let pattern = NSRegularExpression.escapedPattern(for: option) + #"(?![a-z0-9-])"#
                if userDocs.range(of: pattern, options: .regularExpression) == nil {
                    missing.append("nca \(path) \(option)")
                }
            }
        }
        #expect(Self.commands.count >= 19)
        #expect(
            missing.isEmpty,
            "options in `nca help` that README.md and the articles never mention:\n\(missing.joined(separator: "\n"))")
    }

    @Test func everyCommandIsInTheReadmeTable() throws {
        let readme = try Self.read("README.md")
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }.map(String.init)
        let named = Set(rows.flatMap { Self.mentions(in: $0) }.compactMap { Self.parse($0)?.paths }.flatMap { $0 })
        let leaves = Self.commands.keys.filter { path in !Self.commands.keys.contains { $0.hasPrefix(path + " ") } }
        for path in leaves.sorted() {
            #expect(named.contains(path), "README.md's command table has no row for nca \(path)")
        }
    }

    @Test func changelogNamesTheVersion() throws {
        let changelog = try Self.read("CHANGELOG.md")
        let heading = try #require(changelog.range(of: #"(?m)^## \[([0-9]+\.[0-9]+\.[0-9]+)\]"#, options: .regularExpression))
        let newest = changelog[heading].dropFirst(4).dropLast()
        #expect(
            String(newest) == Toolkit.version, "CHANGELOG.md's newest entry is \(newest), Toolkit.version is \(Toolkit.version)")
        #expect(NCACommand.configuration.version == Toolkit.version)
    }
}
